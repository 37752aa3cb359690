"""Knowledge distillation: the teacher's logits as ``y_true``, the student's as ``y_pred``.

The numbers come from :mod:`jaxloss._src.distillation`: ``T**2 * KL(softmax(y_true / T) ||
softmax(y_pred / T))`` over the last axis, one value per example. Keras has no such class.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> teacher = jnp.array([[2.0, 0.5, -3.0]])
>>> student = jnp.array([[1.0, 0.0, -1.0]])
>>> losses.distillation(teacher, student, temperature=2.0)
Array([0.33586922], dtype=float32)
>>> losses.Distillation(temperature=2.0)(teacher, student)
Array(0.33586922, dtype=float32)
"""

from __future__ import annotations

import jax
from jax import lax

from jaxloss._src import distillation as kernels
from jaxloss.losses._base import LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register
def distillation(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, temperature: float = 1.0
) -> jax.Array:
    """``T**2 * KL(softmax(y_true / T) || softmax(y_pred / T))`` over the last axis, with the
    teacher's logits ``y_true`` held constant (no gradient flows to them)."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return kernels.distillation_loss(y_pred, lax.stop_gradient(y_true), temperature=temperature)


@register
class Distillation(LossFunctionWrapper):
    """Knowledge-distillation loss at ``temperature`` (Hinton et al.): :func:`distillation`
    per example, ``y_true`` the teacher's logits and ``y_pred`` the student's."""

    def __init__(
        self, temperature=1.0, reduction="sum_over_batch_size", name="distillation", dtype=None
    ):
        super().__init__(distillation, **constructor_arguments(locals()))
