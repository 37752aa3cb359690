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

from jaxloss import kl_divergence, poisson_loss


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
