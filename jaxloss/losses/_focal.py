"""Focal losses: binary, categorical and (beyond Keras) sparse categorical.

The numbers come from :mod:`jaxloss._src.focal`. ``from_logits=True`` uses the
stable logit forms (Keras applies a sigmoid/softmax and then clips, which loses
precision at extreme logits); probabilities are clipped with ``1e-7`` as in Keras.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.focal import probability, sigmoid, softmax, sparse_softmax
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


@register
def binary_focal_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """Mean over ``axis`` of ``(1 - p_t) ** gamma * bce``, times ``alpha_t`` when
    ``apply_class_balancing`` (``alpha`` for positives, ``1 - alpha`` for negatives)."""
    y_true, y_pred = match_pair(y_true, y_pred)
    balance = alpha if apply_class_balancing else None
    if from_logits:
        loss = sigmoid.sigmoid_focal_loss(
            y_pred, y_true, alpha=balance, gamma=gamma, label_smoothing=label_smoothing
        )
    else:
        loss = probability.binary_focal_cross_entropy(
            y_pred,
            y_true,
            alpha=balance,
            gamma=gamma,
            epsilon=EPSILON,
            label_smoothing=label_smoothing,
        )
    return jnp.mean(loss, axis=axis)


@register
def categorical_focal_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> jax.Array:
    """``-sum(alpha * (1 - p) ** gamma * y * log p)`` over ``axis``, labels smoothed to
    ``y (1 - s) + s / C``."""
    check_axis_is_int(axis)
    y_true, y_pred = match_pair(y_true, y_pred)
    y_true = smooth_categorical_labels(y_true, label_smoothing, axis)
    if from_logits:
        return softmax.softmax_focal_loss(y_pred, y_true, alpha=alpha, gamma=gamma, axis=axis)
    return probability.categorical_focal_cross_entropy(
        y_pred, y_true, alpha=alpha, gamma=gamma, axis=axis, epsilon=EPSILON
    )


@register
def sparse_categorical_focal_crossentropy(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> jax.Array:
    """Categorical focal loss of integer labels; ``ignore_class`` entries give 0.

    Equal to :func:`categorical_focal_crossentropy` of the one-hot labels; a label
    outside ``[0, C)`` (other than ``ignore_class``) gives NaN for its example.
    """
    check_axis_is_int(axis)
    y_pred = as_float_array(y_pred)
    labels = sparse_labels(y_true, y_pred, axis, "sparse_categorical_focal_crossentropy")
    if from_logits:
        return sparse_softmax.sparse_softmax_focal_loss(
            y_pred, labels, alpha=alpha, gamma=gamma, axis=axis, ignore_index=ignore_class
        )
    num_classes = y_pred.shape[axis]
    checks.check_class_labels(
        "sparse_categorical_focal_crossentropy", labels, num_classes, ignore_index=ignore_class
    )
    ignored = jnp.zeros(labels.shape, bool) if ignore_class is None else labels == ignore_class
    out_of_range = ((labels < 0) | (labels >= num_classes)) & ~ignored
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=y_pred.dtype, axis=axis)
    loss = probability.categorical_focal_cross_entropy(
        y_pred, one_hot, alpha=alpha, gamma=gamma, axis=axis, epsilon=EPSILON
    )
    loss = validation.nan_where(out_of_range, loss)
    return jnp.where(ignored, jnp.zeros((), loss.dtype), loss)


@register
class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal cross-entropy: :func:`binary_focal_crossentropy` per example."""

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(binary_focal_crossentropy, **constructor_arguments(locals()))


@register
class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical focal cross-entropy: :func:`categorical_focal_crossentropy` per example."""

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_focal_crossentropy",
        dtype=None,
    ):
        check_axis_is_int(axis)
        super().__init__(categorical_focal_crossentropy, **constructor_arguments(locals()))


@register
class SparseCategoricalFocalCrossentropy(LossFunctionWrapper):
    """Focal loss of integer labels (beyond Keras): :func:`sparse_categorical_focal_crossentropy`.

    Entries labelled ``ignore_class`` are left out of the reduction.
    """

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sparse_categorical_focal_crossentropy",
        dtype=None,
    ):
        check_axis_is_int(axis)
        super().__init__(sparse_categorical_focal_crossentropy, **constructor_arguments(locals()))

    def compute_mask(self, y_true, y_pred, losses):
        return ignore_class_mask(y_true, losses, self.ignore_class)
