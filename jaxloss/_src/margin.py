"""Margin losses with PyTorch's semantics (``torch.nn.functional`` 2.x).

``soft_margin_loss``, ``margin_ranking_loss`` and ``hinge_embedding_loss`` are
elementwise; ``multilabel_soft_margin_loss``, ``multi_margin_loss`` and
``multilabel_margin_loss`` give one value per example (they reduce the class ``axis``).
No reduction is applied. Half-precision inputs are computed in float32 and returned in
float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating scores;
targets of another shape (integer labels: the shape without the class axis); a ``where``
mask that is not boolean or does not broadcast to the scores; a ``margin`` that is not a
scalar (any real margin is accepted, a negative one too, as in PyTorch); ``p`` other than 1
or 2; ``class_weights`` that are not one floating weight per class. As in PyTorch, ``+-1``
targets are not checked: another finite value enters the formula as PyTorch writes it. Integer labels out of range give NaN for
their example, where PyTorch raises. A NaN input gives NaN for its element (PyTorch's
``hinge_embedding_loss`` would give a finite loss for a NaN target).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src.cross_entropy.class_labels import label_status
from jaxloss._src.cross_entropy.sigmoid import sigmoid_binary_cross_entropy


def _check_scalar_margin(margin: jax.typing.ArrayLike) -> None:
    """Raise unless ``margin`` is a number or a scalar array (PyTorch takes a float of any
    sign: every formula here is defined for a negative margin)."""
    if not validation.is_static_number(margin) and jnp.shape(margin) != ():
        raise ValueError(f"`margin` must be a scalar, got shape {jnp.shape(margin)}.")


def _positive_part(values: jax.Array) -> jax.Array:
    """``max(values, 0)`` with gradient 0 at the kink (as PyTorch's multi-class margin
    losses); NaN stays NaN."""
    return jnp.where(values <= 0, jnp.zeros((), values.dtype), values)


def _cast_with_where(
    loss_name: str,
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    where: jax.typing.ArrayLike | None,
    name: str,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Check and cast an elementwise pair; neutral values (0 and 1) where masked, so that
    a NaN or infinite masked element cannot reach the gradient as ``0 * NaN``."""
    predictions, targets = validation.check_and_cast_pair(predictions, targets, where, name)
    mask = validation.broadcast_where(where, predictions.shape)
    checks.check_finite(loss_name, name, predictions, where=mask)
    checks.check_finite(loss_name, "targets", targets, where=mask)
    if mask is not None:
        predictions = jnp.where(mask, predictions, jnp.zeros((), predictions.dtype))
        targets = jnp.where(mask, targets, jnp.ones((), targets.dtype))
    return predictions, targets, mask


def soft_margin_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise two-class logistic loss of PyTorch's ``soft_margin_loss``.

    .. math::
        \ell = \log\big(1 + e^{-t x}\big) = \operatorname{softplus}(-t x)

    for scores ``x = predictions`` and ``t = targets``, computed as a softplus, so that a wrong score of any finite size ``x`` costs about
    ``|x|`` and the gradient ``-targets * sigmoid(-targets * predictions)`` is always
    finite. PyTorch's ``log1p(exp(.))`` is inf, with a NaN gradient, for a wrong score
    beyond 88.7 in float32.

    Args:
      predictions: floating array of raw scores, any shape.
      targets: array of the same shape holding ``-1`` or ``+1`` (not checked, as in
        PyTorch: another value enters the formula).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import soft_margin_loss
    >>> soft_margin_loss(jnp.array([0.0, 2.0, 2.0]), jnp.array([1.0, 1.0, -1.0]))
    Array([0.6931472, 0.126928 , 2.126928 ], dtype=float32)

    References:
      PyTorch, ``torch.nn.SoftMarginLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.SoftMarginLoss.html).
    """
    predictions, targets, mask = _cast_with_where(
        "soft_margin_loss", predictions, targets, where, "predictions"
    )
    loss = jax.nn.softplus(-targets * predictions)
    return validation.apply_where(loss, mask)


def margin_ranking_loss(
    first: jax.typing.ArrayLike,
    second: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    margin: float = 0.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise ranking hinge of PyTorch's ``margin_ranking_loss``.

    .. math::
        \ell = \max\big(0, -t (x_1 - x_2) + m\big)

    for ``x_1 = first``, ``x_2 = second``, ``t = targets`` and ``m = margin``:
    ``targets = 1`` asks for
    ``first`` to rank above ``second`` by ``margin``, ``targets = -1`` for the reverse.
    The three arrays must have one shape (PyTorch also broadcasts arrays of one rank).

    Args:
      first: floating array of scores, any shape.
      second: floating array of the same shape.
      targets: array of the same shape holding ``-1`` or ``+1`` (not checked, as in
        PyTorch).
      margin: the required gap, a scalar (any sign: a negative margin tolerates a
        reversed pair by up to ``-margin``).
      where: optional boolean mask broadcastable to ``first``; masked elements give
        loss 0 and gradient 0.

    Returns:
      The loss, shape of ``first``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import margin_ranking_loss
    >>> margin_ranking_loss(
    ...     jnp.array([2.0, 0.0]), jnp.array([1.0, 1.0]), jnp.array([1.0, 1.0]), margin=0.5
    ... )
    Array([0. , 1.5], dtype=float32)

    References:
      PyTorch, ``torch.nn.MarginRankingLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.MarginRankingLoss.html).
    """
    validation.check_floating("first", first)
    validation.check_floating("second", second)
    validation.check_same_shape("first", first, "second", second)
    _check_scalar_margin(margin)
    dtype = validation.compute_dtype(first, second)
    first, second = jnp.asarray(first).astype(dtype), jnp.asarray(second).astype(dtype)
    mask = validation.broadcast_where(where, first.shape)
    checks.check_finite("margin_ranking_loss", "second", second, where=mask)
    difference, targets, mask = _cast_with_where(
        "margin_ranking_loss", first - second, targets, where, "first"
    )
    loss = _positive_part(margin - targets * difference)
    return validation.apply_where(loss, mask)


def hinge_embedding_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    margin: float = 1.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise loss of PyTorch's ``hinge_embedding_loss``, for distances of pairs.

    With ``x = predictions``, ``t = targets`` and ``m = margin``:

    .. math::
        \ell = \begin{cases}
            x & \text{if } t = 1 \text{ (similar pairs)}, \\
            \max(0, m - x) & \text{if } t = -1 \text{ (dissimilar pairs).}
        \end{cases}

    ``predictions`` are typically distances between two embeddings. As in PyTorch, a
    target that is neither ``1`` nor ``-1`` takes both terms, ``predictions +
    max(0, margin - predictions)``; a NaN target gives NaN (PyTorch's rule would give
    that finite sum).

    Args:
      predictions: floating array, any shape.
      targets: array of the same shape holding ``-1`` or ``+1``.
      margin: the distance beyond which a dissimilar pair costs nothing, a scalar of
        any sign, as in PyTorch (a negative one makes every distance above it free, so
        non-negative distances of dissimilar pairs cost nothing).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import hinge_embedding_loss
    >>> hinge_embedding_loss(jnp.array([0.3, 0.3, 2.0]), jnp.array([1.0, -1.0, -1.0]))
    Array([0.3, 0.7, 0. ], dtype=float32)

    References:
      PyTorch, ``torch.nn.HingeEmbeddingLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.HingeEmbeddingLoss.html).
    """
    _check_scalar_margin(margin)
    predictions, targets, mask = _cast_with_where(
        "hinge_embedding_loss", predictions, targets, where, "predictions"
    )
    zero = jnp.zeros((), predictions.dtype)
    dissimilar = jnp.where(targets != 1, _positive_part(margin - predictions), zero)
    similar = jnp.where(targets != -1, predictions, zero)
    loss = validation.nan_where(jnp.isnan(targets), dissimilar + similar)
    return validation.apply_where(loss, mask)


def multilabel_soft_margin_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    class_weights: jax.typing.ArrayLike | None = None,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-label logistic loss of PyTorch's ``multilabel_soft_margin_loss``, per example.

    The mean over the ``C`` classes of the sigmoid binary cross-entropy, each class
    weighted by ``class_weights`` (PyTorch's ``weight``):

    .. math::
        \ell = \frac{1}{C} \sum_c w_c \big(y_c \operatorname{softplus}(-x_c)
            + (1 - y_c) \operatorname{softplus}(x_c)\big)

    computed by :func:`jaxloss.sigmoid_binary_cross_entropy`, so the loss and its
    gradient ``w_c (sigmoid(x_c) - y_c) / C`` are finite for every finite logit (PyTorch's
    ``logsigmoid`` form is too). Unlike PyTorch, a label outside ``[0, 1]`` gives NaN
    for its example (PyTorch computes a meaningless, possibly negative number).

    Args:
      logits: floating array with a class axis of size ``C``.
      labels: array of the same shape, ``1`` for the classes present and ``0`` for the
        others (soft labels in ``[0, 1]`` are accepted).
      class_weights: optional ``[C]`` floating weights, one per class.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``logits``: masked classes are left
        out as if sliced away (the mean is over the unmasked classes; an example with
        every class masked has loss 0).

    Returns:
      The loss per example, ``logits``'s shape without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import multilabel_soft_margin_loss
    >>> multilabel_soft_margin_loss(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]))
    Array([0.22009484], dtype=float32)

    References:
      PyTorch, ``torch.nn.MultiLabelSoftMarginLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.MultiLabelSoftMarginLoss.html).
    """
    validation.check_floating("logits", logits)
    validation.check_same_shape("logits", logits, "labels", labels)
    axis = validation.check_class_axis("logits", logits, axis)
    shape = jnp.shape(logits)
    validation.check_class_weights(class_weights, shape[axis])
    mask = validation.broadcast_where(where, shape)
    dtype = validation.compute_dtype(logits)
    logits, labels = jnp.asarray(logits).astype(dtype), jnp.asarray(labels).astype(dtype)
    # Checked here too, so that checked mode names this loss (the BCE below checks again).
    checks.check_finite("multilabel_soft_margin_loss", "logits", logits, where=mask)
    checks.check_unit_interval("multilabel_soft_margin_loss", "labels", labels, where=mask)
    if mask is not None:
        # Neutral values at the masked classes, so that a NaN there gives no 0 * NaN gradient.
        logits = jnp.where(mask, logits, jnp.zeros((), dtype))
        labels = jnp.where(mask, labels, jnp.zeros((), dtype))
    per_class = sigmoid_binary_cross_entropy(logits, labels, where=mask)
    if class_weights is not None:
        weights_shape = [1] * len(shape)
        weights_shape[axis] = shape[axis]
        weights = jnp.reshape(jnp.asarray(class_weights).astype(per_class.dtype), weights_shape)
        per_class = per_class * weights
    if mask is None:
        return jnp.sum(per_class, axis=axis) / shape[axis]
    kept = jnp.sum(mask, axis=axis).astype(per_class.dtype)
    return jnp.sum(per_class, axis=axis) / jnp.maximum(kept, 1)


def _class_iota(shape: tuple, axis: int) -> jax.Array:
    return lax.broadcasted_iota(jnp.int32, shape, axis)


def multi_margin_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    p: int = 1,
    margin: float = 1.0,
    class_weights: jax.typing.ArrayLike | None = None,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class hinge loss of PyTorch's ``multi_margin_loss`` (Weston and Watkins), per
    example.

    With the label ``y`` of an example, its ``C`` class scores ``x`` and ``m = margin``:

    .. math::
        \ell = \frac{w_y}{C} \sum_{i \ne y} \max(0, m - x_y + x_i)^p

    where ``w`` are the ``class_weights`` (PyTorch's ``weight``; 1 without them). The
    gradient at a kink (a gap of exactly 0) is 0, as in PyTorch.

    Args:
      scores: floating array of raw class scores with a class axis of size ``C``.
      labels: integer class indices, ``scores``'s shape without ``axis``.
      p: 1 (hinge) or 2 (squared hinge), as in PyTorch.
      margin: the required gap between the label's score and the others, a scalar of
        any sign, as in PyTorch (a negative one tolerates another class scoring up to
        ``-margin`` above the label).
      class_weights: optional ``[C]`` floating weights; an example's loss is multiplied
        by its label's weight.
      axis: the class axis.
      where: optional boolean mask broadcastable to ``scores``: masked classes are
        treated as if sliced away (``C`` counts the unmasked classes); a ``[..., 1]``
        mask drops whole examples (loss 0).

    Returns:
      The loss per example, ``labels``'s shape; float32 for half inputs. A label outside
      ``[0, C)`` or on a masked class gives NaN for its example, where PyTorch raises:
      a value cannot raise under ``jax.jit`` (checked mode, ``jaxloss.checks()``, does).

    >>> import jax.numpy as jnp
    >>> from jaxloss import multi_margin_loss
    >>> multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
    Array([0.325], dtype=float32)

    References:
      Weston and Watkins, "Support vector machines for multi-class pattern
      recognition", ESANN 1999. PyTorch, ``torch.nn.MultiMarginLoss``
      (pytorch.org/docs/stable/generated/torch.nn.MultiMarginLoss.html).
    """
    validation.check_floating("scores", scores)
    axis = validation.check_class_axis("scores", scores, axis)
    validation.check_sparse_labels("scores", scores, labels, axis)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"`p` must be 1 or 2 (as in PyTorch), got {p!r}.")
    _check_scalar_margin(margin)
    shape = jnp.shape(scores)
    num_classes = shape[axis]
    validation.check_class_weights(class_weights, num_classes)
    mask = validation.broadcast_where(where, shape)
    dtype = validation.compute_dtype(scores)
    scores = jnp.asarray(scores).astype(dtype)
    labels = jnp.asarray(labels)
    checks.check_finite("multi_margin_loss", "scores", scores, where=mask)
    checks.check_class_labels("multi_margin_loss", labels, num_classes)
    safe_labels, active, valid = label_status(labels, mask, num_classes, axis, None, shape)
    label_scores = jnp.take_along_axis(scores, safe_labels, axis)
    counted = _class_iota(shape, axis) != safe_labels
    if mask is not None:
        counted = counted & mask
    # The difference of two scores first (exact when they are close), then the margin.
    # The label's own (and the masked) gaps are set to 0 before the power, so that an
    # infinite label score (inf - inf) reaches neither the loss nor its gradient.
    gaps = jnp.where(counted, (scores - label_scores) + margin, jnp.zeros((), dtype))
    terms = _positive_part(gaps)
    if p == 2:
        terms = jnp.square(terms)
    size = num_classes if mask is None else jnp.maximum(jnp.sum(mask, axis, keepdims=True), 1)
    loss = jnp.sum(terms, axis=axis, keepdims=True) / jnp.asarray(size, dtype)
    if class_weights is not None:
        loss = loss * jnp.take(jnp.asarray(class_weights).astype(dtype), safe_labels)
    loss = validation.apply_where(validation.nan_where(~valid, loss), active)
    return jnp.squeeze(loss, axis)


def multilabel_margin_loss(
    scores: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-label hinge loss of PyTorch's ``multilabel_margin_loss``, per example.

    ``targets`` has the shape of ``scores`` and lists an example's classes by index,
    ended by the first ``-1`` (the entries after it are ignored). With ``J`` that list
    and ``T`` the set of its classes:

    .. math::
        \ell = \frac{1}{C} \sum_{j \in J} \sum_{i \notin T} \max\big(0, 1 - (x_j - x_i)\big)

    As in PyTorch, a class listed twice counts twice, and an empty list (a first entry of
    ``-1``) gives 0. The cost is ``C**2`` pairs per example, as in PyTorch.

    Args:
      scores: floating array of raw class scores with a class axis of size ``C``.
      targets: integer array of ``scores``'s shape: class indices in ``[0, C)``, padded
        with ``-1``.
      axis: the class axis of both arrays.
      where: optional boolean mask broadcastable to ``scores``: masked classes are left
        out as if sliced away (they are neither targets nor others, and ``C`` counts
        the unmasked classes; ``targets`` still index the whole class axis). An example
        with every class masked has loss 0.

    Returns:
      The loss per example, ``scores``'s shape without ``axis``; float32 for half inputs.
      An entry of ``targets`` outside ``[-1, C)``, anywhere in the row (PyTorch raises for
      those too), or a listed class that is masked, gives NaN for its example.

    >>> import jax.numpy as jnp
    >>> from jaxloss import multilabel_margin_loss
    >>> scores = jnp.array([[0.1, 0.2, 0.4, 0.8]])
    >>> multilabel_margin_loss(scores, jnp.array([[3, 0, -1, 1]]))
    Array([0.85], dtype=float32)

    References:
      PyTorch, ``torch.nn.MultiLabelMarginLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.MultiLabelMarginLoss.html).
    """
    validation.check_floating("scores", scores)
    validation.check_integer("targets", targets)
    validation.check_same_shape("scores", scores, "targets", targets)
    axis = validation.check_class_axis("scores", scores, axis)
    mask = validation.broadcast_where(where, jnp.shape(scores))
    dtype = validation.compute_dtype(scores)
    scores = jnp.moveaxis(jnp.asarray(scores).astype(dtype), axis, -1)
    targets = jnp.moveaxis(jnp.asarray(targets), axis, -1).astype(jnp.int32)
    num_classes = scores.shape[-1]
    checks.check_finite("multilabel_margin_loss", "scores", scores, where=mask)
    # PyTorch stops at the first -1 (cumsum of the -1s is still 0 before it).
    listed = jnp.cumsum((targets == -1).astype(jnp.int32), axis=-1) == 0
    invalid = jnp.any((targets < -1) | (targets >= num_classes), axis=-1)
    # counts[..., c]: how often class c is listed.
    classes = _class_iota(targets.shape + (num_classes,), targets.ndim)
    counts = jnp.sum((targets[..., :, None] == classes) & listed[..., :, None], axis=-2)
    is_target = counts > 0
    others = ~is_target
    if mask is not None:
        mask = jnp.moveaxis(mask, axis, -1)
        invalid = invalid | jnp.any(is_target & ~mask, axis=-1)
        others = others & mask
    pair_weights = jnp.where(others[..., None, :], counts[..., :, None], 0)  # [..., j, i]
    gaps = (scores[..., None, :] - scores[..., :, None]) + 1.0
    # Unused pairs are set to 0 before the hinge: an inf - inf there stays out.
    gaps = jnp.where(pair_weights > 0, gaps, jnp.zeros((), dtype))
    total = jnp.sum(pair_weights.astype(dtype) * _positive_part(gaps), axis=(-2, -1))
    if mask is None:
        loss = total / num_classes
        has_nan = jnp.any(jnp.isnan(scores), axis=-1)
    else:
        loss = total / jnp.maximum(jnp.sum(mask, axis=-1), 1).astype(dtype)
        has_nan = jnp.any(jnp.isnan(scores) & mask, axis=-1)
    loss = validation.nan_where(invalid | has_nan, loss)
    return loss if mask is None else validation.apply_where(loss, jnp.any(mask, axis=-1))
