"""Norms and unit vectors along an axis, exact over the whole floating range.

The similarity and embedding losses read vectors through these two rules:

- :func:`unit_vectors`: ``x / n`` with ``n`` the Euclidean norm combined with a norm
  epsilon ``e`` (``sqrt(||x||**2 + e**2)`` or ``max(||x||, e)``); 0 for a zero vector.
- :func:`p_norm`: ``(sum |x|**p + offset)**(1/p)``; 0, with gradient 0, at a zero vector.
- :func:`cosine`: ``<x / n_x, y / n_y>`` with ``n`` the norm combined with ``e`` by either
  rule of :func:`unit_vectors`, the two unit vectors' inner product.
- :func:`euclidean_distances`: ``sqrt(||x - y||**2 + offset)`` from one ``x`` to several
  ``y``, :func:`p_norm` of ``x - y`` for ``p = 2``.

The first two first multiply the vectors by a power of two (exact) that brings their largest entry
into ``[0.5, 1)``, so that neither ``x**2`` nor ``|x|**p`` overflows or underflows where
the result itself fits; the factor is applied in two halves so that each stays a normal
number. :func:`cosine` forms the plain sums ``<x, x>``, ``<y, y>``, ``<x, y>`` in one pass
and takes the scaled unit vectors only when a squared norm falls outside the range where
the plain form is exact; :func:`euclidean_distances` likewise sums the plain squares and
takes :func:`p_norm` only outside that range.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _power_of_two(exponent: jax.Array, dtype) -> jax.Array:
    """``2**exponent`` for integer exponents of a normal number, built from its bits."""
    info = jnp.finfo(dtype)
    bits = (exponent + (info.maxexp - 1)).astype(_BITS[info.bits]) << info.nmant
    return jax.lax.bitcast_convert_type(bits, dtype)


_BITS = {32: jnp.int32, 64: jnp.int64}


def _scale_factors(largest: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two powers of two whose product is ``2**-e`` for ``largest = m * 2**e``, ``m`` in
    ``[0.5, 1)``; both 1 for a zero, subnormal, infinite or NaN ``largest``.

    Read from the exponent bits (``jnp.frexp`` and ``jnp.ldexp`` take many more operations).
    """
    info = jnp.finfo(largest.dtype)
    biased = jax.lax.bitcast_convert_type(largest, _BITS[info.bits]) >> info.nmant
    special = (biased == 0) | (biased == 2 * info.maxexp - 1)
    exponent = jnp.where(special, 0, biased - (info.maxexp - 2))
    half = -exponent // 2
    return _power_of_two(half, largest.dtype), _power_of_two(-exponent - half, largest.dtype)


def _scaled(x: jax.Array, axis: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``x`` times ``first * second``, the factors that bring its largest entry along
    ``axis`` into ``[0.5, 1)``, and the two factors (constants for autodiff)."""
    largest = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=axis, keepdims=True))
    first, second = _scale_factors(largest)
    return x * first * second, first, second


def _scaled_norm(x: jax.Array, axis: int, norm_epsilon, add_epsilon: bool):
    """The scaled vectors ``s = x * f``, their norm with epsilon ``n * f``, whether the
    norm is the vectors' own (not the floor), and the factors ``f`` as a pair."""
    scaled, first, second = _scaled(x, axis)
    norm = jnp.sqrt(jnp.sum(jnp.square(scaled), axis=axis, keepdims=True))
    root = jnp.asarray(norm_epsilon, x.dtype) * first * second
    if add_epsilon:
        # ``norm >= root`` always holds (NaN aside); a per-vector mask rather than a scalar
        # True lets XLA:CPU fuse the derivative without materialising the unit vectors.
        norm = jnp.hypot(norm, root)
        return scaled, norm, norm >= root, (first, second)
    return scaled, jnp.maximum(norm, root), norm >= root, (first, second)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 3))
def unit_vectors(x: jax.Array, axis: int, norm_epsilon, add_epsilon: bool) -> jax.Array:
    """``x / sqrt(||x||**2 + e**2)`` (``add_epsilon``, PyTorch's cosine rule) or
    ``x / max(||x||, e)`` along ``axis``, for the norm epsilon ``e = norm_epsilon >= 0``.

    A zero vector gives 0, also for ``e = 0``, with derivative 0 there (``t / e`` for
    ``e > 0``). The derivative ``(t - c u <u, t>) / n`` (``c = 0`` where the floor holds) is
    formed from the unit vectors ``u``; its scale ``1 / n`` is capped at the inverse of the smallest
    normal number, so that it stays finite for vectors whose norm is subnormal. NaN or
    infinite entries give NaN for their vector.

    >>> import jax.numpy as jnp
    >>> unit_vectors(jnp.array([[3e-30, 4e-30], [0.0, 0.0]]), -1, 0.0, False)
    Array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    scaled, norm, _, _ = _scaled_norm(x, axis, norm_epsilon, add_epsilon)
    nonzero = norm != 0  # NaN stays NaN
    return jnp.where(nonzero, scaled / jnp.where(nonzero, norm, 1.0), 0.0)


@unit_vectors.defjvp
def _unit_vectors_jvp(axis, add_epsilon, primals, tangents):
    x, norm_epsilon = primals
    tangent, _ = tangents
    scaled, norm, own_norm, (first, second) = _scaled_norm(x, axis, norm_epsilon, add_epsilon)
    nonzero = norm != 0
    units = jnp.where(nonzero, scaled / jnp.where(nonzero, norm, 1.0), 0.0)
    largest_inverse = 1.0 / jnp.finfo(x.dtype).tiny
    inverse_norm = jnp.minimum(first / jnp.where(nonzero, norm, 1.0) * second, largest_inverse)
    inverse_norm = jnp.where(nonzero, inverse_norm, 0.0)
    along = jnp.where(own_norm, jnp.sum(units * tangent, axis=axis, keepdims=True), 0.0)
    return units, (tangent - units * along) * inverse_norm


def p_norm(x: jax.Array, axis: int, p: float, offset=0.0) -> jax.Array:
    """``(sum |x|**p + offset)**(1/p)`` along ``axis`` (the axis dropped), for ``p >= 1``
    (``max |x|`` for ``p = inf``, where ``offset`` must be 0) and ``offset >= 0``.

    The offset enters as one more entry ``offset**(1/p)`` of the vector. A zero result has
    gradient 0 (the subgradient PyTorch's norms take there).

    >>> import jax.numpy as jnp
    >>> p_norm(jnp.array([[3e30, -4e30], [0.0, 0.0]]), -1, 2.0)
    Array([5.e+30, 0.e+00], dtype=float32)
    """
    if p == float("inf"):
        largest = jnp.max(jnp.abs(x), axis=axis)
        return jnp.where(largest != 0, largest, jnp.zeros((), x.dtype))  # jnp.abs' = 1 at 0
    magnitude = jnp.abs(x)
    extra = jnp.power(jnp.asarray(offset, x.dtype), 1.0 / p)
    largest = jnp.maximum(jnp.max(magnitude, axis=axis, keepdims=True), extra)
    first, second = _scale_factors(jax.lax.stop_gradient(largest))
    power_sum = jnp.sum(jnp.power(magnitude * first * second, p), axis=axis, keepdims=True)
    power_sum = power_sum + jnp.power(extra * first * second, p)
    nonzero = power_sum != 0  # NaN stays NaN
    norm = jnp.power(jnp.where(nonzero, power_sum, 1.0), 1.0 / p) / first / second
    return jnp.squeeze(jnp.where(nonzero, norm, 0.0), axis=axis)


# Squared norms in [2**-60, 2**100] keep every plain sum and quotient of :func:`cosine`
# (and of its gradient) a normal float32: the squares that underflow add less than
# n * 2**-126 to a sum of at least 2**-60, and the norms' products stay within 2**+-100.
_PLAIN_SQUARED_NORMS = (2.0**-60, 2.0**100)


def _inside_plain_range(squared_norm: jax.Array) -> jax.Array:
    """Elementwise: the squared norm lies in ``_PLAIN_SQUARED_NORMS``."""
    low, high = _PLAIN_SQUARED_NORMS
    return (squared_norm >= low) & (squared_norm <= high)


def _plain_range(squared_norm: jax.Array, x: jax.Array, axis: int, zero_allowed: bool):
    """Whether every squared norm lies in the plain range (or, ``zero_allowed``, belongs to
    an exactly zero vector)."""
    inside = _inside_plain_range(squared_norm)
    if zero_allowed:
        inside = inside | ~jnp.any(x != 0, axis=axis, keepdims=True)
    return jnp.all(inside)


def _plain_fits(sums, x, y, axis, norm_epsilon, add_epsilon: bool, zero_allowed: bool):
    """Whether the plain form of :func:`cosine` is exact: both vectors' own squared norms
    in the plain range (or zero vectors, ``zero_allowed``) and, with ``add_epsilon``, also
    the squared norms ``||x||**2 + e**2`` (or 0 for ``e = 0``)."""
    fits = (_plain_range(sums[0], x, axis, zero_allowed)
            & _plain_range(sums[1], y, axis, zero_allowed))
    if add_epsilon:
        for own in sums[:2]:
            squared = own + norm_epsilon * norm_epsilon
            fits = fits & jnp.all(_inside_plain_range(squared)
                                  | ((squared == 0) & (norm_epsilon == 0)))
    return fits


def _plain_sums(x, y, axis):
    return (jnp.sum(x * x, axis=axis, keepdims=True), jnp.sum(y * y, axis=axis, keepdims=True),
            jnp.sum(x * y, axis=axis, keepdims=True))


def _plain_norm(squared, norm_epsilon, add_epsilon: bool):
    """``sqrt(squared + e**2)`` (``add_epsilon``) or ``max(sqrt(squared), e)``."""
    if add_epsilon:
        return jnp.sqrt(squared + norm_epsilon * norm_epsilon)
    return jnp.maximum(jnp.sqrt(squared), norm_epsilon)


def _plain_cosine(sums, norm_epsilon, add_epsilon: bool):
    """The cosine from the plain sums, the two norms and where a norm is 0."""
    xx, yy, xy = sums
    norm_x = _plain_norm(xx, norm_epsilon, add_epsilon)
    norm_y = _plain_norm(yy, norm_epsilon, add_epsilon)
    zero = (norm_x == 0) | (norm_y == 0)
    value = jnp.where(zero, 0.0, xy / jnp.where(zero, 1.0, norm_x) / jnp.where(zero, 1.0, norm_y))
    return value, norm_x, norm_y, zero


def _scaled_cosine(x, y, axis, norm_epsilon, add_epsilon: bool):
    return jnp.sum(unit_vectors(x, axis, norm_epsilon, add_epsilon)
                   * unit_vectors(y, axis, norm_epsilon, add_epsilon), axis=axis, keepdims=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 4))
def cosine(
    x: jax.Array, y: jax.Array, axis: int, norm_epsilon: jax.Array, add_epsilon: bool
) -> jax.Array:
    """``<x / n_x, y / n_y>`` along ``axis`` (kept, of size 1), for the norm epsilon
    ``e = norm_epsilon >= 0`` (an array of ``x``'s dtype) and ``n = sqrt(||x||**2 + e**2)``
    (``add_epsilon``, PyTorch's cosine rule) or ``n = max(||x||, e)``, :func:`unit_vectors`'
    two rules; 0, with gradient 0, where a norm is 0.

    When every squared norm lies in ``[2**-60, 2**100]`` or belongs to a zero vector (and,
    with ``add_epsilon``, every ``||x||**2 + e**2`` lies there too, or is 0 with ``e = 0``),
    the cosine is
    ``<x, y> / n_x / n_y`` from the plain sums, and its gradient
    ``y / (n_x n_y) - cos x / n_x**2`` (the second term only where ``n_x`` is not the floor
    ``e``) is formed from the inputs and per-vector numbers alone, so the backward pass
    keeps no vector-sized residual. Otherwise (tiny, huge, infinite or NaN entries) both
    passes take :func:`unit_vectors`, exact over the whole floating range. No gradient
    flows to ``norm_epsilon``.

    >>> import jax.numpy as jnp
    >>> cosine(jnp.array([[3e-30, 4e-30], [1.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 0.0]]),
    ...        -1, jnp.float32(0.0), False)
    Array([[0.6],
           [0. ]], dtype=float32)
    """
    return _cosine_forward(x, y, axis, norm_epsilon, add_epsilon)[0]


def _cosine_forward(x, y, axis, norm_epsilon, add_epsilon):
    sums = _plain_sums(x, y, axis)

    def plain():
        return _plain_cosine(sums, norm_epsilon, add_epsilon)[0], jnp.bool_(True)

    def scaled():
        return _scaled_cosine(x, y, axis, norm_epsilon, add_epsilon), jnp.bool_(False)

    def with_zero_vectors():
        zeros_fit = _plain_fits(sums, x, y, axis, norm_epsilon, add_epsilon, True)
        return jax.lax.cond(zeros_fit, plain, scaled)

    fits = _plain_fits(sums, x, y, axis, norm_epsilon, add_epsilon, False)
    value, took_plain = jax.lax.cond(fits, plain, with_zero_vectors)
    return value, (x, y, norm_epsilon, sums, took_plain)


def _cosine_backward(axis, add_epsilon, residuals, cotangent):
    x, y, norm_epsilon, sums, took_plain = residuals

    def plain():
        value, norm_x, norm_y, zero = _plain_cosine(sums, norm_epsilon, add_epsilon)
        across = jnp.where(zero, 0.0, cotangent / jnp.where(zero, 1.0, norm_x * norm_y))
        if add_epsilon:  # the norm is never the floor alone
            own_x = own_y = ~zero
        else:
            own_x = ~zero & (jnp.sqrt(sums[0]) >= norm_epsilon)
            own_y = ~zero & (jnp.sqrt(sums[1]) >= norm_epsilon)
        along_x = jnp.where(own_x, cotangent * value / norm_x / norm_x, 0.0)
        along_y = jnp.where(own_y, cotangent * value / norm_y / norm_y, 0.0)
        return across * y - along_x * x, across * x - along_y * y

    def scaled():
        return jax.vjp(lambda a, b: _scaled_cosine(a, b, axis, norm_epsilon, add_epsilon),
                       x, y)[1](cotangent)

    grad_x, grad_y = jax.lax.cond(took_plain, plain, scaled)
    return grad_x, grad_y, jnp.zeros_like(norm_epsilon)


cosine.defvjp(_cosine_forward, _cosine_backward)


def euclidean_distances(
    x: jax.Array, others: tuple[jax.Array, ...], axis: int, offset: jax.Array
) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """``sqrt(sum (x - y)**2 + offset)`` along ``axis`` (the axis dropped) from ``x`` to each
    ``y`` of ``others``, for ``offset >= 0`` (an array of ``x``'s dtype): :func:`p_norm` of
    ``x - y`` with ``p = 2``, gradient 0 at 0; and whether the plain form was taken.

    When every ``sum (x - y)**2 + offset`` lies in ``[2**-60, 2**100]`` (then every entry is
    finite) they are the plain sums of squares, one pass over the inputs, and the gradient
    ``(x - y) / d`` is formed from the inputs and the distances alone, one pass for ``x``'s
    (no difference-sized residual); otherwise (tiny, huge, infinite or NaN differences, or
    a zero distance) both passes take :func:`p_norm`.

    >>> import jax.numpy as jnp
    >>> (near, far), plain = euclidean_distances(
    ...     jnp.array([[3.0, 0.0]]), (jnp.array([[0.0, 4.0]]), jnp.array([[1e30, 0.0]])),
    ...     -1, jnp.float32(0.0))
    >>> near, far, plain
    (Array([5.], dtype=float32), Array([1.e+30], dtype=float32), Array(False, dtype=bool))
    """
    power_sums = [jax.lax.stop_gradient(jnp.sum(jnp.square(x - y), axis=axis) + offset)
                  for y in others]
    low, high = _PLAIN_SQUARED_NORMS
    plain = jnp.all(jnp.stack([jnp.all((s >= low) & (s <= high)) for s in power_sums]))
    return _distances(x, tuple(others), tuple(power_sums), plain, offset, axis), plain


def _reference_distances(x, others, offset, axis):
    return tuple(p_norm(x - y, axis, 2.0, offset) for y in others)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _distances(x, others, power_sums, plain, offset, axis):
    return _distances_forward(x, others, power_sums, plain, offset, axis)[0]


def _distances_forward(x, others, power_sums, plain, offset, axis):
    distances = jax.lax.cond(plain, lambda: tuple(jnp.sqrt(s) for s in power_sums),
                             lambda: _reference_distances(x, others, offset, axis))
    return distances, (x, others, distances, plain, offset)


def _distances_backward(axis, residuals, cotangents):
    x, others, distances, plain, offset = residuals

    def plain_gradients():
        scales = [jnp.expand_dims(g / d, axis) for g, d in zip(cotangents, distances)]
        grad_others = tuple(-scale * (x - y) for scale, y in zip(scales, others))
        grad_offset = sum(jnp.sum(g / (2 * d)) for g, d in zip(cotangents, distances))
        return -sum(grad_others), grad_others, grad_offset

    def reference_gradients():
        vjp = jax.vjp(lambda a, b, c: _reference_distances(a, b, c, axis), x, others, offset)[1]
        return vjp(tuple(cotangents))

    grad_x, grad_others, grad_offset = jax.lax.cond(plain, plain_gradients, reference_gradients)
    grad_offset = jnp.reshape(grad_offset, jnp.shape(offset)).astype(offset.dtype)
    return grad_x, grad_others, None, None, grad_offset


_distances.defvjp(_distances_forward, _distances_backward)
