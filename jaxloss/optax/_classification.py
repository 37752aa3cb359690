"""optax's classification losses: sigmoid and softmax cross-entropies, focal, Poly-1, label
smoothing, the sparsemax (Fenchel-Young) losses, and the hinge and perceptron losses."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jaxloss
from jaxloss._src import label_smoothing, validation
from jaxloss.optax._arrays import broadcast_pair, class_axes, classes_last, expand_where


def _floating_labels(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """optax casts binary labels to the logits' dtype, then broadcasts the two."""
    validation.check_floating("logits", logits)
    logits = jnp.asarray(logits)
    return broadcast_pair(logits, jnp.asarray(labels).astype(logits.dtype))


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``sigmoid_binary_cross_entropy``, by :func:`jaxloss.sigmoid_binary_cross_entropy`.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.sigmoid_binary_cross_entropy(jnp.array([0.0, 3e38]), jnp.array([1.0, 0.0]))
    Array([6.931472e-01, 3.000000e+38], dtype=float32)
    """
    return jaxloss.sigmoid_binary_cross_entropy(*_floating_labels(logits, labels))


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = None,
    gamma: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
    """optax's ``sigmoid_focal_loss`` (no ``alpha`` weighting by default), by
    :func:`jaxloss.sigmoid_focal_loss`."""
    logits, labels = _floating_labels(logits, labels)
    return jaxloss.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma)


def _dense(kernel, logits, labels, axis, where, **kwargs):
    """A dense-label softmax kernel under optax's axis, broadcasting and ``where`` rules."""
    validation.check_floating("logits", logits)
    logits = jnp.asarray(logits)
    labels = jnp.broadcast_to(jnp.asarray(labels), logits.shape)
    where = expand_where(where, logits.ndim, axis)
    if where is not None:
        where = jnp.broadcast_to(where, logits.shape)
    axes = class_axes(axis, logits.ndim)
    if axes is not None:
        logits, labels, where = (classes_last(a, axes) for a in (logits, labels, where))
        axis = -1
    return kernel(logits, labels, axis=axis, where=where, **kwargs)


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``softmax_cross_entropy``, by :func:`jaxloss.softmax_cross_entropy`.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.softmax_cross_entropy(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([[1.0, 0.0, 0.0]]))
    Array([0.169846], dtype=float32)
    """
    return _dense(jaxloss.softmax_cross_entropy, logits, labels, axis, where)


def safe_softmax_cross_entropy(
    logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``safe_softmax_cross_entropy``: a ``-inf`` logit on a class of label 0
    contributes 0 to the loss and its gradient (the class is masked away).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.safe_softmax_cross_entropy(jnp.array([[0.0, -jnp.inf]]), jnp.array([[1.0, 0.0]]))
    Array([0.], dtype=float32)
    """
    validation.check_floating("logits", logits)
    logits = jnp.asarray(logits)
    labels = jnp.broadcast_to(jnp.asarray(labels), logits.shape)
    keep = ~(jnp.isneginf(logits) & (labels == 0))
    # The kernel reads masked logits as finite numbers; their value does not matter.
    logits = jnp.where(keep, logits, jnp.zeros((), logits.dtype))
    return jaxloss.softmax_cross_entropy(logits, labels, where=keep)


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``softmax_cross_entropy_with_integer_labels``, by
    :func:`jaxloss.sparse_softmax_cross_entropy` (no one-hot is built)."""
    validation.check_floating("logits", logits)
    validation.check_integer("labels", labels)
    if not isinstance(axis, (int, tuple)):
        raise ValueError(f"`axis` must be an int or a tuple of ints, got {type(axis)}.")
    logits = jnp.asarray(logits)
    where = expand_where(where, logits.ndim, axis)
    if where is not None:
        where = jnp.broadcast_to(where, logits.shape)
    axes = class_axes(axis, logits.ndim)
    if axes is not None:
        logits, where = classes_last(logits, axes), classes_last(where, axes)
        axis = -1
    return jaxloss.sparse_softmax_cross_entropy(logits, labels, axis=axis, where=where)


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``poly_loss_cross_entropy``, by :func:`jaxloss.poly_loss_cross_entropy`; a
    ``where`` of lower rank selects examples in both terms (see the package's table)."""
    validation.check_floating("labels", labels)
    return _dense(jaxloss.poly_loss_cross_entropy, logits, labels, axis, where, epsilon=epsilon)


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """optax's ``smooth_labels``: ``(1 - alpha) labels + alpha / C``, ``C`` the classes
    along ``axis`` (with ``where``: the unmasked ones, masked classes smoothed alike).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.smooth_labels(jnp.array([1.0, 0.0, 0.0, 0.0]), 0.2)
    Array([0.85, 0.05, 0.05, 0.05], dtype=float32)
    """
    validation.check_floating("labels", labels)
    labels = jnp.asarray(labels)
    shape = labels.shape
    axes = class_axes(axis, labels.ndim)
    if where is not None:
        where = jnp.broadcast_to(jnp.asarray(where), shape)
    if axes is not None:
        batch = tuple(a for a in range(labels.ndim) if a not in axes)
        order = batch + axes
        labels, where = classes_last(labels, axes), classes_last(where, axes)
        axis = -1
    smoothed = label_smoothing.smooth_labels(labels, alpha, axis=axis, where=where)
    if where is not None:
        # optax smooths the masked classes too, towards the same uniform share.
        count = jnp.sum(where, axis=axis, keepdims=True).astype(labels.dtype)
        masked = label_smoothing.mix_with_uniform(labels, 1 / count, alpha)
        smoothed = jnp.where(where, smoothed, masked)
    if axes is not None:
        moved_shape = tuple(shape[a] for a in order)
        inverse = tuple(int(a) for a in np.argsort(order))
        smoothed = jnp.transpose(smoothed.reshape(moved_shape), inverse)
    return smoothed


def sparsemax_loss(logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    """optax's ``sparsemax_loss`` (binary labels), by :func:`jaxloss.sparsemax_loss`."""
    return jaxloss.sparsemax_loss(*_floating_labels(logits, labels))


def multiclass_sparsemax_loss(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``multiclass_sparsemax_loss``, by :func:`jaxloss.multiclass_sparsemax_loss`.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.multiclass_sparsemax_loss(jnp.array([[1.5, 1.0, -2.0]]), jnp.array([1]))
    Array([0.5625], dtype=float32)
    """
    return jaxloss.multiclass_sparsemax_loss(scores, labels)


def make_fenchel_young_loss(max_fun: Callable[..., jax.typing.ArrayLike]) -> Callable:
    """optax's ``make_fenchel_young_loss``, by :func:`jaxloss.make_fenchel_young_loss`."""
    return jaxloss.make_fenchel_young_loss(max_fun)


def hinge_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``hinge_loss``: ``max(0, 1 - predictor_outputs * targets)``, targets in
    ``{-1, 1}``, by :func:`jaxloss.hinge_loss` (the two broadcast, as in optax).

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> optax.hinge_loss(jnp.array([0.5, 2.0, -1.0]), jnp.array([1.0, 1.0, 1.0]))
    Array([0.5, 0. , 2. ], dtype=float32)
    """
    return jaxloss.hinge_loss(*broadcast_pair(predictor_outputs, targets))


def perceptron_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``perceptron_loss``: ``max(0, -predictor_outputs * targets)``, targets in
    ``{-1, 1}`` of the same shape, by :func:`jaxloss.perceptron_loss`."""
    return jaxloss.perceptron_loss(predictor_outputs, targets)


def multiclass_hinge_loss(scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    """optax's ``multiclass_hinge_loss`` (classes on the last axis, integer labels), by
    :func:`jaxloss.multiclass_hinge_loss`."""
    return jaxloss.multiclass_hinge_loss(scores, labels)


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> jax.Array:
    """optax's ``multiclass_perceptron_loss`` (classes on the last axis, integer labels),
    by :func:`jaxloss.multiclass_perceptron_loss`."""
    return jaxloss.multiclass_perceptron_loss(scores, labels)
