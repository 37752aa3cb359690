"""InfoNCE and CLIP's symmetric contrastive loss, with an explicit similarity matrix.

Input rules (``ValueError`` at trace time, naming the argument): non-floating ``queries``
or ``keys``; either not of shape ``[batch, features]``, or the two of different shapes; a
``where`` mask that is not boolean or does not broadcast to ``[batch]``; a temperature that
is not positive.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.contrastive import inputs


def contrastive_loss(
    queries: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    temperature: float = 0.07,
    symmetric: bool = True,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""InfoNCE contrastive loss of paired embeddings; CLIP's loss with ``symmetric=True``.

    With logits :math:`s_{ij} = q_i \cdot k_j / \tau` (the positive of query :math:`i` is
    key :math:`i`, every other key is a negative):

    .. math::
        r_i &= \log \sum_j e^{s_{ij}} - s_{ii}
            \quad \text{(query } i \text{ against every key)}, \\
        c_i &= \log \sum_j e^{s_{ji}} - s_{ii}
            \quad \text{(key } i \text{ against every query)}, \\
        \ell_i &= r_i, \text{ or } \tfrac{1}{2} (r_i + c_i) \text{ if } \texttt{symmetric}.

    The mean of ``loss`` over the batch is CLIP's loss (``symmetric=True``) or InfoNCE's
    (``symmetric=False``). The embeddings are used as given: L2-normalise them first for
    cosine similarities, as CLIP and SimCLR do. The ``[batch, batch]`` logits are formed
    explicitly; :func:`chunked_contrastive_loss` gives the same values and gradients without
    them.

    Args:
      queries: floating ``[batch, features]`` embeddings (CLIP: the images').
      keys: floating ``[batch, features]`` embeddings, ``keys[i]`` the positive of
        ``queries[i]`` (CLIP: the texts').
      temperature: ``tau > 0``; a scalar, possibly traced (a learned temperature).
      symmetric: average the query-to-key and key-to-query cross-entropies.
      where: optional boolean ``[batch]`` mask; masked examples are left out of every
        row and column, as if sliced away, and give loss 0.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import contrastive_loss
    >>> queries = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> contrastive_loss(queries, queries, temperature=1.0)
    Array([0.31326163, 0.31326163], dtype=float32)

    References:
      van den Oord et al., "Representation Learning with Contrastive Predictive Coding",
      2018 (arXiv:1807.03748); Radford et al., "Learning Transferable Visual Models From
      Natural Language Supervision" (CLIP), ICML 2021.
    """
    queries, keys, where = inputs.check_pair(queries, keys, where)
    validation.check_positive("temperature", temperature)
    checks.check_finite("contrastive_loss", "queries", queries)
    checks.check_finite("contrastive_loss", "keys", keys)
    logits = (queries @ keys.T) / temperature
    positives = jnp.diagonal(logits)
    pairs = None if where is None else where[:, None] & where[None, :]
    rows = inputs.masked_logsumexp(logits, pairs, axis=1)
    columns = inputs.masked_logsumexp(logits, pairs, axis=0) if symmetric else None
    return inputs.combine_directions(rows, columns, positives, where)
