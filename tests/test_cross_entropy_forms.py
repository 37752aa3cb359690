"""What the cross-entropy forms share: masks, vmap, the class axis, precise=True, dtypes, bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cross_entropy_references import (
    EXTREME,
    assert_close,
    check_against_reference,
    loss_and_grad,
    ref_log_softmax,
    ref_one_hot,
    ref_sigmoid_bce,
    ref_smooth,
    ref_softmax_ce,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxloss

# ------------------------------------------------- masks, vmap and the class axis

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
    check_against_reference(float(value), float(expected), atol=SUBNORMAL)
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
