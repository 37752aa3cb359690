"""The sigmoid focal loss from logits, elementwise (:func:`sigmoid_focal_loss`).

A :func:`jax.custom_vjp` kernel whose forward and backward passes are closed formulas in
log space (:mod:`jaxloss._src.focal`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src.focal.inputs import outside_zero_one
from jaxloss._src.focal.modulation import focal_weight, is_small_integer, split_gamma, sum_to_shape
from jaxloss._src.label_smoothing import smooth_binary_labels


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
    # w_hi = 0 at an infinite logit on the right side: its term is 0, not 0 * inf.
    ce = jnp.where(hard, jnp.zeros((), dtype), w_hi * abs_logits) + log1p_t
    q = scaled_q * inv_1p_t
    log_q = jnp.where(hard, -abs_logits, jnp.log(safe_scaled_q)) - log1p_t
    weight = focal_weight(q, log_q, gamma)
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
    if validation.is_static_number(gamma):
        if is_small_integer(gamma):
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
    loss = validation.nan_where(outside_zero_one(labels), loss)
    return loss, (logits, labels, alpha, gamma)


def _sigmoid_focal_bwd(gamma_static, residuals, cotangent):
    logits, labels, alpha, gamma = residuals
    # The barrier keeps XLA from sharing exp/log1p with the forward pass: shared, they were
    # materialised as three temporaries (48 MB at 4M elements) instead of being recomputed
    # inside one fused loop; recomputing was measured faster forward+backward (2-core CPU).
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
    invalid = outside_zero_one(labels)
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
        d_alpha = sum_to_shape(cotangent * p["weight"] * p["ce"] * (2 * labels - 1), alpha.shape)
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
    ``1 - p_t = y (1-p) + (1-y) p`` (soft labels allowed):

    .. math::
        \ell = \alpha_t (1 - p_t)^{\gamma} \, \mathrm{ce}, \qquad
        \alpha_t = \alpha y + (1 - \alpha)(1 - y)

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
    validation.check_gamma(gamma)
    validation.check_alpha(alpha, jnp.shape(logits), "the logits' shape")
    validation.check_label_smoothing(label_smoothing)
    mask = validation.broadcast_where(where, jnp.shape(logits))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    labels = smooth_binary_labels(labels, label_smoothing)
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        alpha = alpha.reshape((1,) * (logits.ndim - alpha.ndim) + alpha.shape)
    gamma_static, gamma_array = split_gamma(gamma, dtype)
    checks.check_finite("sigmoid_focal_loss", "logits", logits, where=where)
    checks.check_unit_interval("sigmoid_focal_loss", "labels", labels, where=where)
    loss: jax.Array = _sigmoid_focal_kernel(gamma_static, logits, labels, alpha, gamma_array)
    return validation.apply_where(loss, mask)
