"""Overlap losses for segmentation: Dice, Tversky, focal Tversky and generalised Dice.

They compare soft masks ``predictions`` (probabilities) and ``targets`` (0/1 or
soft) by sums over ``axis``. In ``dice_loss``, ``tversky_loss`` and
``focal_tversky_loss`` (Keras's semantics) ``axis=None`` sums every axis and gives a
single value for the whole batch; pass the spatial axes, e.g. ``axis=(1, 2, 3)``, for
one value per example. ``generalized_dice_loss`` and ``multiclass_dice_loss`` have a
class axis (last) and sum over the pixel axes, by default all but the first (batch)
and the last. Half-precision inputs are computed in float32 and returned in float32.
``epsilon`` (or ``smooth``) in the denominator makes two empty masks give a finite loss.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; a ``where`` mask that is not boolean
or does not broadcast to ``predictions``; an axis out of range or repeated (or, with
a class axis, the class axis itself); negative ``alpha``, ``beta``, ``epsilon`` or
``smooth``; a non-positive ``gamma``; ``class_weights`` of another length than the
class axis; an unknown ``class_reduction``. Probabilities outside ``[0, 1]`` give NaN
for their example in ``generalized_dice_loss``, ``focal_tversky_loss`` and
``multiclass_dice_loss`` (checked mode raises); ``dice_loss`` and ``tversky_loss``
keep Keras's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation

Axis = int | Sequence[int] | None


def _canonical_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    canonical = tuple(validation.canonical_axis(a, ndim) for a in axes)
    if len(set(canonical)) != len(canonical):
        raise ValueError(f"`axis` must not repeat an axis, got axis={axis!r}.")
    return canonical


def _prepare(predictions, targets, where, axis, epsilon):
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    if where is not None:
        predictions = validation.apply_where(predictions, where)
        targets = validation.apply_where(targets, where)
    return predictions, targets, _canonical_axes(axis, predictions.ndim)


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: Axis = None,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Soft Dice loss: one minus the Dice coefficient of two soft masks.

    .. math::
        \ell = 1 - \frac{2 \sum_i t_i p_i}{\sum_i t_i + \sum_i p_i + \epsilon}

    for targets ``t``, predictions ``p`` and ``epsilon`` written :math:`\epsilon`, the
    sums over ``axis``.

    Args:
      predictions: floating array of predicted probabilities.
      targets: array of the same shape with the target mask.
      axis: axes to sum over; ``None`` sums all axes (one value for the batch).
      epsilon: added to the denominator.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements are left out of every sum.

    Returns:
      The loss, shape of ``predictions`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import dice_loss
    >>> dice_loss(jnp.array([[1.0, 0.0], [0.5, 0.5]]), jnp.array([[1.0, 0.0], [1.0, 0.0]]),
    ...           axis=1)
    Array([0. , 0.5], dtype=float32)

    References:
      Milletari, Navab and Ahmadi, "V-Net: Fully convolutional neural networks for
      volumetric medical image segmentation", 3DV 2016.
    """
    predictions, targets, axes = _prepare(predictions, targets, where, axis, epsilon)
    checks.check_finite("dice_loss", "predictions", predictions)
    checks.check_finite("dice_loss", "targets", targets)
    intersection = jnp.sum(targets * predictions, axis=axes)
    total = jnp.sum(targets, axis=axes) + jnp.sum(predictions, axis=axes)
    return 1.0 - 2.0 * intersection / (total + epsilon)


def tversky_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: Axis = None,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Tversky loss: Dice with separate weights for missed and extra mass.

    With ``t`` the targets and ``p`` the predictions, summed over ``axis``, and
    ``alpha``, ``beta``, ``epsilon`` written :math:`\alpha`, :math:`\beta`,
    :math:`\epsilon`:

    .. math::
        \ell = 1 - \frac{O}{O + \alpha M + \beta E + \epsilon}, \qquad
        O = \sum_i t_i p_i, \quad M = \sum_i t_i (1 - p_i), \quad E = \sum_i (1 - t_i) p_i

    where ``M`` is the target mass the prediction misses and ``E`` the predicted mass
    outside the target.

    ``alpha = beta = 0.5`` gives the Dice loss. The weights are assigned as in
    Keras 3's ``tversky``.

    Args:
      predictions: floating array of predicted probabilities.
      targets: array of the same shape with the target mask.
      alpha: weight of the missed target mass.
      beta: weight of the predicted mass outside the target.
      axis: axes to sum over; ``None`` sums all axes (one value for the batch).
      epsilon: added to the denominator.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements are left out of every sum.

    Returns:
      The loss, shape of ``predictions`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import tversky_loss
    >>> tversky_loss(jnp.array([0.5, 0.5, 0.0]), jnp.array([1.0, 1.0, 0.0]), alpha=0.7, beta=0.3)
    Array(0.4117647, dtype=float32)

    References:
      Salehi, Erdogmus and Gholipour, "Tversky loss function for image segmentation
      using 3D fully convolutional deep networks", MLMI 2017.
    """
    validation.check_non_negative("alpha", alpha)
    validation.check_non_negative("beta", beta)
    predictions, targets, axes = _prepare(predictions, targets, where, axis, epsilon)
    checks.check_finite("tversky_loss", "predictions", predictions)
    checks.check_finite("tversky_loss", "targets", targets)
    overlap = jnp.sum(targets * predictions, axis=axes)
    missed = jnp.sum(targets * (1.0 - predictions), axis=axes)
    extra = jnp.sum((1.0 - targets) * predictions, axis=axes)
    return 1.0 - overlap / (overlap + alpha * missed + beta * extra + epsilon)


def _tversky_index(predictions, targets, axes, alpha, beta, epsilon):
    overlap = jnp.sum(targets * predictions, axis=axes)
    missed = jnp.sum(targets * (1.0 - predictions), axis=axes)
    extra = jnp.sum((1.0 - targets) * predictions, axis=axes)
    return overlap / (overlap + alpha * missed + beta * extra + epsilon)


def _probabilities(name, predictions, where):
    """NaN where a probability lies outside [0, 1]; raise there in checked mode."""
    checks.check_unit_interval(name, "predictions", predictions, where=where)
    return validation.nan_where(validation.outside_unit_interval(predictions), predictions)


def focal_tversky_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 0.75,
    axis: Axis = None,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Focal Tversky loss: the Tversky loss raised to the power ``gamma``.

    .. math::
        \ell = \max(\ell_{\mathrm{Tversky}}, 0)^{\gamma}

    with :math:`\ell_{\mathrm{Tversky}}` the loss of :func:`tversky_loss` for the same
    ``alpha`` and ``beta`` (the weights assigned as there). The Tversky loss is below 0 only
    for targets outside ``[0, 1]``; the clamp keeps the power real there (0, not NaN). ``gamma < 1`` raises the
    loss of the examples that are already well segmented less than a linear loss
    would, and so focuses on the hard ones; Abraham and Khan (2019) write the exponent
    as ``1 / gamma`` with ``gamma = 4/3``, which is ``gamma = 0.75`` here. The gradient
    at a loss of exactly 0 (a perfect prediction with ``epsilon = 0``) is 0, the
    loss's minimum, not the infinite slope of ``x ** gamma`` at 0.

    Args:
      predictions: floating array of predicted probabilities in ``[0, 1]``.
      targets: array of the same shape with the target mask.
      alpha: weight of the missed target mass.
      beta: weight of the predicted mass outside the target.
      gamma: the exponent (positive).
      axis: axes to sum over; ``None`` sums all axes (one value for the batch).
      epsilon: added to the denominator.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements are left out of every sum.

    Returns:
      The loss, shape of ``predictions`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import focal_tversky_loss
    >>> focal_tversky_loss(jnp.array([[0.5, 0.5, 0.0]]), jnp.array([[1.0, 1.0, 0.0]]), axis=1)
    Array([0.43869138], dtype=float32)

    References:
      Abraham and Khan, "A novel focal Tversky loss function with improved attention
      U-Net for lesion segmentation", ISBI 2019.
    """
    validation.check_non_negative("alpha", alpha)
    validation.check_non_negative("beta", beta)
    validation.check_positive("gamma", gamma)
    predictions, targets, axes = _prepare(predictions, targets, where, axis, epsilon)
    predictions = _probabilities("focal_tversky_loss", predictions, where)
    checks.check_finite("focal_tversky_loss", "targets", targets, where=where)
    loss = jnp.maximum(1.0 - _tversky_index(predictions, targets, axes, alpha, beta, epsilon), 0.0)
    positive = loss > 0
    powered = jnp.where(positive, loss, jnp.ones((), loss.dtype)) ** gamma
    # At 0 the value 0 with gradient 0; `loss * 0` keeps a NaN loss NaN.
    return jnp.where(positive, powered, loss * 0.0)


def _pixel_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """The summed axes of a form with a class axis (last): by default all but the first and
    the last."""
    if ndim < 1:
        raise ValueError("`predictions` must have a class axis (last), got a scalar.")
    if axis is None:
        return tuple(range(1, ndim - 1))
    axes = _canonical_axes(axis, ndim)
    if ndim - 1 in axes:
        raise ValueError(
            f"`axis` must not hold the class axis (the last, {ndim - 1}), got axis={axis!r}."
        )
    return axes


def generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: Axis = None,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Generalised Dice loss: Dice over classes weighted by their inverse squared size.

    With ``I_c`` the overlap ``sum(t_c * p_c)`` and ``S_c`` the total ``sum(t_c + p_c)``
    of class ``c`` over ``axis`` (the pixels), ``T_c = sum(t_c)`` and ``epsilon``
    written :math:`\epsilon`:

    .. math::
        w_c = \frac{1}{T_c^2}, \qquad
        \ell = 1 - \frac{2 \sum_c w_c I_c}{\sum_c w_c S_c + \epsilon}

    as in Sudre et al. (2017). The weights are normalised so that the largest is 1
    (the ratio, and so the loss without ``epsilon``, is unchanged; this keeps
    ``epsilon`` small beside the sums, and ``1 / T**2`` from underflowing float32). A
    class absent from an example's targets (``T_c = 0``, infinite weight) takes the
    largest weight of the classes present; an example with no target mass at all
    weighs every class 1. The weights come from ``targets`` only and carry no gradient.

    Args:
      predictions: floating array ``[batch, pixels..., num_classes]`` of probabilities
        in ``[0, 1]``, class axis last.
      targets: array of the same shape, one-hot or soft class masks.
      axis: the pixel axes summed; ``None``: all but the first and the last.
      epsilon: added to the denominator (non-negative).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        are left out of every sum.

    Returns:
      The loss, shape of ``predictions`` without ``axis`` and the class axis; float32
      for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import generalized_dice_loss
    >>> targets = jnp.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    >>> generalized_dice_loss(jnp.array([[[0.6, 0.4], [0.2, 0.8], [0.2, 0.8], [0.2, 0.8]]]),
    ...                       targets)
    Array([0.39062494], dtype=float32)

    References:
      Sudre, Li, Vercauteren, Ourselin and Cardoso, "Generalised Dice overlap as a
      deep learning loss function for highly unbalanced segmentations", DLMIA 2017.
    """
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    axes = _pixel_axes(axis, predictions.ndim)
    predictions = _probabilities("generalized_dice_loss", predictions, where)
    checks.check_finite("generalized_dice_loss", "targets", targets, where=where)
    if where is not None:
        predictions = validation.apply_where(predictions, where)
        targets = validation.apply_where(targets, where)
    sizes = jax.lax.stop_gradient(jnp.sum(targets, axis=axes))
    present = sizes > 0
    smallest = jnp.min(jnp.where(present, sizes, jnp.inf), axis=-1, keepdims=True)
    ratio = smallest / jnp.where(present, sizes, jnp.ones((), sizes.dtype))
    weights = jnp.where(present, ratio**2, jnp.ones((), sizes.dtype))
    overlap = jnp.sum(weights * jnp.sum(targets * predictions, axis=axes), axis=-1)
    total = jnp.sum(weights * jnp.sum(targets + predictions, axis=axes), axis=-1)
    return 1.0 - 2.0 * overlap / (total + epsilon)


_CLASS_REDUCTIONS = ("mean", "sum", "none")


def multiclass_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    from_logits: bool = False,
    axis: Axis = None,
    smooth: float = 1.0,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
    class_weights: jax.typing.ArrayLike | None = None,
    ignore_background: bool = False,
    class_reduction: str = "mean",
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Dice loss of each class with a smoothing term, reduced over the classes.

    With ``I_c = sum(p_c * t_c)``, ``P_c = sum(p_c)`` and ``T_c = sum(t_c)`` over
    ``axis`` (the pixels), ``a = false_positive_weight``, ``b = false_negative_weight``
    and ``s = smooth``:

    .. math::
        \ell_c = 1 - \frac{I_c + s}{I_c + a (P_c - I_c) + b (T_c - I_c) + s}

    then multiplied by ``class_weights``, the first class dropped if
    ``ignore_background`` (and there is more than one class), and the mean, the sum
    or nothing taken over the classes (``class_reduction``). ``a = b = 0.5`` is the
    Dice loss, other weights the Tversky loss (false positives weighted by ``a``).
    These are the numbers of ``optax.losses.dice_loss`` (``alpha = a``, ``beta = b``,
    ``apply_softmax = from_logits``, ``reduction = class_reduction``). With
    ``from_logits`` the predictions are logits: a sigmoid for a single class, else a
    softmax over the class axis; otherwise they are probabilities in ``[0, 1]``
    (outside: NaN for the example; they need not sum to 1, where optax raises eagerly
    for rows that do not, which also rejects every binary probability map).

    Args:
      predictions: floating array ``[batch, pixels..., num_classes]``, class axis last.
      targets: array of the same shape, one-hot or soft class masks.
      from_logits: read ``predictions`` as logits.
      axis: the pixel axes summed; ``None``: all but the first and the last.
      smooth: added to the numerator and the denominator (non-negative).
      false_positive_weight: weight of ``P_c - I_c`` (non-negative).
      false_negative_weight: weight of ``T_c - I_c`` (non-negative).
      class_weights: optional floating ``[num_classes]`` factors of the class losses.
      ignore_background: drop class 0 before the reduction.
      class_reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per class).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        are left out of every sum.

    Returns:
      The loss, shape of ``predictions`` without ``axis`` and, unless
      ``class_reduction="none"``, without the class axis; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import multiclass_dice_loss
    >>> targets = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> multiclass_dice_loss(jnp.array([[[0.9, 0.1], [0.2, 0.8]]]), targets,
    ...                      class_reduction="none")
    Array([[0.07317072, 0.07692313]], dtype=float32)

    References:
      Milletari, Navab and Ahmadi, "V-Net: Fully convolutional neural networks for
      volumetric medical image segmentation", 3DV 2016. optax,
      ``optax.losses.dice_loss``.
    """
    validation.check_non_negative("smooth", smooth)
    validation.check_non_negative("false_positive_weight", false_positive_weight)
    validation.check_non_negative("false_negative_weight", false_negative_weight)
    if class_reduction not in _CLASS_REDUCTIONS:
        raise ValueError(
            f"`class_reduction` must be one of {_CLASS_REDUCTIONS}, got {class_reduction!r}."
        )
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where)
    axes = _pixel_axes(axis, predictions.ndim)
    num_classes = predictions.shape[-1]
    validation.check_class_weights(class_weights, num_classes)
    checks.check_finite("multiclass_dice_loss", "targets", targets, where=where)
    if from_logits:
        checks.check_finite("multiclass_dice_loss", "predictions", predictions, where=where)
        if num_classes == 1:
            predictions = jax.nn.sigmoid(predictions)
        else:
            predictions = jax.nn.softmax(predictions, axis=-1)
    else:
        predictions = _probabilities("multiclass_dice_loss", predictions, where)
    if where is not None:
        predictions = validation.apply_where(predictions, where)
        targets = validation.apply_where(targets, where)
    overlap = jnp.sum(predictions * targets, axis=axes)
    predicted = jnp.sum(predictions, axis=axes)
    target = jnp.sum(targets, axis=axes)
    denominator = (
        overlap
        + false_positive_weight * (predicted - overlap)
        + false_negative_weight * (target - overlap)
        + smooth
    )
    loss = 1.0 - (overlap + smooth) / denominator
    if class_weights is not None:
        weights = jnp.asarray(class_weights).astype(loss.dtype)
        loss = loss * weights.reshape((1,) * (loss.ndim - 1) + (num_classes,))
    if ignore_background and num_classes > 1:
        loss = loss[..., 1:]
    if class_reduction == "mean":
        return jnp.mean(loss, axis=-1)
    if class_reduction == "sum":
        return jnp.sum(loss, axis=-1)
    return loss
