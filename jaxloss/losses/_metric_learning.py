"""Metric-learning and sequence losses: Circle (embeddings) and CTC (label sequences)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import ctc as ctc_kernels
from jaxloss._src import metric_learning
from jaxloss.losses._base import LossFunctionWrapper, as_float_array
from jaxloss.losses._registry import register


def _labels(y: jax.typing.ArrayLike) -> jax.Array:
    """Class labels as int32 (floats are truncated toward zero, as Keras casts them)."""
    y = jnp.asarray(y)
    return y if jnp.issubdtype(y.dtype, jnp.integer) else y.astype(jnp.int32)


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
    labels = _labels(y_true)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if ref_labels is not None:
        ref_labels = _labels(ref_labels).reshape(-1)
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
def ctc(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """CTC loss of integer label sequences ``y_true`` ``[batch, max_label_length]`` under
    logits ``y_pred`` ``[batch, time, classes]``; class 0 is the blank.

    As in Keras, a sequence's length is its number of non-zero labels (zeros pad the
    end) and every frame of ``y_pred`` counts.
    """
    y_pred = as_float_array(y_pred)
    labels = _labels(y_true)
    if labels.ndim != 2:
        raise ValueError(
            "`y_true` must have shape [batch, max_label_length] (integer labels), "
            f"got y_true.shape={labels.shape}."
        )
    lengths = jnp.sum(labels != 0, axis=1)
    label_paddings = jnp.arange(labels.shape[1])[None, :] >= lengths[:, None]
    return ctc_kernels.ctc_loss(y_pred, labels, label_paddings=label_paddings, blank_id=0)


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
        super().__init__(
            circle,
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )

    def compute_mask(self, y_true, y_pred, losses):
        return losses > 0


@register
class CTC(LossFunctionWrapper):
    """Connectionist temporal classification loss: :func:`ctc` per sequence."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype)
