"""Regression kernels against float64 NumPy references written from their formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import losses
from jaxloss.train import objectives


def _squared(e, delta):
    return e**2, 2 * e


def _half_squared(e, delta):
    return 0.5 * e**2, e


def _absolute(e, delta):
    return np.abs(e), np.sign(e)


def _huber(e, delta):
    inside = np.abs(e) <= delta
    value = np.where(inside, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))
    return value, np.clip(e, -delta, delta)


def _smooth_l1(e, beta):
    inside = np.abs(e) < beta
    value = np.where(inside, 0.5 * e**2 / beta, np.abs(e) - 0.5 * beta)
    return value, np.clip(e / beta, -1, 1)


def _log_cosh(e, delta):
    # log(cosh e) = log1p(2 sinh(e/2)^2) for small e, |e| - log 2 + log1p(exp(-2|e|)) otherwise.
    a = np.abs(e)
    small = np.log1p(2 * np.sinh(np.minimum(a, 1.0) / 2) ** 2)
    large = a - np.log(2.0) + np.log1p(np.exp(-2 * a))
    return np.where(a < 1.0, small, large), np.tanh(e)


LOSSES = {
    "squared_error": (jaxloss.squared_error, _squared),
    "l2_loss": (jaxloss.l2_loss, _half_squared),
    "absolute_error": (jaxloss.absolute_error, _absolute),
    "huber_loss": (jaxloss.huber_loss, _huber),
    "smooth_l1_loss": (jaxloss.smooth_l1_loss, _smooth_l1),
    "log_cosh": (jaxloss.log_cosh, _log_cosh),
}


def _call(name, predictions, targets=None, delta=1.0, **kwargs):
    fn = LOSSES[name][0]
    if name == "huber_loss":
        kwargs["delta"] = delta
    if name == "smooth_l1_loss":
        kwargs["beta"] = delta
    return fn(predictions, targets, **kwargs)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_values_and_gradients_match_float64_reference(name, delta, rng):
    predictions = rng.normal(scale=2.0, size=(4, 7)).astype(np.float32)
    targets = rng.normal(size=(4, 7)).astype(np.float32)
    errors = predictions.astype(np.float64) - targets.astype(np.float64)
    want, want_grad = LOSSES[name][1](errors, delta)

    loss = jax.jit(lambda p, t: _call(name, p, t, delta))
    grad = jax.jit(jax.grad(lambda p, t: jnp.sum(_call(name, p, t, delta)), argnums=(0, 1)))
    got = loss(predictions, targets)
    got_dp, got_dt = grad(predictions, targets)
    assert got.dtype == jnp.float32 and got.shape == (4, 7)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_dp, want_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_dt, -want_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", LOSSES)
def test_targets_none_means_zero_targets(name, rng):
    predictions = jnp.asarray(rng.normal(size=(5,)), jnp.float32)
    loss = jax.jit(lambda p, t: (_call(name, p), _call(name, p, t)))
    without, with_zeros = loss(predictions, jnp.zeros_like(predictions))
    np.testing.assert_array_equal(without, with_zeros)


def test_log_cosh_keeps_relative_precision_for_tiny_and_huge_errors():
    errors = np.array([1e-6, 1e-3, 0.5, 0.999, 1.0, 30.0, 1e4, 3e38], np.float32)
    want, want_grad = _log_cosh(errors.astype(np.float64), None)
    got = jax.jit(jaxloss.log_cosh)(errors)
    grad = jax.jit(jax.grad(lambda e: jnp.sum(jaxloss.log_cosh(e))))(errors)
    np.testing.assert_allclose(got, want, rtol=2e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)
    # The custom_jvp's tangent is differentiable again: d2/de2 log(cosh e) = 1 / cosh(e)^2.
    second = jax.jit(jax.vmap(jax.grad(jax.grad(lambda e: jaxloss.log_cosh(e)))))(errors)
    np.testing.assert_allclose(
        second,
        1.0 / np.cosh(np.minimum(errors, 300.0).astype(np.float64)) ** 2,
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_finite_at_extremes_and_kinks(name):
    # Huber's kink at |e| = delta, the absolute value's kink at 0, and huge errors (the
    # squared error's true gradient 2e overflows float32 beyond 1.7e38).
    huge = 1e19 if name in ("squared_error", "l2_loss") else 3e38
    errors = jnp.array([0.0, 1.0, -1.0, 1e-30, 1e19, -1e19, huge, -huge], jnp.float32)
    grad = jax.jit(jax.grad(lambda e: jnp.sum(_call(name, e))))(errors)
    assert np.all(np.isfinite(grad)), grad
    if name == "huber_loss":
        np.testing.assert_allclose(grad[:3], [0.0, 1.0, -1.0])
        np.testing.assert_allclose(grad[4:], [1.0, -1.0, 1.0, -1.0])
    loss = jax.jit(lambda e: _call(name, e))(errors)
    assert np.all(np.isfinite(loss)), loss


@pytest.mark.parametrize("name", LOSSES)
def test_where_masks_elements_and_their_gradients(name, rng):
    predictions = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    targets = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    where = jnp.asarray(rng.random((3, 4)) < 0.5)
    masked = jax.jit(lambda p, t, w: _call(name, p, t, where=w))
    grad = jax.jit(jax.grad(lambda p, t, w: jnp.sum(_call(name, p, t, where=w))))
    full = masked(predictions, targets, jnp.ones((3, 4), bool))
    np.testing.assert_array_equal(masked(predictions, targets, where), jnp.where(where, full, 0.0))
    assert np.all(np.asarray(grad(predictions, targets, where))[~np.asarray(where)] == 0.0)
    row_mask = jnp.array([[True], [False], [True]])
    np.testing.assert_array_equal(masked(predictions, targets, row_mask)[1], jnp.zeros((4,)))
    column_mask = jnp.array([True, False, True, True])  # lower rank: broadcast, no promotion
    np.testing.assert_array_equal(masked(predictions, targets, column_mask)[:, 1], jnp.zeros((3,)))


@pytest.mark.parametrize("name", LOSSES)
def test_masked_overflowing_error_has_zero_gradient_not_nan(name):
    # p - t = 6e38 overflows to inf; masked, it must not leak 0 * inf = NaN into the gradient.
    predictions = jnp.array([3e38, 1.0], jnp.float32)
    targets = jnp.array([-3e38, 0.5], jnp.float32)
    where = jnp.array([False, True])
    loss_fn = lambda p: jnp.sum(_call(name, p, targets, where=where))
    loss, grad = jax.jit(jax.value_and_grad(loss_fn))(predictions)
    assert np.isfinite(loss)
    assert grad[0] == 0.0 and np.isfinite(grad[1])


@pytest.mark.parametrize("name", LOSSES)
def test_vmap_equals_batched_call(name, rng):
    predictions = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
    targets = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
    batched = jax.jit(jax.vmap(lambda p, t: _call(name, p, t)))(predictions, targets)
    np.testing.assert_allclose(
        batched, jax.jit(lambda p, t: _call(name, p, t))(predictions, targets), rtol=1e-7
    )


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_inputs_are_computed_in_float32(name, dtype, rng):
    predictions = jnp.asarray(rng.normal(scale=300.0, size=(16,)), dtype)
    targets = jnp.asarray(rng.normal(size=(16,)), dtype)
    loss = jax.jit(lambda p, t: _call(name, p, t))(predictions, targets)
    assert loss.dtype == jnp.float32
    errors = np.asarray(predictions, np.float64) - np.asarray(targets, np.float64)
    np.testing.assert_allclose(loss, LOSSES[name][1](errors, 1.0)[0], rtol=1e-6)
    grad = jax.jit(jax.grad(lambda p, t: jnp.sum(_call(name, p, t))))(predictions, targets)
    assert grad.dtype == dtype


def test_bad_input_raises_naming_the_argument():
    x = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"predictions.shape=\(2, 3\) and targets.shape=\(3, 2\)"):
        jaxloss.squared_error(x, jnp.zeros((3, 2), jnp.float32))
    with pytest.raises(ValueError, match="`predictions` must have a floating-point dtype"):
        jaxloss.absolute_error(jnp.zeros((2, 3), jnp.int32), x)
    for delta in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="`delta` must lie in"):
            jaxloss.huber_loss(x, x, delta=delta)
    with pytest.raises(ValueError, match="`where` must be a boolean mask"):
        jaxloss.log_cosh(x, x, where=jnp.ones((2, 3), jnp.float32))
    with pytest.raises(ValueError, match=r"`where` of shape \(2,\) does not broadcast"):
        jaxloss.log_cosh(x, x, where=jnp.ones((2,), bool))


@pytest.mark.standard_promotion
@pytest.mark.parametrize(
    "name, keras_name, kwargs",
    [
        ("squared_error", "mean_squared_error", {}),
        ("absolute_error", "mean_absolute_error", {}),
        ("huber_loss", "huber", {"delta": 0.7}),
        ("log_cosh", "log_cosh", {}),
    ],
)
def test_mean_over_last_axis_matches_keras(name, keras_name, kwargs, rng):
    keras = pytest.importorskip("keras")
    targets = rng.normal(size=(4, 6)).astype(np.float32)
    predictions = rng.normal(scale=3.0, size=(4, 6)).astype(np.float32)
    want = jax.jit(lambda t, p: getattr(keras.losses, keras_name)(t, p, **kwargs))(
        targets, predictions
    )
    got = jax.jit(lambda p, t: jnp.mean(_call(name, p, t, kwargs.get("delta", 1.0)), axis=-1))(
        predictions, targets
    )
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta", [2.0, 0.25])
def test_smooth_l1_is_huber_over_beta_and_the_absolute_error_at_beta_zero(beta):
    errors = jnp.array([-3.0, -0.2, 0.0, 0.1, 0.25, 1.5, 2.0, 3e38])

    def both(e):
        smooth = jax.value_and_grad(lambda x: jnp.sum(jaxloss.smooth_l1_loss(x, beta=beta)))
        huber = jax.value_and_grad(lambda x: jnp.sum(jaxloss.huber_loss(x, delta=beta) / beta))
        l1 = jax.vmap(jax.value_and_grad(lambda x: jaxloss.smooth_l1_loss(x, beta=0.0)))
        absolute = jax.vmap(jax.value_and_grad(jaxloss.absolute_error))
        return smooth(e), huber(e), l1(e), absolute(e)

    smooth, huber, l1, absolute = jax.jit(both)(errors)
    for got, want in zip(smooth + l1, huber + absolute):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(l1[1], [-1, -1, 0, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="`beta` must lie in"):
        jaxloss.smooth_l1_loss(errors, beta=-1.0)


def test_absolute_error_gradient_at_zero_error_is_zero():
    # Hypothesis find: jnp.abs's derivative at 0 is 1, against the documented 0.
    p = jnp.array([0.0, 2.0, -3.0])
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.absolute_error(x, p))))(p)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.absolute_error(x))))(p)
    np.testing.assert_array_equal(grad, [0.0, 1.0, -1.0])


# ------------------------------------------------------------------- quantile (pinball)


def _pinball(predictions, targets, q):
    """float64 ``max(q e, (q - 1) e)``, ``e = targets - predictions``, and d/dpredictions."""
    e = np.float64(targets) - np.float64(predictions)
    q = np.float64(q)
    grad = np.where(e > 0, -q, np.where(e < 0, 1 - q, 0.5 - q))
    return np.maximum(q * e, (q - 1) * e), grad


@jax.jit
def _quantile_value_and_grad(predictions, targets, quantile, where=None):
    def total(p):
        return jnp.sum(jaxloss.quantile_loss(p, targets, quantile=quantile, where=where))

    loss = jaxloss.quantile_loss(predictions, targets, quantile=quantile, where=where)
    return loss, jax.grad(total)(predictions)


QUANTILES = [0.0, 0.1, 0.5, 0.9, 1.0, np.array([0.05, 0.5, 0.95], np.float32)]


@pytest.mark.parametrize("quantile", QUANTILES, ids=str)
def test_quantile_loss_matches_float64_with_gradients(quantile, rng):
    """Levels traced (one compilation for all): a number, or one per entry of the last axis."""
    predictions = rng.normal(size=(4, 3)).astype(np.float32)
    targets = rng.normal(size=(4, 3)).astype(np.float32)
    targets[0, 0] = predictions[0, 0]  # e = 0: the subgradient 0.5 - q
    q = np.broadcast_to(np.float32(quantile), (4, 3))
    loss, grad = _quantile_value_and_grad(predictions, targets, q)
    want, want_grad = _pinball(predictions, targets, q)
    np.testing.assert_allclose(loss, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)
    direct = jaxloss.quantile_loss(predictions, targets, quantile=quantile)
    np.testing.assert_allclose(direct, want, rtol=1e-6, atol=1e-7)


def test_quantile_one_half_is_half_the_absolute_error_and_levels_are_asymmetric(rng):
    predictions = rng.normal(size=(4, 3)).astype(np.float32)
    targets = predictions + rng.normal(size=(4, 3)).astype(np.float32)
    targets[1, 1] = predictions[1, 1]
    q = np.full((4, 3), 0.5, np.float32)
    loss, grad = _quantile_value_and_grad(predictions, targets, q)
    absolute = jax.jit(jax.value_and_grad(lambda p: jnp.sum(jaxloss.absolute_error(p, targets))))
    total, absolute_grad = absolute(predictions)
    np.testing.assert_allclose(loss, 0.5 * jaxloss.absolute_error(predictions, targets), rtol=1e-6)
    np.testing.assert_allclose(np.sum(loss), 0.5 * total, rtol=1e-6)
    np.testing.assert_allclose(grad, 0.5 * np.asarray(absolute_grad), rtol=1e-6)
    # Under-predicting by 1 costs q, over-predicting by 1 costs 1 - q.
    under, _ = _quantile_value_and_grad(np.zeros((4, 3), np.float32), np.ones((4, 3), np.float32),
                                        np.full((4, 3), 0.9, np.float32))
    over, _ = _quantile_value_and_grad(np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32),
                                       np.full((4, 3), 0.9, np.float32))
    np.testing.assert_allclose(under, 0.9, rtol=1e-6)
    np.testing.assert_allclose(over, 0.1, rtol=1e-6)


def test_quantile_loss_where_vmap_dtypes_and_extremes(rng):
    predictions = rng.normal(size=(4, 3)).astype(np.float32)
    targets = rng.normal(size=(4, 3)).astype(np.float32)
    q = np.full((4, 3), 0.3, np.float32)
    mask = np.arange(12).reshape(4, 3) % 3 != 0
    spoiled = predictions.copy()
    spoiled[~mask] = 3e38  # an error that overflows, masked: gradient 0, not NaN
    targets_far = targets.copy()
    targets_far[~mask] = -3e38
    loss, grad = _quantile_value_and_grad(spoiled, targets_far, q, mask)
    want, want_grad = _pinball(predictions, targets, q)
    np.testing.assert_allclose(loss, np.where(mask, want, 0.0), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(grad)[~mask], 0.0)
    np.testing.assert_allclose(np.asarray(grad)[mask], want_grad[mask], rtol=1e-6)
    huge, huge_grad = _quantile_value_and_grad(np.full((4, 3), 1e38, np.float32),
                                               np.full((4, 3), -1e38, np.float32), q)
    np.testing.assert_allclose(huge, 0.7 * 2e38, rtol=1e-6)
    np.testing.assert_allclose(huge_grad, 0.7, rtol=1e-6)
    levels = np.array([0.1, 0.5, 0.9], np.float32)
    mapped = jax.vmap(lambda p, t: jaxloss.quantile_loss(p, t, quantile=levels))(
        np.stack([predictions, predictions[::-1]]), np.stack([targets, targets[::-1]])
    )
    np.testing.assert_allclose(mapped[1], _pinball(predictions[::-1], targets[::-1], levels)[0],
                               rtol=1e-6, atol=1e-7)
    half = jaxloss.quantile_loss(predictions.astype(jnp.bfloat16), targets.astype(jnp.bfloat16))
    assert half.dtype == jnp.float32
    rounded = [np.asarray(jnp.asarray(a, jnp.bfloat16), np.float64) for a in (predictions, targets)]
    np.testing.assert_allclose(half, _pinball(*rounded, 0.5)[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantile": 1.5}, r"`quantile` must lie in \[0.0, 1.0\], got 1.5"),
        ({"quantile": -0.1}, r"`quantile` must lie in \[0.0, 1.0\]"),
        ({"quantile": float("nan")}, r"`quantile` must lie in \[0.0, 1.0\]"),
        ({"quantile": (0.1, 1.2, 0.5)}, r"`quantile` must lie in \[0.0, 1.0\]"),
        ({"quantile": np.array([0.1, 0.5])}, r"`quantile` of shape \(2,\) does not broadcast"),
        ({"where": np.ones((4, 2), bool)}, r"`where` of shape \(4, 2\)"),
    ],
)
def test_quantile_loss_bad_inputs_raise(kwargs, match):
    predictions = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        jaxloss.quantile_loss(predictions, predictions, **kwargs)
    with pytest.raises(ValueError, match="targets"):
        jaxloss.quantile_loss(predictions, predictions[:, :2])
    with pytest.raises(ValueError, match="`predictions` must have a floating-point dtype"):
        jaxloss.quantile_loss(predictions.astype(np.int32), predictions)


def test_keras_quantile_class_is_the_mean_pinball_loss_over_the_last_axis(rng):
    y_true = rng.normal(size=(4, 3)).astype(np.float32)
    y_pred = rng.normal(size=(4, 3)).astype(np.float32)
    levels = (0.1, 0.5, 0.9)
    want = _pinball(y_pred, y_true, np.array(levels))[0].mean(-1)
    np.testing.assert_allclose(losses.quantile_loss(y_true, y_pred, quantile=levels), want,
                               rtol=1e-6)
    loss = losses.Quantile(quantile=levels)
    np.testing.assert_allclose(jax.jit(loss)(y_true, y_pred), want.mean(), rtol=1e-6)
    restored = losses.deserialize(losses.serialize(loss))
    np.testing.assert_allclose(restored(y_true, y_pred), want.mean(), rtol=1e-6)
    assert losses.get("quantile_loss") is losses.quantile_loss
    assert isinstance(objectives.resolve_loss(losses.Quantile), losses.Quantile)


def test_l2_loss_step_needs_no_temporary_and_its_gradient_is_the_error():
    """Compile only: the mean loss and its gradient in one step keep no error-sized
    temporary (the gradient reuses the buffer of ``e / 2``), and the gradient is ``e``
    exactly, finite even where the loss overflows; below ``2**-125``, where ``e / 2`` is
    subnormal (flushed to zero on CPU), it is within ``2**-125`` of ``e``."""
    spec = jax.ShapeDtypeStruct((2**16,), np.float32)
    step = jax.value_and_grad(lambda p, t: jnp.mean(jaxloss.l2_loss(p, t)))
    compiled = jax.jit(step).lower(spec, spec).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 1024
    errors = np.array([3e38, -1e30, 1.5, -2.0**-124, 0.0, 2.0**-126, -(2.0**-149)], np.float32)
    loss, grad = jax.jit(jax.value_and_grad(lambda p: jaxloss.l2_loss(p).sum()))(errors)
    assert np.isinf(loss)
    np.testing.assert_array_equal(grad[:5], errors[:5])
    np.testing.assert_allclose(grad[5:], errors[5:], rtol=0, atol=2.0**-125)
    predictions, targets = np.array([1e38, 2.5], np.float32), np.array([-2e38, 0.75], np.float32)
    grad = jax.jit(jax.grad(lambda p, t: jaxloss.l2_loss(p, t).sum()))(predictions, targets)
    np.testing.assert_array_equal(grad, predictions - targets)
