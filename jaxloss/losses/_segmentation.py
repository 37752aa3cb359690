"""Overlap losses for segmentation masks: Dice and Tversky.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> masks = jnp.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
>>> predictions = jnp.array([[0.9, 0.6, 0.1], [0.2, 0.8, 0.3]])
>>> losses.Dice()(masks, predictions)  # axis=None: one value for the batch
Array(0.220339, dtype=float32)
>>> losses.Dice(axis=1, reduction="none")(masks, predictions)
Array([0.16666663, 0.3043478 ], dtype=float32)
"""

from __future__ import annotations

import jax

from jaxloss._src.segmentation import overlap
from jaxloss.losses._base import EPSILON, LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register
def dice(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, axis=None) -> jax.Array:
    """``1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)``, sums over ``axis``.

    ``axis=None`` (Keras's default) sums every axis, batch included: one value for
    the whole batch.
    """
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.dice_loss(y_pred, y_true, axis=axis, epsilon=EPSILON)


@register
def tversky(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis=None,
) -> jax.Array:
    """Tversky loss, sums over ``axis`` (``None``: all axes); see :func:`jaxloss.tversky_loss`."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.tversky_loss(
        y_pred, y_true, alpha=alpha, beta=beta, axis=axis, epsilon=EPSILON
    )


def _axis_config(axis):
    """Tuples and lists of axes are stored as lists, as a JSON round trip would give."""
    return list(axis) if isinstance(axis, (tuple, list)) else axis


@register
class Dice(LossFunctionWrapper):
    """Dice loss: :func:`dice` over ``axis`` (``None``: one value for the whole batch)."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        axis = _axis_config(axis)
        super().__init__(dice, **constructor_arguments(locals()))


@register
class Tversky(LossFunctionWrapper):
    """Tversky loss with weights ``alpha`` and ``beta``: :func:`tversky` over ``axis``."""

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        reduction="sum_over_batch_size",
        name="tversky",
        axis=None,
        dtype=None,
    ):
        axis = _axis_config(axis)
        super().__init__(tversky, **constructor_arguments(locals()))
