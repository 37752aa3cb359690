"""Cross-entropy kernels: from logits (sigmoid, softmax) and from probabilities (Keras forms).

Every kernel is a :func:`jax.custom_vjp` with an analytic backward pass that keeps
only what it needs: the inputs and, for the softmax forms, two numbers per row (the
row maximum ``m`` and ``log(sum(exp(logits - m)))``). No array of the logits' size
is saved besides the inputs themselves, and the sparse forms never build a one-hot
of the labels.

Differentiation
    ``jax.grad``, ``jax.vjp`` and ``jax.jacrev`` use the analytic backward pass. The
    backward pass is itself written in differentiable ``jax.numpy``, so reverse over
    reverse works: ``jax.grad(jax.grad(f))`` and Hessians as
    ``jax.jacrev(jax.grad(f))`` are exact. Forward mode applied to the loss itself
    (``jax.jvp(f, ...)``, ``jax.jacfwd(f)``, ``jax.linearize(f, ...)``) is not defined
    for a ``custom_vjp`` and raises ``TypeError``. Forward over reverse works, because
    forward mode then differentiates the backward pass: ``jax.hessian(f)``
    (``jacfwd(jacrev(f))``) gives the same Hessian as ``jax.jacrev(jax.grad(f))``.

Numerical stability (float32, every finite input, logits up to +-3.4e38)
    The gradient with respect to the logits or probabilities is always finite. The
    loss is finite whenever its exact value is: terms that are linear in the logits
    are computed from ``(logits - m) / 2``, which cannot overflow even when a row
    spans -3.4e38 to 3.4e38, and are summed as non-negative parts (no cancellation).
    A loss whose exact value exceeds float32's largest number (e.g. the true class
    6e38 below the row's maximum) is ``inf``, as is the matching label gradient.
    Accuracy against a float64 reference: 1e-5 relative, with an absolute floor of
    about 1e-7 for the softmax forms by default (float32's resolution of
    ``log(sum(exp(x - m)))`` near 0): a confident correct prediction whose exact loss is
    below ~1e-7 can come out as 0, as in optax and PyTorch. ``precise=True`` removes the
    floor: ``log(sum(exp(x - m)))`` becomes ``log1p`` of a sum that never holds the
    dominant ``1`` (the sparse form leaves the label's class out, the dense form counts
    the classes tied at the max apart), and ``p - 1`` at the dominant class becomes
    ``expm1(log p)``; loss and gradient are then 1e-5 relative to float64 wherever the
    exact value is a normal float32 number. It costs extra work per logit on XLA:CPU
    (``bench/precise_cost.py``; figures in the README). The sigmoid form has no floor.

Speed
    Under ``jit``, with the forward and backward passes compiled together, XLA computes
    ``exp(logits - m)`` once and shares it between them (the jaxpr residuals stay
    per-row). The softmax forms' row statistics depend on the platform the code is
    compiled for (:mod:`jaxloss._src.platform`): on a CPU two passes over each row (the
    maximum, then the sum of exponentials), which XLA:CPU vectorises best; on a GPU or TPU
    one pass carrying both (an online log-sum-exp), so forward+backward reads the logits
    twice instead of three times (measured 1.24-1.35x faster on an NVIDIA H200 at 32000 and
    131072 classes). Figures for the CPU and the H200 against optax, PyTorch and
    Liger-Kernel are in the README.

dtypes
    float16 and bfloat16 inputs are read as such and computed in float32; the loss is
    float32 for them and the input's floating dtype otherwise. Gradients come back in
    each input's dtype.

Invalid values under ``jit``
    Shapes, dtypes and hyperparameters are checked at trace time (``ValueError``).
    An integer label outside ``[0, num_classes)`` that is not ``ignore_index``, or one
    pointing at a class masked out by ``where``, cannot be checked under ``jit``: that
    example's loss and gradient row are NaN, never a plausible finite number. Likewise a
    binary label or probability outside ``[0, 1]`` gives NaN for that element, and a
    negative or infinite score (or a negative label) in the categorical probability forms
    gives NaN for its row. Inside ``jaxloss.checks()`` each of these raises instead, naming
    the loss, the argument, the first offending index and the value.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, softmax_rows, validation
from jaxloss._src.label_smoothing import (
    mix_with_uniform,
    smooth_binary_labels,
    smooth_labels,
    smoothing_applies,
)
from jaxloss._src.platform import per_platform

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
    "sparse_categorical_cross_entropy",
    "sparse_softmax_cross_entropy",
]


# ------------------------------------------------------- dense softmax cross-entropy


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _softmax_cross_entropy_kernel(logits, labels, mask, axis, precise):
    # Not differentiated: loss = sum(y (L - (x - m))), the fewest elementwise operations.
    # Its only failure is a row spanning more than float32's range, where x - m overflows
    # to -inf (and 0 * inf is NaN): such rows, found after the fact, are recomputed from
    # halves (x - m) / 2, which cannot overflow; the recomputation runs only if one exists
    # (under jax.vmap the condition is batched and both run).
    row_max, log_sum_exp = softmax_rows.row_statistics(logits, mask, axis, precise)
    loss = jnp.sum(labels * (log_sum_exp - (logits - row_max)), axis=axis)
    return lax.cond(
        jnp.all(jnp.isfinite(loss)),
        lambda: loss,
        lambda: jnp.where(
            jnp.isfinite(loss), loss, _softmax_cross_entropy_from_halves(logits, labels, mask, axis)
        ),
    )


def _softmax_cross_entropy_from_halves(logits, labels, mask, axis):
    """The loss as 2 sum(y (L / 2 - h)) with h = (x - m) / 2: finite whenever it fits float32."""
    row_max = softmax_rows.row_max(logits, mask, axis)
    half_gap = softmax_rows.half_gap(softmax_rows.masked_logits(logits, mask), row_max)
    sum_exp = jnp.sum(jnp.exp(half_gap + half_gap), axis=axis, keepdims=True)
    log_sum_exp = softmax_rows.log_of_sum(sum_exp, mask)
    # Masked classes have labels 0 and half_gap -inf: their term is 0, not 0 * inf.
    weighted = labels * (log_sum_exp * 0.5 - softmax_rows.half_gap(logits, row_max))
    half_loss = jnp.sum(weighted, axis=axis)
    return half_loss + half_loss


def _softmax_cross_entropy_fwd(logits, labels, mask, axis, precise):
    row_max, log_sum_exp = softmax_rows.row_statistics(logits, mask, axis, precise)
    # loss = sum_c y_c (lse - x_c) = sum(y) * log_sum_exp - 2 * sum(y * (x - m) / 2),
    # two non-negative parts; masked labels are already 0.
    label_sum = jnp.sum(labels, axis=axis, keepdims=True)
    half_gap = softmax_rows.half_gap(logits, row_max)
    weighted_gap = jnp.sum(labels * half_gap, axis=axis, keepdims=True)
    loss = label_sum * log_sum_exp - weighted_gap - weighted_gap
    residuals = (logits, labels, mask, row_max, log_sum_exp, label_sum)
    return jnp.squeeze(loss, axis), residuals


def _softmax_cross_entropy_bwd(axis, precise, residuals, cotangent):
    logits, labels, mask, row_max, log_sum_exp, label_sum = residuals
    cotangent = jnp.expand_dims(cotangent, axis)
    probs = softmax_rows.softmax_from_statistics(logits, mask, row_max, log_sum_exp)
    logits_grad = probs * label_sum - labels
    if precise:
        # At the max p = 1 / (1 + e) with e = expm1(L) the precise excess, so
        # p sum(y) - y = ((sum(y) - y) - y e) p: no 1 - 1 cancellation as p -> 1.
        at_max = softmax_rows.masked_logits(logits, mask) == row_max
        excess_form = ((label_sum - labels) - labels * jnp.expm1(log_sum_exp)) * jnp.exp(
            -log_sum_exp
        )
        logits_grad = jnp.where(at_max, excess_form, logits_grad)
    logits_grad = cotangent * logits_grad
    half_gap = softmax_rows.half_gap(logits, row_max)
    labels_grad = cotangent * (log_sum_exp - half_gap - half_gap)
    return logits_grad, labels_grad, None


_softmax_cross_entropy_kernel.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


# ------------------------------------------------------ sparse softmax cross-entropy


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6))
def _sparse_softmax_cross_entropy_kernel(
    logits, labels, mask, axis, ignore_index, smoothed, precise
):
    return _sparse_softmax_cross_entropy_fwd(
        logits, labels, mask, axis, ignore_index, smoothed, precise
    )[0]


def _label_status(labels, mask, num_classes, axis, ignore_index, logits_shape):
    """Per row (keepdims): a safe class index, and the factor that scales the row.

    The factor is 1 for a valid label, NaN for a label outside ``[0, num_classes)``
    or on a masked class, and 0 for rows that are ignored or entirely masked.
    """
    labels = jnp.expand_dims(labels.astype(jnp.int32), axis)
    in_range = (labels >= 0) & (labels < num_classes)
    safe_labels = jnp.where(in_range, labels, 0)
    active = jnp.ones(labels.shape, jnp.bool_)
    if mask is not None:
        active = softmax_rows.active_rows(mask, axis)
        label_unmasked = jnp.take_along_axis(jnp.broadcast_to(mask, logits_shape), safe_labels, axis)
        in_range = in_range & label_unmasked
    if ignore_index is not None:
        active = active & (labels != ignore_index)
    return safe_labels, active, in_range


def _row_factor(active, valid, dtype):
    one = jnp.where(valid, jnp.ones((), dtype), jnp.asarray(jnp.nan, dtype))
    return jnp.where(active, one, jnp.zeros((), dtype))


def _log_sum_exp_around_label(logits, mask, axis, row_max, labels, label_gap):
    """``L = log1p(expm1(x_y - m) + sum_{c != y} exp(x_c - m))``: exact as ``p_y -> 1``.

    When the label holds the maximum, ``expm1(0) = 0`` and ``L = log1p(rest)`` keeps
    float32's relative accuracy however small ``rest`` is; otherwise ``L >= log 2`` in
    effect and nothing cancels badly. The label is left out with the weight
    ``min(|c - y|, 1)`` on a float iota: arithmetic that XLA:CPU vectorises in the row
    sum, where an integer compare and select was measured 2-3x slower. (A float32 iota is
    exact below 2**24 classes; beyond, an integer compare is used.)
    """
    num_classes = logits.shape[axis]
    dtype = logits.dtype
    if num_classes < 2**24:
        classes = lax.broadcasted_iota(dtype, logits.shape, axis)
        not_label = jnp.minimum(jnp.abs(classes - labels.astype(dtype)), 1)
    else:
        not_label = (lax.broadcasted_iota(jnp.int32, logits.shape, axis) != labels).astype(dtype)
    shifted_exp = jnp.exp(softmax_rows.masked_logits(logits, mask) - row_max)
    rest = jnp.sum(not_label * shifted_exp, axis=axis, keepdims=True)
    log_sum_exp = jnp.log1p(jnp.expm1(label_gap) + rest)
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
    1.3x slower at [65536, 10]. One pass over the row on an accelerator.
    """

    def two_passes(logits):
        row_max = lax.stop_gradient(jnp.max(logits, axis=axis))
        sum_exp = jnp.sum(jnp.exp(logits - jnp.expand_dims(row_max, axis)), axis=axis)
        return row_max, jnp.log(sum_exp)

    def one_pass(logits):
        return softmax_rows.online_row_statistics(logits, jnp.ones((), logits.dtype), axis)

    row_max, log_sum_exp = per_platform(logits, cpu=two_passes, accelerator=one_pass)
    kept_max = jnp.expand_dims(row_max, axis)
    safe_labels, label_logit = _label_logit_or_nan(logits, labels, axis)
    loss = log_sum_exp + (row_max - jnp.squeeze(label_logit, axis))
    kept_log_sum_exp = jnp.expand_dims(log_sum_exp, axis)
    residuals = (logits, safe_labels, None, kept_max, kept_log_sum_exp, None, None, None)
    return loss, residuals


def _sparse_softmax_cross_entropy_fwd(logits, labels, mask, axis, ignore_index, smoothed, precise):
    if mask is None and ignore_index is None and not smoothed and not precise:
        return _sparse_forward_plain(logits, labels, axis)
    num_classes = logits.shape[axis]
    # precise: up to _FEW_CLASSES the dense form's statistics (counting the classes at the
    # max) were measured faster than leaving the label out (forward+backward at 10 classes
    # 1.9x the default against 2.8x); from 100 classes on the label-exclusion form is.
    around_label = precise and num_classes > _FEW_CLASSES
    if around_label:
        row_max = softmax_rows.row_max(logits, mask, axis)  # L is computed around the label below
    else:
        row_max, log_sum_exp = softmax_rows.row_statistics(logits, mask, axis, precise)
    if mask is None and ignore_index is None:
        safe_labels, label_logit = _label_logit_or_nan(logits, labels, axis)
        factor = None
    else:
        safe_labels, active, valid = _label_status(
            labels, mask, num_classes, axis, ignore_index, logits.shape
        )
        factor = _row_factor(active, valid, logits.dtype)
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


def _sparse_softmax_cross_entropy_bwd(axis, ignore_index, smoothed, precise, residuals, cotangents):
    logits, safe_labels, mask, row_max, log_sum_exp, factor, inverse_count, label_gap = residuals
    if factor is None:
        # Fast path: labels as given; one out of range matches no class and its row is NaN.
        in_range = (safe_labels >= 0) & (safe_labels < logits.shape[axis])
        factor = _row_factor(True, in_range, logits.dtype)
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
    # One fused elementwise pass: g (softmax - [c = label]) (+ the uniform part).
    shifted_exp = jnp.exp(softmax_rows.masked_logits(logits, mask) - row_max)
    classes = lax.broadcasted_iota(jnp.int32, logits.shape, axis)
    is_label = classes == safe_labels
    if precise:
        # At the label g (p - 1) = g expm1(x_y - m - L): exact as p -> 1, where p - 1 is not.
        label_log_prob = label_gap - log_sum_exp
        label_term = label_cotangent * jnp.expm1(label_log_prob)
        if smoothed:
            label_term = label_term + uniform_cotangent * jnp.exp(label_log_prob)
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
    return grad, None, None


_sparse_softmax_cross_entropy_kernel.defvjp(
    _sparse_softmax_cross_entropy_fwd, _sparse_softmax_cross_entropy_bwd
)


# --------------------------------------------------------- sigmoid binary cross-entropy


def _softplus_parts(logits):
    """``softplus(x)`` and ``softplus(-x)`` from one exponential, finite for finite x."""
    log_term = jnp.log1p(jnp.exp(-jnp.abs(logits)))
    zero = jnp.zeros((), logits.dtype)
    return jnp.maximum(logits, zero) + log_term, jnp.maximum(-logits, zero) + log_term


@jax.custom_vjp
def _sigmoid_binary_cross_entropy_kernel(logits, labels, pos_weight):
    return _sigmoid_binary_cross_entropy_fwd(logits, labels, pos_weight)[0]


def _sigmoid_binary_cross_entropy_fwd(logits, labels, pos_weight):
    # -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x): both >= 0.
    softplus_pos, softplus_neg = _softplus_parts(logits)
    positive = labels * softplus_neg
    if pos_weight is not None:
        positive = pos_weight * positive
    loss = positive + (1.0 - labels) * softplus_pos
    return loss, (logits, labels, pos_weight)


def _sigmoid_binary_cross_entropy_bwd(residuals, cotangent):
    logits, labels, pos_weight = residuals
    exp_neg_abs = jnp.exp(-jnp.abs(logits))
    reciprocal = 1.0 / (1.0 + exp_neg_abs)
    non_negative = logits >= 0
    sigmoid_pos = jnp.where(non_negative, reciprocal, exp_neg_abs * reciprocal)  # sigmoid(x)
    sigmoid_neg = jnp.where(non_negative, exp_neg_abs * reciprocal, reciprocal)  # sigmoid(-x)
    positive = labels * sigmoid_neg
    if pos_weight is not None:
        positive = pos_weight * positive
    logits_grad = cotangent * ((1.0 - labels) * sigmoid_pos - positive)
    softplus_pos, softplus_neg = _softplus_parts(logits)
    weighted_neg = softplus_neg if pos_weight is None else pos_weight * softplus_neg
    labels_grad = cotangent * (weighted_neg - softplus_pos)
    pos_weight_grad = None if pos_weight is None else cotangent * labels * softplus_neg
    return logits_grad, labels_grad, pos_weight_grad


_sigmoid_binary_cross_entropy_kernel.defvjp(
    _sigmoid_binary_cross_entropy_fwd, _sigmoid_binary_cross_entropy_bwd
)


# ------------------------------------------------------ probability-space (Keras) forms


def _clip_probs(probs, epsilon):
    low = jnp.asarray(epsilon, probs.dtype)
    high = jnp.asarray(1.0 - epsilon, probs.dtype)
    inside = (probs >= low) & (probs <= high)
    return jnp.clip(probs, low, high), inside


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _binary_cross_entropy_kernel(probs, labels, epsilon):
    return _binary_cross_entropy_fwd(probs, labels, epsilon)[0]


def _binary_cross_entropy_fwd(probs, labels, epsilon):
    clipped, _ = _clip_probs(probs, epsilon)
    loss = -(labels * jnp.log(clipped)) - (1.0 - labels) * jnp.log(1.0 - clipped)
    return loss, (probs, labels)


def _binary_cross_entropy_bwd(epsilon, residuals, cotangent):
    probs, labels = residuals
    clipped, inside = _clip_probs(probs, epsilon)
    slope = (1.0 - labels) / (1.0 - clipped) - labels / clipped
    probs_grad = jnp.where(inside, cotangent * slope, jnp.zeros((), probs.dtype))
    labels_grad = cotangent * (jnp.log(1.0 - clipped) - jnp.log(clipped))
    return probs_grad, labels_grad


_binary_cross_entropy_kernel.defvjp(_binary_cross_entropy_fwd, _binary_cross_entropy_bwd)


def _normalised(probs, mask, axis):
    """Probabilities divided by their (unmasked) row sum; entirely masked rows divide by 1."""
    if mask is not None:
        probs = jnp.where(mask, probs, jnp.zeros((), probs.dtype))
    total = jnp.sum(probs, axis=axis, keepdims=True)
    if mask is not None:
        total = jnp.where(softmax_rows.active_rows(mask, axis), total, jnp.ones((), total.dtype))
    return probs, total


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _categorical_cross_entropy_kernel(probs, labels, mask, axis, epsilon):
    return _categorical_cross_entropy_fwd(probs, labels, mask, axis, epsilon)[0]


def _categorical_cross_entropy_fwd(probs, labels, mask, axis, epsilon):
    masked_probs, total = _normalised(probs, mask, axis)
    clipped, _ = _clip_probs(masked_probs / total, epsilon)
    loss = -jnp.sum(labels * jnp.log(clipped), axis=axis)
    return loss, (probs, labels, mask, total)


def _categorical_cross_entropy_bwd(axis, epsilon, residuals, cotangent):
    probs, labels, mask, total = residuals
    cotangent = jnp.expand_dims(cotangent, axis)
    masked_probs = probs if mask is None else jnp.where(mask, probs, jnp.zeros((), probs.dtype))
    normalised = masked_probs / total
    clipped, inside = _clip_probs(normalised, epsilon)
    # d loss / d q_c = -y_c / clip(q_c) inside the clip range; q = p / sum(p).
    slope = jnp.where(inside, -labels / clipped, jnp.zeros((), probs.dtype))
    through_total = jnp.sum(slope * normalised, axis=axis, keepdims=True)
    probs_grad = cotangent * (slope - through_total) / total
    if mask is not None:
        probs_grad = jnp.where(mask, probs_grad, jnp.zeros((), probs.dtype))
    labels_grad = -cotangent * jnp.log(clipped)
    return probs_grad, labels_grad, None


_categorical_cross_entropy_kernel.defvjp(
    _categorical_cross_entropy_fwd, _categorical_cross_entropy_bwd
)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _sparse_categorical_cross_entropy_kernel(probs, labels, mask, axis, epsilon, ignore_index):
    return _sparse_categorical_cross_entropy_fwd(probs, labels, mask, axis, epsilon, ignore_index)[0]


def _sparse_categorical_cross_entropy_fwd(probs, labels, mask, axis, epsilon, ignore_index):
    num_classes = probs.shape[axis]
    safe_labels, active, valid = _label_status(
        labels, mask, num_classes, axis, ignore_index, probs.shape
    )
    factor = _row_factor(active, valid, probs.dtype)
    masked_probs, total = _normalised(probs, mask, axis)
    label_prob = jnp.take_along_axis(masked_probs, safe_labels, axis) / total
    clipped, _ = _clip_probs(label_prob, epsilon)
    loss = -jnp.log(clipped) * factor
    return jnp.squeeze(loss, axis), (probs, safe_labels, mask, total, factor)


def _sparse_categorical_cross_entropy_bwd(axis, epsilon, ignore_index, residuals, cotangent):
    probs, safe_labels, mask, total, factor = residuals
    cotangent = jnp.expand_dims(cotangent, axis) * factor
    masked_probs = probs if mask is None else jnp.where(mask, probs, jnp.zeros((), probs.dtype))
    label_prob = jnp.take_along_axis(masked_probs, safe_labels, axis) / total
    clipped, inside = _clip_probs(label_prob, epsilon)
    # d loss / d p_j = -(1 / clip(q_l)) ([j == l] - q_l) / sum(p), zero outside the clip range.
    scale = jnp.where(inside, -cotangent / (clipped * total), jnp.zeros((), probs.dtype))
    classes = lax.broadcasted_iota(jnp.int32, probs.shape, axis)
    indicator = jnp.where(classes == safe_labels, jnp.ones((), probs.dtype), jnp.zeros((), probs.dtype))
    probs_grad = scale * (indicator - label_prob)
    if mask is not None:
        probs_grad = jnp.where(mask, probs_grad, jnp.zeros((), probs.dtype))
    return probs_grad, None, None


_sparse_categorical_cross_entropy_kernel.defvjp(
    _sparse_categorical_cross_entropy_fwd, _sparse_categorical_cross_entropy_bwd
)


# ------------------------------------------------------------------------ public API


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    pos_weight: jax.typing.ArrayLike | None = None,
    label_smoothing: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Binary cross-entropy from logits, elementwise, with PyTorch's ``pos_weight``.

    .. math::
        \ell = -w\,y \log \sigma(x) - (1 - y) \log(1 - \sigma(x))
             = w\,y\,\mathrm{softplus}(-x) + (1 - y)\,\mathrm{softplus}(x)

    with ``y`` smoothed as Keras does, ``y (1 - s) + s / 2``. Both parts are
    non-negative and computed from one ``exp(-|x|)``, so the loss is finite and
    accurate for every finite logit (it equals ``|x|`` for a wrong label at
    ``|x| = 3e38``) and the gradient ``(1 - y) sigmoid(x) - w y sigmoid(-x)`` is
    always finite.

    Args:
      logits: floating array of any shape.
      labels: array of the same shape, values in ``[0, 1]`` (hard or soft); integer
        or boolean labels are cast to the computation dtype.
      pos_weight: optional weight of the positive term (PyTorch's
        ``BCEWithLogitsLoss(pos_weight=...)``), broadcastable to ``logits``; ``>= 0``.
      label_smoothing: in ``[0, 1]``.
      where: optional boolean mask broadcastable to ``logits``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The elementwise loss, shape of ``logits`` (float32 for half-precision inputs). A
      label outside ``[0, 1]`` (not checkable under ``jit``) gives NaN for that element.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.sigmoid_binary_cross_entropy(jnp.array([2.0, -1.0]), jnp.array([1.0, 0.0]))
      Array([0.126928 , 0.3132617], dtype=float32)

    References:
      PyTorch ``torch.nn.BCEWithLogitsLoss``; Keras ``BinaryCrossentropy``.
    """
    validation.check_floating("logits", logits)
    validation.check_same_shape("logits", logits, "labels", labels)
    validation.check_label_smoothing(label_smoothing)
    shape = jnp.shape(logits)
    mask = validation.broadcast_where(where, shape)
    dtype = validation.compute_dtype(logits, labels)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    invalid = validation.outside_unit_interval(labels)
    labels = smooth_binary_labels(labels, label_smoothing)
    if pos_weight is not None:
        validation.check_floating("pos_weight", pos_weight)
        validation.check_broadcasts("pos_weight", pos_weight, shape, "logits")
        validation.check_non_negative("pos_weight", pos_weight)
        pos_weight = jnp.broadcast_to(jnp.asarray(pos_weight).astype(dtype), shape)
    checks.check_finite("sigmoid_binary_cross_entropy", "logits", logits, where=mask)
    checks.check_unit_interval("sigmoid_binary_cross_entropy", "labels", labels, where=mask)
    loss = _sigmoid_binary_cross_entropy_kernel(logits, labels, pos_weight)
    return validation.apply_where(validation.nan_where(invalid, loss), mask)


def binary_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: float = 1e-7,
    label_smoothing: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Binary cross-entropy from probabilities, elementwise, clipped as Keras clips.

    .. math::
        \ell = -y \log \hat p - (1 - y) \log(1 - \hat p),\qquad
        \hat p = \mathrm{clip}(p, \epsilon, 1 - \epsilon)

    with ``y`` smoothed as Keras does, ``y (1 - s) + s / 2``. The gradient with
    respect to ``p`` is zero outside ``[epsilon, 1 - epsilon]`` (as the clip's).
    Keras's ``BinaryCrossentropy`` then averages over the last axis; this kernel
    does not.

    Args:
      probs: floating array of probabilities.
      labels: array of the same shape, values in ``[0, 1]``.
      epsilon: clipping constant in ``[0, 0.5)`` (Keras: ``1e-7``).
      label_smoothing: in ``[0, 1]``.
      where: optional boolean mask broadcastable to ``probs``; masked elements give
        loss 0 and gradient 0.

    Returns:
      The elementwise loss, shape of ``probs``. A probability or label outside ``[0, 1]``
      (e.g. logits passed as probabilities) gives NaN for that element, never a clipped
      finite value.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.binary_cross_entropy(jnp.array([0.9, 0.2]), jnp.array([1.0, 0.0]))
      Array([0.105361, 0.223144], dtype=float32)

    References:
      Keras ``keras.losses.binary_crossentropy`` (``from_logits=False``).
    """
    validation.check_floating("probs", probs)
    validation.check_same_shape("probs", probs, "labels", labels)
    validation.check_label_smoothing(label_smoothing)
    validation.check_clip_epsilon(epsilon)
    mask = validation.broadcast_where(where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs, labels)
    probs = jnp.asarray(probs).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    invalid = validation.outside_unit_interval(probs) | validation.outside_unit_interval(labels)
    labels = smooth_binary_labels(labels, label_smoothing)
    checks.check_unit_interval("binary_cross_entropy", "probs", probs, where=mask)
    checks.check_unit_interval("binary_cross_entropy", "labels", labels, where=mask)
    loss = _binary_cross_entropy_kernel(probs, labels, float(epsilon))
    return validation.apply_where(validation.nan_where(invalid, loss), mask)


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    label_smoothing: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
    precise: bool = False,
) -> jax.Array:
    r"""Softmax cross-entropy with dense (one-hot or soft) labels.

    .. math::
        \ell = \sum_c y_c \big(\log\textstyle\sum_k e^{x_k} - x_c\big)
             = \Big(\sum_c y_c\Big) L - 2 \sum_c y_c \frac{x_c - m}{2},
        \qquad L = \log \sum_k e^{x_k - m},\ m = \max_k x_k

    with ``y`` smoothed as Keras does, ``y (1 - s) + s / C``. Only ``m`` and ``L``
    (one number each per row) are saved for the backward pass
    ``g (softmax(x) sum(y) - y)``.

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
        work per logit: 1.07-2.7x the default's time on XLA:CPU, measured in the README.

    Returns:
      The loss per example: ``logits``'s shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.softmax_cross_entropy(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([[1.0, 0.0, 0.0]]))
      Array([0.169846], dtype=float32)

    References:
      optax ``softmax_cross_entropy``; Keras ``CategoricalCrossentropy(from_logits=True)``.
    """
    validation.check_floating("logits", logits)
    validation.check_floating("labels", labels)
    validation.check_same_shape("logits", logits, "labels", labels)
    axis = validation.check_class_axis("logits", logits, axis)
    validation.check_label_smoothing(label_smoothing)
    validation.check_precise(precise)
    mask = validation.broadcast_where(where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits, labels)
    logits = jnp.asarray(logits).astype(dtype)
    labels = smooth_labels(
        jnp.asarray(labels).astype(dtype), label_smoothing, axis=axis, where=mask
    )
    checks.check_finite("softmax_cross_entropy", "logits", logits, where=mask)
    checks.check_non_negative("softmax_cross_entropy", "labels", labels, where=mask)
    return _softmax_cross_entropy_kernel(logits, labels, mask, axis, bool(precise))


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
        work per logit: 1.07-2.7x the default's time on XLA:CPU, measured in the README.

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
      ``label_smoothing``).
    """
    validation.check_floating("logits", logits)
    axis = validation.check_class_axis("logits", logits, axis)
    validation.check_sparse_labels("logits", logits, labels, axis)
    validation.check_label_smoothing(label_smoothing)
    validation.check_precise(precise)
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
    outputs = _sparse_softmax_cross_entropy_kernel(
        logits, labels, mask, axis, ignore_index, smoothed, bool(precise)
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


def categorical_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-7,
    label_smoothing: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Categorical cross-entropy from probabilities, normalised then clipped as Keras does.

    .. math::
        \ell = -\sum_c y_c \log \mathrm{clip}\Big(\frac{p_c}{\sum_k p_k},
               \epsilon, 1 - \epsilon\Big)

    with ``y`` smoothed as Keras does, ``y (1 - s) + s / C``.

    Args:
      probs: floating array of non-negative scores with a class axis.
      labels: floating array of the same shape (one-hot or soft).
      axis: the class axis.
      epsilon: clipping constant in ``[0, 0.5)`` (Keras: ``1e-7``).
      label_smoothing: in ``[0, 1]``.
      where: optional boolean mask broadcastable to ``probs``: masked classes are
        treated as if sliced away (also in the normalisation).

    Returns:
      The loss per example: ``probs``'s shape without ``axis``. A row of zeros
      (sum 0) gives NaN, as in Keras, and so does a row with a negative or infinite
      score or a negative label (scores above 1 are fine: they are normalised).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.categorical_cross_entropy(jnp.array([[0.8, 0.1, 0.1]]), jnp.array([[1.0, 0.0, 0.0]]))
      Array([0.223144], dtype=float32)

    References:
      Keras ``keras.losses.categorical_crossentropy`` (``from_logits=False``).
    """
    validation.check_floating("probs", probs)
    validation.check_floating("labels", labels)
    validation.check_same_shape("probs", probs, "labels", labels)
    axis = validation.check_class_axis("probs", probs, axis)
    validation.check_label_smoothing(label_smoothing)
    validation.check_clip_epsilon(epsilon)
    mask = validation.broadcast_where(where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs, labels)
    probs = jnp.asarray(probs).astype(dtype)
    labels = smooth_labels(
        jnp.asarray(labels).astype(dtype), label_smoothing, axis=axis, where=mask
    )
    checks.check_non_negative("categorical_cross_entropy", "probs", probs, where=mask)
    checks.check_non_negative("categorical_cross_entropy", "labels", labels, where=mask)
    invalid = validation.invalid_scores(probs) | (labels < 0)
    loss = _categorical_cross_entropy_kernel(probs, labels, mask, axis, float(epsilon))
    return validation.nan_where(validation.any_along(invalid, axis, mask), loss)


def sparse_categorical_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-7,
    ignore_index: int | None = None,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Categorical cross-entropy from probabilities with integer labels (Keras's sparse form).

    .. math::
        \ell = -\log \mathrm{clip}\Big(\frac{p_y}{\sum_k p_k}, \epsilon, 1 - \epsilon\Big)

    Args:
      probs: floating array of non-negative scores with a class axis of size ``C``.
      labels: integer class indices, ``probs``'s shape without ``axis``.
      axis: the class axis.
      epsilon: clipping constant in ``[0, 0.5)`` (Keras: ``1e-7``).
      ignore_index: examples with this label give loss 0 and gradient 0.
      where: optional boolean mask broadcastable to ``probs``: masked classes are
        treated as if sliced away.

    Returns:
      The loss per example, ``labels``'s shape. A label outside ``[0, C)`` that is
      not ``ignore_index``, or on a masked class, gives NaN for that example, and so
      does a row with a negative or infinite score.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> jaxloss.sparse_categorical_cross_entropy(jnp.array([[0.8, 0.1, 0.1]]), jnp.array([0]))
      Array([0.223144], dtype=float32)

    References:
      Keras ``keras.losses.sparse_categorical_crossentropy`` (``from_logits=False``).
    """
    validation.check_floating("probs", probs)
    axis = validation.check_class_axis("probs", probs, axis)
    validation.check_sparse_labels("probs", probs, labels, axis)
    validation.check_clip_epsilon(epsilon)
    ignore_index = validation.check_ignore_index(ignore_index)
    mask = validation.broadcast_where(where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs)
    probs = jnp.asarray(probs).astype(dtype)
    checks.check_non_negative("sparse_categorical_cross_entropy", "probs", probs, where=mask)
    checks.check_class_labels(
        "sparse_categorical_cross_entropy", labels, probs.shape[axis], ignore_index=ignore_index
    )
    loss = _sparse_categorical_cross_entropy_kernel(
        probs, jnp.asarray(labels), mask, axis, float(epsilon), ignore_index
    )
    invalid = validation.any_along(validation.invalid_scores(probs), axis, mask)
    if ignore_index is not None:
        invalid = invalid & (jnp.asarray(labels) != ignore_index)
    return validation.nan_where(invalid, loss)
