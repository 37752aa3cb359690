"""Focal cross-entropies from probabilities, as Keras 3 computes them.

:func:`binary_focal_cross_entropy` and :func:`categorical_focal_cross_entropy`: plain
``jax.numpy`` with autodiff, the probabilities clipped to ``[epsilon, 1 - epsilon]`` so
that the logarithms stay finite. The logit forms (:mod:`jaxloss._src.focal.sigmoid`,
:mod:`jaxloss._src.focal.softmax`) are more accurate when logits are at hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.focal.inputs import outside_zero_one, prepare_class_inputs
from jaxloss._src.focal.modulation import power
from jaxloss._src.label_smoothing import smooth_binary_labels, smooth_labels, smoothing_applies
from jaxloss._src.softmax_rows import active_rows


def _as_hyper(value, dtype):
    """Python numbers stay static (compiled in); arrays become ``dtype`` arrays."""
    if value is None or validation.is_static_number(value):
        return value
    return jnp.asarray(value).astype(dtype)


def _clip(x, low, high):
    """``clip(x, low, high)`` whose derivative is 1 on the closed interval, as in TensorFlow
    and the cross-entropy kernels (``jnp.clip`` gives 1/2 at an end, e.g. at ``p = epsilon``)."""
    return jnp.where(x < low, low, jnp.where(x > high, high, x))




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
    and the unclipped ``p_t = y p + (1 - y)(1 - p)``:

    .. math::
        \ell = -\alpha_t (1 - p_t)^{\gamma} \big(y \log c + (1 - y) \log(1 - c)\big)

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
    validation.check_gamma(gamma)
    validation.check_alpha(alpha, jnp.shape(probs), "the probabilities' shape")
    validation.check_clip_epsilon(epsilon)
    validation.check_label_smoothing(label_smoothing)
    mask = validation.broadcast_where(where, jnp.shape(probs))
    dtype = validation.compute_dtype(probs)
    probs = jnp.asarray(probs).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    checks.check_unit_interval("binary_focal_cross_entropy", "probs", probs, where=where)
    checks.check_unit_interval("binary_focal_cross_entropy", "labels", labels, where=where)
    invalid = outside_zero_one(labels) | outside_zero_one(probs)
    labels = smooth_binary_labels(labels, label_smoothing)
    clipped = _clip(probs, epsilon, 1.0 - epsilon)
    bce = -(labels * jnp.log(clipped) + (1 - labels) * jnp.log(1 - clipped))
    p_t = labels * probs + (1 - labels) * (1 - probs)
    loss = power(1 - p_t, _as_hyper(gamma, dtype)) * bce
    if alpha is not None:
        alpha = jnp.asarray(alpha).astype(dtype)
        alpha = alpha.reshape((1,) * (probs.ndim - alpha.ndim) + alpha.shape)
        loss = (labels * alpha + (1 - labels) * (1 - alpha)) * loss
    loss = validation.nan_where(invalid, loss)
    return validation.apply_where(loss, mask)


def categorical_focal_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = 0.25,
    gamma: jax.typing.ArrayLike = 2.0,
    axis: int = -1,
    epsilon: float = 1e-7,
    label_smoothing: jax.typing.ArrayLike = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Categorical focal cross-entropy from probabilities, as Keras 3 computes it.

    The probabilities are normalised along ``axis`` and clipped,
    ``c = clip(p / sum(p), epsilon, 1 - epsilon)``; labels are smoothed to
    ``y (1 - s) + s / C``:

    .. math::
        \ell = -\sum_k \alpha_k (1 - c_k)^{\gamma} y_k \log c_k

    over the classes ``k`` along ``axis``.

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
    validation.check_clip_epsilon(epsilon)
    validation.check_label_smoothing(label_smoothing)
    if alpha is None:
        alpha = 1.0
    probs, alpha, _, _, axis, mask = prepare_class_inputs(probs, alpha, gamma, axis, where)
    dtype = probs.dtype
    labels = jnp.asarray(labels).astype(dtype)
    checks.check_non_negative("categorical_focal_cross_entropy", "probs", probs, where=mask)
    checks.check_non_negative("categorical_focal_cross_entropy", "labels", labels, where=mask)
    invalid = validation.any_along(validation.invalid_scores(probs) | (labels < 0), axis, mask)
    # Not called for no smoothing: with `where` it would also zero the masked classes'
    # labels, which the masked terms below make unnecessary.
    if smoothing_applies(label_smoothing):
        labels = smooth_labels(labels, label_smoothing, axis=axis, where=mask)
    probs = validation.apply_where(probs, mask)
    total = jnp.sum(probs, axis=axis, keepdims=True)
    if mask is not None:
        total = jnp.where(active_rows(mask, axis), total, jnp.ones((), dtype))
    # Divide by a constant copy of a small row sum first: autodiff's -p / total**2 would
    # underflow to 1 / 0 = inf for sums below ~1e-19 (the exact gradient is finite).
    one = jnp.ones((), dtype)
    scale = jax.lax.stop_gradient(jnp.where((total > 0) & (total < 1), total, one))
    clipped = _clip((probs / scale) / (total / scale), epsilon, 1.0 - epsilon)
    terms = alpha * power(1 - clipped, _as_hyper(gamma, dtype)) * (-labels * jnp.log(clipped))
    return validation.nan_where(invalid, jnp.sum(validation.apply_where(terms, mask), axis=axis))
