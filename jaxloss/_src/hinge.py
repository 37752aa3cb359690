"""Hinge losses for margin classifiers: hinge, squared hinge and categorical hinge.

``targets`` are margins' signs, ``-1`` or ``+1`` (the Keras layer converts ``{0, 1}``
labels first). ``hinge_loss`` and ``squared_hinge_loss`` are elementwise;
``categorical_hinge_loss`` gives one value per example (it reduces ``axis``).
Half-precision inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; a ``where`` mask that is not boolean
or does not broadcast to ``predictions``; an ``axis`` out of range.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def hinge_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Elementwise hinge loss.

    ``loss = max(0, 1 - targets * predictions)``; the gradient is ``-targets`` inside
    the margin and 0 outside it (0 at the kink).

    Args:
      predictions: floating array of raw scores, any shape.
      targets: array of the same shape holding ``-1`` or ``+1``.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import hinge_loss
    >>> hinge_loss(jnp.array([0.3, -2.0, 2.0]), jnp.array([1.0, 1.0, 1.0]))
    Array([0.7, 3. , 0. ], dtype=float32)

    References:
      Cortes and Vapnik, "Support-vector networks", Machine Learning 20, 1995.
    """
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where)
    checks.check_finite("hinge_loss", "predictions", predictions, where=where)
    checks.check_finite("hinge_loss", "targets", targets, where=where)
    loss = jnp.maximum(1.0 - targets * predictions, 0.0)
    return validation.apply_where(loss, where)


def squared_hinge_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Elementwise squared hinge loss.

    ``loss = max(0, 1 - targets * predictions) ** 2``, smooth at the margin.

    Args:
      predictions: floating array of raw scores, any shape.
      targets: array of the same shape holding ``-1`` or ``+1``.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import squared_hinge_loss
    >>> squared_hinge_loss(jnp.array([0.5, -2.0]), jnp.array([1.0, 1.0]))
    Array([0.25, 9.  ], dtype=float32)

    References:
      Keras 3, ``keras.losses.squared_hinge``.
    """
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where)
    checks.check_finite("squared_hinge_loss", "predictions", predictions, where=where)
    checks.check_finite("squared_hinge_loss", "targets", targets, where=where)
    loss = jnp.square(jnp.maximum(1.0 - targets * predictions, 0.0))
    return validation.apply_where(loss, where)


def categorical_hinge_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Multi-class hinge loss of Crammer and Singer, one value per example.

    With one-hot ``targets`` ``t`` over ``axis``::

        positive = sum(t * predictions)
        negative = max((1 - t) * predictions)
        loss = max(0, negative - positive + 1)

    Args:
      predictions: floating array of raw class scores.
      targets: one-hot array of the same shape.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``predictions``; masked classes
        are left out as if sliced away (an example with every class masked has loss 0).

    Returns:
      The loss, shape of ``predictions`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import categorical_hinge_loss
    >>> categorical_hinge_loss(jnp.array([[2.0, 0.5, 0.0]]), jnp.array([[1.0, 0.0, 0.0]]))
    Array([0.], dtype=float32)

    References:
      Crammer and Singer, "On the algorithmic implementation of multiclass
      kernel-based vector machines", JMLR 2, 2001.
    """
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where)
    checks.check_finite("categorical_hinge_loss", "predictions", predictions, where=where)
    checks.check_finite("categorical_hinge_loss", "targets", targets, where=where)
    axis = validation.canonical_axis(axis, predictions.ndim)
    if where is None:
        positive = jnp.sum(targets * predictions, axis=axis)
        negative = jnp.max((1.0 - targets) * predictions, axis=axis)
        return jnp.maximum(negative - positive + 1.0, 0.0)
    mask = jnp.broadcast_to(jnp.asarray(where), predictions.shape)
    positive = jnp.sum(jnp.where(mask, targets * predictions, 0.0), axis=axis)
    negative = jnp.max(jnp.where(mask, (1.0 - targets) * predictions, -jnp.inf), axis=axis)
    any_class = jnp.any(mask, axis=axis)
    negative = jnp.where(any_class, negative, 0.0)
    return validation.apply_where(jnp.maximum(negative - positive + 1.0, 0.0), any_class)
