"""Metric-learning losses on embeddings: negative cosine similarity and Circle.

The numbers come from :mod:`jaxloss._src.metric_learning`.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> y_true = jnp.array([[0.0, 1.0], [2.0, 2.0]])
>>> y_pred = jnp.array([[1.0, 1.0], [2.0, 0.0]])
>>> losses.CosineSimilarity(reduction="none")(y_true, y_pred)
Array([-0.70710677, -0.70710677], dtype=float32)
"""

from __future__ import annotations

import jax

from jaxloss._src import metric_learning
from jaxloss.losses._base import (
    EPSILON,
    LossFunctionWrapper,
    as_float_array,
    constructor_arguments,
    match_pair,
)
from jaxloss.losses._labels import integer_labels
from jaxloss.losses._registry import register


@register
def cosine_similarity(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, axis: int = -1
) -> jax.Array:
    """Negative cosine similarity along ``axis`` (-1: same direction, 0: orthogonal or zero)."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return metric_learning.negative_cosine_similarity(y_pred, y_true, axis=axis, epsilon=EPSILON)


@register
def circle(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    ref_labels: jax.typing.ArrayLike | None = None,
    ref_embeddings: jax.typing.ArrayLike | None = None,
    remove_diagonal: bool = True,
    gamma: float = 80.0,
    margin: float = 0.4,
) -> jax.Array:
    """Circle loss of unit-norm embeddings ``y_pred`` ``[batch, features]`` with labels ``y_true``.

    See :func:`jaxloss.circle_loss`; labels of shape ``[batch, 1]`` are accepted.
    """
    y_pred = as_float_array(y_pred)
    labels = integer_labels(y_true)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if ref_labels is not None:
        ref_labels = integer_labels(ref_labels).reshape(-1)
    if ref_embeddings is not None:
        ref_embeddings = as_float_array(ref_embeddings, y_pred.dtype)
    return metric_learning.circle_loss(
        y_pred,
        labels,
        ref_embeddings=ref_embeddings,
        ref_labels=ref_labels,
        gamma=gamma,
        margin=margin,
        remove_diagonal=remove_diagonal,
    )


@register
class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``: :func:`cosine_similarity` per example."""

    def __init__(
        self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None
    ):
        super().__init__(cosine_similarity, **constructor_arguments(locals()))


@register
class Circle(LossFunctionWrapper):
    """Circle loss: :func:`circle`; queries without positive or negative pairs do not count.

    Only queries with a positive loss enter the reduction (Keras's mask), so the
    default reduction averages over them.
    """

    couples_examples = True  # pairs within the batch

    def __init__(
        self,
        gamma=80.0,
        margin=0.4,
        remove_diagonal=True,
        reduction="sum_over_batch_size",
        name="circle",
        dtype=None,
    ):
        super().__init__(circle, **constructor_arguments(locals()))

    def compute_mask(self, y_true, y_pred, losses):
        return losses > 0
