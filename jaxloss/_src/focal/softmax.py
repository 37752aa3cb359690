"""The softmax focal loss from logits with dense labels (:func:`softmax_focal_loss`).

A :func:`jax.custom_vjp` kernel over rows (classes last): the forward pass saves per-row
statistics and gradient sums, so that the backward pass is one elementwise loop. Both run
over blocks of rows on a CPU (:mod:`jaxloss._src.row_tiling`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.focal.inputs import prepare_class_inputs
from jaxloss._src.focal.modulation import focal_weight, sum_to_shape, weight_at_zero
from jaxloss._src.row_tiling import in_row_blocks
from jaxloss._src.softmax_rows import gap_to_max, masked_logits, row_max_and_rest


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


def _softmax_focal_parts(logits, mask, axis, gamma, rows):
    """Elementwise parts of the softmax focal loss from the per-row ``rows``."""
    row_max, rest, log_sum, inv_sum = rows
    gap = gap_to_max(masked_logits(logits, mask), row_max)
    at_max = gap == 0
    parts = _complement_parts(gap, at_max, jnp.exp(gap), rest, log_sum, inv_sum)
    prob, log_prob, complement, log_complement, ratio, is_zero, _ = parts
    weight = weight_at_zero(focal_weight(complement, log_complement, gamma), is_zero, gamma)
    return prob, log_prob, complement, log_complement, ratio, weight, is_zero, at_max


def _class_weights(labels, alpha):
    return labels if alpha is None else alpha * labels


def _safe_log_term(weights, log_prob):
    """``weights * -log p`` with ``0 * log 0 = 0`` (a class with no weight costs nothing)."""
    return jnp.where(weights == 0, jnp.zeros((), log_prob.dtype), -weights * log_prob)


def _softmax_focal_block_fwd(axis, gamma_static, logits, labels, mask, alpha, gamma):
    gamma_value = gamma_static if gamma is None else gamma
    rows = row_max_and_rest(logits, mask, axis)
    _, log_prob, _, _, ratio, weight, _, at_max = _softmax_focal_parts(
        logits, mask, axis, gamma_value, rows
    )
    class_weights = validation.apply_where(_class_weights(labels, alpha), mask)
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
    class_weights = validation.apply_where(_class_weights(labels, alpha), mask)
    g = class_weights * weight * (gamma_value * ratio - 1)
    g_others = jnp.where(at_max, g_below + (g_max - g), (g_below - g) + g_max)
    d_logits = cotangent * (g * complement - prob * g_others)
    # Label, alpha and gamma gradients: (1-p)^gamma (-log p) times alpha, y and
    # y alpha log(1-p) (which is 0 where 1 - p is 0).
    focal_nll = _safe_log_term(validation.apply_where(weight, mask), log_prob)
    d_labels = cotangent * focal_nll if alpha is None else cotangent * alpha * focal_nll
    d_alpha = None
    if alpha is not None:
        kept_labels = validation.apply_where(labels, mask)
        d_alpha = sum_to_shape(cotangent * kept_labels * focal_nll, alpha.shape)
    d_gamma = None
    if gamma is not None:
        log_complement = jnp.where(is_zero, jnp.zeros((), logits.dtype), log_complement)
        d_gamma = jnp.sum(cotangent * class_weights * focal_nll * log_complement).reshape(())
    return d_logits, d_labels, None, d_alpha, d_gamma


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
    outputs, _ = in_row_blocks(
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
    (d_logits, d_labels), totals = in_row_blocks(
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

    With ``p = softmax(z)`` along ``axis``:

    .. math::
        \ell = -\sum_c \alpha_c y_c (1 - p_c)^{\gamma} \log p_c

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
    logits, alpha, gamma_static, gamma, axis, mask = prepare_class_inputs(
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
    loss: jax.Array = _softmax_focal_kernel(
        1, gamma_static, as_rows(logits), as_rows(labels), as_rows(mask), alpha, gamma
    )
    return loss.reshape(batch_shape)

