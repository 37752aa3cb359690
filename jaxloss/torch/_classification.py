"""``torch.nn.functional``'s classification losses over jaxloss's kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import label_smoothing, validation
from jaxloss._src.cross_entropy.log_probability import nll_loss as _nll_kernel
from jaxloss._src.cross_entropy.probability import (
    _log_floored_binary_cross_entropy as _bce_kernel,
)
from jaxloss._src.cross_entropy.sigmoid import sigmoid_binary_cross_entropy
from jaxloss._src.cross_entropy.softmax import softmax_cross_entropy
from jaxloss._src.cross_entropy.sparse_softmax import sparse_softmax_cross_entropy
from jaxloss._src.reduction import check_torch_reduction, reduce_torch

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _class_axis(input: ArrayLike) -> int:
    """PyTorch's class axis: 1 for ``[N, C, d1, ...]``, 0 for one example ``[C]``."""
    ndim = jnp.ndim(input)
    if ndim == 0:
        raise ValueError(f"`input` must have a class axis, got shape {jnp.shape(input)}.")
    return 1 if ndim >= 2 else 0


def _weighted(loss: Array, weight: ArrayLike | None, name: str = "weight") -> Array:
    """``loss * weight``, ``weight`` broadcasting to the loss's shape (PyTorch's ``weight``)."""
    if weight is None:
        return loss
    validation.check_broadcasts(name, weight, loss.shape, "input")
    return loss * jnp.broadcast_to(jnp.asarray(weight).astype(loss.dtype), loss.shape)


def _counted_weights(target: Array, weight: ArrayLike | None, ignore_index: int, dtype) -> Array:
    """The divisor's terms of PyTorch's ``"mean"``: the target's class weight, 0 if ignored."""
    counted = target != ignore_index
    if weight is None:
        return counted.astype(dtype)
    weight = jnp.asarray(weight).astype(dtype)
    safe = jnp.clip(target, 0, weight.shape[0] - 1)
    return jnp.where(counted, jnp.take(weight, safe), jnp.zeros((), dtype))


def _along_class_axis(weight: ArrayLike, ndim: int, axis: int) -> Array:
    """``[C]`` class weights reshaped to broadcast along ``axis`` of a rank-``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = -1
    return jnp.reshape(jnp.asarray(weight), shape)


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.binary_cross_entropy``: BCE from probabilities.

    .. math:: \ell = -w \big(y \log p + (1 - y) \log(1 - p)\big)

    reduced by ``reduction`` (``"mean"``: over every element), each logarithm clamped at
    -100 as PyTorch clamps it (``p = 0`` with ``y = 1`` costs 100), not clipped as
    :func:`jaxloss.binary_cross_entropy` clips for Keras. The gradient in ``input`` is
    PyTorch's, ``w (p - y) / max(p (1 - p), 1e-12)``, finite at ``p`` = 0 and 1. The
    gradient in ``target`` is the slope of the clamped loss, ``w (max(log(1 - p), -100) -
    max(log p, -100))``: PyTorch's ``-w logit(p)`` elsewhere, ``±100 w`` at ``p`` = 0 and 1
    where PyTorch's is infinite. A probability or target outside ``[0, 1]`` gives NaN
    where PyTorch raises.

    Args:
      input: probabilities, any shape.
      target: targets in ``[0, 1]``, ``input``'s shape.
      weight: optional weights broadcasting to ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.binary_cross_entropy(jnp.array([0.9, 0.2]), jnp.array([1.0, 0.0]))
      Array(0.16425204, dtype=float32)

    References:
      PyTorch ``torch.nn.BCELoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return reduce_torch(_weighted(_bce_kernel(input, target), weight), reduction)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> Array:
    r"""``torch.nn.functional.binary_cross_entropy_with_logits``: BCE from logits.

    .. math:: \ell = w \big(q\, y\, \mathrm{softplus}(-x) + (1 - y)\, \mathrm{softplus}(x)\big)

    with ``q`` the ``pos_weight``, computed by :func:`jaxloss.sigmoid_binary_cross_entropy`
    (finite for every finite logit); ``"mean"`` is over every element.

    Args:
      input: logits, any shape.
      target: targets in ``[0, 1]``, ``input``'s shape.
      weight: optional weights broadcasting to ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      pos_weight: optional weight of the positive term broadcasting to ``input``'s shape
        (``[C]`` for ``[N, C]``; ``[C, 1, 1]`` for ``[N, C, H, W]``).

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.binary_cross_entropy_with_logits(jnp.array([2.0, -1.0]), jnp.array([1.0, 0.0]))
      Array(0.22009484, dtype=float32)

    References:
      PyTorch ``torch.nn.BCEWithLogitsLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = sigmoid_binary_cross_entropy(input, target, pos_weight=pos_weight)
    return reduce_torch(_weighted(loss, weight), reduction)


def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.nll_loss``: negative log-likelihood of class indices.

    .. math:: \ell_n = -w_{y_n} \log p_{n, y_n},\qquad
              \text{mean} = \textstyle\sum_n \ell_n / \sum_n w_{y_n}

    over the targets that are not ``ignore_index``, computed by :func:`jaxloss.nll_loss`.
    If every target is ignored, ``"mean"`` gives 0 where PyTorch gives NaN (0 / 0). A
    target outside ``[0, C)`` that is not ``ignore_index`` gives NaN where PyTorch raises.

    Args:
      input: log-probabilities ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]``.
      target: integer class indices, ``input``'s shape without the class axis 1.
      weight: optional ``[C]`` class weights.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      ignore_index: targets with this value count neither in the loss nor in the mean.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``target``'s shape for ``"none"``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> log_probs = jax.nn.log_softmax(jnp.array([[2.0, 0.0], [0.0, 1.0]]))
      >>> F.nll_loss(log_probs, jnp.array([0, -100]))
      Array(0.126928, dtype=float32)

    References:
      PyTorch ``torch.nn.NLLLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    axis = _class_axis(input)
    validation.check_class_weights(weight, jnp.shape(input)[axis], "weight")
    loss = _nll_kernel(input, target, axis=axis, class_weights=weight, ignore_index=ignore_index)
    counted = _counted_weights(jnp.asarray(target), weight, ignore_index, loss.dtype)
    return reduce_torch(loss, reduction, counted)


def _probability_targets(input, target, weight, label_smoothing_share, axis):
    """Per example ``-sum_c w_c y~_c log softmax(x)_c``, ``y~`` the smoothed targets."""
    validation.check_floating("input", input)
    validation.check_same_shape("input", input, "target", target)
    validation.check_label_smoothing(label_smoothing_share)
    dtype = validation.compute_dtype(input, target)
    smoothed = label_smoothing.smooth_labels(
        jnp.asarray(target).astype(dtype), label_smoothing_share, axis=axis
    )
    if weight is not None:
        validation.check_class_weights(weight, jnp.shape(input)[axis], "weight")
        smoothed = smoothed * _along_class_axis(weight, smoothed.ndim, axis).astype(dtype)
    return softmax_cross_entropy(input, smoothed, axis=axis)


def _class_index_targets(input, target, weight, ignore_index, label_smoothing_share, axis):
    """Per example ``(1 - s) w_y (-log p_y) + s / C sum_c w_c (-log p_c)``, 0 if ignored."""
    if weight is not None:
        validation.check_class_weights(weight, jnp.shape(input)[axis], "weight")
    if weight is None or not label_smoothing.smoothing_applies(label_smoothing_share):
        # Without class weights the smoothing term is the kernel's own (the mean over classes).
        return sparse_softmax_cross_entropy(
            input, target, axis=axis, label_smoothing=label_smoothing_share,
            ignore_index=ignore_index, class_weights=weight,
        )
    validation.check_label_smoothing(label_smoothing_share)
    # PyTorch weighs the smoothing term by each class's own weight, not by the target's:
    # the softmax cross-entropy against the labels w_c / C, on the examples not ignored.
    label_term = sparse_softmax_cross_entropy(
        input, target, axis=axis, ignore_index=ignore_index, class_weights=weight
    )
    num_classes = jnp.shape(input)[axis]
    spread = _along_class_axis(jnp.asarray(weight) / num_classes, jnp.ndim(input), axis)
    kept = jnp.expand_dims(jnp.asarray(target) != ignore_index, axis)
    uniform_term = softmax_cross_entropy(
        input, jnp.broadcast_to(spread, jnp.shape(input)), axis=axis, where=kept
    )
    return label_smoothing.mix_with_uniform(label_term, uniform_term, label_smoothing_share)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Array:
    r"""``torch.nn.functional.cross_entropy``: softmax cross-entropy from logits.

    With class indices ``y`` (an integer ``target``), ``s`` the ``label_smoothing`` and
    ``L = log softmax(x)`` along the class axis 1:

    .. math::
        \ell_n &= (1 - s) \, w_{y_n} (-L_{n, y_n}) + \frac{s}{C} \sum_c w_c (-L_{n, c})
            \quad (0 \text{ if } y_n = \texttt{ignore\_index}), \\
        \text{mean} &= \frac{\sum_n \ell_n}{\sum_n w_{y_n}}
            \quad \text{(over the counted } n\text{)}

    as PyTorch computes it: the smoothing term is weighted by each class's own weight.
    With probabilities (a floating ``target`` ``y`` of ``input``'s shape):

    .. math::
        \ell_n = -\sum_c w_c \tilde y_{n, c} L_{n, c}, \qquad
        \tilde y = (1 - s) y + s / C, \qquad
        \text{mean} = \frac{1}{N} \sum_n \ell_n

    (``N`` counts the examples, spatial positions included; ``ignore_index`` does not
    apply). Computed by :func:`jaxloss.sparse_softmax_cross_entropy` and
    :func:`jaxloss.softmax_cross_entropy` (stable for every finite logit). If every target
    is ignored, ``"mean"`` gives 0 where PyTorch gives NaN; a class index outside
    ``[0, C)`` that is not ``ignore_index`` gives NaN where PyTorch raises.

    Args:
      input: logits ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]``.
      target: integer class indices (``input``'s shape without axis 1), or class
        probabilities of ``input``'s shape.
      weight: optional ``[C]`` class weights.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      ignore_index: class-index targets with this value count neither in the loss nor
        in the mean.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      label_smoothing: in ``[0, 1]``.

    Returns:
      A scalar, or the per-example loss (``input``'s shape without axis 1) for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.1, 0.3]])
      >>> F.cross_entropy(logits, jnp.array([0, 1]))
      Array(0.74087375, dtype=float32)
      >>> F.cross_entropy(logits, jnp.array([0, 1]), weight=jnp.array([1.0, 2.0, 1.0]),
      ...                 label_smoothing=0.1)
      Array(0.9750612, dtype=float32)

    References:
      PyTorch ``torch.nn.CrossEntropyLoss``; Szegedy et al., "Rethinking the Inception
      Architecture for Computer Vision", CVPR 2016 (label smoothing).
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    axis = _class_axis(input)
    if jnp.issubdtype(jnp.result_type(target), jnp.floating):
        loss = _probability_targets(input, target, weight, label_smoothing, axis)
        return reduce_torch(loss, reduction)
    ignore_index = validation.check_ignore_index(ignore_index)
    loss = _class_index_targets(input, target, weight, ignore_index, label_smoothing, axis)
    counted = _counted_weights(jnp.asarray(target), weight, ignore_index, loss.dtype)
    return reduce_torch(loss, reduction, counted)
