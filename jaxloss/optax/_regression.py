"""optax's regression losses: squared, half squared, Huber and log-cosh errors."""

from __future__ import annotations

import jax

import jaxloss
from jaxloss.optax._arrays import broadcast_pair


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
