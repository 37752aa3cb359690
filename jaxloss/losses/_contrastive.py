"""Contrastive losses of paired embeddings: CLIP's softmax form and SigLIP's sigmoid form.

``y_pred`` holds the model's embeddings (the queries, ``[batch, features]``) and ``y_true``
the embeddings they are paired with (the keys: row ``i`` is the positive of row ``i``, every
other row a negative). The numbers come from :mod:`jaxloss._src.contrastive`.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> y = jnp.array([[1.0, 0.0], [0.0, 1.0]])
>>> losses.Contrastive(temperature=1.0)(y, y)
Array(0.31326163, dtype=float32)
>>> losses.SigmoidContrastive(scale=1.0, bias=0.0, reduction="none")(y, y)
Array([1.0064089, 1.0064089], dtype=float32)
"""

from __future__ import annotations

import jax

from jaxloss._src.contrastive import infonce, sigmoid
from jaxloss.losses._base import LossFunctionWrapper, as_float_array, constructor_arguments
from jaxloss.losses._registry import register


def _embeddings(y_true, y_pred):
    y_pred = as_float_array(y_pred)
    return as_float_array(y_true, y_pred.dtype), y_pred


@register
def contrastive(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    temperature: float = 0.07,
    symmetric: bool = True,
) -> jax.Array:
    """CLIP's contrastive loss of the embeddings ``y_pred`` against their pairs ``y_true``,
    one value per example (see :func:`jaxloss.contrastive_loss`)."""
    y_true, y_pred = _embeddings(y_true, y_pred)
    return infonce.contrastive_loss(y_pred, y_true, temperature=temperature, symmetric=symmetric)


@register
def sigmoid_contrastive(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    scale: float = 10.0,
    bias: float = -10.0,
) -> jax.Array:
    """SigLIP's sigmoid loss of the embeddings ``y_pred`` against their pairs ``y_true``,
    one value per example (see :func:`jaxloss.sigmoid_contrastive_loss`)."""
    y_true, y_pred = _embeddings(y_true, y_pred)
    return sigmoid.sigmoid_contrastive_loss(y_pred, y_true, scale=scale, bias=bias)


@register
class Contrastive(LossFunctionWrapper):
    """CLIP's (``symmetric=True``) or InfoNCE's contrastive loss: :func:`contrastive` per
    example; the default reduction gives the papers' mean."""

    couples_examples = True  # every row is compared with every other

    def __init__(
        self,
        temperature=0.07,
        symmetric=True,
        reduction="sum_over_batch_size",
        name="contrastive",
        dtype=None,
    ):
        super().__init__(contrastive, **constructor_arguments(locals()))


@register
class SigmoidContrastive(LossFunctionWrapper):
    """SigLIP's sigmoid loss: :func:`sigmoid_contrastive` per example; the default reduction
    gives the paper's mean."""

    couples_examples = True  # every row is compared with every other

    def __init__(
        self,
        scale=10.0,
        bias=-10.0,
        reduction="sum_over_batch_size",
        name="sigmoid_contrastive",
        dtype=None,
    ):
        super().__init__(sigmoid_contrastive, **constructor_arguments(locals()))
