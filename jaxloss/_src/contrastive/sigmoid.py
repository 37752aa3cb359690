"""SigLIP's pairwise sigmoid loss.

Input rules (``ValueError`` at trace time, naming the argument): as
:func:`jaxloss.contrastive_loss` (floating ``[batch, features]`` queries and keys of one
shape, a boolean ``where`` over the batch), and a scale that is not positive.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.contrastive import inputs


def sigmoid_contrastive_loss(
    queries: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    scale: float = 10.0,
    bias: float = -10.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""SigLIP's sigmoid loss: every (query, key) pair is one binary classification.

    With :math:`x_{ij} = t\, q_i \cdot k_j + b`, :math:`z_{ii} = 1` (the pair of query
    :math:`i` and key :math:`i`) and :math:`z_{ij} = -1` otherwise:

    .. math::
        \ell_i = \sum_j \operatorname{softplus}(-z_{ij} x_{ij})
                = -\sum_j \log \sigma(z_{ij} x_{ij})

    The mean of ``loss`` over the batch is SigLIP's loss. The defaults ``t = 10``,
    ``b = -10`` are the paper's initialisation (``t = exp(t')`` with ``t' = log 10``); pass
    learned values (traced scalars are accepted). The embeddings are used as given:
    L2-normalise them first, as SigLIP does.

    Args:
      queries: floating ``[batch, features]`` embeddings (SigLIP: the images').
      keys: floating ``[batch, features]`` embeddings, ``keys[i]`` the positive of
        ``queries[i]``.
      scale: ``t > 0``, multiplies the dot products.
      bias: ``b``, added to the scaled dot products.
      where: optional boolean ``[batch]`` mask; masked examples are left out of every
        sum, as if sliced away, and give loss 0.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import sigmoid_contrastive_loss
    >>> queries = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> sigmoid_contrastive_loss(queries, queries, scale=1.0, bias=0.0)
    Array([1.0064089, 1.0064089], dtype=float32)

    References:
      Zhai et al., "Sigmoid Loss for Language Image Pre-Training" (SigLIP), ICCV 2023
      (arXiv:2303.15343).
    """
    queries, keys, where = inputs.check_pair(queries, keys, where)
    validation.check_positive("scale", scale)
    checks.check_finite("sigmoid_contrastive_loss", "queries", queries)
    checks.check_finite("sigmoid_contrastive_loss", "keys", keys)
    logits = scale * (queries @ keys.T) + bias
    batch = logits.shape[0]
    signs = 2.0 * jnp.eye(batch, dtype=logits.dtype) - 1.0
    pair_losses = jax.nn.softplus(-signs * logits)
    if where is not None:
        pair_losses = jnp.where(where[None, :], pair_losses, jnp.zeros((), logits.dtype))
    return validation.apply_where(jnp.sum(pair_losses, axis=1), where)
