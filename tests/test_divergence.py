"""KL divergence and Poisson kernels against float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import (
    check_bad_input,
    check_half_precision,
    check_values_and_grads,
    check_vmap,
    check_where_elementwise,
)

from jaxloss import (
    generalized_kl_divergence,
    kl_divergence,
    log_space_kl_divergence,
    poisson_loss,
)


def _kl(p, t):
    t, p = np.clip(t, 1e-7, 1), np.clip(p, 1e-7, 1)
    return np.sum(t * np.log(t / p), -1)


def _poisson(p, t):
    return p - t * np.log(p + 1e-7)


def _distributions():
    rng = np.random.default_rng(0)
    p, t = rng.uniform(0.05, 1, (2, 4, 5)).astype(np.float32)
    return p / p.sum(-1, keepdims=True), t / t.sum(-1, keepdims=True)


def _counts():
    rng = np.random.default_rng(1)
    return rng.uniform(0.2, 4, (4, 5)).astype(np.float32), rng.poisson(2, (4, 5)).astype(np.float32)


@pytest.mark.parametrize(
    ("fn", "reference", "make", "first_name"),
    [
        (kl_divergence, _kl, _distributions, "probs"),
        (poisson_loss, _poisson, _counts, "predictions"),
    ],
)
def test_formula_grad_vmap_dtypes_bad_input(fn, reference, make, first_name):
    first, second = make()
    check_values_and_grads(fn, reference, first, second)
    check_vmap(fn, first, second)
    check_half_precision(fn, first, second)
    check_bad_input(fn, first, second, first_name)


def test_kl_zero_probabilities_and_where():
    probs = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]], np.float32)
    targets = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5]], np.float32)
    np.testing.assert_allclose(kl_divergence(probs, targets), _kl(probs, targets), rtol=1e-5)
    grad = jax.grad(lambda p: jnp.sum(kl_divergence(p, targets)))(probs)
    assert np.all(np.isfinite(grad))
    mask = np.array([True, True, False])
    np.testing.assert_allclose(
        kl_divergence(probs, targets, where=mask), _kl(probs[:, :2], targets[:, :2]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="epsilon"):
        kl_divergence(probs, targets, epsilon=-1.0)


def test_poisson_where_and_zero_rate():
    check_where_elementwise(poisson_loss, *_counts())
    loss = poisson_loss(np.zeros(2, np.float32), np.array([0.0, 2.0], np.float32))
    np.testing.assert_allclose(loss, [0.0, -2 * np.log(1e-7)], rtol=1e-6)
    assert np.isnan(poisson_loss(np.array([-1.0], np.float32), np.array([1.0], np.float32)))[0]


def test_kl_gradient_at_probability_one_is_minus_target_over_p():
    # Hypothesis find: jnp.clip's derivative is 1/2 at its ends, so a saturated
    # prediction p = 1 got half the documented gradient -t / p.
    probs = jnp.array([[1.0, 0.0]])
    targets = jnp.array([[0.6, 0.4]])
    grad = jax.jit(jax.grad(lambda p: jnp.sum(kl_divergence(p, targets))))(probs)
    np.testing.assert_allclose(grad, [[-0.6, 0.0]], rtol=1e-6)


def _log_space_kl(log_p, t):
    return np.sum(np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - log_p), 0.0), -1)


def _generalized_kl(log_p, t):
    return np.sum(t * np.log(np.where(t > 0, t, 1)) - t * log_p + np.exp(log_p) - t, -1)


def _log_distributions():
    p, t = _distributions()
    return np.log(p), t


def _log_measures():
    rng = np.random.default_rng(2)
    return rng.normal(size=(4, 5)).astype(np.float32), rng.uniform(0, 3, (4, 5)).astype(np.float32)


def _with_log_targets(log_p, log_t, **kwargs):
    return log_space_kl_divergence(log_p, log_t, log_targets=True, **kwargs)


@pytest.mark.parametrize(
    ("fn", "reference", "make"),
    [
        (log_space_kl_divergence, _log_space_kl, _log_distributions),
        (_with_log_targets, lambda a, b: _log_space_kl(a, np.exp(b)),
         lambda: tuple(np.log(x) for x in _distributions())),
        (generalized_kl_divergence, _generalized_kl, _log_measures),
    ],
    ids=["probability_targets", "log_targets", "generalized"],
)
def test_log_space_formulas_grad_vmap_dtypes_bad_input(fn, reference, make):
    first, second = make()
    check_values_and_grads(fn, reference, first, second)
    check_vmap(fn, first, second)
    check_half_precision(fn, first, second)
    check_bad_input(fn, first, second, "log_predictions")


# PyTorch 2.13's F.kl_div(input, target, reduction="none") on these inputs (and with
# log_target=True on log(target)): elementwise t (log t - input).
TORCH_INPUT = np.array([[-1.9016711711883545, -3.4016711711883545, -0.20167118310928345],
                        [-0.6788018941879272, -1.0788018703460693, -1.878801941871643]], np.float32)
TORCH_TARGET = np.array([[0.2, 0.0, 0.8], [0.5, 0.25, 0.25]], np.float32)
TORCH_KL_DIV = np.array([[0.058446645736694336, 0.0, -0.017177879810333252],
                         [-0.007172644138336182, -0.07687312364578247, 0.12312689423561096]])


@pytest.mark.parametrize("log_targets", [False, True])
def test_elementwise_form_is_pytorch_kl_div_and_exact_at_zero_targets(log_targets):
    targets = np.log(TORCH_TARGET) if log_targets else TORCH_TARGET
    fn = jax.jit(lambda a, b: log_space_kl_divergence(
        a, b, log_targets=log_targets, elementwise=True))
    np.testing.assert_allclose(fn(TORCH_INPUT, targets), TORCH_KL_DIV, rtol=1e-5, atol=1e-7)
    # PyTorch gives NaN at [0, 1] here (0 * inf; with log_target=True for any input).
    at_minus_inf = TORCH_INPUT.copy()
    at_minus_inf[0, 1] = -np.inf
    np.testing.assert_allclose(fn(at_minus_inf, targets), TORCH_KL_DIV, rtol=1e-5, atol=1e-7)
    grad = jax.grad(lambda a: jnp.sum(fn(a, targets)))(at_minus_inf)
    np.testing.assert_allclose(grad, -TORCH_TARGET, rtol=1e-6)


def test_log_space_axes_and_where_match_slicing():
    rng = np.random.default_rng(3)
    log_p = rng.normal(size=(2, 4, 5)).astype(np.float32)
    t = rng.uniform(0, 1, (2, 4, 5))
    t = (t / t.sum((0, 2), keepdims=True)).astype(np.float32)
    whole = jax.jit(lambda a, b: log_space_kl_divergence(a, b, axis=None))(log_p, t)
    np.testing.assert_allclose(whole, _log_space_kl(log_p.ravel(), t.ravel()), rtol=1e-5)
    pair = log_space_kl_divergence(log_p, t, axis=(0, 2))
    np.testing.assert_allclose(
        pair, _log_space_kl(log_p.transpose(1, 0, 2).reshape(4, -1),
                            t.transpose(1, 0, 2).reshape(4, -1)), rtol=1e-5)
    mask = np.array([True, False, True, True, False])
    for fn, reference in ((log_space_kl_divergence, _log_space_kl),
                          (generalized_kl_divergence, _generalized_kl)):
        masked = jax.jit(lambda a, b, fn=fn: fn(a, b, where=mask))(log_p, t)
        np.testing.assert_allclose(masked, reference(log_p[..., mask], t[..., mask]), rtol=1e-5)
        grad = jax.grad(lambda a, fn=fn: jnp.sum(fn(a, t, where=mask)))(log_p)
        assert np.all(np.asarray(grad)[..., ~mask] == 0)
    with pytest.raises(ValueError, match="repeats an axis"):
        log_space_kl_divergence(log_p, t, axis=(0, -3))


@pytest.mark.parametrize("axis", [True, 1.0])
def test_an_axis_that_is_no_int_and_no_tuple_is_a_value_error(axis):
    log_p, t = _log_measures()
    for fn in (log_space_kl_divergence, generalized_kl_divergence):
        with pytest.raises(ValueError, match=r"`axis` must be an int, got (True|1\.0)"):
            fn(log_p, t, axis=axis)


def test_negative_or_nan_targets_give_nan_for_their_example():
    log_p, t = _log_measures()
    for fn in (log_space_kl_divergence, generalized_kl_divergence):
        for bad in (-0.5, np.nan):
            targets = t.copy()
            targets[1, 2] = bad
            loss = jax.jit(fn)(log_p, targets)
            assert np.isnan(loss[1]) and np.isfinite(np.delete(np.asarray(loss), 1)).all()


def test_generalized_kl_keeps_relative_precision_near_its_minimum():
    """Each term is t (e^r - 1 - r), r = log p - log t; float64 gives the exact value."""
    ratio = np.array([[1e-4], [-3e-3], [0.5], [-0.999], [1.001], [5.0], [-30.0]])
    targets = np.broadcast_to(np.array([1.0, 4.0, 1e-20], np.float32), (7, 3))
    log_p = (np.log(targets.astype(np.float64)) + ratio).astype(np.float32)
    exact_ratio = log_p.astype(np.float64) - np.log(targets.astype(np.float64))
    want = targets * (np.expm1(exact_ratio) - exact_ratio)
    got = jax.jit(lambda a, b: generalized_kl_divergence(a, b, elementwise=True))(log_p, targets)
    # log t itself rounds to float32: the error of r, times the slope p - t.
    slack = np.abs(np.expm1(exact_ratio) * targets) * 2e-7 * (1 + np.abs(log_p))
    assert np.all(np.abs(got - want) <= 1e-5 * np.abs(want) + slack)
    grad = jax.grad(lambda a: jnp.sum(generalized_kl_divergence(a, targets)))(log_p)
    want_grad = targets * np.expm1(exact_ratio)  # p - t
    assert np.all(np.abs(grad - want_grad) <= 1e-5 * np.abs(want_grad) + targets * 2e-7 * (
        1 + np.abs(log_p)))


def test_generalized_kl_of_a_zero_target_is_the_prediction():
    log_p = np.array([[0.5, -80.0, 80.0]], np.float32)
    loss = generalized_kl_divergence(log_p, np.zeros((1, 3), np.float32), elementwise=True)
    np.testing.assert_allclose(loss, np.exp(log_p), rtol=1e-6)


def test_log_target_divergence_step_keeps_no_elementwise_temporary():
    """Compile only: with log-targets the sum and both gradients need no array of the
    inputs' size (the terms are reduced where they are formed, no select between)."""
    spec = jax.ShapeDtypeStruct((512, 1000), np.float32)
    step = jax.value_and_grad(
        lambda p, t: jnp.mean(log_space_kl_divergence(p, t, log_targets=True)), (0, 1))
    compiled = jax.jit(step).lower(spec, spec).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 0.05 * 512 * 1000 * 4


def test_log_target_divergence_matches_the_masked_form_at_zero_infinite_and_nan_entries():
    """The select-free sum (taken unless a sum is not finite) and the masked form agree:
    log-targets of -inf (also on log p = -inf), log p = -inf under a positive target, NaNs."""
    rng = np.random.default_rng(3)
    log_p = np.array(jax.nn.log_softmax(rng.normal(size=(6, 5))), np.float32)
    log_t = np.array(jax.nn.log_softmax(rng.normal(size=(6, 5))), np.float32)
    log_t[0, :2] = -np.inf
    log_p[1, 0], log_t[1, 0] = -np.inf, -np.inf
    log_p[2, 3] = -np.inf
    log_t[3, 1] = np.nan
    log_p[4, 2], log_t[4, 2] = np.nan, -np.inf
    def both(p, t):
        return (log_space_kl_divergence(p, t, log_targets=True),
                log_space_kl_divergence(p, t, log_targets=True, where=np.ones(p.shape, bool)))

    for rows in (slice(0, 2), slice(0, 6)):  # select-free, then the masked fallback
        (plain, masked) = jax.jit(both)(log_p[rows], log_t[rows])
        np.testing.assert_allclose(plain, masked, rtol=1e-6)
        grads = jax.jit(jax.grad(lambda p, t: both(p, t)[0].sum(), (0, 1)))(log_p[rows], log_t[rows])
        wants = jax.jit(jax.grad(lambda p, t: both(p, t)[1].sum(), (0, 1)))(log_p[rows], log_t[rows])
        for got, want in zip(grads, wants, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert np.isinf(plain[2]) and np.isnan(plain[3]) and np.isnan(plain[4])
    assert np.all(np.isfinite(np.asarray(plain)[[0, 1, 5]]))
