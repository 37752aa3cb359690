"""Listwise ranking losses: optax's ranking softmax loss, one value per list.

A list is a row of item scores along ``axis``. Half-precision inputs are computed in
float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating logits;
labels of another shape; weights that do not broadcast to the logits; a ``where`` mask
that is not boolean or does not broadcast to the logits; an ``axis`` out of range. NaN or
infinite logits follow :func:`jaxloss.softmax_cross_entropy`'s rules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import validation
from jaxloss._src.cross_entropy.softmax import softmax_cross_entropy


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
    weights: jax.typing.ArrayLike | None = None,
    axis: int = -1,
) -> jax.Array:
    r"""optax's ranking softmax loss, one value per list (no reduction).

    .. math::
        \ell(s, y) = -\sum_i w_i y_i \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    over the items ``where`` keeps: the softmax cross-entropy with the relevance labels
    (times the weights) as unnormalised targets. A list without a kept item has loss 0
    (and gradient 0); optax's ``reduce_fn`` leaves such lists out of its mean, which the
    caller does with ``jnp.any(where, axis)``.

    Args:
      logits: floating array of item scores along ``axis``.
      labels: relevance labels of the same shape (integer or floating).
      where: optional boolean mask broadcastable to ``logits``: the valid items.
      weights: optional per-item weights broadcastable to ``logits``.
      axis: the list axis.

    Returns:
      The loss, of ``logits``'s shape without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import ranking_softmax_loss
    >>> ranking_softmax_loss(jnp.array([[2.0, 1.0, 0.0]]), jnp.array([[1.0, 0.0, 1.0]]))
    Array([2.8152118], dtype=float32)

    References:
      optax 0.2.8, ``optax.losses.ranking_softmax_loss``; Cao et al., "Learning to rank:
      from pairwise approach to listwise approach", ICML 2007.
    """
    validation.check_floating("logits", logits)
    validation.check_same_shape("logits", logits, "labels", labels)
    validation.canonical_axis(axis, jnp.ndim(logits))
    dtype = validation.compute_dtype(logits)
    labels = jnp.asarray(labels).astype(dtype)
    if weights is not None:
        validation.check_broadcasts("weights", weights, jnp.shape(logits), "logits")
        labels = labels * jnp.asarray(weights).astype(dtype)
    return softmax_cross_entropy(jnp.asarray(logits).astype(dtype), labels, axis=axis, where=where)
