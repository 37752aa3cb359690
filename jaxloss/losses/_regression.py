"""Regression losses: squared error, absolute error, Huber, log-cosh and quantile.

Each function form gives one value per example (the mean over the last axis);
each class reduces them as :class:`Loss` does.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> y_true = jnp.array([[0.0, 1.0], [2.0, 2.0]])
>>> y_pred = jnp.array([[1.0, 1.0], [2.0, 0.0]])
>>> losses.mean_squared_error(y_true, y_pred)
Array([0.5, 2. ], dtype=float32)
>>> losses.Huber(delta=1.0)(y_true, y_pred)
Array(0.5, dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import regression
from jaxloss.losses._base import LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register(aliases=("mse", "MSE"))
def mean_squared_error(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``(y_true - y_pred) ** 2``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(regression.squared_error(y_pred, y_true), axis=-1)


@register(aliases=("mae", "MAE"))
def mean_absolute_error(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``|y_true - y_pred|``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(regression.absolute_error(y_pred, y_true), axis=-1)


@register
def huber(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, delta: float = 1.0
) -> jax.Array:
    """Mean over the last axis of the Huber loss (quadratic up to ``delta``, then linear)."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(regression.huber_loss(y_pred, y_true, delta=delta), axis=-1)


@register(aliases=("logcosh",))
def log_cosh(y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike) -> jax.Array:
    """Mean over the last axis of ``log(cosh(y_pred - y_true))``, overflow-free."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(regression.log_cosh(y_pred, y_true), axis=-1)


@register
def quantile_loss(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    quantile: float | tuple[float, ...] = 0.5,
) -> jax.Array:
    """Mean over the last axis of the pinball loss ``max(q e, (q - 1) e)``, ``e = y_true -
    y_pred``; ``quantile`` a level in [0, 1], or one level per entry of the last axis."""
    y_true, y_pred = match_pair(y_true, y_pred)
    return jnp.mean(regression.quantile_loss(y_pred, y_true, quantile=quantile), axis=-1)


@register
class MeanSquaredError(LossFunctionWrapper):
    """Mean of squares of errors: :func:`mean_squared_error` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, **constructor_arguments(locals()))


@register
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors: :func:`mean_absolute_error` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, **constructor_arguments(locals()))


@register
class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``: :func:`huber` per example."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, **constructor_arguments(locals()))


@register
class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error: :func:`log_cosh` per example."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, **constructor_arguments(locals()))


@register
class Quantile(LossFunctionWrapper):
    """Quantile (pinball) loss at level(s) ``quantile``: :func:`quantile_loss` per example.

    >>> import jax.numpy as jnp
    >>> from jaxloss import losses
    >>> levels = losses.Quantile(quantile=(0.1, 0.5, 0.9))
    >>> levels(jnp.ones((1, 3)), jnp.zeros((1, 3)))  # each prediction 1 below its target
    Array(0.5, dtype=float32)
    """

    def __init__(
        self, quantile=0.5, reduction="sum_over_batch_size", name="quantile_loss", dtype=None
    ):
        super().__init__(quantile_loss, **constructor_arguments(locals()))
