"""Label and class-axis rules the wrapper families share.

Sparse labels (integer classes, Keras's float labels), the class axis, the mask of
``ignore_class`` and Keras's categorical label smoothing, each written once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.label_smoothing import smooth_labels


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


def ignore_class_mask(y_true: jax.Array, losses: jax.Array, ignore_class: int | None):
    """Keras's mask for ``ignore_class``: the loss entries whose label is not ignored."""
    if ignore_class is None:
        return None
    return jnp.reshape(jnp.asarray(y_true) != ignore_class, losses.shape)


def integer_labels(y: jax.typing.ArrayLike) -> jax.Array:
    """Class labels as int32 (floats are truncated toward zero, as Keras casts them)."""
    y = jnp.asarray(y)
    return y if jnp.issubdtype(y.dtype, jnp.integer) else y.astype(jnp.int32)
