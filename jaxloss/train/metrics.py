"""Metrics for the training loop, resolved from names as Keras resolves them.

A metric here is a function ``(y_true, y_pred) -> per-example values``; the
loop reduces it like Keras's ``MeanMetricWrapper``: the values are averaged over
every axis but the first, then over the epoch's samples. As in Keras, ``metrics``
ignore ``sample_weight``/``class_weight`` and ``weighted_metrics`` use them:
``sum(values * sample_weight) / sum(sample_weight)``.

``"accuracy"`` (or ``"acc"``) is resolved from the label and output shapes with
Keras's rule: a last output axis of size 1 means binary accuracy (threshold 0.5);
labels of lower rank than the output, or labels with last axis 1 against a wider
output, mean sparse categorical accuracy; anything else categorical accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

MetricFn = Callable[[jax.Array, jax.Array], jax.Array]


def _same_rank(y_true: jax.Array, y_pred: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keras's ``squeeze_or_expand_to_same_rank`` for a trailing axis of size 1."""
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        else:
            y_pred = jnp.squeeze(y_pred, -1)
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        else:
            y_true = jnp.squeeze(y_true, -1)
    return y_true, y_pred


def binary_accuracy(y_true: jax.Array, y_pred: jax.Array, threshold: float = 0.5) -> jax.Array:
    """1.0 where ``(y_pred > threshold) == y_true``, else 0.0 (per element).

    >>> import jax.numpy as jnp
    >>> binary_accuracy(jnp.array([1, 0, 1]), jnp.array([[0.9], [0.6], [0.2]])).ravel()
    Array([1., 0., 0.], dtype=float32)
    """
    y_true, y_pred = _same_rank(y_true, y_pred)
    predicted = (y_pred > threshold).astype(jnp.float32)
    return (y_true.astype(jnp.float32) == predicted).astype(jnp.float32)


def categorical_accuracy(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot labels)."""
    return (jnp.argmax(y_true, -1) == jnp.argmax(y_pred, -1)).astype(jnp.float32)


def sparse_categorical_accuracy(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """1.0 where ``argmax(y_pred) == y_true`` (integer labels, shape ``[B]`` or ``[B, 1]``).

    >>> import jax.numpy as jnp
    >>> sparse_categorical_accuracy(jnp.array([2, 0]), jnp.array([[0.1, 0.2, 0.7], [0.2, 0.5, 0.3]]))
    Array([1., 0.], dtype=float32)
    """
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    predicted = jnp.argmax(y_pred, -1)
    return (y_true.astype(predicted.dtype) == predicted).astype(jnp.float32)


def mean_squared_error(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Mean over the last axis of ``(y_true - y_pred)**2``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return jnp.mean(jnp.square(y_true.astype(y_pred.dtype) - y_pred), axis=-1)


def mean_absolute_error(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """Mean over the last axis of ``|y_true - y_pred|``."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return jnp.mean(jnp.abs(y_true.astype(y_pred.dtype) - y_pred), axis=-1)


_BY_NAME: dict[str, MetricFn] = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
}
_ACCURACY_ALIASES = ("accuracy", "acc")


@dataclass(frozen=True)
class Metric:
    """A named per-example metric function; ``weighted`` ones use the sample weights."""

    name: str
    fn: MetricFn
    weighted: bool = False


def accuracy_for_shapes(y_true_shape: tuple, y_pred_shape: tuple) -> MetricFn:
    """Keras's choice of accuracy from the label and output shapes (see module docstring).

    >>> accuracy_for_shapes((32,), (32, 1)).__name__
    'binary_accuracy'
    >>> accuracy_for_shapes((32,), (32, 10)).__name__
    'sparse_categorical_accuracy'
    >>> accuracy_for_shapes((32, 10), (32, 10)).__name__
    'categorical_accuracy'
    """
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def get(identifier: Any, y_true_shape: tuple, y_pred_shape: tuple, weighted: bool = False) -> Metric:
    """Resolve a metric name or callable for one output.

    Raises:
      ValueError: for an unknown name or an object that is not callable.
    """
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ACCURACY_ALIASES:
            return Metric(identifier, accuracy_for_shapes(y_true_shape, y_pred_shape), weighted)
        if key not in _BY_NAME:
            known = sorted([*_ACCURACY_ALIASES, *_BY_NAME])
            raise ValueError(f"Unknown metric {identifier!r}; known names: {known}.")
        return Metric(identifier, _BY_NAME[key], weighted)
    if callable(identifier):
        return Metric(getattr(identifier, "__name__", type(identifier).__name__), identifier, weighted)
    raise ValueError(f"A metric must be a name or a callable, got {identifier!r}.")


def per_sample(values: jax.Array, batch_size: int) -> jax.Array:
    """Reduce per-element metric values to one value per sample (mean over trailing axes)."""
    values = jnp.asarray(values, jnp.float32)
    if values.ndim == 0:
        return jnp.broadcast_to(values, (batch_size,))
    return values.reshape(values.shape[0], -1).mean(axis=1)
