"""Softmax row statistics: per row, the maximum ``m`` and ``L = log(sum(exp(x - m)))``.

A softmax over a class axis needs only these two numbers per row: ``softmax(x) =
exp(x - m - L)`` and ``logsumexp(x) = m + L``. The softmax kernels save them as their
backward pass's residuals. Every function here takes an optional boolean ``mask``, already
broadcast to the logits, and treats masked classes as if they were sliced away; a row with
every class masked gets ``m = 0`` and ``L = 0``. A ``-inf`` logit is a masked class too
(``exp(-inf) = 0``), so a row of nothing but ``-inf`` also gets ``m = 0`` and ``L = 0``; the
guard costs one select per row. Statistics keep the class axis (size 1) unless said otherwise.

The forms, all with the same mathematics:

- :func:`two_pass_row_statistics`: the maximum, then the sum of exponentials. Fastest on
  XLA:CPU, whose vectorised row reductions beat one reduction carrying two accumulators.
- :func:`one_pass_row_statistics` (over :func:`online_row_statistics`): one reduction that
  carries both (the online log-sum-exp), so the logits are read once. Fastest on a GPU or
  TPU, where the passes are bound by memory traffic.
- :func:`fused_two_pass_row_statistics`: the two passes with nothing between the maximum
  and its readers, which XLA:CPU fuses with the reduction that reads them; an empty row's
  pair is not ``0, 0`` (see there).
- :func:`row_max_and_log_sum_exp`: the one of the two above that suits the platform the code
  is compiled for (:mod:`jaxloss._src.platform`).
- :func:`precise_row_statistics`: ``L`` as ``log1p`` of a sum that never holds the dominant
  ``1``, accurate to float32's relative precision even when one class dominates and ``L``
  is tiny (the ``precise=True`` option of the cross-entropies).
- :func:`row_statistics`: the precise or the default form, by a flag.
- :func:`row_max_and_rest`: ``m`` and ``sum(exp(x - m)) - 1`` without cancellation, for
  the kernels that need ``1 - p`` of the dominant class (the softmax focal loss).
- :func:`gap_to_max`: ``x - m`` clamped at 0, the argument of every ``exp`` here, so that
  no fused computation of ``x`` can push ``exp(x - m)`` above 1.

``m`` carries no gradient in the default forms (it cancels out of every formula); the
precise form keeps it (see there).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src.platform import per_platform


def masked_logits(logits: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Masked-out classes become -inf, so that they add nothing to any sum of exponentials."""
    if mask is None:
        return logits
    return jnp.where(mask, logits, jnp.asarray(-jnp.inf, logits.dtype))


def row_max(logits: jax.Array, mask: jax.Array | None, axis: int) -> jax.Array:
    """``m = max(logits)`` over the unmasked classes (keepdims), 0 for a row that is fully
    masked or all ``-inf``. No gradient flows through it.
    """
    return lax.stop_gradient(row_max_with_gradient(logits, mask, axis))


def row_max_with_gradient(logits: jax.Array, mask: jax.Array | None, axis: int) -> jax.Array:
    """As :func:`row_max`, with the maximum's gradient (to the classes at the max)."""
    maximum = jnp.max(masked_logits(logits, mask), axis=axis, keepdims=True)
    return jnp.where(jnp.isneginf(maximum), jnp.zeros((), maximum.dtype), maximum)


def gap_to_max(logits: jax.Array, maximum: jax.Array) -> jax.Array:
    """``x - m``, never above 0, with the gradient of ``x - m``.

    XLA fuses an elementwise producer of the logits (``s * c`` inside the caller's ``jit``)
    into each pass that reads them, and the compiler contracts ``s * c - m`` into one fused
    multiply-add: the unrounded product minus the rounded maximum, up to half an ulp of
    ``m`` above 0 at the max. For logits of scale ``1e9`` that ulp is 64, and ``exp(x - m)``
    was measured to give an infinite loss on XLA:CPU (an optimisation barrier does not
    help: XLA removes it before fusion). Clamped at 0, every ``exp(x - m) <= 1``. A ``-inf``
    logit keeps its gap, a ``+inf`` one its NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> gap_to_max(jnp.array([[1.0, 3.0, -jnp.inf]]), jnp.array([[2.5]]))
      Array([[-1.5,  0. , -inf]], dtype=float32)
    """
    gap = logits - maximum
    # -0.0, not 0.0: XLA:CPU shared a 0.0 broadcast with the kernels' other clamps, and
    # materialised it as a logits-sized array to feed both fused reductions.
    return gap - lax.stop_gradient(jnp.maximum(gap, -0.0))


def log_of_sum(sum_exp: jax.Array) -> jax.Array:
    """``log(sum_exp)``, and 0 for a row that is fully masked or all ``-inf`` (its sum is 0).

    A row with anything unmasked sums to at least 1 (its maximum's ``exp(0)``), so adding
    ``max(1 - sum, 0)`` (without gradient) changes only the empty rows, raising their sum to
    1. Arithmetic, it leaves XLA:CPU's fusion of the row sum alone, where a select on
    ``sum > 0`` (or adding ``sum == 0``) was measured to materialise a logits-sized
    temporary; and unlike a floor ``max(sum, 1)`` its gradient is 1 also at a sum of
    exactly 1 (one class), not the half a tie gets.
    """
    shortfall = lax.stop_gradient(jnp.maximum(1.0 - sum_exp, 0.0))
    return jnp.log(sum_exp + shortfall)


def active_rows(mask: jax.Array, axis: int) -> jax.Array:
    """True for rows with at least one unmasked class (keepdims)."""
    return jnp.any(mask, axis=axis, keepdims=True)


def half_gap(logits: jax.Array, maximum: jax.Array) -> jax.Array:
    """``(logits - m) / 2``, which cannot overflow even for a row spanning -3.4e38..3.4e38."""
    return logits * 0.5 - maximum * 0.5


def softmax_from_statistics(
    logits: jax.Array, mask: jax.Array | None, maximum: jax.Array, log_sum_exp: jax.Array
) -> jax.Array:
    """Softmax over the unmasked classes, 0 at masked ones; finite for every finite row.

    Written as ``exp(logits - m) * exp(-L)`` so that, when the forward and backward
    passes are compiled together, XLA computes ``exp(logits - m)`` once for both.
    """
    return jnp.exp(gap_to_max(masked_logits(logits, mask), maximum)) * jnp.exp(-log_sum_exp)


def two_pass_row_statistics(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)``: the maximum in one pass over the row, the sum of exponentials in a second."""
    maximum = row_max(logits, mask, axis)
    gaps = gap_to_max(masked_logits(logits, mask), maximum)
    sum_exp = jnp.sum(jnp.exp(gaps), axis=axis, keepdims=True)
    return maximum, log_of_sum(sum_exp)


def one_pass_row_statistics(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)`` in one read of the logits: :func:`online_row_statistics` with the mask."""
    weights = jnp.ones((), logits.dtype) if mask is None else mask.astype(logits.dtype)
    maximum, log_sum_exp = online_row_statistics(masked_logits(logits, mask), weights, axis)
    return jnp.expand_dims(maximum, axis), jnp.expand_dims(log_sum_exp, axis)


def fused_two_pass_row_statistics(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)`` as :func:`two_pass_row_statistics` gives them, with no op between the
    maximum's reduction and the passes that read it, so that XLA:CPU fuses the passes over
    a row (or, where it splits them, broadcasts ``m`` inside each).

    The select that maps an empty row's ``m = -inf`` to 0 split that fusion (its fused
    reductions take no select), and a floor on ``m`` was fused with its broadcast into a
    logits-sized array. So the empty rows differ: a fully masked row gets
    ``m = finfo.min`` (its masked classes enter the maximum as ``finfo.min``, the sum as
    ``-inf``) and ``L = log(finfo.tiny)``; a row of nothing but ``-inf`` without a mask
    gets ``m = -inf`` and ``L = NaN``, which the caller must treat as not finite.
    :func:`empty_rows_to_zero` turns a fully masked row's pair into ``0, 0``. No gradient
    flows through either (the kernels that use this form have their own VJP).

    Example:
      >>> import jax.numpy as jnp
      >>> mask = jnp.array([[True, True], [False, False]])
      >>> m, L = fused_two_pass_row_statistics(jnp.zeros((2, 2)), mask, 1)
      >>> [float(v) for v in empty_rows_to_zero(m, L)[1][:, 0]]
      [0.6931471824645996, 0.0]
    """
    finfo = jnp.finfo(logits.dtype)
    logits = lax.stop_gradient(logits)
    if mask is None:
        maximum = jnp.max(logits, axis=axis, keepdims=True)
    else:
        floored = jnp.where(mask, logits, jnp.asarray(finfo.min, logits.dtype))
        maximum = jnp.max(floored, axis=axis, keepdims=True)
    # min(x - m, 0): the gap clamp of gap_to_max, as a value (no gradient is taken here).
    gaps = jnp.minimum(masked_logits(logits, mask) - maximum, -0.0)
    sum_exp = jnp.sum(jnp.exp(gaps), axis=axis, keepdims=True)
    # A row with anything unmasked sums to at least ~1, which adding tiny leaves as it is.
    return maximum, jnp.log(sum_exp + float(finfo.tiny))


def empty_rows_to_zero(maximum: jax.Array, log_sum_exp: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(m, L)`` of :func:`fused_two_pass_row_statistics` with a fully masked row's pair
    made ``(0, 0)``. A row with a class sums to about 1 or more (``L >= 0``, or a rounding
    below it), a fully masked one has ``L = log(tiny) ~ -87``: ``L < -40`` tells them
    apart. Identity on the statistics of the other forms."""
    empty = log_sum_exp < -40.0
    zero = jnp.zeros((), maximum.dtype)
    return jnp.where(empty, zero, maximum), jnp.where(empty, zero, log_sum_exp)


def row_max_and_log_sum_exp(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)``: two passes over the row on a CPU, one on an accelerator."""

    def two_passes(logits, mask):
        return two_pass_row_statistics(logits, mask, axis)

    def one_pass(logits, mask):
        return one_pass_row_statistics(logits, mask, axis)

    return per_platform(logits, mask, cpu=two_passes, accelerator=one_pass)


def _combine_max_and_sum(first, second):
    """Merge two partial ``(m, sum(w exp(x - m)))`` of a row: the smaller sum is rescaled
    to the larger maximum. Equal maxima (-inf included: empty or fully masked parts) add
    as they are; a gap that overflows rescales by ``exp(-inf) = 0``."""
    (max_a, sum_a), (max_b, sum_b) = first, second
    a_larger = max_a >= max_b
    gap = jnp.where(max_a == max_b, jnp.zeros((), max_a.dtype), -jnp.abs(max_a - max_b))
    larger_sum = jnp.where(a_larger, sum_a, sum_b)
    smaller_sum = jnp.where(a_larger, sum_b, sum_a)
    return jnp.maximum(max_a, max_b), larger_sum + smaller_sum * jnp.exp(gap)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def online_row_statistics(
    logits: jax.Array, weights: jax.Array, axis: int
) -> tuple[jax.Array, jax.Array]:
    """Per row (axis dropped): ``m = max(x)`` and ``log(sum(w exp(x - m)))`` in one read of
    the logits, a reduction that carries both (the online log-sum-exp).

    ``weights`` (1, or 0 at masked classes whose logits are -inf) broadcast to the logits.
    A row with nothing unmasked gets ``m = 0`` and 0. Differentiable through its JVP: ``m``
    carries no gradient (it cancels out of every formula) and ``d log-sum-exp = sum(p dx)``.
    """
    dtype = logits.dtype
    weights = jnp.broadcast_to(weights, logits.shape).astype(dtype)
    maximum, sum_exp = lax.reduce(
        (logits, weights),
        (jnp.asarray(-jnp.inf, dtype), jnp.zeros((), dtype)),
        _combine_max_and_sum,
        (axis,),
    )
    # Empty: fully masked, or all -inf (whose pairs (-inf, 1) would otherwise sum to C).
    empty = jnp.isneginf(maximum)
    maximum = jnp.where(empty, jnp.zeros((), dtype), maximum)
    log_sum_exp = jnp.where(empty, jnp.zeros((), dtype), jnp.log(sum_exp))
    return maximum, log_sum_exp


@online_row_statistics.defjvp
def _online_row_statistics_jvp(axis, primals, tangents):
    logits, weights = primals
    logits_dot, _ = tangents
    maximum, log_sum_exp = online_row_statistics(logits, weights, axis)
    kept = functools.partial(jnp.expand_dims, axis=axis)
    probs = jnp.exp(gap_to_max(logits, kept(maximum)) - kept(log_sum_exp))
    return (maximum, log_sum_exp), (jnp.zeros_like(maximum), jnp.sum(probs * logits_dot, axis))


def precise_row_statistics(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)`` with ``L`` accurate to float32's relative precision even when it is tiny
    (one class dominating the row).

    ``L = log1p((n - 1) + r)``: ``n`` counts the classes at the maximum and ``r`` sums
    ``exp(x - m)`` over the classes below it, so the ``1`` that would swamp ``r`` in
    ``sum(exp(x - m))`` never enters a float32 sum. ``sign(x - m)`` (0 at the max, -1
    below, also for masked classes at ``-inf``) picks the classes: XLA:CPU vectorises it in
    a row reduction, where a ``where``/``select`` made the reduction several times slower.
    """
    # Here m keeps its gradient: the classes at the max are left out of the sum (their
    # exp(x - m) = 1 is counted instead), so the max's own derivative must come through m.
    maximum = row_max_with_gradient(logits, mask, axis)
    gap = gap_to_max(masked_logits(logits, mask), maximum)
    below_max = jnp.sign(gap)
    count = jnp.sum(1 + below_max, axis=axis, keepdims=True)
    rest = jnp.sum(-below_max * jnp.exp(gap), axis=axis, keepdims=True)
    # (count - 1) + rest >= 0 unless the row is empty (count 0): lifted to 0 there, L = 0
    # (as in log_of_sum, without gradient and without a select).
    excess = (count - 1) + rest
    return maximum, jnp.log1p(excess + lax.stop_gradient(jnp.maximum(-excess, 0.0)))


def row_statistics(
    logits: jax.Array, mask: jax.Array | None, axis: int, precise: bool
) -> tuple[jax.Array, jax.Array]:
    """``(m, L)`` in the precise form when ``precise``, else in the platform's default form."""
    if precise:
        return precise_row_statistics(logits, mask, axis)
    return row_max_and_log_sum_exp(logits, mask, axis)


def finite_row_max(logits: jax.Array, mask: jax.Array | None, axis: int) -> jax.Array:
    """``m = max(logits)`` over the unmasked classes (keepdims), 0 where that is not finite.

    Unlike :func:`row_max_with_gradient`, a row whose maximum is ``-inf`` (fully masked, or
    all ``-inf`` without a mask), ``+inf`` or NaN gets 0 also without a mask, so that ``x - m``
    is never ``-inf - (-inf)``. The maximum's gradient flows to the classes at the max.

    Example:
      >>> import jax.numpy as jnp
      >>> finite_row_max(jnp.array([[1.0, 3.0], [-jnp.inf, -jnp.inf]]), None, axis=1)
      Array([[3.],
             [0.]], dtype=float32)
    """
    maximum = jnp.max(masked_logits(logits, mask), axis=axis, keepdims=True)
    return jnp.where(jnp.isfinite(maximum), maximum, jnp.zeros((), logits.dtype))


def row_max_and_rest(
    logits: jax.Array, mask: jax.Array | None, axis: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(m, rest, L, 1 / (1 + rest))``, accurate when one class dominates the row.

    ``rest = sum(exp(x - m)) - 1`` is computed without cancellation: the number of other
    classes tied at the max plus the sum over the classes below it, so that ``1 - p`` of
    the class at the max is ``rest / (1 + rest)`` to full relative precision. ``m`` is
    :func:`finite_row_max`; ``L = log1p(rest)``. A fully masked row gets ``rest = 0``.

    Example:
      >>> import jax.numpy as jnp
      >>> maximum, rest, log_sum_exp, inv_sum = row_max_and_rest(
      ...     jnp.array([[0.0, -20.0, -20.0]]), None, axis=1
      ... )
      >>> rest
      Array([[4.1223074e-09]], dtype=float32)
    """
    zero = jnp.zeros((), logits.dtype)
    masked = masked_logits(logits, mask)
    maximum = finite_row_max(masked, None, axis)  # masked already
    gap = gap_to_max(masked, maximum)
    at_max = gap == 0
    num_max = jnp.sum(at_max.astype(logits.dtype), axis=axis, keepdims=True)
    below = jnp.sum(jnp.where(at_max, zero, jnp.exp(gap)), axis=axis, keepdims=True)
    # A fully masked row has no max: give it rest = 0 so that nothing below is NaN.
    rest = jnp.where(num_max > 0, (num_max - 1) + below, zero)
    return maximum, rest, jnp.log1p(rest), 1 / (1 + rest)
