"""Scale-free regression errors: absolute percentage error and squared log error.

Both are elementwise and clip with ``epsilon`` as Keras does. Half-precision
inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; a ``where`` mask that is not boolean
or does not broadcast to ``predictions``; a negative ``epsilon``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def absolute_percentage_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise absolute percentage error.

    .. math::
        \ell = 100 \, \frac{|t - p|}{\max(|t|, \epsilon)}

    for predictions ``p``, targets ``t`` and ``epsilon`` written :math:`\epsilon`; a
    target of 0 is divided by ``epsilon``, so the loss is large but finite.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape.
      epsilon: lower bound on the denominator.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss in percent, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import absolute_percentage_error
    >>> absolute_percentage_error(jnp.array([1.5, 3.0]), jnp.array([2.0, 4.0]))
    Array([25., 25.], dtype=float32)

    References:
      Keras 3, ``keras.losses.mean_absolute_percentage_error``.
    """
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    checks.check_finite("absolute_percentage_error", "predictions", predictions, where=where)
    checks.check_finite("absolute_percentage_error", "targets", targets, where=where)
    loss = 100.0 * jnp.abs((targets - predictions) / jnp.maximum(jnp.abs(targets), epsilon))
    return validation.apply_where(loss, where)


def squared_logarithmic_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise squared logarithmic error.

    .. math::
        \ell = \big(\log(1 + \max(p, \epsilon)) - \log(1 + \max(t, \epsilon))\big)^2

    for predictions ``p``, targets ``t`` and ``epsilon`` written :math:`\epsilon`,
    computed with ``log1p``. Values below ``epsilon`` (negative ones included) are clipped to ``epsilon``,
    where the gradient is 0. ``log1p`` keeps full precision for small values,
    where ``log(1 + x)`` (Keras) loses it.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape.
      epsilon: lower clipping bound for both arguments.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import squared_logarithmic_error
    >>> squared_logarithmic_error(jnp.array([0.0, 3.0]), jnp.array([0.0, 1.0]))
    Array([0.      , 0.480453], dtype=float32)

    References:
      Keras 3, ``keras.losses.mean_squared_logarithmic_error``.
    """
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    checks.check_finite("squared_logarithmic_error", "predictions", predictions, where=where)
    checks.check_finite("squared_logarithmic_error", "targets", targets, where=where)
    difference = jnp.log1p(jnp.maximum(predictions, epsilon)) - jnp.log1p(
        jnp.maximum(targets, epsilon)
    )
    return validation.apply_where(jnp.square(difference), where)
