"""optax's regression losses: squared, half squared, Huber and log-cosh errors; the cosine
similarity and distance."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxloss
from jaxloss.optax._arrays import broadcast_pair, class_axes, classes_last


def squared_error(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    """optax's ``squared_error``: ``(predictions - targets) ** 2``, by :func:`jaxloss.squared_error`
    (``targets`` of the same shape, as optax checks).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array([1., 4.], dtype=float32)
    """
    return jaxloss.squared_error(predictions, targets)


def l2_loss(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    """optax's ``l2_loss``: ``0.5 * (predictions - targets) ** 2``, by :func:`jaxloss.l2_loss`
    (``targets`` of the same shape, as optax checks)."""
    return jaxloss.l2_loss(predictions, targets)


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    """optax's ``huber_loss``, by :func:`jaxloss.huber_loss`."""
    return jaxloss.huber_loss(*broadcast_pair(predictions, targets), delta=delta)


def log_cosh(
    predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None
) -> jax.Array:
    """optax's ``log_cosh``, by :func:`jaxloss.log_cosh` (finite for every finite error)."""
    return jaxloss.log_cosh(*broadcast_pair(predictions, targets))


def _vectors(predictions, targets, axis, where):
    """optax's vector ``axis`` (an int, a tuple or ``None``) as one last axis, ``where``
    broadcast to the vectors."""
    predictions, targets = broadcast_pair(predictions, targets)
    if where is not None:
        where = jnp.broadcast_to(jnp.asarray(where), predictions.shape)
    axes = class_axes(axis, predictions.ndim)
    if axes is None:
        return predictions, targets, axis, where
    predictions, targets, where = (classes_last(a, axes) for a in (predictions, targets, where))
    return predictions, targets, -1, where


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``cosine_similarity`` (``epsilon`` bounds each squared norm from below), by
    :func:`jaxloss.cosine_similarity`; a zero vector has cosine 0, where optax gives NaN.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.cosine_similarity(jnp.array([[1.0, 1.0]]), jnp.array([[1.0, 0.0]]))
    Array([0.70710677], dtype=float32)
    """
    predictions, targets, axis, where = _vectors(predictions, targets, axis, where)
    return jaxloss.cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``cosine_distance``, ``1 - cosine_similarity``, by
    :func:`jaxloss.cosine_distance`."""
    predictions, targets, axis, where = _vectors(predictions, targets, axis, where)
    return jaxloss.cosine_distance(predictions, targets, epsilon=epsilon, axis=axis, where=where)
