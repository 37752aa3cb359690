"""Absolute percentage error and squared logarithmic error against float64 formulas."""

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

from jaxloss import absolute_percentage_error, squared_logarithmic_error


def _ape(p, t):
    return 100 * np.abs((t - p) / np.maximum(np.abs(t), 1e-7))


def _sle(p, t):
    return (np.log1p(np.maximum(p, 1e-7)) - np.log1p(np.maximum(t, 1e-7))) ** 2


@pytest.mark.parametrize(
    ("fn", "reference"), [(absolute_percentage_error, _ape), (squared_logarithmic_error, _sle)]
)
def test_formula_grad_vmap_dtypes_where_bad_input(fn, reference):
    rng = np.random.default_rng(0)
    predictions, targets = rng.uniform(0.1, 3, (2, 4, 5)).astype(np.float32)
    targets[0, :2] *= -1  # negative targets are fine for the percentage error
    check_values_and_grads(
        fn, reference, predictions, np.abs(targets) if fn is squared_logarithmic_error else targets
    )
    check_vmap(fn, predictions, targets)
    check_half_precision(fn, predictions, targets)
    check_where_elementwise(fn, predictions, targets)
    check_bad_input(fn, predictions, targets)


def test_zero_targets_and_small_values():
    ape = absolute_percentage_error(np.array([1.0], np.float32), np.array([0.0], np.float32))
    np.testing.assert_allclose(ape, [1e9], rtol=1e-6)
    small = squared_logarithmic_error(np.array([3e-5], np.float32), np.array([1e-5], np.float32))
    np.testing.assert_allclose(small, (np.log1p(3e-5) - np.log1p(1e-5)) ** 2, rtol=1e-5)
    grad = jax.grad(lambda p: jnp.sum(squared_logarithmic_error(p, jnp.ones(2))))(
        jnp.array([-1.0, 0.0])
    )
    np.testing.assert_array_equal(grad, [0.0, 0.0])
