"""Segmentation losses: Dice, generalised Dice, Tversky, focal Tversky, and the Lovász hinge
and softmax.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> masks = jnp.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
>>> predictions = jnp.array([[0.9, 0.6, 0.1], [0.2, 0.8, 0.3]])
>>> losses.Dice()(masks, predictions)  # axis=None: one value for the batch
Array(0.220339, dtype=float32)
>>> losses.Dice(axis=1, reduction="none")(masks, predictions)
Array([0.16666663, 0.3043478 ], dtype=float32)
>>> one_hot = jnp.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
>>> probs = jnp.array([[[0.6, 0.4], [0.2, 0.8], [0.2, 0.8], [0.2, 0.8]]])
>>> losses.GeneralizedDice(reduction="none")(one_hot, probs)
Array([0.39062494], dtype=float32)
>>> losses.LovaszHinge(reduction="none")(masks, jnp.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.5]]))
Array([0.25     , 0.9166666], dtype=float32)
"""

from __future__ import annotations

import jax

from jaxloss._src.segmentation import lovasz, overlap
from jaxloss.losses._base import (
    EPSILON,
    LossFunctionWrapper,
    as_float_array,
    constructor_arguments,
    match_pair,
)
from jaxloss.losses._labels import sparse_labels
from jaxloss.losses._registry import register


@register
def dice(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, axis: overlap.Axis = None
) -> jax.Array:
    """``1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)``, sums over ``axis``.

    ``axis=None`` (Keras's default) sums every axis, batch included: one value for
    the whole batch.
    """
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.dice_loss(y_pred, y_true, axis=axis, epsilon=EPSILON)


@register
def generalized_dice(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, axis: overlap.Axis = None
) -> jax.Array:
    """Generalised Dice loss of each example: class masks ``y_true`` and probabilities
    ``y_pred`` ``[batch, pixels..., classes]``, sums over the pixel ``axis`` (``None``: all
    but the first and the last); see :func:`jaxloss.generalized_dice_loss`."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.generalized_dice_loss(y_pred, y_true, axis=axis, epsilon=EPSILON)


@register
def tversky(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: overlap.Axis = None,
) -> jax.Array:
    """Tversky loss, sums over ``axis`` (``None``: all axes); see :func:`jaxloss.tversky_loss`."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.tversky_loss(
        y_pred, y_true, alpha=alpha, beta=beta, axis=axis, epsilon=EPSILON
    )


@register
def focal_tversky(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 0.75,
    axis: overlap.Axis = None,
) -> jax.Array:
    """Tversky loss to the power ``gamma``; see :func:`jaxloss.focal_tversky_loss`."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return overlap.focal_tversky_loss(
        y_pred, y_true, alpha=alpha, beta=beta, gamma=gamma, axis=axis, epsilon=EPSILON
    )


@register
def lovasz_hinge(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Lovász hinge of each image: 0/1 ``y_true`` and logits ``y_pred`` ``[batch, pixels...]``;
    see :func:`jaxloss.lovasz_hinge_loss`."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return lovasz.lovasz_hinge_loss(y_pred, y_true)


@register
def lovasz_softmax(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, classes: str = "present"
) -> jax.Array:
    """Lovász-Softmax of each image: class indices ``y_true`` ``[batch, pixels...]`` and
    probabilities ``y_pred`` ``[batch, pixels..., classes]``; see
    :func:`jaxloss.lovasz_softmax_loss`. Float labels that are not whole numbers give NaN."""
    y_pred = as_float_array(y_pred)
    labels = sparse_labels(y_true, y_pred, -1, "lovasz_softmax")
    return lovasz.lovasz_softmax_loss(y_pred, labels, classes=classes)


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
class GeneralizedDice(LossFunctionWrapper):
    """Generalised Dice loss (Sudre et al., 2017): :func:`generalized_dice` per example, the
    classes weighted by their inverse squared size in ``y_true``."""

    def __init__(
        self, reduction="sum_over_batch_size", name="generalized_dice", axis=None, dtype=None
    ):
        axis = _axis_config(axis)
        super().__init__(generalized_dice, **constructor_arguments(locals()))


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


@register
class FocalTversky(LossFunctionWrapper):
    """Focal Tversky loss: :func:`focal_tversky` over ``axis`` (``None``: the whole batch)."""

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        gamma=0.75,
        reduction="sum_over_batch_size",
        name="focal_tversky",
        axis=None,
        dtype=None,
    ):
        axis = _axis_config(axis)
        super().__init__(focal_tversky, **constructor_arguments(locals()))


@register
class LovaszHinge(LossFunctionWrapper):
    """Binary Lovász hinge loss: :func:`lovasz_hinge` per image."""

    def __init__(self, reduction="sum_over_batch_size", name="lovasz_hinge", dtype=None):
        super().__init__(lovasz_hinge, **constructor_arguments(locals()))


@register
class LovaszSoftmax(LossFunctionWrapper):
    """Multi-class Lovász-Softmax loss over the classes present (or ``"all"``):
    :func:`lovasz_softmax` per image."""

    def __init__(
        self, classes="present", reduction="sum_over_batch_size", name="lovasz_softmax", dtype=None
    ):
        super().__init__(lovasz_softmax, **constructor_arguments(locals()))
