"""The gradient filter of :func:`jaxloss.fused_linear_cross_entropy`: which tiles of the
logits' gradient it skips, and what a skipped tile's products count as."""

from __future__ import annotations

import jax.numpy as jnp


def _negligible_tile(d_z, scale, labels, start, size, eps):
    """Scalar boolean: the gradient filter may skip the tile of columns ``[start, start +
    size)`` whose logits' gradient is ``d_z``: no token's label is among the columns (the
    one-hot term is never small) and every entry is at most ``eps`` times its token's
    ``scale``, the cotangent of its logsumexp (the softmax term is ``scale * p * kappa``
    there, ``kappa <= 1`` the soft cap's derivative, so this holds where every ``p <= eps``)."""
    labelled = jnp.any((labels >= start) & (labels < start + size))
    small = jnp.all(jnp.abs(d_z) <= eps * jnp.abs(scale)[:, None])
    return small & ~labelled


def _zero_input_grads(hidden, weight, accum_dtype):
    """The zeros ``_input_grads`` would give for a skipped tile (its two products' shapes)."""
    return (jnp.zeros((hidden.shape[0], weight.shape[0]), accum_dtype),
            jnp.zeros((hidden.shape[1], weight.shape[1]), accum_dtype))
