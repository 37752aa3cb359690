"""optax's ranking losses: the ranking softmax loss with its ``reduce_fn``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

import jaxloss


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
    weights: jax.typing.ArrayLike | None = None,
    reduce_fn: Callable[..., jax.typing.ArrayLike] | None = jnp.mean,
) -> jax.Array:
    """optax's ``ranking_softmax_loss`` (lists on the last axis), by
    :func:`jaxloss.ranking_softmax_loss`, reduced by ``reduce_fn`` over the lists with a
    valid item, as optax does (``None``: one value per list; the mean of no list is 0).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.ranking_softmax_loss(jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]]))
    Array(0.6931472, dtype=float32)
    """
    losses = jaxloss.ranking_softmax_loss(logits, labels, where=where, weights=weights)
    lists = None if where is None else jnp.any(jnp.asarray(where), axis=-1)
    if reduce_fn is None:
        return losses
    reduced = reduce_fn(losses, where=lists)
    if reduce_fn is jnp.mean:
        reduced = jnp.where(jnp.isnan(reduced) & ~jnp.any(jnp.isnan(losses)), 0.0, reduced)
    return reduced
