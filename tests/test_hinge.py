"""Hinge kernels: hinge, squared hinge and categorical hinge against float64 formulas."""

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

from jaxloss import categorical_hinge_loss, hinge_loss, squared_hinge_loss


def _hinge(p, t):
    return np.maximum(1 - t * p, 0)


def _categorical(p, t):
    return np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0)


def _inputs(categorical=False):
    rng = np.random.default_rng(0)
    predictions = rng.uniform(-3, 3, (4, 5)).astype(np.float32)
    if categorical:
        targets = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 4)]
    else:
        targets = rng.choice([-1.0, 1.0], (4, 5)).astype(np.float32)
    return predictions, targets


CASES = [
    (hinge_loss, _hinge, False),
    (squared_hinge_loss, lambda p, t: _hinge(p, t) ** 2, False),
    (categorical_hinge_loss, _categorical, True),
]


@pytest.mark.parametrize(("fn", "reference", "categorical"), CASES)
def test_formula_grad_vmap_dtypes_bad_input(fn, reference, categorical):
    predictions, targets = _inputs(categorical)
    check_values_and_grads(fn, reference, predictions, targets)
    check_vmap(fn, predictions, targets)
    check_half_precision(fn, predictions, targets)
    check_bad_input(fn, predictions, targets)


@pytest.mark.parametrize("fn", [hinge_loss, squared_hinge_loss])
def test_where_elementwise(fn):
    check_where_elementwise(fn, *_inputs())


def test_categorical_where_is_slicing():
    predictions, targets = _inputs(categorical=True)
    targets[:, 4] = 0.0
    mask = np.arange(5) < 4
    sliced = categorical_hinge_loss(predictions[:, :4], targets[:, :4])
    np.testing.assert_allclose(categorical_hinge_loss(predictions, targets, where=mask), sliced)
    all_masked = categorical_hinge_loss(predictions, targets, where=np.zeros((4, 1), bool))
    np.testing.assert_array_equal(all_masked, 0.0)
    grad = jax.grad(lambda p: jnp.sum(categorical_hinge_loss(p, targets, where=mask)))(predictions)
    assert np.all(np.asarray(grad)[:, 4] == 0.0)


def test_extreme_scores_stay_finite():
    predictions = np.array([[3e38, -3e38, 0.0]], np.float32)
    targets = np.array([[1.0, -1.0, 1.0]], np.float32)
    for fn in (hinge_loss, squared_hinge_loss):
        grad = jax.grad(lambda p, fn=fn: jnp.sum(fn(p, targets)))(predictions)
        assert np.all(np.isfinite(grad))
