"""Cross-entropies from probabilities, as Keras computes them (``from_logits=False``).

Binary, categorical and sparse categorical: the categorical forms divide the scores by their
row sum, then all clip to ``[epsilon, 1 - epsilon]``; the gradient is zero where the clip is
active, as the clip's own. PyTorch's binary rule, each logarithm floored at -100 instead of
the clip, is here too (private: the kernel of ``jaxloss.torch.binary_cross_entropy``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxloss._src import checks, softmax_rows, validation
from jaxloss._src.cross_entropy import class_labels
from jaxloss._src.label_smoothing import cast_and_smooth, smooth_binary_labels

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sparse_categorical_cross_entropy",
]


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

# PyTorch's floor on each logarithm of its BCE, and the floor on p (1 - p) in its gradient
# (a float32 constant, also in float64).
TORCH_LOG_FLOOR = -100.0
TORCH_GRAD_EPSILON = float(np.float32(1e-12))


def _floored_logs(probs):
    floor = jnp.asarray(TORCH_LOG_FLOOR, probs.dtype)
    return jnp.maximum(jnp.log(probs), floor), jnp.maximum(jnp.log1p(-probs), floor)


@jax.custom_vjp
def _log_floored_binary_cross_entropy_kernel(probs, labels):
    return _log_floored_binary_cross_entropy_fwd(probs, labels)[0]


def _log_floored_binary_cross_entropy_fwd(probs, labels):
    log_p, log_not_p = _floored_logs(probs)
    loss = (labels - 1.0) * log_not_p - labels * log_p
    return loss, (probs, labels)


def _log_floored_binary_cross_entropy_bwd(residuals, cotangent):
    probs, labels = residuals
    # PyTorch's gradient: the exact slope (p - y) / (p (1 - p)), its denominator floored so
    # that it is finite (and large) at p = 0 and 1, where the loss is floored.
    denominator = jnp.maximum(probs * (1.0 - probs), jnp.asarray(TORCH_GRAD_EPSILON, probs.dtype))
    log_p, log_not_p = _floored_logs(probs)
    # The slope of the floored loss in the labels: finite at p = 0 and 1, where PyTorch's,
    # -logit(p), is infinite.
    return cotangent * (probs - labels) / denominator, cotangent * (log_not_p - log_p)


_log_floored_binary_cross_entropy_kernel.defvjp(
    _log_floored_binary_cross_entropy_fwd, _log_floored_binary_cross_entropy_bwd
)


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
    safe_labels, active, valid = class_labels.label_status(
        labels, mask, num_classes, axis, ignore_index, probs.shape
    )
    factor = class_labels.row_factor(active, valid, probs.dtype)
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
    validation.check_clip_epsilon(epsilon)
    probs, labels, mask, invalid = _binary_inputs(probs, labels, label_smoothing, where)
    loss: jax.Array = _binary_cross_entropy_kernel(probs, labels, float(epsilon))
    return validation.apply_where(validation.nan_where(invalid, loss), mask)


def _binary_inputs(probs, labels, label_smoothing, where):
    """Checked and cast ``(probs, smoothed labels, mask, invalid)`` of a binary cross-entropy."""
    validation.check_floating("probs", probs)
    validation.check_same_shape("probs", probs, "labels", labels)
    validation.check_label_smoothing(label_smoothing)
    mask = validation.broadcast_where(where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs, labels)
    probs = jnp.asarray(probs).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    invalid = validation.outside_unit_interval(probs) | validation.outside_unit_interval(labels)
    labels = smooth_binary_labels(labels, label_smoothing)
    checks.check_unit_interval("binary_cross_entropy", "probs", probs, where=mask)
    checks.check_unit_interval("binary_cross_entropy", "labels", labels, where=mask)
    return probs, labels, mask, invalid


def _log_floored_binary_cross_entropy(
    probs: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    r"""Binary cross-entropy from probabilities, each logarithm floored at -100 as PyTorch does.

    .. math:: \ell = -y \max(\log p, -100) - (1 - y) \max(\log(1 - p), -100)

    with PyTorch's gradients: ``(p - y) / max(p (1 - p), 1e-12)`` in ``p`` (finite at 0 and
    1), and in ``y`` the slope of the floored loss, ``max(log(1 - p), -100) - max(log p,
    -100)`` (PyTorch's is ``-logit(p)``, infinite at ``p`` = 0 and 1). Not clipped, unlike
    :func:`binary_cross_entropy`: ``p = 0`` with ``y = 1`` costs 100. The rule of
    :func:`jaxloss.torch.binary_cross_entropy`; the input rules are
    :func:`binary_cross_entropy`'s.

    Example:
      >>> import jax.numpy as jnp
      >>> _log_floored_binary_cross_entropy(jnp.array([0.0, 0.9]), jnp.array([1.0, 1.0]))
      Array([100.        ,   0.10536055], dtype=float32)
    """
    probs, labels, _, invalid = _binary_inputs(probs, labels, 0.0, None)
    return validation.nan_where(invalid, _log_floored_binary_cross_entropy_kernel(probs, labels))


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
    axis = validation.check_dense_labels("probs", probs, labels, axis, label_smoothing)
    validation.check_clip_epsilon(epsilon)
    probs, labels, mask = cast_and_smooth(probs, labels, label_smoothing, axis, where)
    checks.check_non_negative("categorical_cross_entropy", "probs", probs, where=mask)
    checks.check_non_negative("categorical_cross_entropy", "labels", labels, where=mask)
    invalid = validation.invalid_scores(probs) | (labels < 0)
    loss: jax.Array = _categorical_cross_entropy_kernel(
        probs, labels, mask, axis, float(epsilon)
    )
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
    loss: jax.Array = _sparse_categorical_cross_entropy_kernel(
        probs, jnp.asarray(labels), mask, axis, float(epsilon), ignore_index
    )
    invalid = validation.any_along(validation.invalid_scores(probs), axis, mask)
    if ignore_index is not None:
        invalid = invalid & (jnp.asarray(labels) != ignore_index)
    return validation.nan_where(invalid, loss)
