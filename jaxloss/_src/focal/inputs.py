"""Argument preparation the focal forms share: checks, casts and what counts as invalid.

Checks run at trace time (:mod:`jaxloss._src.validation`); inputs are cast to the compute
dtype (float32 for half inputs); ``gamma`` is split into a static and a traced part
(:func:`jaxloss._src.focal.modulation.split_gamma`).
"""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp

from jaxloss._src import validation
from jaxloss._src.focal.modulation import split_gamma


def outside_zero_one(values: jax.Array) -> jax.Array:
    """True where ``values`` are below 0 or above 1: not a probability or a binary label.

    NaN is not flagged; it makes the loss NaN by itself.

    Example:
      >>> import jax.numpy as jnp
      >>> outside_zero_one(jnp.array([0.0, 1.0, 1.5, -0.1]))
      Array([False, False,  True,  True], dtype=bool)
    """
    return (values < 0) | (values > 1)


@overload
def prepare_class_inputs(
    logits: jax.typing.ArrayLike,
    alpha: None,
    gamma: jax.typing.ArrayLike,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, None, Any, Any, int, jax.Array | None]: ...
@overload
def prepare_class_inputs(
    logits: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array, Any, Any, int, jax.Array | None]: ...
@overload
def prepare_class_inputs(
    logits: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike | None,
    gamma: jax.typing.ArrayLike,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array | None, Any, Any, int, jax.Array | None]: ...
def prepare_class_inputs(
    logits: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike | None,
    gamma: jax.typing.ArrayLike,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array | None, Any, Any, int, jax.Array | None]:
    """Check and cast the arguments of a focal form over a class axis.

    Args:
      logits: the scores (logits, or probabilities for the probability form).
      alpha: None, a scalar or a ``[C]`` array of per-class weights.
      gamma: the focusing parameter.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``logits``.

    Returns:
      ``(logits, alpha, gamma_static, gamma_array, axis, mask)``: the logits in the compute
      dtype, ``alpha`` as an array shaped to broadcast along ``axis`` (or None), ``gamma``
      split as :func:`split_gamma` does, ``axis`` non-negative and the mask broadcast to the
      logits' shape (or None).

    Example:
      >>> import jax.numpy as jnp
      >>> logits, alpha, _, _, axis, mask = prepare_class_inputs(
      ...     jnp.zeros((3, 2), jnp.float16), jnp.ones(3), 2.0, 0, None
      ... )
      >>> logits.dtype, alpha.shape, axis, mask
      (dtype('float32'), (3, 1), 0, None)
    """
    validation.check_floating("logits", logits)
    axis = validation.check_class_axis("logits", logits, axis)
    num_classes = jnp.shape(logits)[axis]
    validation.check_gamma(gamma)
    validation.check_class_alpha(alpha, num_classes)
    mask = validation.broadcast_where(where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        if alpha.ndim == 1:
            alpha = alpha.reshape((1,) * axis + (num_classes,) + (1,) * (logits.ndim - 1 - axis))
    gamma_static, gamma_array = split_gamma(gamma, dtype)
    return logits, alpha, gamma_static, gamma_array, axis, mask
