"""Scale-free regression errors: mean absolute percentage and mean squared logarithmic.

Each function gives one value per example (the mean over the last axis); the numbers
come from :mod:`jaxloss._src.relative_error`, clipped with ``1e-7`` as in Keras.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> losses.mean_absolute_percentage_error(jnp.array([[2.0, 4.0]]), jnp.array([[1.0, 5.0]]))
Array([37.5], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import relative_error
from jaxloss.losses._base import EPSILON, LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register(aliases=("mape", "MAPE"))
def mean_absolute_percentage_error(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike
) -> jax.Array:
    """Mean over the last axis of ``100 |y_true - y_pred| / max(|y_true|, 1e-7)``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    errors = relative_error.absolute_percentage_error(y_pred, y_true, epsilon=EPSILON)
    return jnp.mean(errors, axis=-1)


@register(aliases=("msle", "MSLE"))
def mean_squared_logarithmic_error(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike
) -> jax.Array:
    """Mean over the last axis of ``(log1p(max(y_pred, 1e-7)) - log1p(max(y_true, 1e-7)))**2``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    errors = relative_error.squared_logarithmic_error(y_pred, y_true, epsilon=EPSILON)
    return jnp.mean(errors, axis=-1)


@register
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute percentage error: :func:`mean_absolute_percentage_error` per example."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_absolute_percentage_error",
        dtype=None,
    ):
        super().__init__(mean_absolute_percentage_error, **constructor_arguments(locals()))


@register
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared logarithmic error: :func:`mean_squared_logarithmic_error` per example."""

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="mean_squared_logarithmic_error",
        dtype=None,
    ):
        super().__init__(mean_squared_logarithmic_error, **constructor_arguments(locals()))
