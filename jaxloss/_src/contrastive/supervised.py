"""Contrastive losses whose positives are given by labels: SupCon and optax's NT-Xent.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``embeddings`` or ones not of shape ``[batch, features]``; non-integer ``labels`` or
labels not of shape ``[batch]``; a temperature that is not positive.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.contrastive import inputs


def _positive_pairs(labels: jax.Array) -> jax.Array:
    """``[B, B]``: ``j != i`` has the label of ``i``."""
    same = labels[:, None] == labels[None, :]
    return same & ~jnp.eye(labels.shape[0], dtype=bool)


def _mean_over_positives(pair_losses: jax.Array, positives: jax.Array) -> jax.Array:
    """Each anchor's mean of ``pair_losses`` over its positives, 0 without any."""
    total = jnp.sum(jnp.where(positives, pair_losses, jnp.zeros((), pair_losses.dtype)), axis=1)
    count = jnp.sum(positives, axis=1).astype(pair_losses.dtype)
    return total / jnp.maximum(count, 1.0)


def supervised_contrastive_loss(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    temperature: float = 0.1,
) -> jax.Array:
    r"""Supervised contrastive loss (SupCon, :math:`\mathcal{L}^{sup}_{out}`), one value per
    anchor.

    With :math:`s_{ij} = e_i \cdot e_j / \tau`, the positives :math:`P(i)` of anchor
    :math:`i` (the other examples with its label) and :math:`A(i)` every other example:

    .. math::
        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
            \Big(s_{ip} - \log \sum_{a \in A(i)} e^{s_{ia}}\Big)

    The mean over the batch is the paper's loss (its Eq. 2, the form it recommends). An
    anchor without positives (the only example of its label) has no term in the paper; here
    it gives 0, with gradient 0 through its own term (it still appears in other anchors'
    denominators). The embeddings are used as given: L2-normalise them first, as the paper
    does.

    Args:
      embeddings: floating ``[batch, features]`` embeddings (every view of every sample).
      labels: integer ``[batch]`` class labels; the views of one sample share a label.
      temperature: ``tau > 0``.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import supervised_contrastive_loss
    >>> embeddings = jnp.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> supervised_contrastive_loss(embeddings, jnp.array([0, 0, 1]), temperature=1.0)
    Array([0.31326163, 0.31326163, 0.        ], dtype=float32)

    References:
      Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020 (arXiv:2004.11362).
    """
    embeddings, labels = inputs.check_labelled(embeddings, labels)
    validation.check_positive("temperature", temperature)
    checks.check_finite("supervised_contrastive_loss", "embeddings", embeddings)
    logits = (embeddings @ embeddings.T) / temperature
    others = ~jnp.eye(logits.shape[0], dtype=bool)
    log_probs = logits - inputs.masked_logsumexp(logits, others, axis=1)[:, None]
    return _mean_over_positives(-log_probs, _positive_pairs(labels))


def _cosine_similarities(embeddings: jax.Array) -> jax.Array:
    """``[B, B]`` cosines with optax's rule: each norm at least ``sqrt(eps)`` of the dtype."""
    epsilon = jnp.finfo(embeddings.dtype).eps
    norms = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(embeddings), axis=1, keepdims=True),
                                 epsilon))
    units = embeddings / norms
    return units @ units.T


def ntxent_loss(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    temperature: float = 0.07,
) -> jax.Array:
    r"""NT-Xent with optax's semantics (``optax.losses.ntxent``), one value per anchor.

    With cosine similarities :math:`c_{ij} / \tau` (each norm clipped below at
    :math:`\sqrt{\epsilon}`, :math:`\epsilon` the dtype's machine epsilon, as optax does),
    the positives :math:`P(i)` of anchor :math:`i` (the other examples with its label) and
    its negatives :math:`N(i)` (the examples with another label), each positive pair is a
    cross-entropy against the negatives alone (the other positives are not in the
    denominator):

    .. math::
        l_{ip} &= \log\Big(e^{c_{ip} / \tau} + \sum_{n \in N(i)} e^{c_{in} / \tau}\Big)
            - c_{ip} / \tau, \\
        \ell_i &= \frac{1}{|P(i)|} \sum_{p \in P(i)} l_{ip} \quad \text{(0 without positives)}

    optax returns one number, the mean over all positive pairs:
    ``sum(n * loss) / sum(n)`` with ``n[i] = |P(i)|`` the anchors' positive counts (for
    SimCLR's two views of each sample, every ``n[i] = 1`` and that is ``mean(loss)``).
    Where optax gives NaN for a batch without positive pairs (``0 / 0``), this gives 0 for
    every anchor. Half-precision inputs are computed in float32, with float32's epsilon.

    Args:
      embeddings: floating ``[batch, features]`` embeddings, normalised here.
      labels: integer ``[batch]`` labels; examples with one label are positive pairs.
      temperature: ``tau > 0``.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import ntxent_loss
    >>> embeddings = jnp.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> ntxent_loss(embeddings, jnp.array([0, 0, 1, 1]), temperature=1.0)
    Array([0.55144477, 0.55144477, 0.55144477, 0.55144477], dtype=float32)

    References:
      Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations"
      (SimCLR), ICML 2020 (arXiv:2002.05709); optax, ``optax.losses.ntxent``.
    """
    embeddings, labels = inputs.check_labelled(embeddings, labels)
    validation.check_positive("temperature", temperature)
    checks.check_finite("ntxent_loss", "embeddings", embeddings)
    logits = _cosine_similarities(embeddings) / temperature
    negatives = labels[:, None] != labels[None, :]
    negative_logsumexp = inputs.masked_logsumexp(logits, negatives, axis=1)
    pair_losses = jnp.logaddexp(logits, negative_logsumexp[:, None]) - logits
    return _mean_over_positives(pair_losses, _positive_pairs(labels))
