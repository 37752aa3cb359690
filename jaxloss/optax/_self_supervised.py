"""optax's self-supervised losses: the triplet margin loss and NT-Xent."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import jaxloss


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    axis: int = -1,
    norm_degree: jax.typing.ArrayLike = 2,
    margin: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
    """optax's ``triplet_margin_loss``, distances ``(sum |x - y|**norm_degree + eps) **
    (1 / norm_degree)``, by :func:`jaxloss.triplet_margin_loss` (``epsilon_at="power_sum"``).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.triplet_margin_loss(jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]),
    ...                           jnp.array([[3.0, 0.0]]), eps=0.0)
    Array([0.], dtype=float32)
    """
    return jaxloss.triplet_margin_loss(
        anchors, positives, negatives, margin=margin, p=norm_degree, epsilon=eps,
        epsilon_at="power_sum", axis=axis,
    )


def ntxent(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    temperature: jax.typing.ArrayLike = 0.07,
) -> jax.Array:
    """optax's ``ntxent``, one number: the mean over all positive pairs, ``sum(n * loss) /
    sum(n)`` of :func:`jaxloss.ntxent_loss`'s per-anchor losses, ``n`` each anchor's count
    of positives; 0 for a batch without positive pairs (optax: NaN)."""
    losses = jaxloss.ntxent_loss(embeddings, labels, temperature=temperature)
    labels = jnp.asarray(labels)
    counts = jnp.sum(labels[:, None] == labels[None, :], axis=1) - 1
    counts = counts.astype(losses.dtype)
    total = jnp.sum(counts)
    return jnp.where(total > 0, jnp.sum(counts * losses) / jnp.maximum(total, 1.0), 0.0)
