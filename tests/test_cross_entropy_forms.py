"""Cross-entropy kernels against float64 NumPy references written from the formulas."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxloss

F32_MAX = float(np.finfo(np.float32).max)

# ------------------------------------------------------------------ float64 references


def ref_log_softmax(logits, mask=None):
    x = np.asarray(logits, np.float64)
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def ref_softmax_ce(logits, labels, mask=None):
    """sum_c y_c (logsumexp(x) - x_c) over the unmasked classes."""
    log_probs = ref_log_softmax(logits, mask)
    y = np.asarray(labels, np.float64)
    if mask is not None:
        y = np.where(mask, y, 0.0)
        log_probs = np.where(mask, log_probs, 0.0)
    return -np.sum(y * log_probs, axis=-1)


def ref_smooth(one_hot, smoothing):
    return one_hot * (1 - smoothing) + smoothing / one_hot.shape[-1]


def ref_one_hot(labels, num_classes):
    return (np.asarray(labels)[..., None] == np.arange(num_classes)).astype(np.float64)


def ref_sigmoid_bce(logits, labels, pos_weight=1.0):
    """w y softplus(-x) + (1 - y) softplus(x)."""
    x, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    return pos_weight * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)


def clip_bounds(epsilon):
    """Keras's clip bounds as float32 holds them (1 - 1e-7 rounds to 1 - 1.19e-7)."""
    return float(np.float32(epsilon)), float(np.float32(1 - epsilon))


def ref_binary_ce(probs, labels, epsilon=1e-7):
    p = np.clip(np.asarray(probs, np.float64), *clip_bounds(epsilon))
    y = np.asarray(labels, np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_categorical_ce(probs, labels, epsilon=1e-7):
    p = np.asarray(probs, np.float64)
    q = np.clip(p / p.sum(-1, keepdims=True), *clip_bounds(epsilon))
    return -np.sum(np.asarray(labels, np.float64) * np.log(q), axis=-1)


def numerical_grad(fn, x, step=1e-6):
    """Central differences of sum(fn(x)) in float64, one coordinate at a time."""
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (fn(up).sum() - fn(down).sum()) / (2 * step)
    return grad


def loss_and_grad(fn, *args, argnums=0, **kwargs):
    """Loss and gradient of sum(loss) through jax.jit."""
    total = lambda *a: jnp.sum(fn(*a, **kwargs))
    value = jax.jit(functools.partial(fn, **kwargs))(*args)
    grad = jax.jit(jax.grad(total, argnums=argnums))(*args)
    return np.asarray(value), grad


def assert_close(actual, expected, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


@pytest.fixture
def logits(rng):
    return (rng.normal(size=(6, 7)) * 3).astype(np.float32)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 7, size=6)


@pytest.fixture
def soft_labels(rng):
    y = rng.uniform(size=(6, 7))
    return (y / y.sum(-1, keepdims=True)).astype(np.float32)


# ----------------------------------------------------------- values and gradients


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_matches_reference(logits, soft_labels, smoothing):
    value, (g_logits, g_labels) = loss_and_grad(
        jaxloss.softmax_cross_entropy, logits, soft_labels, argnums=(0, 1), label_smoothing=smoothing
    )
    y = ref_smooth(soft_labels.astype(np.float64), smoothing)
    assert_close(value, ref_softmax_ce(logits, y))
    p = np.exp(ref_log_softmax(logits))
    assert_close(g_logits, y.sum(-1, keepdims=True) * p - y)
    assert_close(g_labels, -(1 - smoothing) * ref_log_softmax(logits), rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("use_weights", [False, True])
def test_sparse_softmax_cross_entropy_matches_reference(logits, labels, smoothing, use_weights):
    weights = np.linspace(0.5, 2.0, 7).astype(np.float32) if use_weights else None
    value, grad = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy,
        logits,
        labels,
        label_smoothing=smoothing,
        class_weights=weights,
    )
    y = ref_smooth(ref_one_hot(labels, 7), smoothing)
    w = np.ones(6) if weights is None else weights.astype(np.float64)[labels]
    assert_close(value, w * ref_softmax_ce(logits, y))
    assert_close(grad, w[:, None] * (np.exp(ref_log_softmax(logits)) - y))


@pytest.mark.parametrize("pos_weight", [None, 3.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sigmoid_binary_cross_entropy_matches_reference(rng, pos_weight, smoothing):
    x = (rng.normal(size=(5, 4)) * 4).astype(np.float32)
    y = rng.uniform(size=(5, 4)).astype(np.float32)
    value, (g_x, g_y) = loss_and_grad(
        jaxloss.sigmoid_binary_cross_entropy,
        x,
        y,
        argnums=(0, 1),
        pos_weight=pos_weight,
        label_smoothing=smoothing,
    )
    w = 1.0 if pos_weight is None else pos_weight
    ys = y.astype(np.float64) * (1 - smoothing) + smoothing / 2
    assert_close(value, ref_sigmoid_bce(x, ys, w))
    x64 = x.astype(np.float64)
    sig = 1 / (1 + np.exp(-x64))
    assert_close(g_x, (1 - ys) * sig - w * ys * (1 - sig))
    assert_close(g_y, (1 - smoothing) * (w * np.logaddexp(0, -x64) - np.logaddexp(0, x64)), rtol=1e-5)


def test_sigmoid_binary_cross_entropy_pos_weight_per_class_gradient(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float32)
    w = np.array([0.5, 1.0, 4.0], np.float32)
    grad = jax.jit(
        jax.grad(lambda w: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=w).sum())
    )(w)
    expected = (y * np.logaddexp(0, -x.astype(np.float64))).sum(0)
    assert_close(grad, expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_cross_entropy_matches_reference(rng, smoothing):
    p = rng.uniform(0.01, 0.99, size=(5, 4)).astype(np.float32)
    y = rng.uniform(size=(5, 4)).astype(np.float32)
    value, grad = loss_and_grad(jaxloss.binary_cross_entropy, p, y, label_smoothing=smoothing)
    ys = y.astype(np.float64) * (1 - smoothing) + smoothing / 2
    assert_close(value, ref_binary_ce(p, ys), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_binary_ce(q, ys), p), rtol=1e-5, atol=1e-5)


def test_binary_cross_entropy_clips_as_keras():
    p = jnp.array([0.0, 1.0, 0.5], jnp.float32)
    y = jnp.array([1.0, 0.0, 1.0], jnp.float32)
    value, grad = loss_and_grad(jaxloss.binary_cross_entropy, p, y)
    assert_close(value, ref_binary_ce([0.0, 1.0, 0.5], [1, 0, 1]), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(grad)[:2], 0.0)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_categorical_cross_entropy_matches_reference(rng, soft_labels, smoothing):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)  # unnormalised: Keras normalises
    value, grad = loss_and_grad(
        jaxloss.categorical_cross_entropy, p, soft_labels, label_smoothing=smoothing
    )
    y = ref_smooth(soft_labels.astype(np.float64), smoothing)
    assert_close(value, ref_categorical_ce(p, y), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_categorical_ce(q, y), p), rtol=1e-5, atol=1e-6)


def test_sparse_categorical_cross_entropy_matches_reference(rng, labels):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)
    value, grad = loss_and_grad(jaxloss.sparse_categorical_cross_entropy, p, labels)
    y = ref_one_hot(labels, 7)
    assert_close(value, ref_categorical_ce(p, y), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_categorical_ce(q, y), p), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------- forms agree with each other


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_integer_labels_equal_one_hot(logits, labels, smoothing):
    one_hot = jax.nn.one_hot(labels, 7, dtype=jnp.float32)
    sparse, g_sparse = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy, logits, labels, label_smoothing=smoothing
    )
    dense, g_dense = loss_and_grad(
        jaxloss.softmax_cross_entropy, logits, one_hot, label_smoothing=smoothing
    )
    assert_close(sparse, np.asarray(dense, np.float64))
    assert_close(g_sparse, np.asarray(g_dense, np.float64))


def test_sparse_categorical_equals_categorical_one_hot(rng, labels):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)
    one_hot = jax.nn.one_hot(labels, 7, dtype=jnp.float32)
    sparse, g_sparse = loss_and_grad(jaxloss.sparse_categorical_cross_entropy, p, labels)
    dense, g_dense = loss_and_grad(jaxloss.categorical_cross_entropy, p, one_hot)
    assert_close(sparse, np.asarray(dense, np.float64))
    assert_close(g_sparse, np.asarray(g_dense, np.float64), rtol=1e-5)


SOFTMAX_FORMS = {
    "softmax": lambda x, lab, **kw: jaxloss.softmax_cross_entropy(
        x, jax.nn.one_hot(lab, x.shape[-1], dtype=x.dtype), **kw
    ),
    "sparse_softmax": jaxloss.sparse_softmax_cross_entropy,
    "categorical": lambda x, lab, **kw: jaxloss.categorical_cross_entropy(
        jax.nn.sigmoid(x), jax.nn.one_hot(lab, x.shape[-1], dtype=x.dtype), **kw
    ),
    "sparse_categorical": lambda x, lab, **kw: jaxloss.sparse_categorical_cross_entropy(
        jax.nn.sigmoid(x), lab, **kw
    ),
}


@pytest.mark.parametrize("form", SOFTMAX_FORMS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_where_equals_slicing(form, smoothing, logits, rng):
    labels = rng.integers(0, 5, size=6)
    kwargs = {} if smoothing == 0.0 or "sparse_categorical" in form else {"label_smoothing": smoothing}
    mask = np.arange(7) < 5
    fn = SOFTMAX_FORMS[form]
    masked, g_masked = loss_and_grad(fn, logits, labels, where=mask, **kwargs)
    sliced, g_sliced = loss_and_grad(fn, logits[:, :5], labels, **kwargs)
    assert_close(masked, np.asarray(sliced, np.float64), rtol=2e-6)
    g_masked = np.asarray(g_masked)
    assert_close(g_masked[:, :5], np.asarray(g_sliced, np.float64), rtol=1e-5)
    np.testing.assert_array_equal(g_masked[:, 5:], 0.0)


@pytest.mark.parametrize("form", SOFTMAX_FORMS)
def test_where_drops_whole_examples(form, logits, labels):
    keep = np.array([True, False, True, True, False, True])[:, None]
    value, grad = loss_and_grad(SOFTMAX_FORMS[form], logits, labels, where=keep)
    full = jax.jit(SOFTMAX_FORMS[form])(logits, labels)
    np.testing.assert_array_equal(value[~keep[:, 0]], 0.0)
    np.testing.assert_array_equal(np.asarray(grad)[~keep[:, 0]], 0.0)
    assert_close(value[keep[:, 0]], np.asarray(full, np.float64)[keep[:, 0]])


@pytest.mark.parametrize(
    "fn", [jaxloss.sigmoid_binary_cross_entropy, jaxloss.binary_cross_entropy]
)
def test_elementwise_where_gives_zero_loss_and_gradient(fn, rng):
    x = rng.uniform(0.1, 0.9, size=(4, 3)).astype(np.float32)
    y = (rng.uniform(size=(4, 3)) > 0.5).astype(np.float32)
    mask = rng.uniform(size=(4, 3)) > 0.4
    value, grad = loss_and_grad(fn, x, y, where=mask)
    full = np.asarray(jax.jit(fn)(x, y), np.float64)
    assert_close(value, np.where(mask, full, 0.0))
    np.testing.assert_array_equal(np.asarray(grad)[~mask], 0.0)


VMAP_CASES = {
    "sigmoid_binary": (jaxloss.sigmoid_binary_cross_entropy, "soft"),
    "binary": (jaxloss.binary_cross_entropy, "soft"),
    "softmax": (jaxloss.softmax_cross_entropy, "soft"),
    "categorical": (jaxloss.categorical_cross_entropy, "soft"),
    "sparse_softmax": (jaxloss.sparse_softmax_cross_entropy, "int"),
    "sparse_categorical": (jaxloss.sparse_categorical_cross_entropy, "int"),
}


@pytest.mark.parametrize("case", VMAP_CASES)
def test_vmap_equals_batched(case, rng):
    fn, kind = VMAP_CASES[case]
    x = rng.uniform(0.05, 0.95, size=(3, 4, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=(3, 4)) if kind == "int" else rng.uniform(size=(3, 4, 5)).astype(np.float32)
    batched = jax.jit(fn)(x, y)
    mapped = jax.jit(jax.vmap(fn))(x, y)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6)
    g_batched = jax.jit(jax.grad(lambda x: fn(x, y).sum()))(x)
    g_mapped = jax.jit(jax.vmap(jax.grad(lambda x, y: fn(x, y).sum())))(x, y)
    np.testing.assert_allclose(g_mapped, g_batched, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1])
def test_class_axis(axis, rng):
    x = rng.normal(size=(4, 5, 6)).astype(np.float32)
    labels = rng.integers(0, x.shape[axis], size=np.delete(x.shape, axis))
    moved = np.moveaxis(x, axis, -1)
    value = jax.jit(functools.partial(jaxloss.sparse_softmax_cross_entropy, axis=axis))(x, labels)
    assert_close(value, ref_softmax_ce(moved, ref_one_hot(labels, x.shape[axis])))
    one_hot = np.moveaxis(ref_one_hot(labels, x.shape[axis]), -1, axis).astype(np.float32)
    dense = jax.jit(functools.partial(jaxloss.softmax_cross_entropy, axis=axis))(x, one_hot)
    assert_close(dense, ref_softmax_ce(moved, ref_one_hot(labels, x.shape[axis])))


# ------------------------------------------------------------------ second derivatives


def test_hessian_of_sparse_softmax_cross_entropy(logits, labels):
    hessian = jax.jit(
        jax.jacrev(jax.grad(lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()))
    )(logits)
    p = np.exp(ref_log_softmax(logits))
    expected = np.zeros((6, 7, 6, 7))
    for row in range(6):
        expected[row, :, row, :] = np.diag(p[row]) - np.outer(p[row], p[row])
    assert_close(hessian, expected, atol=1e-6)


def test_hessian_of_sigmoid_binary_cross_entropy(rng):
    x = rng.normal(size=(5,)).astype(np.float32) * 3
    y = rng.uniform(size=(5,)).astype(np.float32)
    fn = lambda x: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=2.0).sum()
    hessian = jax.jit(jax.jacrev(jax.grad(fn)))(x)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    expected = np.diag(sig * (1 - sig) * (2.0 * y + 1 - y))
    assert_close(hessian, expected, atol=1e-6)


@pytest.mark.parametrize("form", ["softmax", "sparse_softmax"])
def test_grad_of_grad_of_soft_dense_loss(form, logits, labels, soft_labels):
    # d/dx of a weighted gradient: contracts the Hessian with v.
    v = np.linspace(-1, 1, 7).astype(np.float32)
    if form == "softmax":
        fn = lambda x: jaxloss.softmax_cross_entropy(x, soft_labels).sum()
        scale = soft_labels.astype(np.float64).sum(-1, keepdims=True)
    else:
        fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()
        scale = 1.0
    value = jax.jit(jax.grad(lambda x: jnp.sum(jax.grad(fn)(x) * v[None])))(logits)
    p = np.exp(ref_log_softmax(logits))
    pv = np.sum(p * v, axis=-1, keepdims=True)
    assert_close(value, scale * p * (v - pv), atol=1e-6)


def test_forward_mode_on_the_loss_raises_type_error(logits, labels):
    fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(fn, (logits,), (logits,))
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jacfwd(fn)(logits)


def test_forward_over_reverse_hessian_equals_reverse_over_reverse(logits, soft_labels):
    fn = lambda x: jaxloss.softmax_cross_entropy(x, soft_labels).sum()
    forward_over_reverse = jax.jit(jax.hessian(fn))(logits)
    reverse_over_reverse = jax.jit(jax.jacrev(jax.grad(fn)))(logits)
    np.testing.assert_allclose(forward_over_reverse, reverse_over_reverse, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ extreme inputs

EXTREME = st.floats(-F32_MAX, F32_MAX, allow_nan=False, allow_infinity=False, width=32)


@functools.cache
def _jitted_sparse(smoothing):
    fn = functools.partial(jaxloss.sparse_softmax_cross_entropy, label_smoothing=smoothing)
    return jax.jit(jax.value_and_grad(lambda x, y: fn(x, y).sum()))


def _check_against_reference(value, expected, rtol=1e-5, atol=1e-6):
    """Finite and close where the float64 value fits float32; inf where it does not.

    The absolute floor is float32's resolution of log(sum(exp(x - m))) near log(1) = 0:
    a confident correct prediction (row [6, 0, 0, 0], label 0: loss 0.0074) is accurate
    to ~1e-7 absolute, not 1e-5 relative (optax and PyTorch behave the same).
    """
    if expected > F32_MAX * (1 + 1e-6):
        assert value == np.inf
    elif expected < F32_MAX * (1 - 1e-6):
        assert np.isfinite(value)
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)


@settings(max_examples=60, deadline=None)
@given(st.lists(EXTREME, min_size=4, max_size=4), st.integers(0, 3), st.sampled_from([0.0, 0.1]))
def test_sparse_softmax_extreme_logits(row, label, smoothing):
    x = np.array([row], np.float32)
    value, grad = _jitted_sparse(smoothing)(x, np.array([label]))
    assert np.all(np.isfinite(grad))
    y = ref_smooth(ref_one_hot([label], 4), smoothing)
    _check_against_reference(float(value), float(ref_softmax_ce(x, y)[0]))
    expected_grad = np.exp(ref_log_softmax(x)) - y
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


_jitted_dense = jax.jit(
    jax.value_and_grad(lambda x, y: jaxloss.softmax_cross_entropy(x, y).sum())
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(EXTREME, min_size=3, max_size=3),
    st.lists(st.sampled_from([0.0, 1.0, 0.25, 0.5]), min_size=3, max_size=3),
)
def test_softmax_extreme_logits_soft_labels(row, label_row):
    x, y = np.array([row], np.float32), np.array([label_row], np.float32)
    value, grad = _jitted_dense(x, y)
    assert np.all(np.isfinite(grad))
    _check_against_reference(float(value), float(ref_softmax_ce(x, y)[0]))
    expected_grad = y.sum() * np.exp(ref_log_softmax(x)) - y
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


_jitted_sigmoid = jax.jit(
    jax.value_and_grad(
        lambda x, y, w: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=w).sum()
    )
)


@settings(max_examples=60, deadline=None)
@given(EXTREME, st.sampled_from([0.0, 1.0, 0.3]), st.sampled_from([1.0, 0.5, 3.0]))
def test_sigmoid_binary_extreme_logits(logit, label, pos_weight):
    x, y = np.array([logit], np.float32), np.array([label], np.float32)
    value, grad = _jitted_sigmoid(x, y, np.float32(pos_weight))
    assert np.all(np.isfinite(grad))
    _check_against_reference(float(value), float(ref_sigmoid_bce(x, y, pos_weight)[0]), atol=1e-30)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):  # exp(3e38) = inf gives the exact limit 0 here
        expected = (1 - y) / (1 + np.exp(-x64)) - pos_weight * y / (1 + np.exp(x64))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("fn", [jaxloss.binary_cross_entropy, jaxloss.categorical_cross_entropy])
def test_probability_forms_stay_finite_at_zero_and_one(fn):
    p = jnp.array([[0.0, 1.0, 0.0], [1e-30, 1.0 - 1e-8, 0.0]], jnp.float32)
    y = jnp.array([[1.0, 0.0, 1.0], [0.5, 0.5, 0.0]], jnp.float32)
    value, grad = loss_and_grad(fn, p, y)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("num_classes", [3, 32, 33, 1000])
def test_softmax_value_and_grad_at_extreme_logits_for_short_and_long_rows(num_classes):
    # The differentiated forward, short rows and long: the exact loss or inf, and finite
    # gradients, for rows spanning float32's range (x - m overflows to -inf there).
    x = np.zeros((4, num_classes), np.float32)
    x[0, :2] = [3e38, -3e38]
    x[1, :2] = [3e38, -3e38]
    x[2, :2] = [-3e38, 3e38]
    x[3, :] = np.linspace(-5.0, 5.0, num_classes)
    y = np.zeros_like(x)
    y[0, 0] = 1.0  # the max: loss 0
    y[1, 1] = 1.0  # 6e38 below the max: inf
    y[2, :2] = [0.5, 0.5]  # half on each: 3e38, finite
    y[3, :] = 1.0 / num_classes
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(
        lambda a, b: jaxloss.softmax_cross_entropy(a, b))))(x, y)
    assert np.all(np.isfinite(grad))
    for row in range(4):
        _check_against_reference(float(value[row]), float(ref_softmax_ce(x[row:row + 1],
                                                                         y[row:row + 1])[0]))
    assert value[1] == np.inf and np.isfinite(value[2])


def test_softmax_forward_alone_matches_the_differentiated_forward_at_extreme_logits():
    # The non-differentiated forward recomputes rows whose x - m overflows (0 * inf) from halves.
    x = np.array([[3e38, -3e38, 0.0], [3e38, -3e38, 0.0], [1.0, 2.0, 3.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], np.float32)
    alone = jax.jit(jaxloss.softmax_cross_entropy)(x, y)
    differentiated = jax.jit(
        lambda x: jax.vjp(lambda a: jaxloss.softmax_cross_entropy(a, y), x)[0]
    )(x)
    np.testing.assert_array_equal(alone[:2], [0.0, np.inf])
    np.testing.assert_allclose(alone, differentiated, rtol=1e-6)
    np.testing.assert_allclose(alone[2], ref_softmax_ce(x[2:], y[2:])[0], rtol=1e-6)


def test_hessian_finite_at_extreme_logits():
    x = jnp.array([[3e38, -3e38, 0.0, 1000.0]], jnp.float32)
    fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, jnp.array([1])).sum()
    assert np.all(np.isfinite(jax.jit(jax.jacrev(jax.grad(fn)))(x)))


# ------------------------------------------------ precise=True: no absolute accuracy floor

# Below float32's smallest normal number (1.2e-38) relative accuracy ends for any method.
SUBNORMAL = 2e-38
MODERATE = st.floats(-120.0, 120.0, allow_nan=False, width=32)


@functools.cache
def _jitted_precise(form, smoothing):
    if form == "sparse":
        fn = lambda x, y: jaxloss.sparse_softmax_cross_entropy(
            x, y, label_smoothing=smoothing, precise=True
        )
    else:
        fn = lambda x, y: jaxloss.softmax_cross_entropy(
            x, y, label_smoothing=smoothing, precise=True
        )
    return jax.jit(jax.value_and_grad(lambda x, y: fn(x, y).sum()))


def ref_log_softmax_log1p(logits):
    """float64 log-softmax whose log-sum is log1p(sum over the non-maximal terms + ties).

    ``ref_log_softmax`` itself has float64's 1e-16 absolute floor, too coarse to judge a
    float32 loss of 1e-12 to 1e-5 relative.
    """
    gap = np.asarray(logits, np.float64)
    gap = gap - np.max(gap, axis=-1, keepdims=True)
    at_max = gap == 0
    below = np.sum(np.where(at_max, 0.0, np.exp(gap)), axis=-1, keepdims=True)
    excess = np.sum(at_max, axis=-1, keepdims=True) - 1 + below
    return gap - np.log1p(excess)


def _check_precise_row(form, row, label, smoothing):
    x = np.array([row], np.float32)
    one_hot = ref_one_hot([label], x.shape[1])
    y = ref_smooth(one_hot, smoothing)
    labels = np.array([label]) if form == "sparse" else one_hot.astype(np.float32)
    value, grad = _jitted_precise(form, smoothing)(x, labels)
    assert np.all(np.isfinite(grad))
    log_probs = ref_log_softmax_log1p(x)
    with np.errstate(invalid="ignore"):  # 0 * -inf where a probability underflows in float64
        expected = -np.sum(np.where(y > 0, y * log_probs, 0.0))
    _check_against_reference(float(value), float(expected), atol=SUBNORMAL)
    # p - y; at the label without smoothing p - 1 = expm1(log p): no cancellation as p -> 1.
    expected_grad = np.exp(log_probs) - y
    if smoothing == 0.0:
        expected_grad[0, label] = np.expm1(log_probs[0, label])
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=SUBNORMAL)


# Rows of 4 and of 36 classes: the sparse form takes another path above 32 classes.
EXTREME_ROWS = st.sampled_from([4, 36]).flatmap(lambda n: st.lists(EXTREME, min_size=n, max_size=n))
MODERATE_ROWS = st.sampled_from([5, 40]).flatmap(
    lambda n: st.lists(MODERATE, min_size=n, max_size=n)
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["sparse", "dense"]),
    EXTREME_ROWS,
    st.integers(0, 3),
    st.sampled_from([0.0, 0.1]),
)
def test_precise_extreme_logits_are_relatively_accurate(form, row, label, smoothing):
    _check_precise_row(form, row, label, smoothing)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["sparse", "dense"]), MODERATE_ROWS)
def test_precise_tiny_losses_of_the_dominant_class_are_relatively_accurate(form, row):
    # The label at the row's maximum: losses from ~1e-52 (0 in float32) up to log(5).
    _check_precise_row(form, row, int(np.argmax(np.float32(row))), 0.0)


@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_precise_removes_the_floor_that_the_default_has(form):
    x = np.array([[20.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0], [17.3, 1.0, -2.0, 3.0]], np.float32)
    labels = np.zeros(3, np.int32)
    y = ref_one_hot(labels, 4)
    dense_labels = y.astype(np.float32)
    fn = jaxloss.sparse_softmax_cross_entropy if form == "sparse" else jaxloss.softmax_cross_entropy
    args = (x, labels) if form == "sparse" else (x, dense_labels)
    expected = ref_softmax_ce(x, y)  # 6.2e-9, 7.4e-3, 7.0e-7
    expected_grad = np.exp(ref_log_softmax(x)) - y
    value, grad = loss_and_grad(fn, *args, precise=True)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=SUBNORMAL)
    # The default keeps float32's ~1e-7 absolute resolution of log(sum(exp(x - m))) near 0.
    value, grad = loss_and_grad(fn, *args)
    np.testing.assert_allclose(value, expected, atol=2.4e-7)
    assert float(value[0]) == 0.0  # exact value 6.2e-9: below the floor
    np.testing.assert_allclose(grad, expected_grad, atol=2.4e-7)


SPARSE_PRECISE_VARIANTS = [
    {},
    {"label_smoothing": 0.2},
    {"ignore_index": 1},
    {"class_weights": np.array([0.5, 2.0, 1.0, 3.0, 1.5], np.float32)},
    {"where": np.array([True, True, False, True, True])},
    {"where": np.array([True, True, False, True, True]), "label_smoothing": 0.1, "ignore_index": 1},
]


@pytest.mark.parametrize("kwargs", SPARSE_PRECISE_VARIANTS)
def test_precise_sparse_agrees_with_default_on_ordinary_inputs(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 5)) * 3, np.float32)
    x[0] = [4.0, 4.0, 0.0, 4.0, -1.0]  # a three-way tie at the maximum
    x[1] = 0.0  # all tied
    labels = rng.choice([0, 1, 3, 4], size=16)
    labels[:2] = [3, 1]
    default = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, **kwargs)
    precise = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)
    if not kwargs:  # ties at the maximum count once each: log(3 + e^-4 + e^-5) and log(5)
        expected_ties = [np.log(3.0 + np.exp(-4.0) + np.exp(-5.0)), np.log(5.0)]
        np.testing.assert_allclose(precise[0][:2], expected_ties, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.2}, {"ignore_index": 1}])
def test_precise_sparse_above_32_classes_agrees_with_default(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 40)) * 3, np.float32)
    x[0] = 0.0
    x[0, :3] = 4.0  # a three-way tie at the maximum
    x[1] = 0.0
    x[2] = -5.0
    x[2, 7] = 22.0  # label 7 dominates: loss 39 exp(-27) = 7.3e-11
    labels = rng.integers(0, 40, size=16)
    labels[:3] = [2, 1, 7]
    default = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, **kwargs)
    precise = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)
    if not kwargs:
        expected = [np.log(3.0 + 37 * np.exp(-4.0)), np.log(40.0), np.log1p(39 * np.exp(-27.0))]
        np.testing.assert_allclose(precise[0][:3], expected, rtol=1e-6)
        assert default[0][2] == 0.0  # the default's floor


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.2}, {"where": np.array([True, False, True, True, True])}])
def test_precise_dense_agrees_with_default_on_ordinary_inputs(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 5)) * 3, np.float32)
    x[0] = [4.0, 4.0, 0.0, 4.0, -1.0]
    y = np.asarray(rng.dirichlet(np.ones(5), size=16), np.float32)
    default = loss_and_grad(jaxloss.softmax_cross_entropy, x, y, **kwargs)
    precise = loss_and_grad(jaxloss.softmax_cross_entropy, x, y, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)


def test_precise_masked_rows_ignored_rows_and_bad_labels():
    x = np.array([[1e30, 0.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, 0.0, 0.0]], np.float32)
    mask = np.array([[False] * 3, [True] * 3, [True] * 3, [True] * 3])
    labels = np.array([0, -100, 7, 0])
    value, grad = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy, x, labels, where=mask, ignore_index=-100, precise=True
    )
    # Fully masked and ignored rows: 0; an out-of-range label: NaN, never a finite number.
    np.testing.assert_array_equal(value[:2], [0.0, 0.0])
    assert np.isnan(value[2]) and np.all(np.isnan(grad[2]))
    np.testing.assert_array_equal(grad[:2], 0.0)
    np.testing.assert_allclose(value[3], ref_softmax_ce(x[3:], ref_one_hot([0], 3))[0], rtol=1e-6)
    fast = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x[1:], np.array([-1, 3, 0]), precise=True)
    assert np.all(np.isnan(fast[0][:2])) and np.all(np.isnan(fast[1][:2]))


@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_precise_vmap_and_second_derivatives(form, rng):
    x = jnp.asarray(rng.normal(size=(6, 4)) * 4, jnp.float32)
    labels = jnp.asarray(rng.integers(0, 4, size=6))
    if form == "sparse":
        fn = lambda x, y: jaxloss.sparse_softmax_cross_entropy(x, y, precise=True)
    else:
        labels = jax.nn.one_hot(labels, 4)
        fn = lambda x, y: jaxloss.softmax_cross_entropy(x, y, precise=True)
    mapped = jax.jit(jax.vmap(lambda x, y: fn(x[None], y[None])[0]))(x, labels)
    np.testing.assert_allclose(mapped, fn(x, labels), rtol=1e-6)
    total = lambda x: fn(x, labels).sum()
    hessian = jax.jit(jax.jacrev(jax.grad(total)))(x)
    p = np.exp(ref_log_softmax(np.asarray(x)))
    for i in range(6):  # each row's Hessian is diag(p) - p p^T
        expected = np.diag(p[i]) - np.outer(p[i], p[i])
        np.testing.assert_allclose(hessian[i, :, i, :], expected, atol=1e-6)


@pytest.mark.parametrize("value", [1, "yes", None, np.array(True)])
def test_precise_must_be_a_bool(value):
    with pytest.raises(ValueError, match="precise must be True or False"):
        jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), precise=value)
    with pytest.raises(ValueError, match="precise must be True or False"):
        jaxloss.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), precise=value)


# ------------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_inputs_are_computed_in_float32(dtype, rng):
    x = jnp.asarray(rng.normal(size=(4, 6)) * 4, dtype)
    x = x.at[0, 0].set(60000.0 if dtype == jnp.float16 else 1e30)  # exp would overflow in half
    labels = jnp.asarray(rng.integers(0, 6, size=4))
    value = jax.jit(jaxloss.sparse_softmax_cross_entropy)(x, labels)
    grad = jax.jit(jax.grad(lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()))(x)
    assert value.dtype == jnp.float32 and grad.dtype == dtype
    x64 = np.asarray(x.astype(jnp.float32), np.float64)
    assert_close(value, ref_softmax_ce(x64, ref_one_hot(labels, 6)), rtol=1e-6)
    y = jnp.asarray(rng.uniform(size=(4, 6)), dtype)
    elementwise = jax.jit(jaxloss.sigmoid_binary_cross_entropy)(x, y)
    assert elementwise.dtype == jnp.float32 and np.all(np.isfinite(elementwise))
    y64 = np.asarray(y.astype(jnp.float32), np.float64)
    assert_close(elementwise, ref_sigmoid_bce(x64, y64), rtol=1e-6)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((3, 2))),
         r"logits.shape=\(2, 3\) and labels.shape=\(3, 2\)"),
        (lambda: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 3))),
         r"`logits` must have a floating-point dtype"),
        (lambda: jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2,))),
         r"`labels` must hold integer class indices"),
        (lambda: jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((3,), jnp.int32)),
         r"expected \(2,\), got labels.shape=\(3,\)"),
        (lambda: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), label_smoothing=1.5),
         r"`label_smoothing` must lie in \[0.0, 1.0\]"),
        (lambda: jaxloss.sigmoid_binary_cross_entropy(jnp.zeros(3), jnp.zeros(3), label_smoothing=-0.1),
         r"`label_smoothing`"),
        (lambda: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), axis=2),
         r"`axis`=2 is out of range"),
        (lambda: jaxloss.sparse_softmax_cross_entropy(
            jnp.zeros((2, 3)), jnp.zeros((2,), jnp.int32), class_weights=jnp.ones(4)),
         r"`class_weights` must have shape \(3,\).*got class_weights.shape=\(4,\)"),
        (lambda: jaxloss.sigmoid_binary_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), pos_weight=jnp.ones(2)),
         r"`pos_weight` of shape \(2,\) does not broadcast"),
        (lambda: jaxloss.binary_cross_entropy(jnp.zeros(3), jnp.zeros(3), epsilon=0.7),
         r"`epsilon` must lie in"),
        (lambda: jaxloss.categorical_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones(2, bool)),
         r"`where` of shape \(2,\) does not broadcast"),
        (lambda: jaxloss.sparse_categorical_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2,), jnp.int32), ignore_index=1.0),
         r"`ignore_index` must be an int"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "fn", [jaxloss.sparse_softmax_cross_entropy, jaxloss.sparse_categorical_cross_entropy]
)
def test_out_of_range_labels_give_nan_under_jit(fn, rng):
    x = rng.uniform(0.1, 1.0, size=(4, 3)).astype(np.float32)
    labels = np.array([0, 3, -1, 2])
    value, grad = loss_and_grad(fn, x, labels)
    np.testing.assert_array_equal(np.isnan(value), [False, True, True, False])
    assert np.all(np.isnan(np.asarray(grad)[1:3])) and np.all(np.isfinite(np.asarray(grad)[[0, 3]]))


@pytest.mark.parametrize(
    "fn", [jaxloss.sparse_softmax_cross_entropy, jaxloss.sparse_categorical_cross_entropy]
)
def test_ignore_index_gives_zero_loss_and_gradient(fn, rng):
    x = rng.uniform(0.1, 1.0, size=(4, 3)).astype(np.float32)
    labels = np.array([0, -100, 2, -100])
    value, grad = loss_and_grad(fn, x, labels, ignore_index=-100)
    full = np.asarray(jax.jit(fn)(x, np.array([0, 0, 2, 0])))
    np.testing.assert_array_equal(value[[1, 3]], 0.0)
    assert_close(value[[0, 2]], full[[0, 2]].astype(np.float64))
    np.testing.assert_array_equal(np.asarray(grad)[[1, 3]], 0.0)


def test_label_on_masked_class_gives_nan(logits):
    mask = np.arange(7) < 5
    value = jax.jit(jaxloss.sparse_softmax_cross_entropy)(logits, np.array([0, 6, 1, 2, 3, 4]), where=mask)
    np.testing.assert_array_equal(np.isnan(value), [False, True, False, False, False, False])
