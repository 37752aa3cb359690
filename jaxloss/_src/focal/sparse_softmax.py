"""The softmax focal loss from logits with integer labels (:func:`sparse_softmax_focal_loss`).

A :func:`jax.custom_vjp` kernel that never builds a one-hot: two passes over the logits
(max, sum) give every per-row quantity, and the backward pass is one elementwise loop.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src.focal.inputs import prepare_class_inputs
from jaxloss._src.focal.modulation import focal_weight, weight_at_zero
from jaxloss._src.softmax_rows import finite_row_max, gap_to_max, masked_logits


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
    masked = masked_logits(logits, mask)
    row_max = finite_row_max(masked, None, axis)  # masked already
    is_label = lax.broadcasted_iota(index.dtype, logits.shape, axis) == index
    rest = jnp.sum(jnp.where(is_label, zero, jnp.exp(gap_to_max(masked, row_max))), axis=axis, keepdims=True)
    label_gap = gap_to_max(jnp.take_along_axis(logits, index, axis=axis), row_max)
    label_exp = jnp.exp(label_gap)
    # The row's mass is at least its maximum's exp(0) = 1. Lifting it to 1 off the label
    # gives a row of nothing but -inf one phantom unit (p_y = 0 there, as for any -inf
    # label, instead of 0 / 0), and undoes a fused computation of the logits whose rounding
    # left the maximum's 1 out (see softmax_rows.gap_to_max), where 1 + rest rounded to 0.
    rest = rest + jnp.maximum(one - label_exp - rest, zero)
    log_sum = jnp.log1p((label_exp - 1) + rest)
    log_prob = label_gap - log_sum
    rest_pos = rest > 0
    safe_rest = jnp.where(rest_pos, rest, one)
    complement = rest / (label_exp + rest)
    log_complement = jnp.log(safe_rest) - log_sum
    # p log p / (1 - p) = exp(z_y - max) log p / rest, -> -1 as rest -> 0; log p clamped at
    # -1000 (where p is 0 anyway) so that p = 0 gives 0, also in its derivative.
    ratio = jnp.where(rest_pos, label_exp * jnp.maximum(log_prob, -1000.0) / safe_rest, -one)
    weight = weight_at_zero(focal_weight(complement, log_complement, gamma), ~rest_pos, gamma)
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
    prob = jnp.exp(gap_to_max(logits, res["row_max"]) - res["log_sum"])
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

    With ``p = softmax(z)`` along ``axis`` and ``y`` the label's class:

    .. math::
        \ell = -\alpha_y (1 - p_y)^{\gamma} \log p_y

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
    logits, alpha, gamma_static, gamma, axis, mask = prepare_class_inputs(
        logits, alpha, gamma, axis, where
    )
    validation.check_labels_without_class_axis(labels, logits.shape, axis)
    ignore_index = validation.check_ignore_index(ignore_index)
    labels = jnp.asarray(labels)
    checks.check_finite("sparse_softmax_focal_loss", "logits", logits, where=mask)
    checks.check_class_labels(
        "sparse_softmax_focal_loss", labels, logits.shape[axis], ignore_index=ignore_index
    )
    return _sparse_focal_kernel(
        axis, ignore_index, gamma_static, logits, labels, mask, alpha, gamma
    )
