"""Focal losses against float64 NumPy references written from their formulas, and Keras 3."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

import jaxloss

GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0]
F32_MAX = float(np.finfo(np.float32).max)
_BIG = float(np.float32(3e38))


# ------------------------------------------------------------------ float64 references


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def sigmoid_focal_reference(logits, labels, alpha, gamma):
    """loss = alpha_t (1-p_t)^gamma ce and d loss/d z, in float64 log space.

    ce = y softplus(-z) + (1-y) softplus(z); 1-p_t = y sigmoid(-z) + (1-y) sigmoid(z);
    d/dz = alpha_t [gamma (1-p_t)^(gamma-1) (1-2y) sigmoid(z) sigmoid(-z) ce
                    + (1-p_t)^gamma ((1-y) sigmoid(z) - y sigmoid(-z))].
    Also returns the sum of the absolute values of the gradient's terms (its scale, for
    soft labels where the terms cancel).
    """
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ls_pos, ls_neg = _log_sigmoid(z), _log_sigmoid(-z)
        ce = y * -ls_pos + (1 - y) * -ls_neg
        log_q = np.logaddexp(np.log(y) + ls_neg, np.log1p(-y) + ls_pos)
        alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
        weight = np.exp(gamma * log_q)
        loss = alpha_t * weight * ce
        # (1-p_t)^(gamma-1) sigmoid(z) sigmoid(-z), formed in log space.
        focal = gamma * (1 - 2 * y) * np.exp((gamma - 1) * log_q + ls_pos + ls_neg) * ce
        plain_pos = (1 - y) * np.exp(ls_pos)
        plain_neg = y * np.exp(ls_neg)
        grad = alpha_t * (focal + weight * (plain_pos - plain_neg))
        scale = alpha_t * (np.abs(focal) + weight * (plain_pos + plain_neg))
    return loss, grad, scale


def softmax_focal_reference(logits, labels, alpha, gamma):
    """loss = -sum_c alpha_c y_c (1-p_c)^gamma log p_c and d loss/d z, in float64.

    d/dz_j = g_j (1-p_j) - p_j sum_{c!=j} g_c with g_c = alpha_c y_c f'(p_c) p_c,
    f'(p) p = (1-p)^gamma (gamma p log p / (1-p) - 1). 1-p_c is a leave-one-out sum.
    """
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    num_classes = z.shape[-1]
    z = z - z.max(-1, keepdims=True)
    log_norm = logsumexp(z, axis=-1, keepdims=True)
    log_p = z - log_norm
    p = np.exp(log_p)
    log_u = (
        np.stack([logsumexp(np.delete(z, c, axis=-1), axis=-1) for c in range(num_classes)], -1)
        - log_norm
    )
    u = np.exp(log_u)
    beta = (1.0 if alpha is None else np.asarray(alpha, np.float64)) * y
    weight = np.exp(gamma * log_u)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = -np.sum(np.where(beta == 0, 0.0, beta * weight * log_p), -1)
        ratio = np.where(u > 0, p * np.where(p > 0, log_p, 0.0) / u, -1.0)
    g = beta * weight * (gamma * ratio - 1)
    others = np.sum(g, -1, keepdims=True) - g  # exact for one-hot labels
    return loss, g * u - p * others


def _close(got, want, rtol, scale=None):
    """|got - want| <= rtol * max(|want|, scale) wherever want is representable in float32."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    bound = np.abs(want) if scale is None else np.maximum(np.abs(want), scale)
    ok = np.abs(got - want) <= rtol * bound + 1e-36
    representable = np.isfinite(want) & (np.abs(want) <= F32_MAX)
    bad = ~ok & representable
    assert not bad.any(), (got[bad][:5], want[bad][:5])


def _loss_and_grad(fn):
    """jit of (per-example loss, gradient of its sum with respect to the first argument)."""
    return jax.jit(lambda z, *args: (fn(z, *args), jax.grad(lambda w: jnp.sum(fn(w, *args)))(z)))


_COMPILED = {}


def _compiled_loss_and_grad(loss, **hyperparameters):
    """:func:`_loss_and_grad` compiled once per loss and hyperparameters (hypothesis sweeps)."""
    key = (loss.__name__, tuple(sorted(hyperparameters.items())))
    if key not in _COMPILED:
        _COMPILED[key] = _loss_and_grad(lambda z, y: loss(z, y, **hyperparameters))
    return _COMPILED[key]


# ------------------------------------------------------------------------- sigmoid


@pytest.mark.parametrize(
    "gamma, alpha", [(0.0, None), (0.5, 0.25), (1.0, None), (2.0, 0.25), (5.0, 0.25)]
)
def test_sigmoid_values_and_gradients(gamma, alpha, rng):
    logits = rng.normal(scale=4.0, size=(6, 5)).astype(np.float32)
    labels = np.concatenate([rng.random((3, 5)), rng.random((3, 5)) < 0.5]).astype(np.float32)
    want, want_grad, scale = sigmoid_focal_reference(logits, labels, alpha, gamma)
    loss, grad = _loss_and_grad(
        lambda z, y: jaxloss.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma)
    )(logits, labels)
    assert loss.dtype == jnp.float32 and loss.shape == (6, 5)
    _close(loss, want, 2e-6)
    _close(grad, want_grad, 2e-6, scale=scale)


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.9])
def test_optax_nan_case_gamma_below_one_logit_1000(gamma):
    # optax's sigmoid_focal_loss once returned NaN gradients here: (1-p_t)^(gamma-1) = inf.
    logits = jnp.array([1000.0, -1000.0, 1000.0], jnp.float32)
    labels = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    loss, grad = _loss_and_grad(lambda z, y: jaxloss.sigmoid_focal_loss(z, y, gamma=gamma))(
        logits, labels
    )
    grad2 = jax.jit(jax.grad(lambda z: jnp.sum(jax.grad(
        lambda w: jnp.sum(jaxloss.sigmoid_focal_loss(w, labels, gamma=gamma)))(z))))(logits)  # fmt: skip
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(grad2))
    np.testing.assert_array_equal(grad[:2], [0.0, 0.0])
    np.testing.assert_allclose(grad[2], 0.75, rtol=1e-6)  # wrong side: (1-alpha) * 1
    np.testing.assert_allclose(loss, [0.0, 0.0, 0.75 * 1000.0], rtol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logits=hnp.arrays(np.float32, 16, elements=st.floats(-_BIG, _BIG, width=32,
                                                         allow_subnormal=False)),
    labels=hnp.arrays(np.float32, 16, elements=st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0, 1, width=32, allow_subnormal=False))),
    gamma=st.sampled_from(GAMMAS),
    alpha=st.sampled_from([None, 0.25]),
    magnitude=st.sampled_from([1.0, 1e-3, 1e-30]),
)  # fmt: skip
def test_sigmoid_stability_sweep(logits, labels, gamma, alpha, magnitude):
    # `magnitude` pulls most draws towards the interesting range |z| < 1e5.
    logits = np.where(np.abs(logits) < 1e30, logits * np.float32(magnitude), logits)
    logits = logits.astype(np.float32)
    fn = _compiled_loss_and_grad(jaxloss.sigmoid_focal_loss, alpha=alpha, gamma=gamma)
    loss, grad = fn(logits, labels)
    want, want_grad, scale = sigmoid_focal_reference(logits, labels, alpha, gamma)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    _close(loss, want, 1e-5)
    _close(grad, want_grad, 1e-5, scale=scale)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_traced_hyperparameters_and_their_gradients(gamma, rng):
    logits = rng.normal(scale=3.0, size=(8,)).astype(np.float32)
    labels = rng.random(8).astype(np.float32)
    alpha = np.float32(0.3)
    loss, grads = jax.jit(jax.value_and_grad(
        lambda z, y, a, g: jnp.sum(jaxloss.sigmoid_focal_loss(z, y, alpha=a, gamma=g)),
        argnums=(0, 1, 2, 3)))(logits, labels, alpha, np.float32(gamma))  # fmt: skip
    total = lambda y=labels, a=0.3, g=gamma: np.sum(sigmoid_focal_reference(logits, y, a, g)[0])
    np.testing.assert_allclose(loss, total(), rtol=1e-6)
    np.testing.assert_allclose(grads[0], sigmoid_focal_reference(logits, labels, 0.3, gamma)[1],
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    h = 1e-6
    d_labels = [(total(y=labels + h * e) - total(y=labels - h * e)) / (2 * h) for e in np.eye(8)]
    np.testing.assert_allclose(grads[1], d_labels, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[2], (total(a=0.3 + h) - total(a=0.3 - h)) / (2 * h), rtol=1e-4)
    np.testing.assert_allclose(
        grads[3], (total(g=gamma + h) - total(g=gamma - h)) / (2 * h), rtol=1e-4
    )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("label", [0.0, 1.0, 0.3])
def test_sigmoid_second_derivative(gamma, label):
    logits = np.array([-30.0, -2.0, -0.1, 0.0, 0.7, 3.0, 20.0], np.float32)
    labels = np.full_like(logits, label)
    second = jax.jit(jax.grad(lambda z: jnp.sum(jax.grad(
        lambda w: jnp.sum(jaxloss.sigmoid_focal_loss(w, labels, gamma=gamma)))(z))))(logits)  # fmt: skip
    h = 1e-5
    z = logits.astype(np.float64)
    want = (sigmoid_focal_reference(z + h, labels, 0.25, gamma)[1]
            - sigmoid_focal_reference(z - h, labels, 0.25, gamma)[1]) / (2 * h)  # fmt: skip
    np.testing.assert_allclose(second, want, rtol=1e-4, atol=1e-9)


def test_forward_mode_is_not_defined_for_the_custom_vjp():
    with pytest.raises(TypeError):
        jax.jvp(
            lambda z: jaxloss.sigmoid_focal_loss(z, jnp.ones(3)), (jnp.ones(3),), (jnp.ones(3),)
        )


def test_sigmoid_gamma_zero_without_alpha_is_cross_entropy(rng):
    logits = rng.normal(scale=5.0, size=(5, 4)).astype(np.float32)
    labels = rng.random((5, 4)).astype(np.float32)
    z, y = logits.astype(np.float64), labels.astype(np.float64)
    cross_entropy = y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    got = jax.jit(lambda z, y: jaxloss.sigmoid_focal_loss(z, y, alpha=None, gamma=0.0))(
        logits, labels
    )
    np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)
    if hasattr(jaxloss, "sigmoid_binary_cross_entropy"):
        np.testing.assert_allclose(
            got, jax.jit(jaxloss.sigmoid_binary_cross_entropy)(logits, labels), rtol=1e-6, atol=1e-7
        )


def test_sigmoid_label_smoothing_and_alpha_array(rng):
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    labels = (rng.random((3, 4)) < 0.5).astype(np.float32)
    alpha = np.array([0.1, 0.4, 0.6, 0.9], np.float32)
    got = jax.jit(lambda z, y, a: jaxloss.sigmoid_focal_loss(z, y, alpha=a, label_smoothing=0.2))(
        logits, labels, alpha
    )
    want, _, _ = sigmoid_focal_reference(logits, labels * 0.8 + 0.1, alpha.astype(np.float64), 2.0)
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_sigmoid_labels_outside_unit_interval_give_nan():
    loss = jax.jit(jaxloss.sigmoid_focal_loss)(jnp.zeros(3), jnp.array([0.5, -0.1, 1.5]))
    assert np.isfinite(loss[0]) and np.all(np.isnan(loss[1:]))


# ------------------------------------------------------------------------- softmax


def _one_hot(labels, num_classes):
    return np.eye(num_classes, dtype=np.float32)[labels]


_PER_CLASS = np.array([0.1, 0.5, 0.9, 1.0, 0.3], np.float32)


@pytest.mark.parametrize(
    "gamma, alpha", [(0.0, None), (0.5, _PER_CLASS), (1.0, 0.25), (2.0, _PER_CLASS), (5.0, None)]
)
def test_softmax_and_sparse_values_and_gradients(gamma, alpha, rng):
    logits = rng.normal(scale=3.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    want, want_grad = softmax_focal_reference(logits, _one_hot(labels, 5), alpha, gamma)
    dense = lambda z, y: jaxloss.softmax_focal_loss(z, y, alpha=alpha, gamma=gamma)
    sparse = lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, alpha=alpha, gamma=gamma)
    for fn, lab in [(dense, _one_hot(labels, 5)), (sparse, labels)]:
        loss, grad = _loss_and_grad(fn)(logits, lab)
        np.testing.assert_allclose(loss, want, rtol=2e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=2e-6, atol=1e-9)


def test_softmax_soft_labels_and_class_axis(rng):
    logits = rng.normal(scale=2.0, size=(5, 3, 2)).astype(np.float32)
    labels = rng.dirichlet(np.ones(5), size=(3, 2)).astype(np.float32)  # [3, 2, 5]
    labels = np.moveaxis(labels, -1, 0)
    want, want_grad = softmax_focal_reference(
        np.moveaxis(logits, 0, -1), np.moveaxis(labels, 0, -1), 0.25, 2.0
    )
    loss, grad = _loss_and_grad(lambda z, y: jaxloss.softmax_focal_loss(z, y, axis=0))(
        logits, labels
    )
    np.testing.assert_allclose(loss, want, rtol=2e-6)
    # Soft labels: the terms of the gradient may cancel, so the tolerance is absolute.
    np.testing.assert_allclose(grad, np.moveaxis(want_grad, -1, 0), rtol=1e-5, atol=1e-7)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logits=hnp.arrays(np.float32, (4, 3), elements=st.floats(-_BIG, _BIG, width=32,
                                                             allow_subnormal=False)),
    labels=hnp.arrays(np.int32, 4, elements=st.integers(0, 2)),
    gamma=st.sampled_from(GAMMAS),
    magnitude=st.sampled_from([1.0, 1e-3, 1e-30]),
)  # fmt: skip
def test_softmax_stability_sweep(logits, labels, gamma, magnitude):
    logits = np.where(np.abs(logits) < 1e30, logits * np.float32(magnitude), logits)
    logits = logits.astype(np.float32)
    want, want_grad = softmax_focal_reference(logits, _one_hot(labels, 3), None, gamma)
    fn = _compiled_loss_and_grad(jaxloss.sparse_softmax_focal_loss, alpha=None, gamma=gamma)
    per_example, grad = fn(logits, labels)
    assert np.all(np.isfinite(grad))
    # The loss is finite unless its true value exceeds float32's range (logits spanning > 3.4e38).
    assert np.all(np.isfinite(per_example) | (np.abs(want) > F32_MAX))
    _close(per_example, want, 1e-5)
    _close(grad, want_grad, 1e-5)


def test_softmax_second_derivative(rng):
    logits = rng.normal(scale=2.0, size=(4,)).astype(np.float32)
    labels = np.int32(1)
    hessian = jax.jit(jax.jacrev(jax.grad(
        lambda z: jaxloss.sparse_softmax_focal_loss(z, labels, gamma=0.5))))(logits)  # fmt: skip
    h = 1e-6
    y = _one_hot(labels, 4)
    want = np.stack([(softmax_focal_reference(logits + h * e, y, 0.25, 0.5)[1]
                      - softmax_focal_reference(logits - h * e, y, 0.25, 0.5)[1]) / (2 * h)
                     for e in np.eye(4)])  # fmt: skip
    np.testing.assert_allclose(hessian, want, rtol=1e-4, atol=1e-7)


def test_softmax_gamma_zero_without_alpha_is_cross_entropy(rng):
    logits = rng.normal(scale=5.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    z = logits.astype(np.float64)
    cross_entropy = logsumexp(z, axis=-1) - z[np.arange(5), labels]
    got = jax.jit(lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, alpha=None, gamma=0.0))(
        logits, labels
    )
    np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)
    if hasattr(jaxloss, "sparse_softmax_cross_entropy"):
        cross_entropy = jax.jit(jaxloss.sparse_softmax_cross_entropy)(logits, labels)
        np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)


def test_sparse_ignore_index_and_out_of_range_labels(rng):
    logits = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    labels = jnp.array([0, -1, 2, 3, -7])
    loss, grad = _loss_and_grad(
        lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, ignore_index=-1)
    )(logits, labels)
    assert np.all(np.isfinite(loss[:3])) and loss[1] == 0 and np.all(np.isnan(loss[3:]))
    np.testing.assert_array_equal(grad[1], [0.0, 0.0, 0.0])
    grad = np.asarray(grad)
    assert np.all(np.isfinite(grad[[0, 2]])) and np.all(np.isnan(grad[3:]))


def test_softmax_where_equals_slicing(rng):
    logits = rng.normal(size=(3, 5)).astype(np.float32)
    labels = np.array([0, 2, 3])
    keep = np.array([True, False, True, True, False])
    kept_logits = logits[:, keep]
    kept_labels = np.array([0, 1, 2])  # class indices after slicing away classes 1 and 4
    want, want_grad = _loss_and_grad(jaxloss.sparse_softmax_focal_loss)(kept_logits, kept_labels)
    for fn, lab in [(jaxloss.sparse_softmax_focal_loss, labels),
                    (jaxloss.softmax_focal_loss, _one_hot(labels, 5))]:  # fmt: skip
        loss, grad = _loss_and_grad(lambda z, y, w, fn=fn: fn(z, y, where=w))(logits, lab, keep)
        np.testing.assert_allclose(loss, want, rtol=1e-6)
        np.testing.assert_allclose(grad[:, keep], want_grad, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(grad[:, ~keep], 0.0)
    rows = np.array([[True], [False], [True]])
    masked, grad = _loss_and_grad(lambda z, y, w: jaxloss.sparse_softmax_focal_loss(z, y, where=w))(
        logits, labels, rows
    )
    assert masked[1] == 0.0 and masked[0] != 0.0 and np.all(grad[1] == 0.0)
    on_masked_class = np.asarray(
        jax.jit(jaxloss.sparse_softmax_focal_loss)(logits, np.array([0, 1, 2]), where=keep)
    )
    assert np.isnan(on_masked_class[1]) and np.all(np.isfinite(on_masked_class[[0, 2]]))


def test_sigmoid_where_masks_elements(rng):
    logits = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    labels = jnp.asarray(rng.random((3, 4)), jnp.float32)
    where = jnp.asarray(rng.random((3, 4)) < 0.5)
    loss, grad = _loss_and_grad(lambda z, y, w: jaxloss.sigmoid_focal_loss(z, y, where=w))(
        logits, labels, where
    )
    full = jax.jit(jaxloss.sigmoid_focal_loss)(logits, labels)
    np.testing.assert_array_equal(loss, jnp.where(where, full, 0.0))
    assert np.all(np.asarray(grad)[~np.asarray(where)] == 0)


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "sparse"])
def test_vmap_equals_batched_call(name, rng):
    logits = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    int_labels = jnp.asarray(rng.integers(0, 3, size=4))
    fn, labels = {
        "sigmoid": (jaxloss.sigmoid_focal_loss, jnp.asarray(rng.random((4, 3)), jnp.float32)),
        "softmax": (jaxloss.softmax_focal_loss, jax.nn.one_hot(int_labels, 3)),
        "sparse": (jaxloss.sparse_softmax_focal_loss, int_labels),
    }[name]
    np.testing.assert_allclose(
        jax.jit(jax.vmap(fn))(logits, labels), jax.jit(fn)(logits, labels), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_inputs_are_computed_in_float32(dtype, rng):
    logits = jnp.asarray(rng.normal(scale=30.0, size=(4, 3)), dtype)
    labels = jnp.asarray(rng.integers(0, 3, size=4))
    binary = (rng.random((4, 3)) < 0.5).astype(np.float32)
    upcast = np.asarray(logits, np.float64)
    sigmoid, sigmoid_grad = _loss_and_grad(jaxloss.sigmoid_focal_loss)(
        logits, jnp.asarray(binary, dtype)
    )
    sparse, sparse_grad = _loss_and_grad(jaxloss.sparse_softmax_focal_loss)(logits, labels)
    assert sigmoid.dtype == sparse.dtype == jnp.float32
    want_sigmoid = sigmoid_focal_reference(upcast, binary, 0.25, 2.0)[0]
    want_sparse = softmax_focal_reference(upcast, _one_hot(labels, 3), 0.25, 2.0)[0]
    np.testing.assert_allclose(sigmoid, want_sigmoid, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(sparse, want_sparse, rtol=2e-6, atol=1e-30)
    for grad in (sigmoid_grad, sparse_grad):
        assert grad.dtype == dtype and np.all(np.isfinite(np.asarray(grad, np.float32)))


def test_bad_input_raises_naming_the_argument():
    z = jnp.zeros((2, 3), jnp.float32)
    y = jnp.zeros((2, 3), jnp.float32)
    cases = [
        (lambda: jaxloss.sigmoid_focal_loss(z, y, gamma=-1.0), "`gamma` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, alpha=1.5), "`alpha` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, alpha=np.array([0.5, 0.5, -0.1])), "`alpha` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, label_smoothing=2.0), "`label_smoothing` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y[:, :2]), r"labels.shape=\(2, 2\)"),
        (lambda: jaxloss.sigmoid_focal_loss(z.astype(jnp.int32), y), "`logits` must have a floating"),
        (lambda: jaxloss.softmax_focal_loss(z, y, axis=2), "`axis`=2 is out of range"),
        (lambda: jaxloss.softmax_focal_loss(z, y, alpha=np.ones(2) / 2), r"`alpha` must be a scalar or have shape \(3,\)"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(2)), "`labels` must hold integer"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(3, jnp.int32)), r"labels.shape=\(3,\)"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(2, jnp.int32), gamma=-0.5), "`gamma`"),
        (lambda: jaxloss.binary_focal_cross_entropy(z, y, epsilon=0.7), "`epsilon` must lie in"),
        (lambda: jaxloss.categorical_focal_cross_entropy(z, y, label_smoothing=-1.0), "`label_smoothing`"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, where=jnp.ones(2, bool)), "`where` of shape"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# ------------------------------------------------- Keras probability-space forms


@pytest.mark.standard_promotion
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"alpha": 0.3}, {"gamma": 0.5, "label_smoothing": 0.1}, {"gamma": 0.0, "alpha": 0.9}],
)
def test_binary_focal_cross_entropy_matches_keras_elementwise(kwargs, rng):
    keras = pytest.importorskip("keras")
    probs = rng.random((12, 1)).astype(np.float32)
    probs[:4, 0] = [0.0, 1.0, 1e-9, 1.0 - 1e-8]
    labels = (rng.random((12, 1)) < 0.5).astype(np.float32)
    labels[:4, 0] = [0.0, 1.0, 1.0, 0.0]
    keras_kwargs = {
        "gamma": kwargs.get("gamma", 2.0),
        "label_smoothing": kwargs.get("label_smoothing", 0.0),
    }
    if "alpha" in kwargs:
        keras_kwargs.update(apply_class_balancing=True, alpha=kwargs["alpha"])
    # Keras averages over the last axis: of size 1 here, so its values are elementwise.
    want = jax.jit(lambda y, p: keras.losses.binary_focal_crossentropy(y, p, **keras_kwargs))(
        labels, probs
    )
    got, grad = _loss_and_grad(lambda p, y: jaxloss.binary_focal_cross_entropy(p, y, **kwargs))(
        probs, labels
    )
    np.testing.assert_allclose(got[:, 0], np.asarray(want), rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(grad))


@pytest.mark.standard_promotion
@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.5, "gamma": 0.5, "label_smoothing": 0.2}])
def test_categorical_focal_cross_entropy_matches_keras_per_row(kwargs, rng):
    keras = pytest.importorskip("keras")
    probs = (rng.random((6, 4)) * 3).astype(np.float32)  # unnormalised, as Keras allows
    probs[0] = [0.0, 1.0, 0.0, 0.0]
    labels = _one_hot(rng.integers(0, 4, size=6), 4)
    labels[0] = [1.0, 0.0, 0.0, 0.0]
    want = jax.jit(lambda y, p: keras.losses.categorical_focal_crossentropy(y, p, **kwargs))(
        labels, probs
    )
    got, grad = _loss_and_grad(
        lambda p, y: jaxloss.categorical_focal_cross_entropy(p, y, **kwargs)
    )(probs, labels)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6)
    assert np.all(np.isfinite(grad))


def test_probability_forms_have_finite_gradients_at_the_boundaries():
    probs = jnp.array([0.0, 1.0, 0.0, 1.0, 0.5], jnp.float32)
    labels = jnp.array([0.0, 1.0, 1.0, 0.0, 1.0], jnp.float32)
    cat = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
    binary = _loss_and_grad(lambda p, y, g: jaxloss.binary_focal_cross_entropy(p, y, gamma=g))
    categorical = _loss_and_grad(
        lambda p, y, g: jaxloss.categorical_focal_cross_entropy(p, y, gamma=g)
    )
    for gamma in map(np.float32, GAMMAS):  # traced gamma: one compile for the whole set
        for loss, grad in (binary(probs, labels, gamma), categorical(cat, cat, gamma)):
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad)), gamma


def test_probability_forms_where_and_invalid_values():
    probs = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], jnp.float32)
    labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
    keep = jnp.array([True, True, False])
    categorical = jax.jit(jaxloss.categorical_focal_cross_entropy)
    binary = jax.jit(jaxloss.binary_focal_cross_entropy)
    sliced = categorical(probs[:, :2], labels[:, :2])
    np.testing.assert_allclose(categorical(probs, labels, where=keep), sliced, rtol=1e-6)
    np.testing.assert_array_equal(binary(probs, labels, where=keep)[:, 2], 0.0)
    assert np.all(np.isnan(binary(jnp.array([1.2, 0.5]), jnp.array([1.0, 2.0]))))


@pytest.mark.parametrize("p", [1e-7, 1.0 - 1.1920929e-7])
def test_binary_focal_gradient_at_the_clip_bounds_equals_cross_entropy(p):
    # Hypothesis find: jnp.clip's derivative is 1/2 at its ends, so at p = epsilon (or
    # 1 - epsilon) gamma = 0 gave half the cross-entropy's gradient.
    probs = jnp.full((2,), p, jnp.float32)
    labels = jnp.array([0.0, 1.0])
    focal = jax.grad(lambda q: jnp.sum(jaxloss.binary_focal_cross_entropy(q, labels, gamma=0.0)))
    ce = jax.grad(lambda q: jnp.sum(jaxloss.binary_cross_entropy(q, labels)))
    np.testing.assert_allclose(jax.jit(focal)(probs), jax.jit(ce)(probs), rtol=1e-6)


def test_categorical_focal_gradient_finite_for_a_tiny_probability_row():
    # Hypothesis find: the gradient of p / sum(p) has -p / sum(p)**2, which underflowed
    # to inf for rows summing to less than ~1e-19 (here 1.5e-25; exact gradient ~6e24).
    probs = jnp.full((1, 5), 2.9649195e-26, jnp.float32)
    labels = jnp.array([[0.0, 0.0, 0.0, 1.0, 0.0]])
    focal = jax.grad(lambda p: jnp.sum(
        jaxloss.categorical_focal_cross_entropy(p, labels, alpha=None, gamma=0.0)))
    ce = jax.grad(lambda p: jnp.sum(jaxloss.categorical_cross_entropy(p, labels)))
    np.testing.assert_allclose(jax.jit(focal)(probs), jax.jit(ce)(probs), rtol=1e-5)
