"""Hinge losses for margin classifiers: hinge, squared hinge, categorical hinge.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> losses.hinge(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.5]]))  # 0/1 labels become -1/+1
Array([1.], dtype=float32)
>>> losses.CategoricalHinge()(jnp.array([[0.0, 1.0, 0.0]]), jnp.array([[0.2, 0.5, 0.9]]))
Array(1.4, dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import hinge as hinge_kernels
from jaxloss.losses._base import LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


def _to_signs(y_true: jax.Array) -> jax.Array:
    """Keras's rule: if every label is 0 or 1, map them to -1/+1; otherwise leave them."""
    binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(binary, 2.0 * y_true - 1.0, y_true)


@register
def hinge(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``max(1 - y_true * y_pred, 0)``; 0/1 labels become -1/+1."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(hinge_kernels.hinge_loss(y_pred, _to_signs(y_true)), axis=-1)


@register
def squared_hinge(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``max(1 - y_true * y_pred, 0) ** 2``; 0/1 labels become -1/+1."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(hinge_kernels.squared_hinge_loss(y_pred, _to_signs(y_true)), axis=-1)


@register
def categorical_hinge(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return hinge_kernels.categorical_hinge_loss(y_pred, y_true)


@register
class Hinge(LossFunctionWrapper):
    """Hinge loss: :func:`hinge` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, **constructor_arguments(locals()))


@register
class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss: :func:`squared_hinge` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, **constructor_arguments(locals()))


@register
class CategoricalHinge(LossFunctionWrapper):
    """Multi-class hinge loss on one-hot labels: :func:`categorical_hinge` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, **constructor_arguments(locals()))
