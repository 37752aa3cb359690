"""Sigmoid binary cross-entropy from logits, elementwise, with PyTorch's ``pos_weight``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.label_smoothing import smooth_binary_labels

__all__ = ["sigmoid_binary_cross_entropy"]


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
    # An infinite logit makes one softplus inf; a term whose weight is 0 is 0 there, not NaN.
    softplus_pos, softplus_neg = _softplus_parts(logits)
    positive_weight = labels if pos_weight is None else pos_weight * labels
    positive = _weighted(positive_weight, softplus_neg)
    loss = positive + _weighted(1.0 - labels, softplus_pos)
    return loss, (logits, labels, pos_weight)


def _weighted(weight, value):
    """``weight * value``, and 0 where ``weight`` is 0 (also when ``value`` is inf)."""
    return jnp.where(weight == 0, jnp.zeros((), value.dtype), weight * value)


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
    weighted_neg = softplus_neg if pos_weight is None else _weighted(pos_weight, softplus_neg)
    labels_grad = cotangent * (weighted_neg - softplus_pos)
    pos_weight_grad = None if pos_weight is None else cotangent * _weighted(labels, softplus_neg)
    return logits_grad, labels_grad, pos_weight_grad


_sigmoid_binary_cross_entropy_kernel.defvjp(
    _sigmoid_binary_cross_entropy_fwd, _sigmoid_binary_cross_entropy_bwd
)


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
