"""Cross-entropy losses: binary, weighted binary, categorical, sparse categorical, generalized.

The numbers come from the stable kernels in :mod:`jaxloss._src.classification`:
``from_logits=True`` never exponentiates a large logit, and the probability forms
normalise and clip with ``1e-7`` exactly as Keras does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxloss._src import checks, classification, robust, validation
from jaxloss._src.label_smoothing import smooth_labels
from jaxloss.losses._base import EPSILON, LossFunctionWrapper, as_float_array, match_pair


def check_axis_is_int(axis: Any) -> None:
    """Keras rejects ``axis=True``/``False`` for the categorical losses."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
            f"`axis` must be an int, got axis={axis!r} of type {type(axis).__name__}."
        )


def smooth_categorical_labels(y_true: jax.Array, label_smoothing: float, axis: int) -> jax.Array:
    """Keras's categorical label smoothing ``y (1 - s) + s / C`` over ``axis``.

    Used where a kernel has no ``label_smoothing`` argument (focal, class weights).
    """
    return smooth_labels(y_true, label_smoothing, axis=axis)


# What a float label that is not a whole number becomes: a class index no loss accepts
# (negative, and never a plausible `ignore_class`), so that its example's loss is NaN.
NOT_A_CLASS = jnp.iinfo(jnp.int32).min


def sparse_labels(
    y_true: jax.typing.ArrayLike, y_pred: jax.Array, axis: int, loss: str = "sparse loss"
) -> jax.Array:
    """Integer labels of shape ``y_pred.shape`` without ``axis``, or ``ValueError``.

    As Keras: a label array with the rank of ``y_pred`` and size 1 along ``axis``
    is squeezed there, and float labels (``Loss.__call__`` casts ``y_true`` to the
    loss's dtype) become int32. Unlike Keras, which truncates ``1.7`` to class 1, a
    float label that is not a whole number (or NaN) becomes an invalid class, so
    that its example's loss is NaN; in :func:`jaxloss.checks` mode it raises.
    """
    labels = jnp.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[axis] == 1:
        labels = jnp.squeeze(labels, axis)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        checks.check_whole_numbers(loss, "y_true", labels)
        whole = labels == jnp.round(labels)
        labels = jnp.where(whole, labels, NOT_A_CLASS).astype(jnp.int32)
    class_axis = validation.canonical_axis(axis, y_pred.ndim, "axis")
    expected = y_pred.shape[:class_axis] + y_pred.shape[class_axis + 1 :]
    if labels.shape != expected:
        raise ValueError(
            f"Sparse `y_true` must have shape {expected} (y_pred.shape={y_pred.shape} without "
            f"the class axis {axis}, optionally with a size-1 axis there), "
            f"got y_true.shape={jnp.shape(y_true)}."
        )
    return labels


def _class_weight_vector(class_weights: Any, dtype, num_classes: int) -> jax.Array | None:
    """``class_weights`` as a ``[num_classes]`` array of ``dtype``, or ``ValueError``."""
    if class_weights is None:
        return None
    weights = jnp.asarray(class_weights).astype(dtype)
    validation.check_class_weights(weights, num_classes)
    return weights


def binary_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Mean over ``axis`` of the elementwise binary cross-entropy (labels smoothed to
    ``y (1 - s) + s / 2``); probabilities are clipped to ``[1e-7, 1 - 1e-7]``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    if from_logits:
        loss = classification.sigmoid_binary_cross_entropy(
            y_pred, y_true, label_smoothing=label_smoothing
        )
    else:
        loss = classification.binary_cross_entropy(
            y_pred, y_true, epsilon=EPSILON, label_smoothing=label_smoothing
        )
    return jnp.mean(loss, axis=axis)


def weighted_binary_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    pos_weight: float = 1.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Binary cross-entropy with the positive term scaled by ``pos_weight``, mean over ``axis``.

    ``-(pos_weight * y log p + (1 - y) log(1 - p))``; probabilities are clipped to
    ``[1e-7, 1 - 1e-7]`` and turned into logits, so both forms use the stable kernel;
    a probability outside ``[0, 1]`` (logits passed with ``from_logits=False``) gives NaN.
    """
    y_true, y_pred = match_pair(y_true, y_pred)
    if from_logits:
        logits = y_pred
    else:
        checks.check_unit_interval("weighted_binary_crossentropy", "y_pred", y_pred)
        probs = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
        logits = jnp.log(probs) - jnp.log1p(-probs)
    loss = classification.sigmoid_binary_cross_entropy(
        logits, y_true, pos_weight=pos_weight, label_smoothing=label_smoothing
    )
    if not from_logits:
        loss = validation.nan_where(validation.outside_unit_interval(y_pred), loss)
    return jnp.mean(loss, axis=axis)


def categorical_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    class_weights: Any = None,
) -> jax.Array:
    """Cross-entropy of one-hot (or soft) labels over ``axis``.

    Labels are smoothed to ``y (1 - s) + s / C``. With ``class_weights`` (length
    ``C``, beyond Keras) the loss is ``-sum_c w_c y_c log p_c``.
    """
    check_axis_is_int(axis)
    y_true, y_pred = match_pair(y_true, y_pred)
    if class_weights is not None:
        y_true = smooth_categorical_labels(y_true, label_smoothing, axis)
        shape = [1] * y_true.ndim
        shape[axis] = y_true.shape[axis]
        weights = _class_weight_vector(class_weights, y_true.dtype, y_true.shape[axis])
        y_true = y_true * weights.reshape(shape)
        label_smoothing = 0.0
    if from_logits:
        return classification.softmax_cross_entropy(
            y_pred, y_true, axis=axis, label_smoothing=label_smoothing
        )
    return classification.categorical_cross_entropy(
        y_pred, y_true, axis=axis, epsilon=EPSILON, label_smoothing=label_smoothing
    )


def sparse_categorical_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
    class_weights: Any = None,
) -> jax.Array:
    """Cross-entropy of integer labels; ``ignore_class`` entries give 0.

    A label outside ``[0, C)`` (other than ``ignore_class``) gives NaN for its
    example, never a finite number. ``class_weights`` (beyond Keras) multiplies each
    example's loss by the weight of its label.
    """
    check_axis_is_int(axis)
    y_pred = as_float_array(y_pred)
    labels = sparse_labels(y_true, y_pred, axis, "sparse_categorical_crossentropy")
    num_classes = y_pred.shape[axis]
    if from_logits:
        return classification.sparse_softmax_cross_entropy(
            y_pred,
            labels,
            axis=axis,
            ignore_index=ignore_class,
            class_weights=_class_weight_vector(class_weights, y_pred.dtype, num_classes),
        )
    loss = classification.sparse_categorical_cross_entropy(
        y_pred, labels, axis=axis, epsilon=EPSILON, ignore_index=ignore_class
    )
    if class_weights is not None:
        weights = _class_weight_vector(class_weights, loss.dtype, num_classes)
        loss = loss * jnp.take(weights, jnp.clip(labels, 0, weights.shape[0] - 1))
    return loss


def categorical_generalized_cross_entropy(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, q: float = 0.5
) -> jax.Array:
    """``(1 - p ** q) / q`` with ``p`` the probability of the integer label ``y_true``."""
    y_pred = as_float_array(y_pred)
    labels = sparse_labels(y_true, y_pred, -1, "categorical_generalized_cross_entropy")
    return robust.generalized_cross_entropy(y_pred, labels, q=q)


def ignore_class_mask(y_true: jax.Array, losses: jax.Array, ignore_class: int | None):
    """Keras's mask for ``ignore_class``: the loss entries whose label is not ignored."""
    if ignore_class is None:
        return None
    return jnp.reshape(jnp.asarray(y_true) != ignore_class, losses.shape)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy: :func:`binary_crossentropy` per example."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class WeightedBinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy with positives weighted by ``pos_weight`` (beyond Keras).

    For imbalanced data: ``pos_weight = negatives / positives`` balances the classes.
    See :func:`weighted_binary_crossentropy`.
    """

    def __init__(
        self,
        pos_weight=1.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="weighted_binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            weighted_binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            pos_weight=pos_weight,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy of one-hot labels: :func:`categorical_crossentropy`."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
        class_weights=None,
    ):
        check_axis_is_int(axis)
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
            class_weights=class_weights,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy of integer labels: :func:`sparse_categorical_crossentropy`.

    Entries labelled ``ignore_class`` are left out of the reduction (the default
    reduction averages over the other entries only).
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
        class_weights=None,
    ):
        check_axis_is_int(axis)
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
            class_weights=class_weights,
        )

    def compute_mask(self, y_true, y_pred, losses):
        return ignore_class_mask(y_true, losses, self.ignore_class)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Noise-robust generalized cross-entropy of integer labels, ``q`` in ``(0, 1)``."""

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"`q` must lie in the open interval (0, 1), got q={q!r}.")
        super().__init__(
            categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, q=q
        )


CLASSES = (
    BinaryCrossentropy,
    WeightedBinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
)
FUNCTIONS = (
    binary_crossentropy,
    weighted_binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    categorical_generalized_cross_entropy,
)
