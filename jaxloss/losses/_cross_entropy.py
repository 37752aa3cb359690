"""Cross-entropy losses: binary, weighted binary, categorical and sparse categorical.

The numbers come from the stable kernels in :mod:`jaxloss._src.cross_entropy`:
``from_logits=True`` never exponentiates a large logit, and the probability forms
normalise and clip with ``1e-7`` exactly as Keras does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.cross_entropy import probability, sigmoid, softmax, sparse_softmax
from jaxloss.losses._base import (
    EPSILON,
    LossFunctionWrapper,
    as_float_array,
    constructor_arguments,
    match_pair,
)
from jaxloss.losses._labels import (
    check_axis_is_int,
    ignore_class_mask,
    smooth_categorical_labels,
    sparse_labels,
)
from jaxloss.losses._registry import register


@overload
def _class_weight_vector(class_weights: None, dtype, num_classes: int) -> None: ...
@overload
def _class_weight_vector(
    class_weights: jax.typing.ArrayLike | Sequence[float], dtype, num_classes: int
) -> jax.Array: ...
def _class_weight_vector(class_weights: Any, dtype, num_classes: int) -> jax.Array | None:
    """``class_weights`` as a ``[num_classes]`` array of ``dtype``, or ``ValueError``."""
    if class_weights is None:
        return None
    weights = jnp.asarray(class_weights).astype(dtype)
    validation.check_class_weights(weights, num_classes)
    return weights


@register(aliases=("bce", "BCE"))
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
        loss = sigmoid.sigmoid_binary_cross_entropy(
            y_pred, y_true, label_smoothing=label_smoothing
        )
    else:
        loss = probability.binary_cross_entropy(
            y_pred, y_true, epsilon=EPSILON, label_smoothing=label_smoothing
        )
    return jnp.mean(loss, axis=axis)


@register
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
    loss = sigmoid.sigmoid_binary_cross_entropy(
        logits, y_true, pos_weight=pos_weight, label_smoothing=label_smoothing
    )
    if not from_logits:
        loss = validation.nan_where(validation.outside_unit_interval(y_pred), loss)
    return jnp.mean(loss, axis=axis)


@register
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
        return softmax.softmax_cross_entropy(
            y_pred, y_true, axis=axis, label_smoothing=label_smoothing
        )
    return probability.categorical_cross_entropy(
        y_pred, y_true, axis=axis, epsilon=EPSILON, label_smoothing=label_smoothing
    )


@register
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
        return sparse_softmax.sparse_softmax_cross_entropy(
            y_pred,
            labels,
            axis=axis,
            ignore_index=ignore_class,
            class_weights=_class_weight_vector(class_weights, y_pred.dtype, num_classes),
        )
    loss = probability.sparse_categorical_cross_entropy(
        y_pred, labels, axis=axis, epsilon=EPSILON, ignore_index=ignore_class
    )
    if class_weights is not None:
        weights = _class_weight_vector(class_weights, loss.dtype, num_classes)
        loss = loss * jnp.take(weights, jnp.clip(labels, 0, weights.shape[0] - 1))
    return loss


@register
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
        super().__init__(binary_crossentropy, **constructor_arguments(locals()))


@register
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
        super().__init__(weighted_binary_crossentropy, **constructor_arguments(locals()))


@register
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
        super().__init__(categorical_crossentropy, **constructor_arguments(locals()))


@register
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
        super().__init__(sparse_categorical_crossentropy, **constructor_arguments(locals()))

    def compute_mask(self, y_true, y_pred, losses):
        return ignore_class_mask(y_true, losses, self.ignore_class)
