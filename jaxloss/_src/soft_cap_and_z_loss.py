"""Two options of the softmax cross-entropies, written once: logit soft-capping and the z-loss.

- Soft-capping (Gemma 2): the logits become ``z = c tanh(x / c)`` before the softmax, so
  that none exceeds ``c`` in size; its derivative is ``1 - (z / c)**2``. A ``-inf`` logit
  stays ``-inf`` (a masked class stays masked).
- The z-loss (PaLM): ``z_loss * logsumexp(z)**2`` is added to each example's loss, which
  keeps the softmax's normaliser near 1; its gradient is ``2 z_loss logsumexp(z) softmax(z)``.

:func:`jaxloss.fused_linear_cross_entropy`, :func:`jaxloss.softmax_cross_entropy` and
:func:`jaxloss.sparse_softmax_cross_entropy` take them as ``z_loss=`` and
``logit_soft_cap=``, checked by :func:`check_z_loss_and_soft_cap`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import validation


def static_float(name: str, value) -> float:
    """A hyperparameter that shapes the computation: it must be a concrete Python number.

    Example:
      >>> static_float("z_loss", 1)
      1.0
    """
    if validation.is_traced(value):
        raise ValueError(
            f"`{name}` must be a concrete number, not a traced value (got {value!r}); "
            "pass it as a static argument of `jax.jit`."
        )
    return float(value)


def check_z_loss_and_soft_cap(z_loss, logit_soft_cap) -> tuple[float, float | None]:
    """``(z_loss, logit_soft_cap)`` as Python floats; ``ValueError`` for a negative ``z_loss``
    or a ``logit_soft_cap`` that is not above 0 (``None`` leaves the logits as they are).

    Example:
      >>> check_z_loss_and_soft_cap(1e-4, None), check_z_loss_and_soft_cap(0, 30)
      ((0.0001, None), (0.0, 30.0))
    """
    z_loss = static_float("z_loss", z_loss)
    validation.check_non_negative("z_loss", z_loss)
    if logit_soft_cap is not None:
        logit_soft_cap = static_float("logit_soft_cap", logit_soft_cap)
        validation.check_positive("logit_soft_cap", logit_soft_cap)
    return z_loss, logit_soft_cap


def soft_cap(logits: jax.Array, cap: float) -> jax.Array:
    """``c tanh(x / c)``; ``-inf`` stays ``-inf``, so that a masked class stays masked.

    Example:
      >>> import jax.numpy as jnp
      >>> soft_cap(jnp.array([0.0, 30.0, -jnp.inf]), 10.0)
      Array([0.      , 9.950547,     -inf], dtype=float32)
    """
    capped = cap * jnp.tanh(logits / cap)
    return jnp.where(jnp.isneginf(logits), logits, capped)


def soft_cap_derivative(capped: jax.Array, cap: float) -> jax.Array:
    """``d z / d x = 1 - (z / c)**2`` from the capped logits ``z``; 0 at ``z = -inf``.

    Example:
      >>> import jax.numpy as jnp
      >>> soft_cap_derivative(jnp.array([0.0, 5.0, -jnp.inf]), 10.0)
      Array([1.  , 0.75, 0.  ], dtype=float32)
    """
    ratio = jnp.maximum(capped, -cap) / cap
    return 1.0 - ratio * ratio


def z_loss_term(log_sum_exp: jax.Array, z_loss: float) -> jax.Array:
    """``z_loss * logsumexp**2``, each example's z-loss.

    Example:
      >>> import jax.numpy as jnp
      >>> z_loss_term(jnp.array([2.0]), 1e-4)
      Array([0.0004], dtype=float32)
    """
    return z_loss * jnp.square(log_sum_exp)


def z_loss_softmax_scale(log_sum_exp: jax.Array, z_loss: float) -> jax.Array:
    """``2 z_loss logsumexp``: the z-loss's gradient with respect to the logits is this times
    the softmax, so a kernel adds it to the factor its softmax is already multiplied by.

    Example:
      >>> import jax.numpy as jnp
      >>> z_loss_softmax_scale(jnp.array([2.0]), 1e-4)
      Array([0.0004], dtype=float32)
    """
    return (2.0 * z_loss) * log_sum_exp
