"""optax's Kullback-Leibler divergences, from log-predictions."""

from __future__ import annotations

import jax

import jaxloss
from jaxloss.optax._arrays import broadcast_pair


def kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``kl_divergence``, by :func:`jaxloss.log_space_kl_divergence`.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.kl_divergence(jnp.array([0.0, -jnp.inf]), jnp.array([1.0, 0.0]))
    Array(0., dtype=float32)
    """
    log_predictions, targets = broadcast_pair(log_predictions, targets)
    return jaxloss.log_space_kl_divergence(log_predictions, targets, axis=axis, where=where)


def kl_divergence_with_log_targets(
    log_predictions: jax.typing.ArrayLike,
    log_targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``kl_divergence_with_log_targets``, by :func:`jaxloss.log_space_kl_divergence`."""
    log_predictions, log_targets = broadcast_pair(log_predictions, log_targets)
    return jaxloss.log_space_kl_divergence(
        log_predictions, log_targets, log_targets=True, axis=axis, where=where
    )


def generalized_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``generalized_kl_divergence``, by :func:`jaxloss.generalized_kl_divergence`."""
    log_predictions, targets = broadcast_pair(log_predictions, targets)
    return jaxloss.generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)


def convex_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``convex_kl_divergence`` (deprecated there): :func:`generalized_kl_divergence`."""
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
