"""The focal modulating factor ``(1 - p_t) ** gamma`` that every focal form multiplies in.

Python exponents are compiled in and specialised (``gamma = 0`` is 1, a small integer is a
few multiplications); traced ones go through ``exp(gamma * log(1 - p_t))``, with the
callers supplying a ``log(1 - p_t)`` that is finite and accurate. Where ``1 - p_t`` is
exactly 0 the factor is set to its limit, 1 for ``gamma = 0`` and 0 otherwise, so that
neither the factor nor its derivative is ``0 * inf``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import validation

MAX_INTEGER_POWER = 8
"""Static integer exponents up to this are computed by repeated multiplication."""


def is_small_integer(gamma) -> bool:
    """True for a static ``gamma`` computed by repeated multiplication."""
    return float(gamma).is_integer() and gamma <= MAX_INTEGER_POWER


def focal_weight(u: jax.Array, log_u: jax.Array, gamma) -> jax.Array:
    """``u ** gamma`` for ``u`` in [0, 1], with ``log_u`` a finite stand-in for ``log u``.

    ``u = 0`` is handled by the callers through a finite ``log_u`` (and
    :func:`weight_at_zero`); Python exponents are specialised (0 -> 1, small integers ->
    multiplications).

    Example:
      >>> import jax.numpy as jnp
      >>> u = jnp.array([0.5, 0.25])
      >>> focal_weight(u, jnp.log(u), 2), focal_weight(u, jnp.log(u), jnp.asarray(0.5))
      (Array([0.25  , 0.0625], dtype=float32), Array([0.70710677, 0.5       ], dtype=float32))
    """
    if validation.is_static_number(gamma):
        if gamma == 0:
            return jnp.ones_like(u)
        if is_small_integer(gamma):
            return lax.integer_pow(u, int(gamma))
    return jnp.exp(gamma * log_u)


def weight_at_zero(weight: jax.Array, is_zero: jax.Array, gamma) -> jax.Array:
    """Replace ``(1 - p) ** gamma`` by its exact value where ``1 - p`` is 0.

    Example:
      >>> import jax.numpy as jnp
      >>> weight_at_zero(jnp.array([0.3, 0.3]), jnp.array([False, True]), 2.0)
      Array([0.3, 0. ], dtype=float32)
    """
    if validation.is_static_number(gamma):
        at_zero = 1.0 if gamma == 0 else 0.0
    else:
        at_zero = jnp.where(gamma == 0, 1.0, 0.0).astype(weight.dtype)
    return jnp.where(is_zero, jnp.asarray(at_zero, weight.dtype), weight)


def power(base: jax.Array, gamma) -> jax.Array:
    """``base ** gamma`` with a finite gradient where ``base`` is 0 (taken as 0 there), for
    the probability forms, whose ``1 - p_t`` comes from a clipped probability.

    Example:
      >>> import jax.numpy as jnp
      >>> power(jnp.array([0.0, 0.5]), 2.0), power(jnp.array([0.0, 0.5]), 0.0)
      (Array([0.  , 0.25], dtype=float32), Array([1., 1.], dtype=float32))
    """
    is_zero = base == 0
    safe = jnp.where(is_zero, jnp.ones((), base.dtype), base)
    at_zero = (jnp.asarray(gamma) == 0).astype(base.dtype)
    return jnp.where(is_zero, at_zero, jnp.power(safe, gamma))


def split_gamma(gamma, dtype) -> tuple:
    """``(gamma_static, gamma_array)``: a Python ``gamma`` goes to the kernel as a static
    argument (compiled in), an array one as a ``dtype`` array (traced, differentiable).

    Example:
      >>> import jax.numpy as jnp
      >>> split_gamma(2.0, jnp.float32), split_gamma(jnp.asarray(2), jnp.float32)[1].dtype
      ((2.0, None), dtype('float32'))
    """
    if validation.is_static_number(gamma):
        return gamma, None
    return None, jnp.asarray(gamma).astype(dtype)


def sum_to_shape(x: jax.Array, shape: tuple) -> jax.Array:
    """Sum a broadcast cotangent back to the shape of the value that was broadcast (an
    ``alpha`` array's gradient).

    Example:
      >>> import jax.numpy as jnp
      >>> sum_to_shape(jnp.ones((2, 3)), (1, 3))
      Array([[2., 2., 2.]], dtype=float32)
    """
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and x.shape[lead + i] != 1
    )
    return jnp.sum(x, axis=axes, keepdims=False).reshape(shape) if axes else x.reshape(shape)
