"""Focal losses (Lin et al. 2017): sigmoid, softmax and sparse softmax from logits,
and the Keras probability-space forms.

The logit forms are :func:`jax.custom_vjp` kernels whose forward and backward passes
are closed formulas in log space, written in differentiable ``jax.numpy`` so that
reverse-over-reverse (``jax.grad(jax.grad(f))``, ``jax.jacrev``) works. Forward mode
(``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) is not defined for a ``custom_vjp`` and
raises ``TypeError``; use ``jax.jacrev(jax.jacrev(f))`` for Hessians.

Stability: the focal factor ``(1 - p_t) ** gamma`` is formed from ``log(1 - p_t)``
computed without cancellation, and the gradient is written so that
``gamma * (1 - p_t) ** (gamma - 1)`` (infinite for ``gamma < 1`` as ``p_t -> 1``) never
appears on its own. For every finite input the logit gradient is finite and the loss
is finite unless its true value exceeds the float's range (a softmax whose logits span
more than the largest float, e.g. ``[3e38, -3e38]`` with the label on the small one).

dtypes: float16/bfloat16 inputs are computed in float32 and the loss is float32;
otherwise the loss has the logits' floating dtype. Gradients come back in the
inputs' dtypes. Scalar hyperparameters given as Python numbers are compiled in
(``gamma=2`` becomes a square, not a power); given as arrays they are traced and
differentiable (``jax.grad`` with respect to ``alpha`` or ``gamma`` is exact).

Speed: the softmax focal loss runs over blocks of about 2 MiB of rows in a loop on a CPU, so
that its several elementwise passes stay in cache, and over all rows at once on a GPU or TPU,
where such a loop would launch hundreds of small kernels one after another
(:mod:`jaxloss._src.platform`; 4.6x faster forward+backward on an NVIDIA H200 at
[4096, 32000] than the loop).
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src.platform import per_platform

# Static integer exponents up to this are computed by repeated multiplication.
_MAX_INTEGER_POWER = 8


# --------------------------------------------------------------------------- helpers


def _is_static(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_gamma(gamma) -> None:
    if not _is_static(gamma) and jnp.shape(gamma) != ():
        raise ValueError(f"`gamma` must be a scalar, got shape {jnp.shape(gamma)}.")
    validation.check_non_negative("gamma", gamma)


def _check_alpha(alpha, shape: tuple, what: str) -> None:
    if alpha is None:
        return
    if not _is_static(alpha):
        try:
            broadcast = jnp.broadcast_shapes(jnp.shape(alpha), shape)
        except ValueError:
            broadcast = None
        if broadcast != tuple(shape):
            raise ValueError(
                f"`alpha` of shape {jnp.shape(alpha)} does not broadcast to {what} {tuple(shape)}."
            )
    validation.check_in_interval("alpha", alpha, 0.0, 1.0)


def _as_hyper(value, dtype):
    """Python numbers stay static (compiled in); arrays become ``dtype`` arrays."""
    if value is None or _is_static(value):
        return value
    return jnp.asarray(value).astype(dtype)


def _sum_to_shape(x: jax.Array, shape: tuple) -> jax.Array:
    """Sum a broadcast cotangent back to the shape of the value that was broadcast."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and x.shape[lead + i] != 1
    )
    return jnp.sum(x, axis=axes, keepdims=False).reshape(shape) if axes else x.reshape(shape)


def _focal_weight(u, log_u, gamma):
    """``u ** gamma`` for ``u`` in [0, 1], with ``log_u`` a finite stand-in for ``log u``.

    ``u_is_zero`` cases are handled by the callers through a finite ``log_u``; Python
    exponents are specialised (0 -> 1, small integers -> multiplications).
    """
    if _is_static(gamma):
        if gamma == 0:
            return jnp.ones_like(u)
        if float(gamma).is_integer() and gamma <= _MAX_INTEGER_POWER:
            return lax.integer_pow(u, int(gamma))
    return jnp.exp(gamma * log_u)


def _softmax_rows(logits, mask, axis):
    """Per-row quantities for a softmax along ``axis``, accurate when one class dominates.

    Returns the row max, ``rest`` (``sum(exp(z - max)) - 1`` computed without
    cancellation: the number of other classes tied at the max plus the sum over the
    classes below it), ``log_sum`` (``log1p(rest)``, the log of the softmax denominator)
    and ``inv_sum``, each with ``axis`` kept as size 1.
    """
    zero = jnp.zeros((), logits.dtype)
    masked = (
        logits if mask is None else jnp.where(mask, logits, jnp.asarray(-jnp.inf, logits.dtype))
    )
    row_max = jnp.max(masked, axis=axis, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, zero)
    gap = masked - row_max
    at_max = gap == 0
    num_max = jnp.sum(at_max.astype(logits.dtype), axis=axis, keepdims=True)
    below = jnp.sum(jnp.where(at_max, zero, jnp.exp(gap)), axis=axis, keepdims=True)
    # A fully masked row has no max: give it rest = 0 so that nothing below is NaN.
    rest = jnp.where(num_max > 0, (num_max - 1) + below, zero)
    return row_max, rest, jnp.log1p(rest), 1 / (1 + rest)


def _complement_parts(gap, at_max, exp_gap, rest, log_sum, inv_sum):
    """``p``, ``log p``, ``1 - p``, a finite ``log(1 - p)`` and ``p log p / (1 - p)``.

    ``1 - p`` is ``rest / sum`` for the class at the max (no cancellation when it
    dominates) and ``1 - p`` otherwise (then ``p <= 1/2``).
    """
    dtype = gap.dtype
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    prob = exp_gap * inv_sum
    log_prob = gap - log_sum
    rest_pos = rest > 0
    safe_rest = jnp.where(rest_pos, rest, one)
    complement = jnp.where(at_max, rest * inv_sum, 1 - prob)
    log_complement = jnp.where(at_max, jnp.log(safe_rest) - log_sum, jnp.log1p(-prob))
    # p log p / (1 - p): -log1p(rest) / rest at the max (-> -1 as rest -> 0); elsewhere
    # log p is clamped at -1000 (where p is exactly 0 anyway), so that p = 0 gives 0 rather
    # than 0 * inf, also in the derivative of this expression (grad-of-grad).
    finite_log_prob = jnp.maximum(log_prob, -1000.0)
    ratio = jnp.where(
        at_max,
        jnp.where(rest_pos, -log_sum / safe_rest, -one),
        prob * finite_log_prob / complement,
    )
    is_zero = at_max & ~rest_pos  # 1 - p underflows to 0
    return prob, log_prob, complement, log_complement, ratio, is_zero, zero


def _weight_at_zero(weight, is_zero, gamma):
    """Replace ``(1 - p) ** gamma`` by its exact value where ``1 - p`` is 0."""
    if _is_static(gamma):
        at_zero = 1.0 if gamma == 0 else 0.0
    else:
        at_zero = jnp.where(gamma == 0, 1.0, 0.0).astype(weight.dtype)
    return jnp.where(is_zero, jnp.asarray(at_zero, weight.dtype), weight)


# ----------------------------------------------------------------- sigmoid focal loss


def _sigmoid_focal_parts(logits, labels, gamma):
    """Everything the sigmoid focal loss and its gradient need, in log space.

    With ``a = |z|`` and ``t = exp(-a)``, the two sigmoids are ``1/(1+t)`` (the larger,
    ``hi``) and ``t/(1+t)``. ``1 - p_t = y sigmoid(-z) + (1-y) sigmoid(z)`` puts weight
    ``w_hi`` on the larger one and ``w_lo`` on the smaller, so
    ``1 - p_t = (w_hi + w_lo t) / (1 + t)`` and ``ce = w_hi a + log1p(t)``: sums of
    non-negative terms, no cancellation. With a hard label on the right side
    (``w_hi = 0``), ``log(1 - p_t) = -a - log1p(t)`` exactly, even where ``t`` underflows.
    """
    dtype = logits.dtype
    one = jnp.ones((), dtype)
    positive = logits >= 0
    abs_logits = jnp.where(positive, logits, -logits)
    t = jnp.exp(-abs_logits)
    log1p_t = jnp.log1p(t)
    inv_1p_t = 1 / (1 + t)
    complement_labels = 1 - labels
    w_hi = jnp.where(positive, complement_labels, labels)
    w_lo = jnp.where(positive, labels, complement_labels)
    hard = w_hi == 0
    scaled_q = w_hi + w_lo * t  # (1 - p_t) (1 + t)
    safe_scaled_q = jnp.where(hard, one, scaled_q)
    ce = w_hi * abs_logits + log1p_t
    q = scaled_q * inv_1p_t
    log_q = jnp.where(hard, -abs_logits, jnp.log(safe_scaled_q)) - log1p_t
    weight = _focal_weight(q, log_q, gamma)
    return {
        "positive": positive,
        "abs_logits": abs_logits,
        "t": t,
        "log1p_t": log1p_t,
        "inv_1p_t": inv_1p_t,
        "w_hi": w_hi,
        "w_lo": w_lo,
        "hard": hard,
        "q": q,
        "safe_scaled_q": safe_scaled_q,
        "ce": ce,
        "log_q": log_q,
        "weight": weight,
    }


def _focal_times_ce(parts, gamma):
    """``(1 - p_t) ** gamma * ce`` without a spurious underflow of the first factor.

    With a tiny soft label and a huge logit (``y = 5e-12``, ``z = -5.5e31``, ``gamma = 5``)
    ``(1 - p_t) ** 5`` underflows while the product is a normal number: multiply ``ce`` by
    ``1 - p_t`` one factor at a time (integer gamma), or add the logarithms (gamma > 1).
    """
    ce = parts["ce"]
    if _is_static(gamma):
        if float(gamma).is_integer() and gamma <= _MAX_INTEGER_POWER:
            product = ce
            for _ in range(int(gamma)):
                product = product * parts["q"]
            return product
        if gamma <= 1:  # q ** gamma >= q cannot underflow before the product does
            return parts["weight"] * ce
    positive = ce > 0
    log_ce = jnp.log(jnp.where(positive, ce, jnp.ones((), ce.dtype)))
    return jnp.where(positive, jnp.exp(gamma * parts["log_q"] + log_ce), jnp.zeros((), ce.dtype))


def _balance(labels, alpha):
    if alpha is None:
        return None
    return alpha * labels + (1 - alpha) * (1 - labels)


def _invalid_labels(labels):
    return (labels < 0) | (labels > 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _sigmoid_focal_kernel(gamma_static, logits, labels, alpha, gamma):
    return _sigmoid_focal_fwd(gamma_static, logits, labels, alpha, gamma)[0]


def _sigmoid_focal_fwd(gamma_static, logits, labels, alpha, gamma):
    gamma_value = gamma_static if gamma is None else gamma
    parts = _sigmoid_focal_parts(logits, labels, gamma_value)
    loss = _focal_times_ce(parts, gamma_value)
    balance = _balance(labels, alpha)
    if balance is not None:
        loss = balance * loss
    loss = validation.nan_where(_invalid_labels(labels), loss)
    return loss, (logits, labels, alpha, gamma)


def _sigmoid_focal_bwd(gamma_static, residuals, cotangent):
    logits, labels, alpha, gamma = residuals
    # The barrier keeps XLA from sharing exp/log1p with the forward pass: shared, they were
    # materialised as three temporaries (48 MB at 4M elements) instead of being recomputed
    # inside one fused loop; recomputing is ~1.4x faster forward+backward (2-core CPU).
    logits, labels = lax.optimization_barrier((logits, labels))
    gamma_value = gamma_static if gamma is None else gamma
    p = _sigmoid_focal_parts(logits, labels, gamma_value)
    one = jnp.ones((), logits.dtype)
    sign = jnp.where(p["positive"], one, -one)
    s_hi = p["inv_1p_t"]
    s_lo = p["t"] * s_hi
    # ce * sigmoid(z) sigmoid(-z) / (1 - p_t), finite where (1 - p_t) ** (gamma - 1) is not.
    # Hard label on the right side: s_hi * log1p(t). Otherwise t * ce * s_hi / (w_hi + w_lo t)
    # with t * |z| formed from min(|z|, 128): equal (t is 0 beyond), but its derivative never
    # multiplies a huge |z| by t's vanishing one (0 * inf in grad-of-grad).
    t_abs = p["t"] * jnp.minimum(p["abs_logits"], 128.0)
    soft_ratio_ce = s_hi * (p["w_hi"] * t_abs + p["t"] * p["log1p_t"]) / p["safe_scaled_q"]
    ratio_ce = jnp.where(p["hard"], s_hi * p["log1p_t"], soft_ratio_ce)
    gap = p["w_hi"] * s_hi - p["w_lo"] * s_lo  # sign * (sigmoid(z) - y)
    focal_term = gamma_value * (p["w_hi"] - p["w_lo"]) * ratio_ce
    balance = _balance(labels, alpha)
    scale = cotangent * p["weight"]
    if balance is not None:
        scale = scale * balance
    invalid = _invalid_labels(labels)
    d_logits = validation.nan_where(invalid, scale * sign * (focal_term + gap))

    # Labels: d ce/dy = -z, d(1-p_t)/dy = sign * (s_lo - s_hi), and ce / (1 - p_t).
    t = p["t"]
    safe_t = jnp.where(t > 0, t, one)
    hard_ce_over_q = (1 + t) * jnp.where(t > 0, p["log1p_t"] / safe_t, one)
    ce_over_q = jnp.where(p["hard"], hard_ce_over_q, p["ce"] * (1 + t) / p["safe_scaled_q"])
    d_labels = scale * (gamma_value * ce_over_q * sign * (s_lo - s_hi) - logits)
    if alpha is not None:
        d_labels = d_labels + cotangent * p["weight"] * p["ce"] * (2 * alpha - 1)
    d_labels = validation.nan_where(invalid, d_labels)

    d_alpha = None
    if alpha is not None:
        d_alpha = _sum_to_shape(cotangent * p["weight"] * p["ce"] * (2 * labels - 1), alpha.shape)
    d_gamma = None
    if gamma is not None:
        d_gamma = jnp.sum(scale * p["log_q"] * p["ce"]).reshape(gamma.shape)
    return d_logits, d_labels, d_alpha, d_gamma


_sigmoid_focal_kernel.defvjp(_sigmoid_focal_fwd, _sigmoid_focal_bwd)


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = 0.25,
    gamma: jax.typing.ArrayLike = 2.0,
    label_smoothing: jax.typing.ArrayLike = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise sigmoid focal loss from logits.

    With ``p = sigmoid(z)``, ``ce = -y log p - (1-y) log(1-p)`` and
    ``1 - p_t = y (1-p) + (1-y) p`` (soft labels allowed)::

        loss = alpha_t * (1 - p_t) ** gamma * ce,   alpha_t = alpha y + (1 - alpha)(1 - y)

    (``alpha_t = 1`` when ``alpha`` is None). Labels are smoothed first as Keras does,
    ``y (1 - s) + s / 2``. ``gamma = 0`` with ``alpha=None`` is the sigmoid
    cross-entropy. Loss and logit gradient are finite for every finite input, including
    ``gamma < 1`` with saturated logits (``gamma=0.5``, logit 1000, label 1: loss 0,
    gradient 0), where ``(1 - p_t) ** (gamma - 1)`` is infinite.

    Args:
      logits: floating array of any shape.
      labels: same shape, values in [0, 1] (cast to the compute dtype).
      alpha: weight of the positive class in [0, 1] (scalar, or an array broadcastable
        to ``logits``), or None for no balancing.
      gamma: focusing parameter >= 0 (scalar).
      label_smoothing: ``s`` in [0, 1].
      where: optional boolean mask broadcastable to ``logits``; masked elements give loss
        0 and gradient 0.

    Returns:
      The loss, shape of ``logits``; float32 for half inputs. A label outside [0, 1]
      (not checkable under ``jit``) gives NaN for that element.

    Raises:
      ValueError: non-floating ``logits``, ``labels`` of another shape, ``gamma < 0``,
        ``alpha`` outside [0, 1] or not broadcastable, ``label_smoothing`` outside
        [0, 1], a bad ``where``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import sigmoid_focal_loss
    >>> sigmoid_focal_loss(jnp.array([2.0, -1.0, 1000.0]), jnp.array([1.0, 1.0, 1.0]))
    Array([0.00045089, 0.17546709, 0.        ], dtype=float32)

    References:
      Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection",
      ICCV 2017, https://arxiv.org/abs/1708.02002.
    """
    validation.check_floating("logits", logits)
    validation.check_same_shape("logits", logits, "labels", labels)
    _check_gamma(gamma)
    _check_alpha(alpha, jnp.shape(logits), "the logits' shape")
    validation.check_in_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    validation.check_where("where", where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    if not (_is_static(label_smoothing) and label_smoothing == 0):
        smoothing = jnp.asarray(label_smoothing).astype(dtype)
        labels = labels * (1 - smoothing) + smoothing / 2
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        alpha = alpha.reshape((1,) * (logits.ndim - alpha.ndim) + alpha.shape)
    gamma_static = gamma if _is_static(gamma) else None
    gamma_array = None if _is_static(gamma) else jnp.asarray(gamma).astype(dtype)
    checks.check_finite("sigmoid_focal_loss", "logits", logits, where=where)
    checks.check_unit_interval("sigmoid_focal_loss", "labels", labels, where=where)
    loss = _sigmoid_focal_kernel(gamma_static, logits, labels, alpha, gamma_array)
    return validation.apply_where(loss, _class_mask(where, loss.shape))


# ----------------------------------------------------------------- softmax focal loss


def _softmax_focal_parts(logits, mask, axis, gamma, rows):
    """Elementwise parts of the softmax focal loss from the per-row ``rows``."""
    row_max, rest, log_sum, inv_sum = rows
    neg_inf = jnp.asarray(-jnp.inf, logits.dtype)
    gap = (logits if mask is None else jnp.where(mask, logits, neg_inf)) - row_max
    at_max = gap == 0
    parts = _complement_parts(gap, at_max, jnp.exp(gap), rest, log_sum, inv_sum)
    prob, log_prob, complement, log_complement, ratio, is_zero, _ = parts
    weight = _weight_at_zero(_focal_weight(complement, log_complement, gamma), is_zero, gamma)
    return prob, log_prob, complement, log_complement, ratio, weight, is_zero, at_max


def _class_weights(labels, alpha):
    return labels if alpha is None else alpha * labels


def _keep(mask, values):
    return values if mask is None else jnp.where(mask, values, jnp.zeros((), values.dtype))


def _safe_log_term(weights, log_prob):
    """``weights * -log p`` with ``0 * log 0 = 0`` (a class with no weight costs nothing)."""
    return jnp.where(weights == 0, jnp.zeros((), log_prob.dtype), -weights * log_prob)


def _softmax_focal_block_fwd(axis, gamma_static, logits, labels, mask, alpha, gamma):
    gamma_value = gamma_static if gamma is None else gamma
    rows = _softmax_rows(logits, mask, axis)
    _, log_prob, _, _, ratio, weight, _, at_max = _softmax_focal_parts(
        logits, mask, axis, gamma_value, rows
    )
    class_weights = _keep(mask, _class_weights(labels, alpha))
    loss = jnp.sum(_safe_log_term(class_weights * weight, log_prob), axis=axis)
    # d loss / d z_j = g_j - p_j sum_c g_c with g_c = -beta_c (1-p_c)^gamma (1 - gamma p_c
    # log p_c / (1 - p_c)): the chain rule through the softmax, no (1-p)^(gamma-1) anywhere.
    # The backward pass writes it as g_j (1 - p_j) - p_j sum_{c != j} g_c, with the sums over
    # the classes at and below the max kept apart so that neither term cancels as p_j -> 1;
    # those per-row sums are saved here, so the backward pass is one elementwise loop.
    g = class_weights * weight * (gamma_value * ratio - 1)
    zero = jnp.zeros((), logits.dtype)
    g_max = jnp.sum(jnp.where(at_max, g, zero), axis=axis, keepdims=True)
    g_below = jnp.sum(jnp.where(at_max, zero, g), axis=axis, keepdims=True)
    return loss, (logits, labels, mask, alpha, gamma, rows, g_max, g_below)


def _softmax_focal_block_bwd(axis, gamma_static, residuals, cotangent):
    logits, labels, mask, alpha, gamma, rows, g_max, g_below = residuals
    gamma_value = gamma_static if gamma is None else gamma
    prob, log_prob, complement, log_complement, ratio, weight, is_zero, at_max = (
        _softmax_focal_parts(logits, mask, axis, gamma_value, rows)
    )
    cotangent = jnp.expand_dims(cotangent, axis)
    class_weights = _keep(mask, _class_weights(labels, alpha))
    g = class_weights * weight * (gamma_value * ratio - 1)
    g_others = jnp.where(at_max, g_below + (g_max - g), (g_below - g) + g_max)
    d_logits = cotangent * (g * complement - prob * g_others)
    # Label, alpha and gamma gradients: (1-p)^gamma (-log p) times alpha, y and
    # y alpha log(1-p) (which is 0 where 1 - p is 0).
    focal_nll = _safe_log_term(_keep(mask, weight), log_prob)
    d_labels = cotangent * focal_nll if alpha is None else cotangent * alpha * focal_nll
    d_alpha = None
    if alpha is not None:
        d_alpha = _sum_to_shape(cotangent * _keep(mask, labels) * focal_nll, alpha.shape)
    d_gamma = None
    if gamma is not None:
        log_complement = jnp.where(is_zero, jnp.zeros((), logits.dtype), log_complement)
        d_gamma = jnp.sum(cotangent * class_weights * focal_nll * log_complement).reshape(())
    return d_logits, d_labels, None, d_alpha, d_gamma


# On a CPU a block of rows of about this many bytes of logits is processed at a time, so
# that the several elementwise passes of the focal loss run in cache and no intermediate
# array of the logits' size is written (XLA would otherwise keep a few of them alive at
# once). On a GPU such a loop serialises hundreds of small kernels (measured 3.7x slower
# than Keras at [4096, 32000] on an H200): there the rows are one block.
_FOCAL_BLOCK_BYTES = 2 << 20


def _rows_per_block(logits) -> int:
    """Rows per block: blocks of about ``_FOCAL_BLOCK_BYTES``, as equal as possible (so
    that few or no rows remain after the last full block)."""
    num_rows = logits.shape[0]
    row_bytes = max(logits.shape[-1] * logits.dtype.itemsize, 1)
    target = max(1, _FOCAL_BLOCK_BYTES // row_bytes)
    num_blocks = max(1, -(-num_rows // target))
    return max(1, num_rows // num_blocks)


def _over_row_blocks(block, row_inputs, rows_per_block, row_outputs, sums):
    """Run ``block`` over consecutive blocks of rows of 2-D ``row_inputs``.

    ``block(*input_blocks)`` returns ``(row_results, sum_results)``: arrays whose first
    axis is the block's rows, written into ``row_outputs`` (preallocated, in place), and
    arrays added into ``sums``. Full blocks run in a ``fori_loop`` (static trip count, so
    reverse-mode differentiable); the remaining rows run once after it.
    """
    num_rows = row_inputs[0].shape[0]
    num_blocks, remainder = divmod(num_rows, rows_per_block)

    def take(array, start, size):
        if array is None:
            return None
        return lax.dynamic_slice_in_dim(array, start, size, axis=0)

    def step(start, size, carry):
        outputs, totals = carry
        results, partial = block(*(take(array, start, size) for array in row_inputs))
        outputs = tuple(
            lax.dynamic_update_slice_in_dim(out, res.astype(out.dtype), start, axis=0)
            for out, res in zip(outputs, results)
        )
        totals = tuple(total + part for total, part in zip(totals, partial))
        return outputs, totals

    carry = (tuple(row_outputs), tuple(sums))
    if num_blocks == 1:
        carry = step(0, rows_per_block, carry)
    elif num_blocks:
        carry = lax.fori_loop(
            0, num_blocks, lambda i, c: step(i * rows_per_block, rows_per_block, c), carry
        )
    if remainder:
        carry = step(num_blocks * rows_per_block, remainder, carry)
    return carry


def _in_row_blocks(block, row_inputs, row_outputs, sums):
    """:func:`_over_row_blocks` in cache-sized blocks on a CPU, all rows as one block on an
    accelerator (:mod:`jaxloss._src.platform`)."""
    num_rows = row_inputs[0].shape[0]

    def blocked(row_inputs, row_outputs, sums):
        rows_per_block = _rows_per_block(row_inputs[0])
        return _over_row_blocks(block, row_inputs, rows_per_block, row_outputs, sums)

    def whole(row_inputs, row_outputs, sums):
        return _over_row_blocks(block, row_inputs, max(num_rows, 1), row_outputs, sums)

    return per_platform(
        tuple(row_inputs), tuple(row_outputs), tuple(sums), cpu=blocked, accelerator=whole
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _softmax_focal_kernel(axis, gamma_static, logits, labels, mask, alpha, gamma):
    return _softmax_focal_fwd(axis, gamma_static, logits, labels, mask, alpha, gamma)[0]


def _softmax_focal_fwd(axis, gamma_static, logits, labels, mask, alpha, gamma):
    """Forward pass over blocks of rows of 2-D ``logits`` (``axis`` 1); per-row residuals."""
    num_rows, dtype = logits.shape[0], logits.dtype

    def block(x, y, m):
        loss, residuals = _softmax_focal_block_fwd(axis, gamma_static, x, y, m, alpha, gamma)
        rows, g_max, g_below = residuals[5:]
        return (loss, *rows, g_max, g_below), ()

    column = jnp.zeros((num_rows, 1), dtype)
    outputs, _ = _in_row_blocks(
        block,
        (logits, labels, mask),
        (jnp.zeros((num_rows,), dtype),) + (column,) * 6,
        (),
    )
    loss, rows, (g_max, g_below) = outputs[0], tuple(outputs[1:5]), outputs[5:]
    return loss, (logits, labels, mask, alpha, gamma, rows, g_max, g_below)


def _softmax_focal_bwd(axis, gamma_static, residuals, cotangent):
    """Backward pass over the same blocks of rows; alpha and gamma gradients summed."""
    logits, labels, mask, alpha, gamma, rows, g_max, g_below = residuals

    def block(x, y, m, g, row_max, rest, log_sum, inv_sum, block_max, block_below):
        block_residuals = (
            x,
            y,
            m,
            alpha,
            gamma,
            (row_max, rest, log_sum, inv_sum),
            block_max,
            block_below,
        )
        d_logits, d_labels, _, d_alpha, d_gamma = _softmax_focal_block_bwd(
            axis, gamma_static, block_residuals, g
        )
        partial = tuple(d for d in (d_alpha, d_gamma) if d is not None)
        return (d_logits, d_labels), partial

    sums = tuple(
        jnp.zeros(jnp.shape(value), logits.dtype) for value in (alpha, gamma) if value is not None
    )
    (d_logits, d_labels), totals = _in_row_blocks(
        block,
        (logits, labels, mask, cotangent, *rows, g_max, g_below),
        (jnp.zeros_like(logits), jnp.zeros_like(labels)),
        sums,
    )
    totals = list(totals)
    d_alpha = totals.pop(0) if alpha is not None else None
    d_gamma = totals.pop(0) if gamma is not None else None
    return d_logits, d_labels, None, d_alpha, d_gamma


_softmax_focal_kernel.defvjp(_softmax_focal_fwd, _softmax_focal_bwd)


def _class_mask(where, shape):
    return None if where is None else jnp.broadcast_to(jnp.asarray(where), shape)


def _prepare_softmax(logits, alpha, gamma, axis, where):
    validation.check_floating("logits", logits)
    if jnp.ndim(logits) < 1:
        raise ValueError(
            f"`logits` must have at least one (class) axis, got shape {jnp.shape(logits)}."
        )
    axis = validation.canonical_axis(axis, jnp.ndim(logits))
    num_classes = jnp.shape(logits)[axis]
    _check_gamma(gamma)
    if alpha is not None and not _is_static(alpha) and jnp.ndim(alpha) not in (0, 1):
        raise ValueError(
            f"`alpha` must be a scalar or have shape ({num_classes},), got {jnp.shape(alpha)}."
        )
    if alpha is not None and jnp.ndim(alpha) == 1 and jnp.shape(alpha) != (num_classes,):
        raise ValueError(
            f"`alpha` must be a scalar or have shape ({num_classes},) (one weight per class), "
            f"got shape {jnp.shape(alpha)}."
        )
    validation.check_in_interval("alpha", alpha, 0.0, 1.0)
    validation.check_where("where", where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        if alpha.ndim == 1:
            alpha = alpha.reshape((1,) * axis + (num_classes,) + (1,) * (logits.ndim - 1 - axis))
    gamma_static = gamma if _is_static(gamma) else None
    gamma_array = None if _is_static(gamma) else jnp.asarray(gamma).astype(dtype)
    return logits, alpha, gamma_static, gamma_array, axis, _class_mask(where, logits.shape)


def softmax_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = 0.25,
    gamma: jax.typing.ArrayLike = 2.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax focal loss from logits with dense (one-hot or soft) labels.

    With ``p = softmax(z)`` along ``axis``::

        loss = -sum_c alpha_c y_c (1 - p_c) ** gamma log p_c

    ``alpha`` is a scalar, a per-class array of shape ``[C]``, or None (``alpha_c = 1``).
    ``gamma = 0`` with ``alpha=None`` is the softmax cross-entropy. ``1 - p_c`` of the
    dominant class is computed from the other classes' sum, not as ``1 - p``, so it keeps
    its relative precision when ``p_c -> 1``; the gradient is finite for every finite input.
    The rows are processed in blocks of about 2 MB of logits, forward and backward, so
    the compiled temporary memory stays at a few MB whatever the batch (no intermediate
    of the logits' size is written).

    Args:
      logits: floating array with the classes along ``axis``.
      labels: same shape; each class's weight ``y_c`` (one-hot or a distribution; used
        as given).
      alpha: scalar or ``[C]`` array in [0, 1], or None.
      gamma: focusing parameter >= 0 (scalar).
      axis: the class axis.
      where: optional boolean mask broadcastable to ``logits``: masked classes are treated
        as if sliced away; a mask of shape ``[..., 1]`` masks whole examples (loss 0).

    Returns:
      The loss, the logits' shape without ``axis``; float32 for half inputs.

    Raises:
      ValueError: non-floating ``logits``, ``labels`` of another shape, ``axis`` out of
        range, ``gamma < 0``, ``alpha`` outside [0, 1] or of a shape other than ``()``
        or ``[C]``, a bad ``where``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import softmax_focal_loss
    >>> softmax_focal_loss(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([[1.0, 0.0, 0.0]]))
    Array([0.00104...], dtype=float32)

    References:
      Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection",
      ICCV 2017, https://arxiv.org/abs/1708.02002.
    """
    validation.check_same_shape("logits", logits, "labels", labels)
    logits, alpha, gamma_static, gamma, axis, mask = _prepare_softmax(
        logits, alpha, gamma, axis, where
    )
    labels = jnp.asarray(labels).astype(logits.dtype)
    checks.check_finite("softmax_focal_loss", "logits", logits, where=mask)
    checks.check_non_negative("softmax_focal_loss", "labels", labels, where=mask)
    # The kernel works on rows: classes last, every other axis flattened.
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1 :]
    num_classes = logits.shape[axis]

    def as_rows(array):
        if array is None:
            return None
        return jnp.moveaxis(array, axis, -1).reshape(-1, num_classes)

    if alpha is not None and alpha.ndim:
        alpha = alpha.reshape(1, num_classes)
    loss = _softmax_focal_kernel(
        1, gamma_static, as_rows(logits), as_rows(labels), as_rows(mask), alpha, gamma
    )
    return loss.reshape(batch_shape)


# ---------------------------------------------------------- sparse softmax focal loss


def _sparse_focal_rows(logits, labels, mask, axis, ignore_index, alpha, gamma):
    """Per-row quantities of the sparse focal loss: two passes over the logits (max, sum).

    ``rest = sum_{j != y} exp(z_j - max)`` excludes the label's class, so
    ``1 - p_y = rest / (exp(z_y - max) + rest)`` has no cancellation, whichever class
    dominates; ``log sum = log1p((exp(z_y - max) - 1) + rest)`` is exact as ``p_y -> 1``.
    Everything returned has the logits' shape with ``axis`` of size 1.
    """
    dtype = logits.dtype
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    num_classes = logits.shape[axis]
    ignored = jnp.zeros(labels.shape, bool) if ignore_index is None else labels == ignore_index
    invalid = ((labels < 0) | (labels >= num_classes)) & ~ignored
    index = jnp.expand_dims(jnp.where(ignored | invalid, 0, labels), axis)
    ignored, invalid = jnp.expand_dims(ignored, axis), jnp.expand_dims(invalid, axis)
    masked = logits if mask is None else jnp.where(mask, logits, jnp.asarray(-jnp.inf, dtype))
    row_max = jnp.max(masked, axis=axis, keepdims=True)
    row_max = jnp.where(jnp.isfinite(row_max), row_max, zero)  # fully masked row
    is_label = lax.broadcasted_iota(index.dtype, logits.shape, axis) == index
    rest = jnp.sum(jnp.where(is_label, zero, jnp.exp(masked - row_max)), axis=axis, keepdims=True)
    label_gap = jnp.take_along_axis(logits, index, axis=axis) - row_max
    label_exp = jnp.exp(label_gap)
    log_sum = jnp.log1p((label_exp - 1) + rest)
    log_prob = label_gap - log_sum
    rest_pos = rest > 0
    safe_rest = jnp.where(rest_pos, rest, one)
    complement = rest / (label_exp + rest)
    log_complement = jnp.log(safe_rest) - log_sum
    # p log p / (1 - p) = exp(z_y - max) log p / rest, -> -1 as rest -> 0; log p clamped at
    # -1000 (where p is 0 anyway) so that p = 0 gives 0, also in its derivative.
    ratio = jnp.where(rest_pos, label_exp * jnp.maximum(log_prob, -1000.0) / safe_rest, -one)
    weight = _weight_at_zero(_focal_weight(complement, log_complement, gamma), ~rest_pos, gamma)
    label_alpha = None
    if alpha is not None:
        label_alpha = alpha if alpha.ndim == 0 else jnp.take_along_axis(
            jnp.broadcast_to(alpha, logits.shape), index, axis=axis
        )  # fmt: skip
    active = ~ignored
    if mask is not None:
        # A label on a class that `where` removed has no probability: NaN, like a bad label.
        active = active & jnp.any(mask, axis=axis, keepdims=True)
        invalid = invalid | (active & ~jnp.take_along_axis(mask, index, axis=axis))
    return {
        "index": index,
        "row_max": row_max,
        "log_sum": log_sum,
        "log_prob": log_prob,
        "complement": complement,
        "log_complement": jnp.where(rest_pos, log_complement, zero),
        "ratio": ratio,
        "weight": weight,
        "label_alpha": label_alpha,
        "active": active,
        "invalid": invalid,
    }


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _sparse_focal_kernel(axis, ignore_index, gamma_static, logits, labels, mask, alpha, gamma):
    return _sparse_focal_fwd(axis, ignore_index, gamma_static, logits, labels, mask, alpha, gamma)[
        0
    ]


def _sparse_focal_fwd(axis, ignore_index, gamma_static, logits, labels, mask, alpha, gamma):
    gamma_value = gamma_static if gamma is None else gamma
    r = _sparse_focal_rows(logits, labels, mask, axis, ignore_index, alpha, gamma_value)
    zero = jnp.zeros((), logits.dtype)
    focal_nll = -r["weight"] * r["log_prob"]  # (1 - p_y)^gamma (-log p_y)
    label_alpha = 1 if alpha is None else r["label_alpha"]
    loss = validation.nan_where(r["invalid"], jnp.where(r["active"], label_alpha * focal_nll, zero))
    # d loss / d z_j = G (1[j = y] - p_j), G = alpha_y (1-p_y)^gamma (gamma p_y log p_y / (1-p_y) - 1):
    # per-row numbers saved for a backward pass that is one elementwise loop.
    row_scale = validation.nan_where(
        r["invalid"], label_alpha * r["weight"] * (gamma_value * r["ratio"] - 1)
    )
    residuals = {
        "logits": logits,
        "mask": mask,
        "index": r["index"],
        "row_max": r["row_max"],
        "log_sum": r["log_sum"],
        "complement": r["complement"],
        "row_scale": row_scale,
        "active": r["active"],
        "alpha": alpha,
        "gamma": gamma,
        "focal_nll": focal_nll,
        "log_complement": r["log_complement"],
        "label_alpha": r["label_alpha"],
    }
    return jnp.squeeze(loss, axis), residuals


def _sparse_focal_bwd(axis, ignore_index, gamma_static, res, cotangent):
    logits, mask, alpha, gamma = res["logits"], res["mask"], res["alpha"], res["gamma"]
    zero = jnp.zeros((), logits.dtype)
    cotangent = jnp.where(res["active"], jnp.expand_dims(cotangent, axis), zero)
    scale = cotangent * res["row_scale"]
    is_label = lax.broadcasted_iota(res["index"].dtype, logits.shape, axis) == res["index"]
    prob = jnp.exp((logits - res["row_max"]) - res["log_sum"])
    d_logits = scale * jnp.where(is_label, res["complement"], -prob)
    if mask is not None:
        d_logits = jnp.where(mask, d_logits, zero)
    d_alpha = None
    if alpha is not None:
        contribution = cotangent * res["focal_nll"]
        if alpha.ndim == 0:
            d_alpha = jnp.sum(contribution)
        else:
            other_axes = tuple(a for a in range(logits.ndim) if a != axis)
            d_alpha = jnp.sum(jnp.where(is_label, contribution, zero), axis=other_axes)
            d_alpha = d_alpha.reshape(alpha.shape)
    d_gamma = None
    if gamma is not None:
        weighted = res["focal_nll"] if alpha is None else res["label_alpha"] * res["focal_nll"]
        d_gamma = jnp.sum(cotangent * weighted * res["log_complement"]).reshape(())
    return d_logits, None, None, d_alpha, d_gamma


_sparse_focal_kernel.defvjp(_sparse_focal_fwd, _sparse_focal_bwd)


def sparse_softmax_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = 0.25,
    gamma: jax.typing.ArrayLike = 2.0,
    axis: int = -1,
    ignore_index: int | None = None,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax focal loss from logits with integer class labels (no one-hot is built).

    With ``p = softmax(z)`` along ``axis`` and ``y`` the label's class::

        loss = -alpha_y (1 - p_y) ** gamma log p_y

    Equal to :func:`softmax_focal_loss` with one-hot labels. ``1 - p_y`` keeps its
    relative precision when ``p_y -> 1`` and the gradient is finite for every finite input.

    Args:
      logits: floating array with the classes along ``axis``.
      labels: integer array, the logits' shape without ``axis``.
      alpha: scalar or ``[C]`` array in [0, 1], or None (no weighting).
      gamma: focusing parameter >= 0 (scalar).
      axis: the class axis.
      ignore_index: a label value whose examples get loss 0 and gradient 0.
      where: optional boolean mask broadcastable to ``logits``: masked classes are treated
        as if sliced away; a mask of shape ``[..., 1]`` masks whole examples (loss 0).

    Returns:
      The loss, the labels' shape; float32 for half inputs. A label outside
      ``[0, C)`` that is not ``ignore_index``, or one on a class masked out by ``where``
      (not checkable under ``jit``), gives NaN for that example and its gradient row.

    Raises:
      ValueError: non-floating ``logits``, float ``labels``, ``labels`` whose shape is
        not the logits' without ``axis``, ``axis`` out of range, ``gamma < 0``, ``alpha``
        outside [0, 1] or of a shape other than ``()`` or ``[C]``, a bad ``where``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import sparse_softmax_focal_loss
    >>> sparse_softmax_focal_loss(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([0]))
    Array([0.00104...], dtype=float32)

    References:
      Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection",
      ICCV 2017, https://arxiv.org/abs/1708.02002.
    """
    validation.check_integer("labels", labels)
    logits, alpha, gamma_static, gamma, axis, mask = _prepare_softmax(
        logits, alpha, gamma, axis, where
    )
    expected = logits.shape[:axis] + logits.shape[axis + 1 :]
    if jnp.shape(labels) != expected:
        raise ValueError(
            f"`labels` must have the logits' shape without the class axis {axis}, "
            f"{expected}, got labels.shape={jnp.shape(labels)} for logits.shape={logits.shape}."
        )
    if ignore_index is not None and (
        not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool)
    ):
        raise ValueError(f"`ignore_index` must be an int or None, got {ignore_index!r}.")
    ignore_index = None if ignore_index is None else int(ignore_index)
    labels = jnp.asarray(labels)
    checks.check_finite("sparse_softmax_focal_loss", "logits", logits, where=mask)
    checks.check_class_labels(
        "sparse_softmax_focal_loss", labels, logits.shape[axis], ignore_index=ignore_index
    )
    return _sparse_focal_kernel(
        axis, ignore_index, gamma_static, logits, labels, mask, alpha, gamma
    )


# ------------------------------------------------- Keras probability-space focal losses


def _check_epsilon(epsilon) -> None:
    validation.check_in_interval("epsilon", epsilon, 0.0, 0.5, high_inclusive=False)


def _clip(x, low, high):
    """``clip(x, low, high)`` whose derivative is 1 on the closed interval, as in TensorFlow
    and the cross-entropy kernels (``jnp.clip`` gives 1/2 at an end, e.g. at ``p = epsilon``)."""
    return jnp.where(x < low, low, jnp.where(x > high, high, x))


def _power(base, gamma):
    """``base ** gamma`` with a finite gradient where ``base`` is 0 (taken as 0 there)."""
    is_zero = base == 0
    safe = jnp.where(is_zero, jnp.ones((), base.dtype), base)
    at_zero = (jnp.asarray(gamma) == 0).astype(base.dtype)
    return jnp.where(is_zero, at_zero, jnp.power(safe, gamma))


def binary_focal_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = None,
    gamma: jax.typing.ArrayLike = 2.0,
    epsilon: float = 1e-7,
    label_smoothing: jax.typing.ArrayLike = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise binary focal cross-entropy from probabilities, as Keras 3 computes it.

    With labels smoothed to ``y (1 - s) + s / 2``, ``c = clip(p, epsilon, 1 - epsilon)``
    and the unclipped ``p_t = y p + (1 - y)(1 - p)``::

        loss = alpha_t * (1 - p_t) ** gamma * -(y log c + (1 - y) log(1 - c))

    with ``alpha_t = alpha y + (1 - alpha)(1 - y)``, or 1 when ``alpha`` is None (Keras's
    ``apply_class_balancing=False``). The mean of this over the last axis is
    ``keras.losses.binary_focal_crossentropy``. Plain ``jax.numpy`` with autodiff: the
    clipping keeps the logarithms finite, and where ``1 - p_t = 0`` (``p`` exactly equal to
    a hard label) the focal factor's derivative, infinite for ``gamma < 1``, is taken as 0,
    so gradients are finite. Prefer :func:`sigmoid_focal_loss` when logits are at hand.

    Args:
      probs: floating array of probabilities in [0, 1].
      labels: same shape, values in [0, 1].
      alpha: positive-class weight in [0, 1] (scalar or broadcastable), or None.
      gamma: focusing parameter >= 0 (scalar).
      epsilon: clipping constant in [0, 0.5) (Keras's ``backend.epsilon()`` is 1e-7).
      label_smoothing: ``s`` in [0, 1].
      where: optional boolean mask broadcastable to ``probs``; masked elements give loss 0.

    Returns:
      The loss, shape of ``probs``; float32 for half inputs. A probability or label
      outside [0, 1] gives NaN for that element.

    Raises:
      ValueError: non-floating ``probs``, ``labels`` of another shape, ``gamma < 0``,
        ``alpha``, ``label_smoothing`` outside [0, 1], ``epsilon`` outside [0, 0.5), a bad
        ``where``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import binary_focal_cross_entropy
    >>> binary_focal_cross_entropy(jnp.array([0.9, 0.2]), jnp.array([1.0, 1.0]))
    Array([0.00105361, 1.0300404 ], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017; Keras 3,
      ``keras.losses.binary_focal_crossentropy``.
    """
    validation.check_floating("probs", probs)
    validation.check_same_shape("probs", probs, "labels", labels)
    _check_gamma(gamma)
    _check_alpha(alpha, jnp.shape(probs), "the probabilities' shape")
    _check_epsilon(epsilon)
    validation.check_in_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    validation.check_where("where", where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs)
    probs = jnp.asarray(probs).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    checks.check_unit_interval("binary_focal_cross_entropy", "probs", probs, where=where)
    checks.check_unit_interval("binary_focal_cross_entropy", "labels", labels, where=where)
    invalid = _invalid_labels(labels) | _invalid_labels(probs)
    if not (_is_static(label_smoothing) and label_smoothing == 0):
        smoothing = jnp.asarray(label_smoothing).astype(dtype)
        labels = labels * (1 - smoothing) + 0.5 * smoothing
    clipped = _clip(probs, epsilon, 1.0 - epsilon)
    bce = -(labels * jnp.log(clipped) + (1 - labels) * jnp.log(1 - clipped))
    p_t = labels * probs + (1 - labels) * (1 - probs)
    loss = _power(1 - p_t, _as_hyper(gamma, dtype)) * bce
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        alpha = alpha.reshape((1,) * (probs.ndim - alpha.ndim) + alpha.shape)
        loss = (labels * alpha + (1 - labels) * (1 - alpha)) * loss
    loss = validation.nan_where(invalid, loss)
    return validation.apply_where(loss, _class_mask(where, loss.shape))


def categorical_focal_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike = 0.25,
    gamma: jax.typing.ArrayLike = 2.0,
    axis: int = -1,
    epsilon: float = 1e-7,
    label_smoothing: jax.typing.ArrayLike = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Categorical focal cross-entropy from probabilities, as Keras 3 computes it.

    The probabilities are normalised along ``axis`` and clipped,
    ``c = clip(p / sum(p), epsilon, 1 - epsilon)``; labels are smoothed to
    ``y (1 - s) + s / C``::

        loss = -sum_c alpha_c (1 - c_c) ** gamma y_c log c_c

    This is ``keras.losses.categorical_focal_crossentropy`` per example. Because
    ``1 - c >= epsilon`` the focal factor and its gradient are finite; plain
    ``jax.numpy`` with autodiff. Prefer :func:`softmax_focal_loss` when logits are at hand.

    Args:
      probs: floating array of non-negative class scores along ``axis``.
      labels: same shape, one-hot or soft labels.
      alpha: scalar or ``[C]`` array in [0, 1] (None means 1).
      gamma: focusing parameter >= 0 (scalar).
      axis: the class axis.
      epsilon: clipping constant in [0, 0.5).
      label_smoothing: ``s`` in [0, 1]; ``C`` counts the classes kept by ``where``.
      where: optional boolean mask broadcastable to ``probs``: masked classes are treated
        as if sliced away (before the normalisation); ``[..., 1]`` masks whole examples.

    Returns:
      The loss, the probabilities' shape without ``axis``; float32 for half inputs. A row
      whose probabilities sum to 0 gives NaN, as in Keras, and so does a row with a
      negative or infinite score or a negative label.

    Raises:
      ValueError: non-floating ``probs``, ``labels`` of another shape, ``axis`` out of
        range, ``gamma < 0``, ``alpha`` outside [0, 1] or of a shape other than ``()`` or
        ``[C]``, ``label_smoothing`` outside [0, 1], ``epsilon`` outside [0, 0.5), a bad
        ``where``.

    >>> import jax.numpy as jnp
    >>> from jaxloss import categorical_focal_cross_entropy
    >>> categorical_focal_cross_entropy(jnp.array([[0.8, 0.1, 0.1]]), jnp.array([[1.0, 0.0, 0.0]]))
    Array([0.00223144], dtype=float32)

    References:
      Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017; Keras 3,
      ``keras.losses.categorical_focal_crossentropy``.
    """
    validation.check_floating("probs", probs)
    validation.check_same_shape("probs", probs, "labels", labels)
    _check_epsilon(epsilon)
    validation.check_in_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    if alpha is None:
        alpha = 1.0
    probs, alpha, _, _, axis, mask = _prepare_softmax(probs, alpha, gamma, axis, where)
    dtype = probs.dtype
    labels = jnp.asarray(labels).astype(dtype)
    checks.check_non_negative("categorical_focal_cross_entropy", "probs", probs, where=mask)
    checks.check_non_negative("categorical_focal_cross_entropy", "labels", labels, where=mask)
    invalid = validation.any_along(validation.invalid_scores(probs) | (labels < 0), axis, mask)
    zero = jnp.zeros((), dtype)
    if not (_is_static(label_smoothing) and label_smoothing == 0):
        smoothing = jnp.asarray(label_smoothing).astype(dtype)
        if mask is None:
            num_classes = jnp.asarray(probs.shape[axis], dtype)
        else:
            num_classes = jnp.sum(mask.astype(dtype), axis=axis, keepdims=True)
        labels = labels * (1 - smoothing) + smoothing / num_classes
    if mask is not None:
        probs = jnp.where(mask, probs, zero)
    total = jnp.sum(probs, axis=axis, keepdims=True)
    if mask is not None:
        total = jnp.where(jnp.any(mask, axis=axis, keepdims=True), total, jnp.ones((), dtype))
    # Divide by a constant copy of a small row sum first: autodiff's -p / total**2 would
    # underflow to 1 / 0 = inf for sums below ~1e-19 (the exact gradient is finite).
    one = jnp.ones((), dtype)
    scale = jax.lax.stop_gradient(jnp.where((total > 0) & (total < 1), total, one))
    clipped = _clip((probs / scale) / (total / scale), epsilon, 1.0 - epsilon)
    terms = alpha * _power(1 - clipped, _as_hyper(gamma, dtype)) * (-labels * jnp.log(clipped))
    return validation.nan_where(invalid, jnp.sum(_keep(mask, terms), axis=axis))
