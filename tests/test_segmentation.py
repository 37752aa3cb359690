"""Dice and Tversky kernels against float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import (
    check_bad_input,
    check_half_precision,
    check_values_and_grads,
    check_vmap,
)

from jaxloss import dice_loss, tversky_loss


def _dice(p, t, axis=None):
    return 1 - 2 * np.sum(t * p, axis) / (np.sum(t, axis) + np.sum(p, axis) + 1e-7)


def _tversky(p, t, alpha=0.7, beta=0.3, axis=(1, 2)):
    overlap = np.sum(t * p, axis)
    return 1 - overlap / (
        overlap + alpha * np.sum(t * (1 - p), axis) + beta * np.sum((1 - t) * p, axis) + 1e-7
    )


def _masks():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (3, 4, 5)).astype(np.float32), rng.integers(0, 2, (3, 4, 5)).astype(
        np.float32
    )


@pytest.mark.parametrize("axis", [None, -1, (1, 2)])
def test_dice(axis):
    predictions, targets = _masks()
    fn = lambda p, t, **kw: dice_loss(p, t, axis=axis, **kw)
    check_values_and_grads(fn, lambda p, t: _dice(p, t, axis), predictions, targets)
    check_half_precision(fn, predictions, targets)
    check_bad_input(fn, predictions, targets)


def test_tversky_and_its_dice_case():
    predictions, targets = _masks()
    fn = lambda p, t, **kw: tversky_loss(p, t, alpha=0.7, beta=0.3, axis=(1, 2), **kw)
    check_values_and_grads(fn, _tversky, predictions, targets)
    check_vmap(fn, predictions, targets)
    np.testing.assert_allclose(
        tversky_loss(predictions, targets, axis=-1),
        dice_loss(predictions, targets, axis=-1),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="alpha"):
        tversky_loss(predictions, targets, alpha=-1.0)


def test_where_empty_masks_and_bad_axes():
    predictions, targets = _masks()
    mask = np.arange(5) < 3
    np.testing.assert_allclose(
        dice_loss(predictions, targets, axis=(1, 2), where=mask),
        _dice(predictions[..., :3], targets[..., :3], (1, 2)),
        rtol=1e-6,
    )
    zeros = jnp.zeros((2, 3))
    np.testing.assert_allclose(dice_loss(zeros, zeros, axis=1), [1.0, 1.0])
    assert np.all(np.isfinite(jax.grad(lambda p: jnp.sum(dice_loss(p, zeros, axis=1)))(zeros)))
    with pytest.raises(ValueError, match="repeat"):
        dice_loss(predictions, targets, axis=(1, -2))
    with pytest.raises(ValueError, match="out of range"):
        dice_loss(predictions, targets, axis=3)
