"""The connectionist temporal classification (CTC) loss of label sequences.

The numbers come from :mod:`jaxloss._src.ctc`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import ctc as ctc_kernels
from jaxloss.losses._base import LossFunctionWrapper, as_float_array, constructor_arguments
from jaxloss.losses._labels import integer_labels
from jaxloss.losses._registry import register


@register
def ctc(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """CTC loss of integer label sequences ``y_true`` ``[batch, max_label_length]`` under
    logits ``y_pred`` ``[batch, time, classes]``; class 0 is the blank.

    As in Keras, a sequence's length is its number of non-zero labels (zeros pad the
    end) and every frame of ``y_pred`` counts.
    """
    y_pred = as_float_array(y_pred)
    labels = integer_labels(y_true)
    if labels.ndim != 2:
        raise ValueError(
            "`y_true` must have shape [batch, max_label_length] (integer labels), "
            f"got y_true.shape={labels.shape}."
        )
    lengths = jnp.sum(labels != 0, axis=1)
    label_paddings = jnp.arange(labels.shape[1])[None, :] >= lengths[:, None]
    return ctc_kernels.ctc_loss(y_pred, labels, label_paddings=label_paddings, blank_id=0)


@register
class CTC(LossFunctionWrapper):
    """Connectionist temporal classification loss: :func:`ctc` per sequence."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, **constructor_arguments(locals()))
