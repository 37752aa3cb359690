"""Integer class labels, as the sparse cross-entropies read them.

Each row gets a class index that is safe to gather with, and a factor that scales its loss
and gradient: 1 for a valid label, 0 for a row that is ignored (``ignore_index``) or has
every class masked, NaN for a label outside ``[0, num_classes)`` or on a masked class (which
cannot raise under ``jit``). :func:`label_entries` reads the scores at those indices, its
derivative a one-hot selection rather than a scatter.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxloss._src import softmax_rows


def label_status(labels, mask, num_classes, axis, ignore_index, scores_shape):
    """Per row (keepdims): a safe class index, whether the row is active, whether it is valid.

    Active: not ``ignore_index`` and not entirely masked. Valid: a label in
    ``[0, num_classes)`` on an unmasked class.
    """
    labels = jnp.expand_dims(labels.astype(jnp.int32), axis)
    in_range = (labels >= 0) & (labels < num_classes)
    safe_labels = jnp.where(in_range, labels, 0)
    active = jnp.ones(labels.shape, jnp.bool_)
    if mask is not None:
        active = softmax_rows.active_rows(mask, axis)
        label_unmasked = jnp.take_along_axis(jnp.broadcast_to(mask, scores_shape), safe_labels, axis)
        in_range = in_range & label_unmasked
    if ignore_index is not None:
        active = active & (labels != ignore_index)
    return safe_labels, active, in_range


def row_factor(active, valid, dtype):
    """1 for an active valid row, NaN for an active invalid one, 0 for an inactive one."""
    one = jnp.where(valid, jnp.ones((), dtype), jnp.asarray(jnp.nan, dtype))
    return jnp.where(active, one, jnp.zeros((), dtype))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def label_entries(scores: jax.Array, safe_labels: jax.Array, axis: int) -> jax.Array:
    """``scores`` at each row's label (keepdims): ``take_along_axis``, differentiable in
    ``scores`` by a one-hot selection rather than a gather's derivative.

    The gather's reverse-mode derivative writes a zero array and then scatters into it; the
    selection's, ``where(classes == label, cotangent, 0)``, is one pass with no scatter.

    Args:
      scores: floating array with a class axis.
      safe_labels: int32 class indices in range, ``scores``'s shape with ``axis`` of size 1.
      axis: the class axis, non-negative.

    Returns:
      The label entries, ``safe_labels``'s shape.

    Example:
      >>> import jax.numpy as jnp
      >>> label_entries(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([[1], [0]]), 1)
      Array([[2.],
             [3.]], dtype=float32)
    """
    return jnp.take_along_axis(scores, safe_labels, axis)


@label_entries.defjvp
def _label_entries_jvp(axis, primals, tangents):
    scores, safe_labels = primals
    scores_dot = tangents[0]
    classes = jax.lax.broadcasted_iota(safe_labels.dtype, scores.shape, axis)
    selected = jnp.where(classes == safe_labels, scores_dot, jnp.zeros((), scores_dot.dtype))
    return label_entries(scores, safe_labels, axis), jnp.sum(selected, axis, keepdims=True)
