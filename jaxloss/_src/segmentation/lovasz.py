"""Lovász losses: the Lovász extension of the Jaccard loss, binary (hinge) and multi-class.

The Jaccard loss ``1 - |y ∩ ŷ| / |y ∪ ŷ|`` of a set of mispredicted pixels is
submodular; its Lovász extension is a convex, piecewise-linear function of the
pixels' errors that equals it on 0/1 errors (Berman, Rannen Triki and Blaschko, 2018).
It is computed by sorting the errors ``m`` in decreasing order,
``m_1 >= ... >= m_P``, and weighting each with the step of the Jaccard loss of the
growing set of the first ``i`` pixels::

    loss = sum_i m_i * (J(S_i) - J(S_{i-1})),   J(S) = |S| / |y ∪ S|,  S_i = {1, ..., i}

Both losses give one value per image: the first axis is the batch, every other axis
(but the class axis of the softmax form) holds the image's pixels. Half-precision
inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``logits``/``probs``; labels of another shape; a batch without pixels axes;
non-integer labels of the softmax form; an unknown ``classes``; a ``where`` mask that
is not boolean or does not broadcast to the labels. Labels that are not 0/1 (hinge)
or not in ``[0, num_classes)`` (softmax), and probabilities outside ``[0, 1]``, give
NaN for their image; checked mode (``jaxloss.checks()``) raises instead.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def _jaccard_steps(labels_sorted: jax.Array) -> jax.Array:
    """``J(S_i) - J(S_{i-1})`` along the last axis, with ``J(S) = |S| / |y ∪ S|``.

    Written as ``1 - |y \\ S| / |y ∪ S|``: ``|y ∪ S_i| >= 1`` for every ``i >= 1`` (either
    ``y`` is not empty or ``S_i`` is not), so nothing divides by zero.
    """
    total = jnp.sum(labels_sorted, axis=-1, keepdims=True)
    missed = total - jnp.cumsum(labels_sorted, axis=-1)
    union = total + jnp.cumsum(1.0 - labels_sorted, axis=-1)
    jaccard = 1.0 - missed / union
    return jnp.concatenate([jaccard[..., :1], jnp.diff(jaccard, axis=-1)], axis=-1)


def _lovasz_extension(errors: jax.Array, labels: jax.Array) -> jax.Array:
    """The Lovász extension of the Jaccard loss at ``max(errors, 0)``, over the last axis.

    The order is a constant of the gradient: the extension is linear between ties.
    """
    order = jnp.argsort(-jax.lax.stop_gradient(errors), axis=-1)
    errors = jnp.take_along_axis(errors, order, axis=-1)
    labels = jnp.take_along_axis(labels, order, axis=-1)
    return jnp.sum(jnp.maximum(errors, 0.0) * _jaccard_steps(labels), axis=-1)


def _pixels(name: str, array, labels_shape: tuple) -> None:
    if len(labels_shape) < 2:
        raise ValueError(
            f"`{name}` must have a batch axis and pixel axes, [batch, pixels] or "
            f"[batch, height, width], got {name}.shape={jnp.shape(array)}."
        )


def lovasz_hinge_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Binary Lovász hinge loss: one value per image (Berman et al., 2018).

    The errors are the hinge margins ``m = 1 - logits * (2 * labels - 1)`` of every
    pixel; the loss is the Lovász extension of the Jaccard loss of the foreground
    ``y`` at ``max(m, 0)``:

    .. math::
        \ell = \sum_{i=1}^{P} \max(m_i, 0) \big(J(S_i) - J(S_{i-1})\big), \qquad
        J(S) = \frac{|S|}{|y \cup S|}, \quad S_i = \{1, \dots, i\}

    with the ``P`` pixels sorted by decreasing error, ``m_1 >= ... >= m_P``, and ``S_i``
    the first ``i`` of them. For one pixel it is the hinge
    ``max(1 - logits * (2 * labels - 1), 0)``.

    Args:
      logits: floating array ``[batch, pixels...]`` of foreground scores.
      labels: array of the same shape with 0/1 labels.
      where: optional boolean mask broadcastable to ``logits``; masked pixels are left
        out (the original's ``ignore`` label).

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import lovasz_hinge_loss
    >>> lovasz_hinge_loss(jnp.array([[2.0, -1.0, 0.5], [0.3, 0.0, 0.0]]),
    ...                   jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    Array([0.75, 0.9 ], dtype=float32)

    References:
      Berman, Rannen Triki and Blaschko, "The Lovász-Softmax loss: a tractable surrogate
      for the optimization of the intersection-over-union measure in neural networks",
      CVPR 2018.
    """
    validation.check_floating("logits", logits)
    validation.check_same_shape("logits", logits, "labels", labels)
    shape = jnp.shape(logits)
    _pixels("logits", logits, shape)
    validation.check_where("where", where, shape)
    where = validation.broadcast_where(where, shape)
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels).astype(dtype)
    checks.check_finite("lovasz_hinge_loss", "logits", logits, where=where)
    checks.check_unit_interval("lovasz_hinge_loss", "labels", labels, where=where)
    kept = labels if where is None else jnp.where(where, labels, jnp.zeros((), dtype))
    checks.check_whole_numbers("lovasz_hinge_loss", "labels", kept)
    not_binary = ~((labels == 0) | (labels == 1))
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    if where is not None:
        # Masked pixels sort last with no error and no label: as if they were not there.
        errors = jnp.where(where, errors, jnp.asarray(-jnp.inf, dtype))
        labels = jnp.where(where, labels, jnp.zeros((), dtype))
    flat = (shape[0], math.prod(shape[1:]))  # explicit: an empty batch has no -1 to infer
    loss = _lovasz_extension(errors.reshape(flat), labels.reshape(flat))
    invalid = validation.any_along(not_binary.reshape(flat), -1,
                                   None if where is None else where.reshape(flat))
    return validation.nan_where(invalid, loss)


def lovasz_softmax_loss(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    classes: str = "present",
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Multi-class Lovász-Softmax loss: one value per image (Berman et al., 2018).

    For each class ``c`` the errors are ``|[labels == c] - probs[..., c]|``; the loss
    of class ``c`` is the Lovász extension of its Jaccard loss, as in
    :func:`lovasz_hinge_loss` with the pixels of class ``c`` as the foreground and
    these errors sorted in decreasing order:

    .. math::
        \ell = \frac{1}{|K|} \sum_{c \in K} \sum_{i=1}^{P} m^{c}_{i}
            \big(J_c(S^{c}_{i}) - J_c(S^{c}_{i-1})\big)

    over the averaged classes ``K``: the classes present in the image's labels
    (``classes="present"``, the paper's choice; 0 for an image whose pixels are all
    masked) or every class (``classes="all"``).

    Args:
      probs: floating array ``[batch, pixels..., num_classes]`` of class probabilities
        (a softmax output), class axis last.
      labels: integer array ``[batch, pixels...]`` of class indices.
      classes: ``"present"`` or ``"all"``: the classes averaged.
      where: optional boolean mask broadcastable to ``labels``; masked pixels are left
        out (the original's ``ignore`` label).

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import lovasz_softmax_loss
    >>> probs = jnp.array([[[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]]])
    >>> lovasz_softmax_loss(probs, jnp.array([[0, 1, 1]]))
    Array([0.28333333], dtype=float32)
    >>> lovasz_softmax_loss(probs, jnp.array([[1, 1, 1]]), classes="all")
    Array([0.6166667], dtype=float32)

    References:
      Berman, Rannen Triki and Blaschko, "The Lovász-Softmax loss: a tractable surrogate
      for the optimization of the intersection-over-union measure in neural networks",
      CVPR 2018.
    """
    validation.check_floating("probs", probs)
    validation.check_integer("labels", labels)
    shape = jnp.shape(probs)
    if len(shape) < 2 or jnp.shape(labels) != shape[:-1]:
        raise ValueError(
            f"`labels` must have the shape of `probs` without its class axis (last), "
            f"{shape[:-1]}, got labels.shape={jnp.shape(labels)} for probs.shape={shape}."
        )
    if classes not in ("present", "all"):
        raise ValueError(f'`classes` must be "present" or "all", got classes={classes!r}.')
    validation.check_where("where", where, shape[:-1])
    where = validation.broadcast_where(where, shape[:-1])
    num_classes = shape[-1]
    dtype = validation.compute_dtype(probs)
    probs = jnp.asarray(probs).astype(dtype)
    labels = jnp.asarray(labels)
    pixel_where = None if where is None else where[..., None]
    checks.check_unit_interval("lovasz_softmax_loss", "probs", probs, where=pixel_where)
    checks.check_class_labels("lovasz_softmax_loss", labels, num_classes, where=where)
    flat = (shape[0], math.prod(shape[1:-1]))  # explicit: an empty batch has no -1 to infer
    invalid = validation.outside_unit_interval(probs).any(-1) | (labels < 0) | (
        labels >= num_classes
    )
    foreground = jax.nn.one_hot(labels, num_classes, dtype=dtype)
    errors = jnp.abs(foreground - probs)
    if pixel_where is not None:
        # Masked pixels sort last with no error and no label: as if they were not there.
        errors = jnp.where(pixel_where, errors, -jnp.ones((), dtype))
        foreground = jnp.where(pixel_where, foreground, jnp.zeros((), dtype))
    errors = jnp.moveaxis(errors.reshape(flat + (num_classes,)), -1, 1)
    foreground = jnp.moveaxis(foreground.reshape(flat + (num_classes,)), -1, 1)
    per_class = _lovasz_extension(errors, foreground)  # [batch, classes]
    if classes == "all":
        loss = jnp.mean(per_class, axis=-1)
    else:
        present = jnp.any(foreground > 0, axis=-1).astype(dtype)
        loss = jnp.sum(per_class * present, -1) / jnp.maximum(jnp.sum(present, -1), 1.0)
    invalid = validation.any_along(invalid.reshape(flat), -1,
                                   None if where is None else where.reshape(flat))
    return validation.nan_where(invalid, loss)
