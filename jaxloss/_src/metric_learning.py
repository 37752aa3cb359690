"""Similarity losses on embeddings: negative cosine similarity and Circle loss.

Half-precision inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
embeddings or predictions; ``targets`` of another shape; non-integer ``labels`` or
labels whose length does not match the embeddings; reference embeddings whose
feature size differs; a ``where`` mask that is not boolean or does not broadcast;
an ``axis`` out of range; a negative ``epsilon`` or ``gamma``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, softmax_rows, validation
from jaxloss._src.vectors import unit_vectors


def negative_cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Negative cosine similarity along ``axis``, one value per example.

    .. math::
        \ell = -\sum_i \frac{p_i}{\max(\|p\|, \epsilon)} \, \frac{t_i}{\max(\|t\|, \epsilon)}

    for ``p = predictions`` and ``t = targets`` along ``axis`` and ``epsilon`` written
    :math:`\epsilon`: -1 for
    parallel vectors, 0 for orthogonal ones or when either is 0 (where the gradient
    is finite too), +1 for opposite ones.

    Args:
      predictions: floating array of vectors along ``axis``.
      targets: array of the same shape.
      axis: the vector axis.
      epsilon: lower bound on each norm.
      where: optional boolean mask broadcastable to ``predictions``; masked entries
        are left out as if sliced away.

    Returns:
      The loss, shape of ``predictions`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import negative_cosine_similarity
    >>> negative_cosine_similarity(jnp.array([[1.0, 1.0], [0.0, 0.0]]),
    ...                            jnp.array([[1.0, 0.0], [1.0, 0.0]]))
    Array([-0.70710677, -0.        ], dtype=float32)

    References:
      Keras 3, ``keras.losses.cosine_similarity``.
    """
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    predictions = validation.apply_where(predictions, where)
    targets = validation.apply_where(targets, where)
    checks.check_finite("negative_cosine_similarity", "predictions", predictions)
    checks.check_finite("negative_cosine_similarity", "targets", targets)
    axis = validation.canonical_axis(axis, predictions.ndim)
    predictions = unit_vectors(predictions, axis, epsilon, False)
    targets = unit_vectors(targets, axis, epsilon, False)
    return -jnp.sum(predictions * targets, axis=axis)


def _masked_logsumexp(values: jax.Array, mask: jax.Array) -> jax.Array:
    """``log(sum(exp(values)))`` over the entries of each row where ``mask`` holds.

    A row without any entry gives ``-inf`` (the softmax row statistics give 0 there, a
    softmax's convention); gradients stay finite (0 there).
    """
    row_max, log_sum_exp = softmax_rows.two_pass_row_statistics(values, mask, axis=1)
    log_total = jnp.squeeze(log_sum_exp + row_max, axis=1)
    return jnp.where(jnp.any(mask, axis=1), log_total, -jnp.inf)


def circle_loss(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    ref_embeddings: jax.typing.ArrayLike | None = None,
    ref_labels: jax.typing.ArrayLike | None = None,
    gamma: float = 80.0,
    margin: float = 0.4,
    remove_diagonal: bool = True,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Circle loss for unit-norm embeddings, one value per query embedding.

    With cosine distances ``d = max(1 - embeddings @ ref_embeddings.T, 0)``, positive
    pairs :math:`P` (same label; the diagonal left out when ``remove_diagonal``) and
    negative pairs :math:`N` (different label), ``m = margin`` and ``gamma`` written
    :math:`\gamma`, for a query ``i``:

    .. math::
        s^{+}_{ij} &= -\gamma \max(m + d_{ij}, 0) \, (m - d_{ij}), \qquad j \in P_i, \\
        s^{-}_{ij} &= \gamma \max(1 + m - d_{ij}, 0) \, (1 - m - d_{ij}), \qquad j \in N_i, \\
        \ell_i &= \operatorname{softplus}\Big(\log \sum_{j \in P_i} e^{s^{+}_{ij}}
            + \log \sum_{j \in N_i} e^{s^{-}_{ij}}\Big)

    A query without positive or without negative pairs has loss 0 (with gradient 0).
    The embeddings are expected to be L2-normalised; they are not normalised here.

    Args:
      embeddings: floating array ``[batch, features]`` of query embeddings.
      labels: integer array ``[batch]`` of their class labels.
      ref_embeddings: reference embeddings ``[num_ref, features]``; defaults to
        ``embeddings``.
      ref_labels: integer labels ``[num_ref]`` of the references; defaults to ``labels``.
      gamma: scale of the similarity scores.
      margin: relaxation margin ``m``.
      remove_diagonal: leave the pairs ``(i, i)`` out of the positives.
      where: optional boolean mask broadcastable to ``[batch]``; masked queries give
        loss 0.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import circle_loss
    >>> embeddings = jnp.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> circle_loss(embeddings, jnp.array([0, 0, 1]), gamma=10.0)
    Array([0.18390074, 4.808196  , 0.        ], dtype=float32)

    References:
      Sun et al., "Circle loss: A unified perspective of pair similarity
      optimization", CVPR 2020.
    """
    validation.check_floating("embeddings", embeddings)
    validation.check_integer("labels", labels)
    validation.check_non_negative("gamma", gamma)
    checks.check_finite("circle_loss", "embeddings", embeddings)
    if jnp.ndim(embeddings) != 2:
        raise ValueError(
            f"`embeddings` must have shape [batch, features], got shape {jnp.shape(embeddings)}."
        )
    if jnp.shape(labels) != jnp.shape(embeddings)[:1]:
        raise ValueError(
            f"`labels` must have shape {jnp.shape(embeddings)[:1]} (one label per embedding), "
            f"got shape {jnp.shape(labels)}."
        )
    if ref_embeddings is None:
        ref_embeddings = embeddings
    if ref_labels is None:
        ref_labels = labels
    validation.check_integer("ref_labels", ref_labels)
    if jnp.ndim(ref_embeddings) != 2 or jnp.shape(ref_embeddings)[1] != jnp.shape(embeddings)[1]:
        raise ValueError(
            f"`ref_embeddings` must have shape [num_ref, {jnp.shape(embeddings)[1]}], "
            f"got shape {jnp.shape(ref_embeddings)}."
        )
    if jnp.shape(ref_labels) != jnp.shape(ref_embeddings)[:1]:
        raise ValueError(
            f"`ref_labels` must have shape {jnp.shape(ref_embeddings)[:1]}, "
            f"got shape {jnp.shape(ref_labels)}."
        )
    validation.check_where("where", where, jnp.shape(labels))
    dtype = validation.compute_dtype(embeddings, ref_embeddings)
    embeddings = jnp.asarray(embeddings).astype(dtype)
    ref_embeddings = jnp.asarray(ref_embeddings).astype(dtype)
    distances = jnp.maximum(1.0 - embeddings @ ref_embeddings.T, 0.0)
    positive = jnp.asarray(labels)[:, None] == jnp.asarray(ref_labels)[None, :]
    negative = jnp.logical_not(positive)
    if remove_diagonal:
        positive = positive & ~jnp.eye(*distances.shape, dtype=bool)
    positive_weights = jnp.maximum(margin + distances, 0.0)
    negative_weights = jnp.maximum(1.0 + margin - distances, 0.0)
    positive_scores = -gamma * positive_weights * (margin - distances)
    negative_scores = gamma * negative_weights * (1.0 - margin - distances)
    loss = jax.nn.softplus(
        _masked_logsumexp(positive_scores, positive) + _masked_logsumexp(negative_scores, negative)
    )
    return validation.apply_where(loss, where)
