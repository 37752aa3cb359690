"""Losses between distributions and counts: KL divergence and Poisson.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> losses.KLDivergence()(jnp.array([[0.5, 0.5]]), jnp.array([[0.25, 0.75]]))
Array(0.14384103, dtype=float32)
>>> losses.poisson(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 2.0]]))
Array([1.5], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import divergence
from jaxloss.losses._base import EPSILON, LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register(aliases=("kld", "KLD", "kullback_leibler_divergence"))
def kl_divergence(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [1e-7, 1]."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return divergence.kl_divergence(y_pred, y_true, epsilon=EPSILON)


@register
def poisson(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``y_pred - y_true * log(y_pred + 1e-7)``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(divergence.poisson_loss(y_pred, y_true, epsilon=EPSILON), axis=-1)


@register
class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence ``KL(y_true || y_pred)``: :func:`kl_divergence` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, **constructor_arguments(locals()))


@register
class Poisson(LossFunctionWrapper):
    """Poisson negative log-likelihood of counts: :func:`poisson` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, **constructor_arguments(locals()))
