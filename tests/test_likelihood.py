"""Gaussian and Poisson negative log-likelihoods against float64 formulas (PyTorch's semantics)."""

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads
from kernel_properties import (
    check_bad_input,
    check_half_precision,
    check_values_and_grads,
    check_vmap,
)
from property_cases import NON_NEGATIVE, arrays, assert_close

import jaxloss
from jaxloss import gaussian_nll_loss, losses, poisson_nll_loss

EPS_GAUSSIAN = 1e-6


def _gaussian(p, t, v, full=False, epsilon=EPS_GAUSSIAN):
    c = np.maximum(np.asarray(v, np.float64), epsilon)
    e = np.asarray(p, np.float64) - np.asarray(t, np.float64)
    return 0.5 * (np.log(c) + e**2 / c) + (0.5 * np.log(2 * np.pi) if full else 0.0)


def _gaussian_grads(p, t, v, epsilon=EPS_GAUSSIAN):
    """d/dp, d/dt and d/dv in float64; d/dv passes through the clamp, as in PyTorch."""
    c = np.maximum(np.asarray(v, np.float64), epsilon)
    e = np.asarray(p, np.float64) - np.asarray(t, np.float64)
    return e / c, -e / c, 0.5 * (1 / c - e**2 / c**2)


def _poisson(p, t, log_input=True, full=False, epsilon=1e-8):
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    loss = np.exp(p) - t * p if log_input else p - t * np.log(p + epsilon)
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t)
        loss = loss + np.where(t > 1, stirling, 0.0)
    return loss


def _gaussian_inputs():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(2, 4, 5)).astype(np.float32)
    return p, t, rng.uniform(0.1, 3.0, (4, 5)).astype(np.float32)


def _counts(log_input):
    rng = np.random.default_rng(1)
    low = -3.0 if log_input else 0.2
    return rng.uniform(low, 3, (4, 5)).astype(np.float32), rng.poisson(2, (4, 5)).astype(np.float32)


POISSON_OPTIONS = [
    {},
    {"full": True},
    {"log_input": False},
    {"log_input": False, "full": True, "epsilon": 1e-3},
]


# ----------------------------------------------------------------------- Poisson


@pytest.mark.parametrize("options", POISSON_OPTIONS, ids=str)
def test_poisson_formula_grad_vmap_dtypes_bad_input(options):
    first, second = _counts(options.get("log_input", True))
    fn = functools.partial(poisson_nll_loss, **options)
    reference = functools.partial(_poisson, **options)
    check_values_and_grads(fn, reference, first, second)
    check_vmap(fn, first, second)
    check_half_precision(fn, first, second)
    check_bad_input(fn, first, second, "predictions")


@pytest.mark.parametrize("log_rate", [80.0, -80.0])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_extreme_log_rates_give_finite_loss_and_gradient(log_rate, full):
    predictions = jnp.full((3,), log_rate)
    targets = jnp.array([0.0, 1.0, 1e6])
    loss, grad = jax.jit(
        jax.vmap(jax.value_and_grad(lambda p, t: poisson_nll_loss(p, t, full=full)))
    )(predictions, targets)
    np.testing.assert_allclose(loss, _poisson(predictions, targets, full=full), rtol=1e-6)
    np.testing.assert_allclose(grad, np.exp(np.float64(log_rate)) - targets, rtol=1e-6)


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_gradient_in_the_counts_is_finite_where_the_stirling_term_is_masked(log_input):
    """At counts <= 1 the term is 0; its log(0) at a count of 0 must not reach the gradient."""
    predictions = jnp.array([0.5, 0.5, 0.5, 0.5])
    targets = jnp.array([0.0, 0.5, 1.0, 3.0])
    fn = functools.partial(poisson_nll_loss, predictions, full=True, log_input=log_input)
    grad = jax.jit(jax.grad(lambda t: jnp.sum(fn(t))))(targets)
    rate_term = -0.5 if log_input else -np.log(0.5 + 1e-8)
    counted = np.maximum(targets, 1)
    stirling = np.where(targets > 1, np.log(counted) + 0.5 / counted, 0.0)
    np.testing.assert_allclose(grad, rate_term + stirling, rtol=1e-6)


def test_poisson_zero_counts_and_zero_rates():
    loss = jax.jit(functools.partial(poisson_nll_loss, log_input=False, full=True))(
        jnp.array([0.0, 0.0, 2.0]), jnp.array([0.0, 2.0, 0.0])
    )
    np.testing.assert_allclose(
        loss, [0.0, -2 * np.log(1e-8) + _poisson(0.0, 2.0, True, True) - 1.0, 2.0], rtol=1e-6
    )
    grad = jax.grad(lambda p: jnp.sum(poisson_nll_loss(p, jnp.zeros(2), log_input=False)))(
        jnp.zeros(2)
    )
    np.testing.assert_array_equal(grad, [1.0, 1.0])


@given(data=st.data())
def test_poisson_rates_match_float64_over_their_domain(data):
    """Rates (log_input=False) from 0 to 1e30, counts likewise: the loss within 1e-5 of
    float64 up to the float32 resolution of its two terms; the gradient finite."""
    rates = data.draw(arrays((4, 3), NON_NEGATIVE), label="rates")
    counts = data.draw(arrays((4, 3), NON_NEGATIVE), label="counts")
    full = data.draw(st.booleans(), label="full")
    fn = functools.partial(poisson_nll_loss, log_input=False, full=full)
    loss = jax.jit(fn)(rates, counts)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(fn(p, counts))))(rates)
    want = _poisson(rates, counts, log_input=False, full=full)
    p, t = np.float64(rates), np.float64(counts)
    # p + 1e-8 rounds in float32 (relative 6e-8), and the log turns that into 6e-8 absolute.
    terms = p + t * (np.abs(np.log(p + 1e-8)) + 1)
    if full:
        terms = terms + t * (np.log(np.maximum(t, 1)) + 1)
    assert_close(loss, want, rtol=1e-5, atol=1e-6 + 4 * np.finfo(np.float32).eps * terms)
    assert np.all(np.isfinite(grad))


def test_poisson_where_equals_slicing_and_masks_bad_values():
    predictions, targets = _counts(True)
    mask = np.arange(5) < 3
    spoiled = predictions.copy()
    spoiled[:, 3:] = 1e30  # exp overflows: masked, it must not reach the gradient
    fn = jax.jit(lambda p, t: poisson_nll_loss(p, t, full=True, where=mask))
    sliced = poisson_nll_loss(predictions[:, :3], targets[:, :3], full=True)
    np.testing.assert_allclose(fn(spoiled, targets)[:, :3], sliced, rtol=1e-6)
    assert np.all(fn(spoiled, targets)[:, 3:] == 0)
    grad = jax.grad(lambda p: jnp.sum(fn(p, targets)))(spoiled)
    assert np.all(grad[:, 3:] == 0) and np.all(np.isfinite(grad))


# ---------------------------------------------------------------------- Gaussian


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_values_and_gradients_match_float64(full):
    p, t, v = _gaussian_inputs()
    fn = jax.jit(functools.partial(gaussian_nll_loss, full=full))
    np.testing.assert_allclose(fn(p, t, v), _gaussian(p, t, v, full), rtol=1e-5, atol=1e-6)
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=(0, 1, 2)))(p, t, v)
    for got, want in zip(grads, _gaussian_grads(p, t, v), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gaussian_gradients_in_float64_to_second_order():
    p, t, v = (np.float64(a) for a in _gaussian_inputs())
    with jax.enable_x64(True):
        check_grads(gaussian_nll_loss, (p, t, v), order=2, modes=("fwd", "rev"))
        check_grads(lambda a, b, c: gaussian_nll_loss(a, b, c[:, :1]), (p, t, v), order=2)


@pytest.mark.parametrize("variances", [0.0, 1e-12, 1e-8, 5e-7], ids=str)
def test_gaussian_clamp_passes_the_gradient_through_as_pytorch_does(variances):
    """PyTorch clamps var in place under no_grad: below eps the loss uses eps, and the
    gradient with respect to var is the clamped formula's, not 0."""
    p, t = jnp.array([1e-4, 0.0, 2.0]), jnp.zeros(3)
    v = jnp.full(3, variances)
    loss, grads = jax.jit(
        jax.value_and_grad(lambda *a: jnp.sum(gaussian_nll_loss(*a)), argnums=(0, 1, 2))
    )(p, t, v)
    np.testing.assert_allclose(loss, np.sum(_gaussian(p, t, v)), rtol=1e-6)
    for got, want in zip(grads, _gaussian_grads(p, t, v), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert float(grads[2][1]) == pytest.approx(0.5 / EPS_GAUSSIAN, rel=1e-6)  # not 0


@pytest.mark.parametrize(
    "variance_shape", [(4, 5), (4,), (4, 1)], ids=["per_element", "per_row", "per_row_axis1"]
)
def test_gaussian_variances_broadcast_as_pytorch_allows(variance_shape):
    p, t, v = _gaussian_inputs()
    v = v[:, :1].reshape(variance_shape) if variance_shape != (4, 5) else v
    full_v = np.broadcast_to(np.reshape(v, (4, -1)), (4, 5))
    fn = jax.jit(gaussian_nll_loss)
    np.testing.assert_allclose(fn(p, t, v), _gaussian(p, t, full_v), rtol=1e-5, atol=1e-6)
    grad = jax.grad(lambda c: jnp.sum(fn(p, t, c)))(v)
    expected = _gaussian_grads(p, t, full_v)[2]
    expected = expected if variance_shape == (4, 5) else expected.sum(-1).reshape(variance_shape)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variance_shape", [(5,), (4, 2), (1, 5), (4, 5, 1), ()], ids=str)
def test_gaussian_variances_of_another_shape_raise_naming_both_shapes(variance_shape):
    p, t, _ = _gaussian_inputs()
    message = rf"variances.shape={re.escape(str(variance_shape))} for predictions.shape=\(4, 5\)"
    with pytest.raises(ValueError, match=message):
        jax.jit(gaussian_nll_loss)(p, t, jnp.ones(variance_shape))


def test_gaussian_negative_variance_gives_nan_for_its_element_where_pytorch_raises():
    """A deliberate difference from PyTorch (which raises): under jit a value cannot raise,
    so the element's loss and gradients are NaN; the others are unaffected."""
    p, t, v = _gaussian_inputs()
    v = v.copy()
    v[1, 2] = -0.5
    loss, grads = jax.jit(
        jax.value_and_grad(lambda *a: jnp.sum(gaussian_nll_loss(*a)), argnums=(0, 2))
    )(p, t, v)
    per_element = jax.jit(gaussian_nll_loss)(p, t, v)
    bad = np.zeros((4, 5), bool)
    bad[1, 2] = True
    assert np.isnan(per_element[bad]).all() and np.isfinite(per_element[~bad]).all()
    for grad in grads:
        assert np.isnan(grad[bad]).all() and np.isfinite(grad[~bad]).all()
    with pytest.raises(jaxloss.CheckError, match=r"`variances` holds -0.5 at index \(1, 2\)"):
        with jaxloss.checks():
            gaussian_nll_loss(p, t, v)


def test_gaussian_zero_variance_is_clamped_to_epsilon():
    loss = jax.jit(gaussian_nll_loss)(jnp.array([0.0, 1e-3]), jnp.zeros(2), jnp.zeros(2))
    np.testing.assert_allclose(loss, _gaussian([0.0, 1e-3], [0.0, 0.0], [0.0, 0.0]), rtol=1e-6)


def test_gaussian_where_equals_slicing_and_masks_bad_values():
    p, t, v = _gaussian_inputs()
    mask = np.arange(5) < 3
    spoiled_p, spoiled_v = p.copy(), v.copy()
    spoiled_p[:, 3:], spoiled_v[:, 3:] = 3e38, -1.0  # overflowing error, negative variance
    fn = jax.jit(lambda *a: gaussian_nll_loss(*a, where=mask))
    sliced = gaussian_nll_loss(p[:, :3], t[:, :3], v[:, :3])
    np.testing.assert_allclose(fn(spoiled_p, t, spoiled_v)[:, :3], sliced, rtol=1e-6)
    assert np.all(fn(spoiled_p, t, spoiled_v)[:, 3:] == 0)
    grads = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=(0, 2))(spoiled_p, t, spoiled_v)
    for grad in grads:
        assert np.all(grad[:, 3:] == 0) and np.all(np.isfinite(grad))
    homoscedastic = jax.jit(lambda c: gaussian_nll_loss(p, t, c, where=mask))(v[:, 0])
    np.testing.assert_allclose(
        homoscedastic[:, :3], _gaussian(p[:, :3], t[:, :3], v[:, :1]), rtol=1e-5, atol=1e-6
    )


def test_gaussian_vmap_bfloat16_and_bad_input():
    p, t, v = _gaussian_inputs()
    stacked = jax.vmap(gaussian_nll_loss)(*(np.stack([a, a[::-1]]) for a in (p, t, v)))
    np.testing.assert_allclose(stacked[0], gaussian_nll_loss(p, t, v), rtol=1e-6)
    np.testing.assert_allclose(stacked[1], gaussian_nll_loss(p[::-1], t[::-1], v[::-1]), rtol=1e-6)
    check_half_precision(lambda a, b: gaussian_nll_loss(a, b, v), p, t)
    check_bad_input(lambda a, b, **kw: gaussian_nll_loss(a, b, v, **kw), p, t, "predictions")
    with pytest.raises(ValueError, match="epsilon"):
        gaussian_nll_loss(p, t, v, epsilon=-1.0)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=lambda d: d.__name__)
def test_half_precision_inputs_are_computed_in_float32(dtype):
    p, t, v = (jnp.asarray(a, dtype) for a in _gaussian_inputs())
    rates, counts = (jnp.asarray(a, dtype) for a in _counts(True))
    poisson = functools.partial(poisson_nll_loss, full=True)
    for fn, args, reference in (
        (gaussian_nll_loss, (p, t, v), _gaussian),
        (poisson, (rates, counts), functools.partial(_poisson, full=True)),
    ):
        loss = jax.jit(fn)(*args)
        assert loss.dtype == jnp.float32
        want = reference(*(np.asarray(a, np.float64) for a in args))
        np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-5)
        grad = jax.grad(lambda first, *rest: jnp.sum(fn(first, *rest)))(*args)
        assert grad.dtype == dtype and np.all(np.isfinite(np.asarray(grad, np.float32)))


def test_full_adds_half_log_two_pi():
    p, t, v = _gaussian_inputs()
    difference = gaussian_nll_loss(p, t, v, full=True) - gaussian_nll_loss(p, t, v)
    np.testing.assert_allclose(difference, 0.5 * math.log(2 * math.pi), rtol=1e-6)


# ------------------------------------------------------------------ Keras layer


@pytest.mark.parametrize("options", POISSON_OPTIONS, ids=str)
def test_keras_form_is_the_mean_over_the_last_axis(options):
    first, second = _counts(options.get("log_input", True))
    expected = _poisson(first, second, **options).mean(-1)
    function = jax.jit(functools.partial(losses.poisson_negative_log_likelihood, **options))
    np.testing.assert_allclose(function(second, first), expected, rtol=1e-5)
    loss = losses.PoissonNegativeLogLikelihood(**options)
    np.testing.assert_allclose(jax.jit(loss)(second, first), expected.mean(), rtol=1e-5)
    assert losses.get("poisson_negative_log_likelihood") is losses.poisson_negative_log_likelihood
    grad = jax.jit(jax.vmap(jax.grad(loss, argnums=1)))(second[None], first[None])
    assert np.all(np.isfinite(grad))
