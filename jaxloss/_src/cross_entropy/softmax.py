"""Softmax cross-entropy with dense (one-hot or soft) labels.

The kernel saves two numbers per row, ``m`` and ``L`` (:mod:`jaxloss._src.softmax_rows`), and
computes the terms linear in the logits from ``(logits - m) / 2`` so that a row spanning
float32's whole range gives the exact loss or ``inf``, never NaN.
"""
# pyright: reportPossiblyUnboundVariable=false
# (the kernel binds some statistics under a flag and reads them under the same flag, or one
# it implies: `precise` for `around_label`, `smoothed`, `z_loss`, which pyright cannot follow)

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, soft_cap_and_z_loss, softmax_rows, validation
from jaxloss._src.label_smoothing import cast_and_smooth
from jaxloss._src.platform import per_platform

__all__ = ["softmax_cross_entropy"]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6))
def _softmax_cross_entropy_kernel(logits, labels, mask, axis, precise, z_loss, soft_cap):
    """The loss alone (not differentiated), with one product per class.

    :func:`_one_product_row_losses` is what XLA:CPU fuses with the row statistics into one
    pass. The rows it cannot give (``0 * inf``, a label on ``-inf``, a row spanning more
    than float32's range) are rare: only when the batch holds one does the forward pass's
    exact form run, under a ``lax.cond`` whose operands are the kernel's inputs, never a
    logits-sized intermediate. The differentiated forward pass reads the standard row
    statistics (its residuals: the fused ones, as outputs, no longer fused into one pass
    and were measured slower there) and forms the loss from the labelled half gaps
    (:func:`_gap_row_losses`). Rows of fewer than ``_NARROW_ROWS`` classes take
    :func:`_narrow_row_losses` in both, without a guard (default precision).
    """
    capped = _capped(logits, soft_cap)
    labels = _labels_read_once(labels)
    if jnp.shape(capped)[axis] < _NARROW_ROWS and not precise:
        loss, row_max, log_sum_exp, _ = _narrow_row_losses(capped, labels, mask, axis)
        return _with_z_loss(loss, row_max, log_sum_exp, z_loss, axis)
    row_max, log_sum_exp = _fused_row_statistics(capped, mask, axis, precise)
    loss = _one_product_row_losses(capped, labels, row_max, log_sum_exp, axis)

    def fast(logits, labels):
        del logits, labels
        settled_max, settled_lse = softmax_rows.empty_rows_to_zero(row_max, log_sum_exp)
        return _with_z_loss(loss, settled_max, settled_lse, z_loss, axis)

    def exact(logits, labels):
        capped = _capped(logits, soft_cap)
        exact_max, exact_lse = softmax_rows.row_statistics(capped, mask, axis, precise)
        exact_loss = _exact_row_losses(capped, labels, exact_max, exact_lse, axis)
        return _with_z_loss(exact_loss, exact_max, exact_lse, z_loss, axis)

    return lax.cond(jnp.all(jnp.isfinite(loss)), fast, exact, logits, labels)


def _one_product_row_losses(capped, labels, row_max, log_sum_exp, axis):
    """``sum_c y_c (m + L - x_c)`` per row (keepdims): one product per class, as optax and
    PyTorch form it.

    Exact wherever it is finite. It is not finite for a row with a label 0 on a ``-inf``
    logit (``0 * inf``), a label on a ``-inf`` logit, or a row spanning more than float32's
    range (``m + L - x`` overflows). The logits are read unmasked: a masked class has
    label 0 and a finite logit, so it adds 0 without a select, which XLA:CPU's fused row
    sums do not take.
    """
    # m + L - x as (c - x) + e, with c = m + L rounded and e its rounding error (TwoSum),
    # so that the classes near the max keep L's precision. The per-class work reads c and
    # e, not m, which the row statistics' passes read too: a row value broadcast into two
    # fused passes was materialised as a logits-sized array.
    upper = row_max + log_sum_exp
    kept_max = upper - log_sum_exp
    error = (row_max - kept_max) + (log_sum_exp - (upper - kept_max))
    return jnp.sum(labels * ((upper - capped) + error), axis=axis, keepdims=True)


def _narrow_row_losses(capped, labels, mask, axis):
    """``(loss, m, L, sum(y))`` per row (keepdims) for rows of fewer than ``_NARROW_ROWS``
    classes, exact for every row, in two passes over the logits: the maximum, then one
    reduction carrying ``sum(y)``, the labelled half gaps (see
    :func:`_label_sum_and_weighted_half_gap`) and ``sum(exp(x - m))``.

    XLA:CPU runs a reduction with several accumulators as its own fused loop, since its
    YNNPACK row sums take neither that nor a select, and on narrow rows that loop is the
    faster one: YNNPACK's row sums that broadcast ``m`` into a row of 10 classes were
    several times slower than it (two sums in one loop against two YNNPACK sums).
    """
    row_max = softmax_rows.row_max(capped, mask, axis)
    gaps = softmax_rows.gap_to_max(softmax_rows.masked_logits(capped, mask), row_max)
    weighted = _labelled_half_gap(capped, labels, row_max, narrow=True)
    label_sum, weighted, sum_exp = _row_sums(axis, labels, weighted, jnp.exp(gaps))
    log_sum_exp = softmax_rows.log_of_sum(sum_exp)
    return label_sum * log_sum_exp - weighted - weighted, row_max, log_sum_exp, label_sum


def _gap_row_losses(logits, capped, labels, row_max, log_sum_exp, axis, soft_cap):
    """The loss per row (keepdims) from the given row statistics, and ``sum(y)``:
    ``sum(y) L - 2 sum(y (x - m) / 2)`` (:func:`_label_sum_and_weighted_half_gap`), under a
    finiteness guard whose exact form runs only for a batch that needs it, except on narrow
    rows (``precise``: the others take :func:`_narrow_row_losses`), which need none.
    ``capped`` is ``logits`` soft-capped (or ``logits``)."""
    narrow = jnp.shape(capped)[axis] < _NARROW_ROWS
    label_sum, weighted = _label_sum_and_weighted_half_gap(capped, labels, row_max, axis, narrow)
    loss = label_sum * log_sum_exp - weighted - weighted
    if narrow:
        return loss, label_sum

    def exact(logits, labels):
        capped = _capped(logits, soft_cap)
        return _exact_row_losses(capped, labels, row_max, log_sum_exp, axis)

    fast_loss = loss
    loss = lax.cond(jnp.all(jnp.isfinite(fast_loss)), lambda *_: fast_loss, exact, logits, labels)
    return loss, label_sum


# Rows narrower than this many classes take their row sums in one reduction with several
# accumulators (_narrow_row_losses), the others one YNNPACK row sum each. A static shape
# decides, as XLA:CPU's speeds do: measured for two sums, 65536 x 10 to 16384 x 48, the
# first was faster up to 20 classes, even at 32, slower from 48.
_NARROW_ROWS = 32


def _label_sum_and_weighted_half_gap(capped, labels, row_max, axis, narrow):
    """``sum(y)`` and ``sum_c y_c (x_c - m) / 2`` per row (keepdims), for the differentiated
    forward pass, whose loss is ``sum(y) L`` minus twice the second: both parts
    non-negative, so exact wherever it is finite, with ``(x - m) / 2`` exact near the max
    and never overflowing, and ``L`` entering per row, after the sums. (The one-product
    form ``sum_c y_c (m + L - x_c)`` broadcast two row values, ``m + L`` and its rounding
    error, into its row sum.)

    ``narrow`` rows (fewer than ``_NARROW_ROWS`` classes) take both sums in one reduction
    carrying two accumulators (see :func:`_narrow_row_losses`), with ``0`` for a class
    whose label is 0 (a select): exact for every row, ``-inf`` where a label is on a
    ``-inf`` logit, so that the loss needs no finiteness guard. Wider rows take two
    YNNPACK row sums, faster there, without the select: a label 0 on a ``-inf`` logit
    gives ``0 * inf`` and the caller recomputes such a batch.
    """
    weighted = _labelled_half_gap(capped, labels, row_max, narrow)
    if not narrow:
        label_sum = jnp.sum(labels, axis=axis, keepdims=True)
        return label_sum, jnp.sum(weighted, axis=axis, keepdims=True)
    return _row_sums(axis, labels, weighted)


def _labelled_half_gap(capped, labels, row_max, narrow):
    """``y (x - m) / 2``, with 0 for a label 0 on narrow rows (a select, see above)."""
    weighted = labels * softmax_rows.half_gap(capped, row_max)
    if not narrow:
        return weighted
    return jnp.where(labels != 0, weighted, jnp.zeros((), weighted.dtype))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _row_sums(axis, *arrays):
    """The sums of ``arrays`` over ``axis`` (keepdims) in one reduction carrying one
    accumulator each; differentiable in both modes (JAX differentiates a variadic
    reduction in neither: its JVP is the plain sums)."""
    zeros = tuple(jnp.zeros((), array.dtype) for array in arrays)
    sums = lax.reduce(arrays, zeros, _add_tuples, (axis,))
    return tuple(jnp.expand_dims(row_sum, axis) for row_sum in sums)


@_row_sums.defjvp
def _row_sums_jvp(axis, primals, tangents):
    sums = functools.partial(jnp.sum, axis=axis, keepdims=True)
    return _row_sums(axis, *primals), tuple(sums(tangent) for tangent in tangents)


def _add_tuples(first, second):
    return tuple(a + b for a, b in zip(first, second, strict=True))


def _exact_row_losses(capped, labels, row_max, log_sum_exp, axis):
    """The loss from quarter gaps, exact or ``inf`` for every row, never NaN (keepdims):
    ``sum(y) L - 4 sum(y (x - m) / 4)``, non-negative parts; masked labels are already 0."""
    label_sum = jnp.sum(labels, axis=axis, keepdims=True)
    half_gap = softmax_rows.half_gap(capped, row_max)
    weighted_gap = jnp.sum(_labelled_quarter_gap(labels, half_gap), axis=axis, keepdims=True)
    return label_sum * log_sum_exp - weighted_gap - weighted_gap - weighted_gap - weighted_gap


def _with_z_loss(row_losses, row_max, log_sum_exp, z_loss, axis):
    """The per-row losses (keepdims) with ``axis`` dropped, plus the z-loss when asked for
    (``row_max``, ``log_sum_exp``: ``0, 0`` for an empty row)."""
    loss = jnp.squeeze(row_losses, axis)
    if z_loss:
        z_term = soft_cap_and_z_loss.z_loss_term(row_max + log_sum_exp, z_loss)
        loss = loss + jnp.squeeze(z_term, axis)
    return _row_losses_apart(loss)


def _row_losses_apart(loss):
    """``loss`` as it is (a NaN stays NaN), through a select, which XLA:CPU's YNNPACK
    fusions do not take: the caller's reduction of the losses (``mean``) is then a plain
    row sum, where it fused the per-row arithmetic before it (``sum(y) L - 2 w``, the
    z-loss) into one YNNPACK reduction to a scalar, several times slower on many rows."""
    return jnp.where(jnp.isnan(loss), jnp.asarray(jnp.nan, loss.dtype), loss)


def _fused_row_statistics(capped, mask, axis, precise):
    """``(m, L)`` for the loss alone: the precise form, or the platform's, fused on a CPU
    (:func:`softmax_rows.fused_two_pass_row_statistics`: an empty row's pair is not
    ``0, 0``, see there; only the z-loss reads them, settled)."""
    if precise:
        return softmax_rows.row_statistics(capped, mask, axis, precise)

    def fused_two_passes(capped, mask):
        return softmax_rows.fused_two_pass_row_statistics(capped, mask, axis)

    def one_pass(capped, mask):
        return softmax_rows.one_pass_row_statistics(capped, mask, axis)

    return per_platform(capped, mask, cpu=fused_two_passes, accelerator=one_pass)


def _labelled_quarter_gap(labels, half_gap):
    """``y q`` with ``q = (x - m) / 4`` from the half gap, taking ``0 * (-inf) = 0`` (a
    ``-inf`` logit with label 0 is a mask) while a label above 0 on a ``-inf`` logit still
    gives ``-inf``.

    ``q >= -largest / 2`` for every finite logit (a row may span float32's whole range), so
    ``q`` is clamped to minus the largest float, and a clamped class with a label adds
    ``-inf`` through its excess beyond three quarters of the largest float (0 for every
    finite logit), scaled until it overflows. Arithmetic only, inside the row sum: a
    select, or a ``lax.cond`` that recomputed such rows, was measured to materialise a
    logits-sized temporary on XLA:CPU.
    """
    largest = float(jnp.finfo(half_gap.dtype).max)
    clamped = jnp.maximum(half_gap * 0.5, -largest)
    excess = jnp.maximum(-0.75 * largest - clamped, 0.0)
    return labels * clamped - jnp.sign(labels) * excess * largest


def _labels_read_once(labels):
    """The labels as one array that every term reads, never recomputed per term.

    Labels built inside the caller's ``jit`` (``jax.nn.one_hot``, smoothing) would otherwise
    be fused into each of the several terms that read them (``sum(y)``, ``y q``, ``sign(y)``
    in the labelled quarter gap); XLA:CPU turns ``one_hot * t`` into a select that its
    row-sum fusion does not take, and so materialised one logits-sized temporary per term
    (for ``jax.value_and_grad`` of one-hot labels, several times the logits' size; one
    with the barrier). A label array passed in is read as it is, at no cost.
    """
    return lax.optimization_barrier(labels)


def _capped(logits, soft_cap):
    return logits if soft_cap is None else soft_cap_and_z_loss.soft_cap(logits, soft_cap)


def _softmax_cross_entropy_fwd(logits, labels, mask, axis, precise, z_loss, soft_cap):
    # Soft-capped, everything below reads z = c tanh(x / c); the backward pass recomputes it
    # from the saved logits rather than keeping a second array of their size.
    capped = _capped(logits, soft_cap)
    labels = _labels_read_once(labels)
    if jnp.shape(capped)[axis] < _NARROW_ROWS and not precise:
        loss, row_max, log_sum_exp, label_sum = _narrow_row_losses(capped, labels, mask, axis)
    else:
        row_max, log_sum_exp = softmax_rows.row_statistics(capped, mask, axis, precise)
        loss, label_sum = _gap_row_losses(
            logits, capped, labels, row_max, log_sum_exp, axis, soft_cap
        )
    loss = _with_z_loss(loss, row_max, log_sum_exp, z_loss, axis)
    residuals = (logits, labels, mask, row_max, log_sum_exp, label_sum)
    return loss, residuals


def _softmax_cross_entropy_bwd(axis, precise, z_loss, soft_cap, residuals, cotangent):
    raw_logits, labels, mask, row_max, log_sum_exp, label_sum = residuals
    logits = _capped(raw_logits, soft_cap)
    cotangent = jnp.expand_dims(cotangent, axis)
    probs = softmax_rows.softmax_from_statistics(logits, mask, row_max, log_sum_exp)
    # The z-loss adds 2 z_loss lse softmax(z): one more term in the softmax's factor.
    softmax_scale = label_sum
    if z_loss:
        z_scale = soft_cap_and_z_loss.z_loss_softmax_scale(row_max + log_sum_exp, z_loss)
        softmax_scale = label_sum + z_scale
    logits_grad = probs * softmax_scale - labels
    if precise:
        # At the max p = 1 / (1 + e) with e = expm1(L) the precise excess, so
        # p sum(y) - y = ((sum(y) - y) - y e) p: no 1 - 1 cancellation as p -> 1.
        at_max = softmax_rows.masked_logits(logits, mask) == row_max
        excess_form = ((label_sum - labels) - labels * jnp.expm1(log_sum_exp)) * jnp.exp(
            -log_sum_exp
        )
        if z_loss:
            excess_form = excess_form + z_scale * jnp.exp(-log_sum_exp)  # p = exp(-L) at the max
        logits_grad = jnp.where(at_max, excess_form, logits_grad)
    logits_grad = cotangent * logits_grad
    if soft_cap is not None:
        logits_grad = logits_grad * soft_cap_and_z_loss.soft_cap_derivative(logits, soft_cap)
    half_gap = softmax_rows.half_gap(logits, row_max)
    labels_grad = cotangent * (log_sum_exp - half_gap - half_gap)
    return logits_grad, labels_grad, None


_softmax_cross_entropy_kernel.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
    precise: bool = False,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy with dense (one-hot or soft) labels.

    .. math::
        \ell = \sum_c y_c \big(\log\textstyle\sum_k e^{x_k} - x_c\big)
             = \Big(\sum_c y_c\Big) L - 2 \sum_c y_c \frac{x_c - m}{2},

        L = \log \sum_k e^{x_k - m}, \qquad m = \max_k x_k

    with ``y`` smoothed as Keras does, ``y (1 - s) + s / C``. Only ``m`` and ``L``
    (one number each per row) are saved for the backward pass
    ``g (softmax(x) sum(y) - y)``.

    With ``logit_soft_cap=c`` the logits are first replaced by ``c tanh(x / c)`` (Gemma 2),
    and ``z_loss`` adds ``z_loss * logsumexp(z)**2`` per example (PaLM; ``z`` the capped
    logits, or the logits), both as :func:`jaxloss.fused_linear_cross_entropy` does (the
    same code for both), inside the same ``custom_vjp``. A
    ``-inf`` logit on a class whose label is 0 is a mask (the loss without that class,
    gradient 0 there); label weight on a ``-inf`` class costs
    ``inf`` (with a finite logit gradient); a ``+inf`` logit gives NaN for its row.

    Args:
      logits: floating array with a class axis.
      labels: floating array of the same shape (rows need not sum to 1).
      axis: the class axis.
      label_smoothing: in ``[0, 1]``; ``C`` counts the unmasked classes.
      where: optional boolean mask broadcastable to ``logits``: masked classes are
        treated exactly as if sliced away; a ``[..., 1]`` mask drops whole examples
        (loss 0, gradient 0).
      precise: compute ``L`` as ``log1p`` of the sum over the classes below the
        maximum, so that a loss below ~1e-6 (one class dominating) keeps float32's
        relative accuracy, and so does the gradient ``1 - p`` at the dominant class.
        Off, as in optax and PyTorch, such losses are accurate to ~1e-7 absolute
        (a loss whose exact value is below ~6e-8 can come out as 0). It costs extra
        work per logit: 1.07 to 2.66× the default's time on a 2-core AMD EPYC
        (``bench/results/precise_cost/cpu.json``; the docs' performance guide).
      z_loss: ``>= 0``, the weight of ``logsumexp**2`` (PaLM uses 1e-4); a Python number.
      logit_soft_cap: ``None`` or a Python number ``c > 0``: the logits become
        ``c tanh(x / c)`` before the softmax (a ``-inf`` logit stays ``-inf``).

    Returns:
      The loss per example: ``logits``'s shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> logits = jnp.array([[2.0, 0.0, -1.0]])
      >>> jaxloss.softmax_cross_entropy(logits, jnp.array([[1.0, 0.0, 0.0]]))
      Array([0.169846], dtype=float32)

    References:
      optax ``softmax_cross_entropy``; Keras ``CategoricalCrossentropy(from_logits=True)``;
      Chowdhery et al., "PaLM", 2022 (z-loss); Gemma Team, "Gemma 2", 2024 (soft cap).
    """
    axis = validation.check_dense_labels("logits", logits, labels, axis, label_smoothing)
    validation.check_precise(precise)
    z_loss, logit_soft_cap = soft_cap_and_z_loss.check_z_loss_and_soft_cap(z_loss, logit_soft_cap)
    logits, labels, mask = cast_and_smooth(logits, labels, label_smoothing, axis, where)
    checks.check_finite("softmax_cross_entropy", "logits", logits, where=mask)
    checks.check_non_negative("softmax_cross_entropy", "labels", labels, where=mask)
    return _softmax_cross_entropy_kernel(
        logits, labels, mask, axis, bool(precise), z_loss, logit_soft_cap
    )
