"""Regression kernels against float64 NumPy references written from their formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss


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
    "log_cosh": (jaxloss.log_cosh, _log_cosh),
}


def _call(name, predictions, targets=None, delta=1.0, **kwargs):
    fn = LOSSES[name][0]
    if name == "huber_loss":
        kwargs["delta"] = delta
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


def test_absolute_error_gradient_at_zero_error_is_zero():
    # Hypothesis find: jnp.abs's derivative at 0 is 1, against the documented 0.
    p = jnp.array([0.0, 2.0, -3.0])
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.absolute_error(x, p))))(p)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.absolute_error(x))))(p)
    np.testing.assert_array_equal(grad, [0.0, 1.0, -1.0])
