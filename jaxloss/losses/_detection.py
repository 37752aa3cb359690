"""Bounding-box regression losses: generalised, distance and complete IoU.

``y_true`` and ``y_pred`` are boxes ``[..., 4]`` of corners ``(x1, y1, x2, y2)``; the
numbers come from :mod:`jaxloss._src.detection` (torchvision's), one value per box.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> y_true = jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
>>> y_pred = jnp.array([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 1.0]])
>>> losses.generalized_box_iou(y_true, y_pred)
Array([1.0793651, 0.5      ], dtype=float32)
>>> losses.GeneralizedBoxIoU()(y_true, y_pred)
Array(0.78968257, dtype=float32)
"""

from __future__ import annotations

import jax

from jaxloss._src import detection
from jaxloss.losses._base import LossFunctionWrapper, as_float_array, constructor_arguments
from jaxloss.losses._registry import register


def _boxes(y_true, y_pred):
    y_pred = as_float_array(y_pred)
    return as_float_array(y_true, y_pred.dtype), y_pred


@register
def generalized_box_iou(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, eps: float = 1e-7
) -> jax.Array:
    """Generalised IoU loss of each box pair; see :func:`jaxloss.generalized_box_iou_loss`."""
    y_true, y_pred = _boxes(y_true, y_pred)
    return detection.generalized_box_iou_loss(y_pred, y_true, eps=eps)


@register
def distance_box_iou(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, eps: float = 1e-7
) -> jax.Array:
    """Distance IoU loss of each box pair; see :func:`jaxloss.distance_box_iou_loss`."""
    y_true, y_pred = _boxes(y_true, y_pred)
    return detection.distance_box_iou_loss(y_pred, y_true, eps=eps)


@register
def complete_box_iou(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, eps: float = 1e-7
) -> jax.Array:
    """Complete IoU loss of each box pair; see :func:`jaxloss.complete_box_iou_loss`."""
    y_true, y_pred = _boxes(y_true, y_pred)
    return detection.complete_box_iou_loss(y_pred, y_true, eps=eps)


@register
class GeneralizedBoxIoU(LossFunctionWrapper):
    """Generalised IoU loss of boxes ``(x1, y1, x2, y2)``: :func:`generalized_box_iou` per box."""

    def __init__(
        self, eps=1e-7, reduction="sum_over_batch_size", name="generalized_box_iou", dtype=None
    ):
        super().__init__(generalized_box_iou, **constructor_arguments(locals()))


@register
class DistanceBoxIoU(LossFunctionWrapper):
    """Distance IoU loss of boxes ``(x1, y1, x2, y2)``: :func:`distance_box_iou` per box."""

    def __init__(
        self, eps=1e-7, reduction="sum_over_batch_size", name="distance_box_iou", dtype=None
    ):
        super().__init__(distance_box_iou, **constructor_arguments(locals()))


@register
class CompleteBoxIoU(LossFunctionWrapper):
    """Complete IoU loss of boxes ``(x1, y1, x2, y2)``: :func:`complete_box_iou` per box."""

    def __init__(
        self, eps=1e-7, reduction="sum_over_batch_size", name="complete_box_iou", dtype=None
    ):
        super().__init__(complete_box_iou, **constructor_arguments(locals()))
