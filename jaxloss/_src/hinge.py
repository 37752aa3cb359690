"""Hinge losses for margin classifiers: hinge, squared hinge, categorical hinge, and the
perceptron and multi-class forms of optax.

``targets`` are margins' signs, ``-1`` or ``+1`` (the Keras layer converts ``{0, 1}``
labels first). ``hinge_loss`` (also optax's ``hinge_loss``), ``squared_hinge_loss`` and
``perceptron_loss`` are elementwise; ``categorical_hinge_loss`` and optax's integer-label
``multiclass_hinge_loss`` and ``multiclass_perceptron_loss`` give one value per example
(they reduce ``axis``). Half-precision inputs are computed in float32 and returned in
float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; integer ``labels`` that are not of the
scores' shape without the class axis; a ``where`` mask that is not boolean or does not
broadcast to ``predictions``; an ``axis`` out of range. A label outside ``[0, C)`` gives
NaN for its example.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jax import lax

from jaxloss._src import checks, softmax_rows, validation
from jaxloss._src.cross_entropy.class_labels import label_status


def hinge_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise hinge loss.

    .. math::
        \ell = \max(0, 1 - t x)

    for scores ``x = predictions`` and ``t = targets``; the gradient is ``-targets`` inside
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
    r"""Elementwise squared hinge loss.

    .. math::
        \ell = \max(0, 1 - t x)^2

    for scores ``x = predictions`` and ``t = targets``, smooth at the margin.

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
    r"""Multi-class hinge loss of Crammer and Singer, one value per example.

    With one-hot ``targets`` ``t`` and scores ``x = predictions`` over ``axis``:

    .. math::
        \ell = \max\Big(0, \max_c \big((1 - t_c) x_c\big) - \sum_c t_c x_c + 1\Big)

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


def perceptron_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise binary perceptron loss of optax's ``perceptron_loss``.

    .. math::
        \ell = \max(0, -t x)

    for scores ``x = predictions`` and ``t = targets``: the hinge without a margin, 0 for every
    score of the right sign. The gradient is ``-targets`` for a wrong sign, 0 for a right
    one, and half of that at 0 (as ``jnp.maximum`` gives, and optax).

    Args:
      predictions: floating array of raw scores, any shape.
      targets: array of the same shape holding ``-1`` or ``+1``.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import perceptron_loss
    >>> perceptron_loss(jnp.array([0.5, -2.0, 2.0]), jnp.array([1.0, 1.0, -1.0]))
    Array([0., 2., 2.], dtype=float32)

    References:
      Rosenblatt, "The perceptron: a probabilistic model for information storage and
      organization in the brain", Psychological Review 65, 1958; optax
      ``optax.losses.perceptron_loss``.
    """
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where)
    checks.check_finite("perceptron_loss", "predictions", predictions, where=where)
    checks.check_finite("perceptron_loss", "targets", targets, where=where)
    loss = jnp.maximum(-targets * predictions, 0.0)
    return validation.apply_where(loss, where)


def _largest_gap(
    loss_name: str,
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    margin: float,
    axis: int,
    where: jax.typing.ArrayLike | None,
) -> jax.Array:
    """``max_j (x_j - x_y + margin [j != y])`` over the unmasked classes, one per example.

    The label's own gap is the constant 0 (so an infinite label score gives no
    ``inf - inf``); ``jnp.max`` shares the gradient among tied maxima as optax's form
    ``max_j (x_j + margin - margin [j = y]) - x_y`` does, so the gradients are the same.
    """
    validation.check_floating("scores", scores)
    axis = validation.check_class_axis("scores", scores, axis)
    validation.check_sparse_labels("scores", scores, labels, axis)
    shape = jnp.shape(scores)
    num_classes = shape[axis]
    mask = validation.broadcast_where(where, shape)
    dtype = validation.compute_dtype(scores)
    scores = jnp.asarray(scores).astype(dtype)
    labels = jnp.asarray(labels)
    checks.check_finite(loss_name, "scores", scores, where=mask)
    checks.check_class_labels(loss_name, labels, num_classes)
    safe_labels, active, valid = label_status(labels, mask, num_classes, axis, None, shape)
    label_scores = jnp.take_along_axis(scores, safe_labels, axis)
    if margin == 0:
        # max_j x_j - x_y over the unmasked classes: one row reduction of the scores, where
        # the per-class select below would be a scores-sized temporary (slower than
        # optax at [4096, 1000] on XLA:CPU). A label score at the row's +inf maximum gives 0, as
        # its constant gap does below.
        row_max = jnp.max(softmax_rows.masked_logits(scores, mask), axis=axis, keepdims=True)
        at_infinite_max = jnp.isposinf(label_scores) & (label_scores == row_max)
        loss = jnp.where(at_infinite_max, jnp.zeros((), dtype), row_max - label_scores)
    else:
        loss = _row_largest_gap(scores, safe_labels, mask, margin, axis)
    loss = validation.apply_where(validation.nan_where(~valid, loss), active)
    return jnp.squeeze(loss, axis)


def _gaps(scores, safe_labels, mask, margin, axis):
    """``x_j - x_y + margin`` per class, the label's own gap 0 and masked classes' ``-inf``;
    and where the label is."""
    dtype = scores.dtype
    label_scores = jnp.take_along_axis(scores, safe_labels, axis)
    is_label = lax.broadcasted_iota(jnp.int32, scores.shape, axis) == safe_labels
    gaps = jnp.where(is_label, jnp.zeros((), dtype), scores - label_scores + margin)
    if mask is not None:
        gaps = jnp.where(mask, gaps, jnp.asarray(-jnp.inf, dtype))
    return gaps, is_label


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _row_largest_gap(scores, safe_labels, mask, margin, axis):
    """The largest gap of each row (keepdims), with ``jnp.max``'s derivative (ties share)
    written as one coefficient per class.

    Autodiff of the gaps' select and of the label's gather adds a masked row sum and a
    scatter into the label column, passes over the scores that the coefficients fold into
    the single write of the gradient. The coefficient of class ``j != y`` is ``1 / n`` at
    the row's ``n`` maxima and 0 elsewhere; the label's is minus the sum of the others
    (its own gap is a constant, so a tie at 0 takes its share from no score).
    """
    gaps, _ = _gaps(scores, safe_labels, mask, margin, axis)
    return jnp.max(gaps, axis=axis, keepdims=True)


@_row_largest_gap.defjvp
def _row_largest_gap_jvp(margin, axis, primals, tangents):
    scores, safe_labels, mask = primals
    scores_tangent = tangents[0]
    gaps, is_label = _gaps(scores, safe_labels, mask, margin, axis)
    largest = jnp.max(gaps, axis=axis, keepdims=True)
    at_max = gaps == largest
    count = jnp.sum(at_max.astype(gaps.dtype), axis=axis, keepdims=True)
    share = 1 / count
    label_at_max = (jnp.take_along_axis(gaps, safe_labels, axis) == largest).astype(gaps.dtype)
    label_coefficient = (label_at_max - count) * share
    coefficients = jnp.where(is_label, label_coefficient,
                             jnp.where(at_max, share, jnp.zeros((), gaps.dtype)))
    return largest, jnp.sum(coefficients * scores_tangent, axis=axis, keepdims=True)


def multiclass_hinge_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class hinge loss of optax's ``multiclass_hinge_loss``, with integer labels.

    .. math::
        \ell = \max\big(0, \max_{j \ne y} x_j - x_y + 1\big)

    for class scores ``x`` and the label ``y``: optax's
    ``max_j (x_j + 1 - [j = y]) - x_y`` written so that it is exact for an infinite
    label score (0, where optax's form gives ``inf - inf = NaN``). It differs from
    :func:`categorical_hinge_loss` (Keras), whose maximum over the other classes also
    counts the label's zeroed score: Keras gives 3 for scores ``[-5, -3, -2]`` and label 2,
    this loss 0.

    Args:
      scores: floating array of raw class scores with a class axis of size ``C``.
      labels: integer class indices, ``scores``'s shape without ``axis``.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``scores``: masked classes are
        treated as if sliced away; a ``[..., 1]`` mask drops whole examples (loss 0).

    Returns:
      The loss per example, ``labels``'s shape; float32 for half inputs. A label outside
      ``[0, C)`` or on a masked class gives NaN for its example (optax's one-hot of such a
      label is all zeros, and gives a plausible number).

    >>> import jax.numpy as jnp
    >>> from jaxloss import multiclass_hinge_loss
    >>> multiclass_hinge_loss(jnp.array([[2.0, 1.5, 0.0], [-5.0, -3.0, -2.0]]), jnp.array([0, 2]))
    Array([0.5, 0. ], dtype=float32)

    References:
      Crammer and Singer, "On the algorithmic implementation of multiclass
      kernel-based vector machines", JMLR 2, 2001; optax
      ``optax.losses.multiclass_hinge_loss``.
    """
    return _largest_gap("multiclass_hinge_loss", scores, labels, 1.0, axis, where)


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class perceptron loss of optax's ``multiclass_perceptron_loss``.

    .. math::
        \ell = \max_j x_j - x_y

    for class scores ``x`` and the label ``y``: 0 when the label has the largest score, written as
    ``max(0, max_{j != y} x_j - x_y)`` so that an infinite label score gives 0 (not
    optax's ``inf - inf = NaN``).

    Args:
      scores: floating array of raw class scores with a class axis of size ``C``.
      labels: integer class indices, ``scores``'s shape without ``axis``.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``scores``: masked classes are
        treated as if sliced away; a ``[..., 1]`` mask drops whole examples (loss 0).

    Returns:
      The loss per example, ``labels``'s shape; float32 for half inputs. A label outside
      ``[0, C)`` or on a masked class gives NaN for its example.

    >>> import jax.numpy as jnp
    >>> from jaxloss import multiclass_perceptron_loss
    >>> multiclass_perceptron_loss(jnp.array([[2.0, 1.5, 0.0]]), jnp.array([1]))
    Array([0.5], dtype=float32)

    References:
      Collins, "Discriminative training methods for hidden Markov models: theory and
      experiments with perceptron algorithms", EMNLP 2002; optax
      ``optax.losses.multiclass_perceptron_loss``.
    """
    return _largest_gap("multiclass_perceptron_loss", scores, labels, 0.0, axis, where)
