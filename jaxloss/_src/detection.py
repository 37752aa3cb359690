"""Bounding-box regression losses: generalised, distance and complete IoU.

torchvision's ``generalized_box_iou_loss``, ``distance_box_iou_loss`` and
``complete_box_iou_loss`` (``torchvision.ops``), one value per pair of boxes, no
reduction. Boxes are ``[..., 4]`` arrays of corners ``(x1, y1, x2, y2)`` with
``x1 <= x2`` and ``y1 <= y2``; boxes of zero width or height are allowed. Half-precision
inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``boxes1``; ``boxes2`` of another shape; a last axis that is not 4; a ``where`` mask
that is not boolean or does not broadcast to the boxes' shape without the last axis; a
negative ``eps``. A box with ``x2 < x1`` or ``y2 < y1`` gives NaN for its pair, where
torchvision returns a finite number (its docstring asks for ordered corners but nothing
checks them); checked mode (``jaxloss.checks()``) raises instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation

_DEFAULT_EPS = 1e-7


def _prepare(name, boxes1, boxes2, where, eps):
    """Check the pair; return the boxes in the compute dtype, their mask, the NaN rows."""
    validation.check_floating("boxes1", boxes1)
    validation.check_same_shape("boxes1", boxes1, "boxes2", boxes2)
    shape = jnp.shape(boxes1)
    if len(shape) == 0 or shape[-1] != 4:
        raise ValueError(
            f"`boxes1` and `boxes2` must have a last axis of 4 corners (x1, y1, x2, y2), "
            f"got boxes1.shape={shape}."
        )
    validation.check_where("where", where, shape[:-1])
    where = validation.broadcast_where(where, shape[:-1])
    validation.check_non_negative("eps", eps)
    dtype = validation.compute_dtype(boxes1, boxes2)
    boxes1 = jnp.asarray(boxes1).astype(dtype)
    boxes2 = jnp.asarray(boxes2).astype(dtype)
    invalid = jnp.zeros(shape[:-1], bool)
    corner_where = None if where is None else where[..., None]
    for argument, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        checks.check_finite(name, argument, boxes, where=corner_where)
        sizes = boxes[..., 2:] - boxes[..., :2]
        checks.check_non_negative(
            name, f"{argument} width and height (x2 - x1, y2 - y1)", sizes, where=corner_where
        )
        invalid = invalid | jnp.any(sizes < 0, axis=-1)
    if where is not None:
        # A unit box at the masked pairs, so that their gradient is 0, not 0 * NaN.
        unit = jnp.asarray([0.0, 0.0, 1.0, 1.0], dtype)
        boxes1 = jnp.where(where[..., None], boxes1, unit)
        boxes2 = jnp.where(where[..., None], boxes2, unit)
        invalid = invalid & where
    return boxes1, boxes2, where, invalid


def _intersection_union(boxes1, boxes2):
    x1, y1, x2, y2 = jnp.moveaxis(boxes1, -1, 0)
    x1g, y1g, x2g, y2g = jnp.moveaxis(boxes2, -1, 0)
    width = jnp.minimum(x2, x2g) - jnp.maximum(x1, x1g)
    height = jnp.minimum(y2, y2g) - jnp.maximum(y1, y1g)
    # torchvision's rule: an overlap counts only where both sides are positive.
    overlap = (width > 0) & (height > 0)
    intersection = jnp.where(overlap, width * height, jnp.zeros((), width.dtype))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intersection
    return intersection, union


def _enclosing_sides(boxes1, boxes2):
    """Width and height of the smallest box enclosing both."""
    low = jnp.minimum(boxes1[..., :2], boxes2[..., :2])
    high = jnp.maximum(boxes1[..., 2:], boxes2[..., 2:])
    sides = high - low
    return sides[..., 0], sides[..., 1]


def _finish(loss, where, invalid):
    return validation.apply_where(validation.nan_where(invalid, loss), where)


def generalized_box_iou_loss(
    boxes1: jax.typing.ArrayLike,
    boxes2: jax.typing.ArrayLike,
    *,
    eps: float = _DEFAULT_EPS,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Generalised IoU loss of pairs of boxes (Rezatofighi et al., 2019).

    With ``I`` and ``U`` the intersection and union areas of a pair, ``C`` the area
    of the smallest box enclosing both and ``eps`` written :math:`\epsilon`:

    .. math::
        \ell = 1 - \frac{I}{U + \epsilon} + \frac{C - U}{C + \epsilon}

    ``eps`` enters as in torchvision. For a box inside another the loss is
    ``1 - IoU``; for disjoint boxes it exceeds 1 and keeps a gradient that pulls them
    together. Loss and gradient are finite for identical, zero-area and disjoint
    boxes (``eps > 0``).

    Args:
      boxes1: floating array ``[..., 4]`` of corners ``(x1, y1, x2, y2)``.
      boxes2: array of the same shape, the other box of each pair.
      eps: added to the union and to the enclosing area (non-negative).
      where: optional boolean mask broadcastable to ``boxes1.shape[:-1]``; masked
        pairs give loss 0 and gradient 0.

    Returns:
      The loss, shape ``boxes1.shape[:-1]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import generalized_box_iou_loss
    >>> generalized_box_iou_loss(jnp.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]]),
    ...                          jnp.array([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0]]))
    Array([1.0793651, 1.3333334], dtype=float32)

    References:
      Rezatofighi, Tsoi, Gwak, Sadeghian, Reid and Savarese, "Generalized
      intersection over union: a metric and a loss for bounding box regression",
      CVPR 2019. torchvision, ``torchvision.ops.generalized_box_iou_loss``.
    """
    boxes1, boxes2, where, invalid = _prepare(
        "generalized_box_iou_loss", boxes1, boxes2, where, eps
    )
    intersection, union = _intersection_union(boxes1, boxes2)
    width, height = _enclosing_sides(boxes1, boxes2)
    enclosing = width * height
    loss = 1.0 - intersection / (union + eps) + (enclosing - union) / (enclosing + eps)
    return _finish(loss, where, invalid)


def _distance_iou_loss(boxes1, boxes2, eps):
    """``1 - IoU + d**2 / (c**2 + eps)`` and the IoU, shared by DIoU and CIoU."""
    intersection, union = _intersection_union(boxes1, boxes2)
    iou = intersection / (union + eps)
    width, height = _enclosing_sides(boxes1, boxes2)
    diagonal_squared = width**2 + height**2 + eps
    centers = (boxes1[..., :2] + boxes1[..., 2:]) / 2 - (boxes2[..., :2] + boxes2[..., 2:]) / 2
    distance_squared = jnp.sum(centers**2, axis=-1)
    return 1.0 - iou + distance_squared / diagonal_squared, iou


def distance_box_iou_loss(
    boxes1: jax.typing.ArrayLike,
    boxes2: jax.typing.ArrayLike,
    *,
    eps: float = _DEFAULT_EPS,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Distance IoU loss of pairs of boxes (Zheng et al., 2020).

    With ``I`` and ``U`` the intersection and union areas, ``d`` the distance between
    the two centres, ``c`` the diagonal of the smallest box enclosing both and ``eps``
    written :math:`\epsilon`:

    .. math::
        \ell = 1 - \frac{I}{U + \epsilon} + \frac{d^2}{c^2 + \epsilon}

    ``eps`` enters as in torchvision. Loss and gradient are finite for identical,
    zero-area and disjoint boxes (``eps > 0``).

    Args:
      boxes1: floating array ``[..., 4]`` of corners ``(x1, y1, x2, y2)``.
      boxes2: array of the same shape, the other box of each pair.
      eps: added to the union and to the squared diagonal (non-negative).
      where: optional boolean mask broadcastable to ``boxes1.shape[:-1]``; masked
        pairs give loss 0 and gradient 0.

    Returns:
      The loss, shape ``boxes1.shape[:-1]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import distance_box_iou_loss
    >>> distance_box_iou_loss(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 1.0, 3.0, 3.0]))
    Array(0.96825397, dtype=float32)

    References:
      Zheng, Wang, Liu, Li, Ye and Ren, "Distance-IoU loss: faster and better
      learning for bounding box regression", AAAI 2020. torchvision,
      ``torchvision.ops.distance_box_iou_loss``.
    """
    boxes1, boxes2, where, invalid = _prepare("distance_box_iou_loss", boxes1, boxes2, where, eps)
    loss, _ = _distance_iou_loss(boxes1, boxes2, eps)
    return _finish(loss, where, invalid)


def _aspect_angle(boxes):
    """``atan(w / h)``, and whether it is defined (not a point: ``w = h = 0``).

    ``atan2`` gives the limit ``pi / 2`` of a flat box (``h = 0``) and a finite
    gradient there; a point's angle is computed at a unit box and left out.
    """
    width, height = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    defined = (width > 0) | (height > 0)
    one = jnp.ones((), width.dtype)
    return jnp.arctan2(jnp.where(defined, width, one), jnp.where(defined, height, one)), defined


def complete_box_iou_loss(
    boxes1: jax.typing.ArrayLike,
    boxes2: jax.typing.ArrayLike,
    *,
    eps: float = _DEFAULT_EPS,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Complete IoU loss of pairs of boxes: distance IoU plus an aspect-ratio term.

    With the distance IoU loss :math:`\ell_{\mathrm{DIoU}}` of
    :func:`distance_box_iou_loss`, the IoU ``I / (U + eps)``, ``eps`` written
    :math:`\epsilon` and the boxes' widths ``w`` and heights ``h``:

    .. math::
        v &= \frac{4}{\pi^2} \Big(\arctan\frac{w_2}{h_2} - \arctan\frac{w_1}{h_1}\Big)^2, \\
        \alpha &= \frac{v}{1 - \mathrm{IoU} + v + \epsilon}, \\
        \ell &= \ell_{\mathrm{DIoU}} + \alpha v,

    where ``alpha`` is a constant (no gradient flows through it), as in Zheng et al.
    (2021) and torchvision. Differences from torchvision, on
    inputs it cannot handle: the angle of a flat box (``h = 0``) is its limit
    ``pi / 2`` with a finite gradient (torchvision's gradient is NaN there); a point
    box (``w = h = 0``) has no aspect ratio, and its pair gets no aspect-ratio term
    (torchvision's loss is NaN); ``eps`` enters the distance IoU part too (torchvision
    passes only its default ``1e-7`` there, and ``eps`` only to ``alpha``): the
    numbers agree at the default ``eps``.

    Args:
      boxes1: floating array ``[..., 4]`` of corners ``(x1, y1, x2, y2)``.
      boxes2: array of the same shape, the other box of each pair.
      eps: added to the union, the squared diagonal and the denominator of ``alpha``
        (non-negative).
      where: optional boolean mask broadcastable to ``boxes1.shape[:-1]``; masked
        pairs give loss 0 and gradient 0.

    Returns:
      The loss, shape ``boxes1.shape[:-1]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import complete_box_iou_loss
    >>> complete_box_iou_loss(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 1.0, 4.0, 3.0]))
    Array(1.0191646, dtype=float32)

    References:
      Zheng, Wang, Ren, Liu, Ye, Hu and Zuo, "Enhancing geometric factors in model
      learning and inference for object detection and instance segmentation", IEEE
      Transactions on Cybernetics, 2021. torchvision,
      ``torchvision.ops.complete_box_iou_loss``.
    """
    boxes1, boxes2, where, invalid = _prepare("complete_box_iou_loss", boxes1, boxes2, where, eps)
    distance_loss, iou = _distance_iou_loss(boxes1, boxes2, eps)
    angle1, defined1 = _aspect_angle(boxes1)
    angle2, defined2 = _aspect_angle(boxes2)
    v = (4.0 / math.pi**2) * (angle2 - angle1) ** 2
    v = jnp.where(defined1 & defined2, v, jnp.zeros((), v.dtype))
    alpha = jax.lax.stop_gradient(v / (1.0 - iou + v + eps))
    return _finish(distance_loss + alpha * v, where, invalid)
