"""optax's segmentation losses: the Dice (Tversky), binary Dice and generalized Dice
losses, by :func:`jaxloss.multiclass_dice_loss`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxloss


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    class_weights: jax.typing.ArrayLike | None = None,
    smooth: jax.typing.ArrayLike = 1.0,
    alpha: jax.typing.ArrayLike = 0.5,
    beta: jax.typing.ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``dice_loss`` (classes last; the input with one axis fewer gets a class axis
    of size 1), by :func:`jaxloss.multiclass_dice_loss` with ``false_positive_weight=alpha``
    and ``false_negative_weight=beta``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.dice_loss(jnp.array([[[1.0, 0.0], [0.0, 1.0]]]),
    ...                 jnp.array([[[1.0, 0.0], [1.0, 0.0]]]), apply_softmax=False)
    Array([0.3], dtype=float32)
    """
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if targets.ndim == predictions.ndim - 1:
        targets = targets[..., None]
    elif predictions.ndim == targets.ndim - 1:
        predictions = predictions[..., None]
    return jaxloss.multiclass_dice_loss(
        predictions, targets, from_logits=apply_softmax, axis=axis, smooth=smooth,
        false_positive_weight=alpha, false_negative_weight=beta, class_weights=class_weights,
        ignore_background=ignore_background, class_reduction=reduction,
    )


def binary_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
    """optax's ``binary_dice_loss``: :func:`dice_loss` of one class (a class axis of size 1
    added to inputs of one rank whose last axis is not 1), a sigmoid with
    ``apply_sigmoid``; probabilities need not sum to 1, where optax raises."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
        predictions, targets = predictions[..., None], targets[..., None]
    return dice_loss(predictions, targets, smooth=smooth, apply_softmax=apply_sigmoid)


def multiclass_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
    r"""optax's ``multiclass_generalized_dice_loss``: the class losses weighted, then averaged.

    The class losses of :func:`jaxloss.multiclass_dice_loss` are weighted by

    .. math::
        w_c = C \, \frac{v_c}{\sum_k v_k}, \qquad v_c = \frac{1}{T_c^2 + 10^{-7}}

    (``T_c`` the class's target sum over the batch and the pixels, ``C`` the number of
    classes: the weights sum to ``C``), then averaged."""
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    weights = 1.0 / (jnp.sum(targets, axis=tuple(range(targets.ndim - 1))) ** 2 + 1e-7)
    weights = weights / jnp.sum(weights) * targets.shape[-1]
    losses = jaxloss.multiclass_dice_loss(
        predictions, targets, from_logits=apply_softmax, smooth=smooth, class_weights=weights,
        ignore_background=ignore_background, class_reduction="none",
    )
    return jnp.mean(losses)
