"""Softmax cross-entropy with integer labels, without a one-hot of the labels.

The common case (no mask, ``ignore_index``, smoothing or ``precise``) has its own forward
pass; the others share one, with the loss against the uniform distribution (for label
smoothing) computed in the same pass and mixed in by the caller.
"""
# pyright: reportPossiblyUnboundVariable=false
# (the kernel binds some statistics under a flag and reads them under the same flag, or one
# it implies: `precise` for `around_label`, `smoothed`, `z_loss`, which pyright cannot follow)

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, soft_cap_and_z_loss, softmax_rows, validation
from jaxloss._src.cross_entropy import class_labels
from jaxloss._src.label_smoothing import mix_with_uniform, smoothing_applies
from jaxloss._src.platform import per_platform

__all__ = ["sparse_softmax_cross_entropy"]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6, 7, 8))
def _sparse_softmax_cross_entropy_kernel(
    logits, labels, mask, axis, ignore_index, smoothed, precise, z_loss, soft_cap
):
    return _sparse_softmax_cross_entropy_fwd(
        logits, labels, mask, axis, ignore_index, smoothed, precise, z_loss, soft_cap
    )[0]


def _log_sum_exp_around_label(logits, mask, axis, row_max, labels, label_gap):
    """``L = log1p(expm1(x_y - m) + sum_{c != y} exp(x_c - m))``: exact as ``p_y -> 1``.

    When the label holds the maximum, ``expm1(0) = 0`` and ``L = log1p(rest)`` keeps
    float32's relative accuracy however small ``rest`` is; otherwise ``L >= log 2`` in
    effect and nothing cancels badly. The label is left out with the weight
    ``min(|c - y|, 1)`` on a float iota: arithmetic that XLA:CPU vectorises in the row
    sum, where an integer compare and select was measured slower. (A float32 iota is
    exact below 2**24 classes; beyond, an integer compare is used.)
    """
    num_classes = logits.shape[axis]
    dtype = logits.dtype
    if num_classes < 2**24:
        classes = lax.broadcasted_iota(dtype, logits.shape, axis)
        not_label = jnp.minimum(jnp.abs(classes - labels.astype(dtype)), 1)
    else:
        not_label = (lax.broadcasted_iota(jnp.int32, logits.shape, axis) != labels).astype(dtype)
    shifted_exp = jnp.exp(softmax_rows.gap_to_max(softmax_rows.masked_logits(logits, mask), row_max))
    rest = jnp.sum(not_label * shifted_exp, axis=axis, keepdims=True)
    # expm1(x_y - m) + rest >= 0 unless the row is nothing but -inf (-1 + 0): lifted to 0
    # there, L = 0 (as softmax_rows.log_of_sum does, without gradient and without a select).
    excess = jnp.expm1(label_gap) + rest
    log_sum_exp = jnp.log1p(excess + lax.stop_gradient(jnp.maximum(-excess, 0.0)))
    if mask is not None:
        active = softmax_rows.active_rows(mask, axis)
        log_sum_exp = jnp.where(active, log_sum_exp, jnp.zeros((), dtype))
    return log_sum_exp


_FEW_CLASSES = 32


def _label_logit_or_nan(logits, labels, axis):
    """``(labels with axis kept, each row's label logit)``; NaN for a label outside ``[0, C)``.

    So no per-row factor is needed where nothing else is masked or ignored. Negative labels
    are sent past the end, since ``take_along_axis`` would wrap them.
    """
    labels = jnp.expand_dims(labels.astype(jnp.int32), axis)
    gather_index = jnp.where(labels < 0, logits.shape[axis], labels)
    label_logit = jnp.take_along_axis(logits, gather_index, axis, mode="fill", fill_value=jnp.nan)
    return labels, label_logit


def _sparse_forward_plain(logits, labels, axis):
    """The common case (no mask, ``ignore_index``, smoothing or ``precise``): ``L + (m - x_y)``.

    Both parts are >= 0, so the sum overflows only where the exact loss does. The row
    statistics stay without the class axis until the end: kept as ``[..., 1]`` and halved,
    XLA:CPU fused the max, the sum and the gather into one reduction that was measured
    slower at [65536, 10]. One pass over the row on an accelerator.
    """

    def two_passes(logits):
        row_max = lax.stop_gradient(jnp.max(logits, axis=axis))
        # A row of nothing but -inf: m = 0 and L = 0, as a fully masked row.
        row_max = jnp.where(jnp.isneginf(row_max), jnp.zeros((), row_max.dtype), row_max)
        gaps = softmax_rows.gap_to_max(logits, jnp.expand_dims(row_max, axis))
        sum_exp = jnp.sum(jnp.exp(gaps), axis=axis)
        return row_max, softmax_rows.log_of_sum(sum_exp)

    def one_pass(logits):
        return softmax_rows.online_row_statistics(logits, jnp.ones((), logits.dtype), axis)

    row_max, log_sum_exp = per_platform(logits, cpu=two_passes, accelerator=one_pass)
    kept_max = jnp.expand_dims(row_max, axis)
    safe_labels, label_logit = _label_logit_or_nan(logits, labels, axis)
    loss = log_sum_exp + (row_max - jnp.squeeze(label_logit, axis))
    kept_log_sum_exp = jnp.expand_dims(log_sum_exp, axis)
    residuals = (logits, safe_labels, None, kept_max, kept_log_sum_exp, None, None, None)
    return loss, residuals


def _sparse_softmax_cross_entropy_fwd(
    logits, labels, mask, axis, ignore_index, smoothed, precise, z_loss, soft_cap
):
    if not z_loss and soft_cap is None:
        return _sparse_forward(logits, labels, mask, axis, ignore_index, smoothed, precise)
    # Soft-capped, the loss reads z = c tanh(x / c); the logits are saved in its place and
    # the backward pass recomputes it.
    capped = logits if soft_cap is None else soft_cap_and_z_loss.soft_cap(logits, soft_cap)
    outputs, residuals = _sparse_forward(
        capped, labels, mask, axis, ignore_index, smoothed, precise
    )
    if z_loss:
        _, _, _, row_max, log_sum_exp, factor, _, _ = residuals
        z_term = soft_cap_and_z_loss.z_loss_term(row_max + log_sum_exp, z_loss)
        if factor is not None:
            z_term = z_term * factor  # 0 for ignored or fully masked rows, NaN for invalid
        z_term = jnp.squeeze(z_term, axis)
        if smoothed:
            # The caller mixes the two halves and doubles: half the z-loss in each.
            half_z = z_term * 0.5
            outputs = (outputs[0] + half_z, outputs[1] + half_z)
        else:
            outputs = outputs + z_term  # pyright: ignore[reportOperatorIssue] (one array here)
    return outputs, (logits, *residuals[1:])


def _sparse_forward(logits, labels, mask, axis, ignore_index, smoothed, precise):
    if mask is None and ignore_index is None and not smoothed and not precise:
        return _sparse_forward_plain(logits, labels, axis)
    num_classes = logits.shape[axis]
    # precise: up to _FEW_CLASSES the dense form's statistics (counting the classes at the
    # max) were measured faster than leaving the label out (forward+backward at 10
    # classes); from 100 classes on the label-exclusion form is.
    around_label = precise and num_classes > _FEW_CLASSES
    if around_label:
        row_max = softmax_rows.row_max(logits, mask, axis)  # L is computed around the label below
    else:
        row_max, log_sum_exp = softmax_rows.row_statistics(logits, mask, axis, precise)
    if mask is None and ignore_index is None:
        safe_labels, label_logit = _label_logit_or_nan(logits, labels, axis)
        factor = None
    else:
        safe_labels, active, valid = class_labels.label_status(
            labels, mask, num_classes, axis, ignore_index, logits.shape
        )
        factor = class_labels.row_factor(active, valid, logits.dtype)
        label_logit = jnp.take_along_axis(logits, safe_labels, axis)
    label_gap = None
    if precise:
        # <= 0 for every valid label; the clamp keeps ignored or masked-label rows finite
        # before their factor (0 or NaN) applies.
        label_gap = label_logit - row_max
        label_gap = jnp.where(label_gap <= 0, label_gap, jnp.zeros((), label_gap.dtype))
        if around_label:
            log_sum_exp = _log_sum_exp_around_label(
                logits, mask, axis, row_max, safe_labels, label_gap
            )
    # Half of the loss against the label: (lse - (x_label - m)) / 2, both parts >= 0.
    half_label = log_sum_exp * 0.5 - softmax_rows.half_gap(label_logit, row_max)
    if factor is not None:
        half_label = half_label * factor
    inverse_count = None
    half_label = jnp.squeeze(half_label, axis)
    # Without smoothing the kernel returns the loss itself, with smoothing its two halves
    # (against the label and against the uniform distribution), which the caller mixes.
    outputs = half_label + half_label
    if smoothed:
        # Half of the loss against the uniform distribution over the unmasked classes.
        half_gap = softmax_rows.half_gap(logits, row_max)
        if mask is None:
            inverse_count = jnp.full(row_max.shape, 1.0 / num_classes, logits.dtype)
        else:
            counts = jnp.sum(mask, axis=axis, keepdims=True, dtype=logits.dtype)
            inverse_count = 1.0 / jnp.maximum(counts, 1.0)
            half_gap = jnp.where(mask, half_gap, jnp.zeros((), half_gap.dtype))
        mean_half_gap = jnp.sum(half_gap * inverse_count, axis=axis, keepdims=True)
        half_uniform = log_sum_exp * 0.5 - mean_half_gap
        if factor is not None:
            half_uniform = half_uniform * factor
        outputs = (half_label, jnp.squeeze(half_uniform, axis))
    residuals = (logits, safe_labels, mask, row_max, log_sum_exp, factor, inverse_count, label_gap)
    return outputs, residuals


def _sparse_softmax_cross_entropy_bwd(
    axis, ignore_index, smoothed, precise, z_loss, soft_cap, residuals, cotangents
):
    logits, safe_labels, mask, row_max, log_sum_exp, factor, inverse_count, label_gap = residuals
    if soft_cap is not None:
        logits = soft_cap_and_z_loss.soft_cap(logits, soft_cap)
    if factor is None:
        # Fast path: labels as given; one out of range matches no class and its row is NaN.
        in_range = (safe_labels >= 0) & (safe_labels < logits.shape[axis])
        factor = class_labels.row_factor(True, in_range, logits.dtype)
    if smoothed:
        label_cotangent, uniform_cotangent = cotangents
        uniform_cotangent = jnp.expand_dims(uniform_cotangent, axis) * factor * 0.5
    else:
        label_cotangent = cotangents
    # The outputs are the loss (cotangent as is) or, smoothed, halves of it (cotangent / 2).
    label_cotangent = jnp.expand_dims(label_cotangent, axis) * factor
    if smoothed:
        label_cotangent = label_cotangent * 0.5
    total = label_cotangent
    if smoothed:
        total = label_cotangent + uniform_cotangent
    softmax_scale = total * jnp.exp(-log_sum_exp)
    if z_loss:
        # The z-loss's cotangent is `total` (half of it in each smoothed half): it adds
        # total 2 z_loss lse softmax(z), one more term in the softmax's factor.
        z_total = total * soft_cap_and_z_loss.z_loss_softmax_scale(row_max + log_sum_exp, z_loss)
        softmax_scale = (total + z_total) * jnp.exp(-log_sum_exp)
    # One fused elementwise pass: g (softmax - [c = label]) (+ the uniform part).
    shifted_exp = jnp.exp(softmax_rows.gap_to_max(softmax_rows.masked_logits(logits, mask), row_max))
    classes = lax.broadcasted_iota(jnp.int32, logits.shape, axis)
    is_label = classes == safe_labels
    if precise:
        # At the label g (p - 1) = g expm1(x_y - m - L): exact as p -> 1, where p - 1 is not.
        label_log_prob = label_gap - log_sum_exp
        label_term = label_cotangent * jnp.expm1(label_log_prob)
        if smoothed:
            label_term = label_term + uniform_cotangent * jnp.exp(label_log_prob)
        if z_loss:
            label_term = label_term + z_total * jnp.exp(label_log_prob)
        grad = jnp.where(is_label, label_term, shifted_exp * softmax_scale)
    else:
        grad = shifted_exp * softmax_scale - jnp.where(
            is_label, label_cotangent, jnp.zeros((), logits.dtype)
        )
    if smoothed:
        uniform_share = uniform_cotangent * inverse_count
        if mask is not None:
            uniform_share = jnp.where(mask, uniform_share, jnp.zeros((), logits.dtype))
        grad = grad - uniform_share
    if soft_cap is not None:
        grad = grad * soft_cap_and_z_loss.soft_cap_derivative(logits, soft_cap)
    return grad, None, None


_sparse_softmax_cross_entropy_kernel.defvjp(
    _sparse_softmax_cross_entropy_fwd, _sparse_softmax_cross_entropy_bwd
)


def sparse_softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    class_weights: jax.typing.ArrayLike | None = None,
    where: jax.typing.ArrayLike | None = None,
    precise: bool = False,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy with integer labels; never builds a one-hot of the labels.

    .. math::
        \ell = w_{y}\Big[(1 - s)\big(L - (x_y - m)\big)
               + s \big(L - \tfrac{1}{C}\textstyle\sum_c (x_c - m)\big)\Big],
        \qquad L = \log \sum_k e^{x_k - m},\ m = \max_k x_k

    which is the dense loss against the Keras-smoothed one-hot label. Every part is
    non-negative and linear parts use ``(x - m) / 2``, so the loss is finite whenever
    its exact value is; the gradient ``g w_y (softmax(x) - (1 - s) [c = y] - s / C)``
    is computed in one fused elementwise pass from the saved per-row ``m`` and ``L``.
    ``logit_soft_cap`` and ``z_loss`` are those of :func:`softmax_cross_entropy` and
    :func:`jaxloss.fused_linear_cross_entropy` (the z-loss is 0 for ignored examples, and
    ``class_weights`` scale it with the rest of the example's loss); infinite logits too.

    Args:
      logits: floating array with a class axis of size ``C``.
      labels: integer class indices, ``logits``'s shape without ``axis``.
      axis: the class axis.
      label_smoothing: in ``[0, 1]``; ``C`` counts the unmasked classes.
      ignore_index: examples with this label give loss 0 and gradient 0 (PyTorch).
      class_weights: optional ``[C]`` weights; each example's loss is multiplied by
        the weight of its label (PyTorch's ``weight``, without its normalisation).
      where: optional boolean mask broadcastable to ``logits``: masked classes are
        treated as if sliced away; a ``[..., 1]`` mask drops whole examples.
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
      The loss per example, ``labels``'s shape. A label outside ``[0, C)`` that is
      not ``ignore_index``, or that points at a masked class, gives NaN for that
      example (and a NaN gradient row): it cannot raise under ``jit``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.sparse_softmax_cross_entropy(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([0]))
      Array([0.169846], dtype=float32)

      A confident correct prediction: the exact loss is ``log1p(exp(-20)) = 2.06e-9``.

      >>> confident = jnp.array([[20.0, 0.0]])
      >>> jaxloss.sparse_softmax_cross_entropy(confident, jnp.array([0]))
      Array([0.], dtype=float32)
      >>> jaxloss.sparse_softmax_cross_entropy(confident, jnp.array([0]), precise=True)
      Array([2.0611537e-09], dtype=float32)

    References:
      optax ``softmax_cross_entropy_with_integer_labels``; PyTorch
      ``torch.nn.CrossEntropyLoss`` (``weight``, ``ignore_index``,
      ``label_smoothing``); Chowdhery et al., "PaLM", 2022 (z-loss); Gemma Team,
      "Gemma 2", 2024 (soft cap).
    """
    validation.check_floating("logits", logits)
    axis = validation.check_class_axis("logits", logits, axis)
    validation.check_sparse_labels("logits", logits, labels, axis)
    validation.check_label_smoothing(label_smoothing)
    validation.check_precise(precise)
    z_loss, logit_soft_cap = soft_cap_and_z_loss.check_z_loss_and_soft_cap(z_loss, logit_soft_cap)
    num_classes = jnp.shape(logits)[axis]
    validation.check_class_weights(class_weights, num_classes)
    ignore_index = validation.check_ignore_index(ignore_index)
    mask = validation.broadcast_where(where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels)
    smoothed = smoothing_applies(label_smoothing)
    checks.check_finite("sparse_softmax_cross_entropy", "logits", logits, where=mask)
    checks.check_class_labels(
        "sparse_softmax_cross_entropy", labels, num_classes, ignore_index=ignore_index
    )
    # The two halves of the loss when smoothed, else the loss: one array.
    outputs: Any = _sparse_softmax_cross_entropy_kernel(
        logits, labels, mask, axis, ignore_index, smoothed, bool(precise), z_loss, logit_soft_cap
    )
    if smoothed:
        half_label, half_uniform = outputs
        half = mix_with_uniform(half_label, half_uniform, jnp.asarray(label_smoothing, dtype))
        loss = half + half
    else:
        loss = outputs
    if class_weights is not None:
        weights = jnp.asarray(class_weights).astype(dtype)
        safe_labels = jnp.clip(labels.astype(jnp.int32), 0, num_classes - 1)
        loss = loss * jnp.take(weights, safe_labels)
    return loss
