"""Label smoothing: the rule, written once.

A share ``alpha`` of each row's label mass is moved to the uniform distribution over the
classes: ``(1 - alpha) * labels + alpha / num_classes`` along the class axis, as optax's
``smooth_labels`` and Keras's ``label_smoothing`` compute it. With a ``where`` class mask
the uniform distribution is over the unmasked classes only and masked classes get 0, so a
masked class is treated exactly as if it had been sliced away.

The kernels with integer labels never build the smoothed labels: cross-entropy is linear
in its labels, so they weigh the loss against the label and the loss against the uniform
distribution instead (:func:`smoothing_weights`, :func:`mix_with_uniform`). The binary
(sigmoid and probability) forms smooth each element as a two-class problem
(:func:`smooth_binary_labels`).
"""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp

from jaxloss._src import validation


def smoothing_applies(alpha: Any) -> bool:
    """False only for a concrete scalar 0: then the labels are used as they are (no ops).

    A traced ``alpha`` may be 0 at run time; the smoothing is then computed, exactly.
    """
    return validation.is_traced(alpha) or jnp.ndim(alpha) != 0 or float(alpha) != 0.0


@overload
def smoothing_weights(alpha: jax.Array, num_classes: Any) -> tuple[jax.Array, jax.Array]: ...
@overload
def smoothing_weights(alpha: Any, num_classes: Any) -> tuple[Any, Any]: ...
def smoothing_weights(alpha: Any, num_classes: Any) -> tuple[Any, Any]:
    """``(kept, spread)``: smoothed labels are ``labels * kept + spread``.

    ``kept = 1 - alpha`` and ``spread = alpha / num_classes``; Python numbers give Python
    numbers, arrays give arrays.
    """
    return 1.0 - alpha, alpha / num_classes


def mix_with_uniform(label_term: jax.Array, uniform_term: jax.Array, alpha: Any) -> jax.Array:
    """A term linear in the labels, at the smoothed labels: ``(1 - alpha) label + alpha uniform``.

    ``label_term`` is its value at the one-hot label and ``uniform_term`` its value at the
    uniform distribution over the (unmasked) classes, so that no smoothed labels are built.
    """
    return (1.0 - alpha) * label_term + alpha * uniform_term


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Labels smoothed towards the uniform distribution over the classes along ``axis``.

    .. math::
        \tilde y_c = (1 - \alpha)\, y_c + \frac{\alpha}{C}

    with ``C`` the number of classes along ``axis``. With ``where`` (a boolean class
    mask), ``C`` counts each row's unmasked classes and masked classes get 0: the mass
    ``alpha`` is spread over the unmasked classes only, as if the masked ones had been
    sliced away. A row with every class masked is all 0. Without ``where`` this is optax's
    ``smooth_labels`` along ``axis`` and Keras's smoothing; with it, the unmasked classes
    equal optax's ``smooth_labels(..., where=where)``, which leaves ``(1 - alpha) y +
    alpha / C`` at the masked classes too.

    Args:
      labels: floating array of one-hot or soft labels.
      alpha: the smoothing share, in ``[0, 1]``; a concrete 0 returns ``labels`` unchanged
        (with masked classes set to 0).
      axis: the class axis.
      where: optional boolean class mask broadcastable to ``labels``.

    Returns:
      The smoothed labels, ``labels``'s shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> labels = jnp.array([[1.0, 0.0, 0.0, 0.0]])
      >>> smooth_labels(labels, 0.2)
      Array([[0.85, 0.05, 0.05, 0.05]], dtype=float32)

      With the last class masked, its share goes to the three others:

      >>> smooth_labels(labels, 0.3, where=jnp.array([True, True, True, False]))
      Array([[0.8, 0.1, 0.1, 0. ]], dtype=float32)

    References:
      Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
      CVPR 2016; optax ``smooth_labels``.
    """
    labels = jnp.asarray(labels)
    if where is not None:
        where = jnp.broadcast_to(jnp.asarray(where), labels.shape)
    if smoothing_applies(alpha):
        smoothing = jnp.asarray(alpha, labels.dtype)
        if where is None:
            num_classes = jnp.asarray(labels.shape[axis], labels.dtype)
        else:
            counts = jnp.sum(where, axis=axis, keepdims=True)
            num_classes = jnp.maximum(counts, 1).astype(labels.dtype)
        kept, spread = smoothing_weights(smoothing, num_classes)
        labels = labels * kept + spread
    if where is not None:
        labels = jnp.where(where, labels, jnp.zeros((), labels.dtype))
    return labels


def cast_and_smooth(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Class ``scores`` and dense ``labels`` in their compute dtype, the labels smoothed with
    :func:`smooth_labels` over the ``where`` classes.

    Returns:
      ``(scores, labels, mask)``, ``mask`` being ``where`` checked and broadcast to the
      scores' shape (or None).

    Example:
      >>> import jax.numpy as jnp
      >>> scores, labels, mask = cast_and_smooth(
      ...     jnp.zeros((1, 2), jnp.float16), jnp.array([[1.0, 0.0]], jnp.float16), 0.5, 1, None
      ... )
      >>> scores.dtype, labels, mask
      (dtype('float32'), Array([[0.75, 0.25]], dtype=float32), None)
    """
    mask = validation.broadcast_where(where, jnp.shape(scores))
    dtype = validation.compute_dtype(scores, labels)
    scores = jnp.asarray(scores).astype(dtype)
    labels = smooth_labels(jnp.asarray(labels).astype(dtype), alpha, axis=axis, where=mask)
    return scores, labels, mask


def smooth_binary_labels(labels: jax.typing.ArrayLike, alpha: jax.typing.ArrayLike) -> jax.Array:
    r"""Binary labels smoothed as two classes: :math:`y (1 - \alpha) + \alpha / 2`.

    Each element is the positive class's label of its own two-class problem, so this is
    :func:`smooth_labels` of ``[y, 1 - y]``, read at the first class.

    Example:
      >>> import jax.numpy as jnp
      >>> smooth_binary_labels(jnp.array([1.0, 0.0]), 0.5)
      Array([0.75, 0.25], dtype=float32)
    """
    labels = jnp.asarray(labels)
    if not smoothing_applies(alpha):
        return labels
    kept, spread = smoothing_weights(jnp.asarray(alpha, labels.dtype), 2.0)
    return labels * kept + spread
