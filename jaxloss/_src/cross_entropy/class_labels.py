"""Integer class labels, as the sparse cross-entropies read them.

Each row gets a class index that is safe to gather with, and a factor that scales its loss
and gradient: 1 for a valid label, 0 for a row that is ignored (``ignore_index``) or has
every class masked, NaN for a label outside ``[0, num_classes)`` or on a masked class (which
cannot raise under ``jit``).
"""

from __future__ import annotations

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
