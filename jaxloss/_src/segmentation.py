"""Overlap losses for segmentation: Dice and Tversky.

Both compare soft masks ``predictions`` (probabilities) and ``targets`` (0/1 or
soft) by sums over ``axis``: ``axis=None`` sums every axis and gives a single
value for the whole batch (Keras's default); pass the spatial axes, e.g.
``axis=(1, 2, 3)``, for one value per example. Half-precision inputs are computed
in float32 and returned in float32. ``epsilon`` in the denominator makes two
empty masks give loss 1 (not NaN).

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; a ``where`` mask that is not boolean
or does not broadcast to ``predictions``; an axis out of range or repeated;
negative ``alpha``, ``beta`` or ``epsilon``.
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
    """Soft Dice loss: one minus the Dice coefficient of two soft masks.

    ``loss = 1 - 2 * sum(t * p) / (sum(t) + sum(p) + epsilon)``, sums over ``axis``.

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
    """Tversky loss: Dice with separate weights for missed and extra mass.

    With ``t`` the targets and ``p`` the predictions, summed over ``axis``::

        overlap = sum(t * p)
        missed = sum(t * (1 - p))       # target mass the prediction misses
        extra = sum((1 - t) * p)        # predicted mass outside the target
        loss = 1 - overlap / (overlap + alpha * missed + beta * extra + epsilon)

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
