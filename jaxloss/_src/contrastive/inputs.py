"""The argument checks of the contrastive losses: a pair of embedding matrices, or
embeddings with labels."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import softmax_rows, validation


def _check_matrix(name: str, array: jax.typing.ArrayLike) -> None:
    validation.check_floating(name, array)
    if jnp.ndim(array) != 2:
        raise ValueError(
            f"`{name}` must have shape [batch, features], got {name}.shape={jnp.shape(array)}."
        )


def check_pair(
    queries: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Check ``queries`` and ``keys`` (floating ``[batch, features]``, one shape) and a
    ``where`` mask over the batch; return them in the compute dtype, the mask as ``[batch]``.

    Masked examples' embeddings are zeroed, so that a NaN there reaches no other example's
    loss or gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> check_pair(jnp.zeros((2, 3)), jnp.zeros((3, 3)), None)
      Traceback (most recent call last):
      ...
      ValueError: `queries` and `keys` must have the same shape, got queries.shape=(2, 3) and keys.shape=(3, 3).
    """
    _check_matrix("queries", queries)
    _check_matrix("keys", keys)
    validation.check_same_shape("queries", queries, "keys", keys)
    where = validation.broadcast_where(where, jnp.shape(queries)[:1])
    dtype = validation.compute_dtype(queries, keys)
    queries = jnp.asarray(queries).astype(dtype)
    keys = jnp.asarray(keys).astype(dtype)
    if where is not None:
        queries = jnp.where(where[:, None], queries, jnp.zeros((), dtype))
        keys = jnp.where(where[:, None], keys, jnp.zeros((), dtype))
    return queries, keys, where


def check_labelled(
    embeddings: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Check floating ``[batch, features]`` ``embeddings`` and integer ``[batch]`` ``labels``;
    return them as arrays, the embeddings in the compute dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> check_labelled(jnp.zeros((2, 3)), jnp.zeros((3,), jnp.int32))
      Traceback (most recent call last):
      ...
      ValueError: `labels` must have shape (2,) (one label per embedding), got labels.shape=(3,) for embeddings.shape=(2, 3).
    """
    _check_matrix("embeddings", embeddings)
    validation.check_integer("labels", labels)
    expected = jnp.shape(embeddings)[:1]
    if jnp.shape(labels) != expected:
        raise ValueError(
            f"`labels` must have shape {expected} (one label per embedding), got "
            f"labels.shape={jnp.shape(labels)} for embeddings.shape={jnp.shape(embeddings)}."
        )
    dtype = validation.compute_dtype(embeddings)
    return jnp.asarray(embeddings).astype(dtype), jnp.asarray(labels)


def masked_logsumexp(values: jax.Array, mask: jax.Array | None, axis: int) -> jax.Array:
    """``log(sum(exp(values)))`` along ``axis`` over the entries where ``mask`` holds (the
    softmax row statistics' ``m + L``).

    An axis without any entry gives ``-inf``; the gradient stays finite (0 there).
    """
    if values.shape[axis] == 0:  # no entries (an empty batch): max has no identity
        return jnp.full(values.shape[:axis] + values.shape[axis + 1:], -jnp.inf, values.dtype)
    maximum, log_sum_exp = softmax_rows.two_pass_row_statistics(values, mask, axis=axis)
    total = jnp.squeeze(maximum + log_sum_exp, axis)
    if mask is None:
        return total
    return jnp.where(jnp.any(mask, axis=axis), total, jnp.asarray(-jnp.inf, total.dtype))


def combine_directions(
    row_logsumexp: jax.Array,
    column_logsumexp: jax.Array | None,
    positives: jax.Array,
    where: jax.Array | None,
) -> jax.Array:
    """Each example's loss from its row's (and column's) logsumexp and its positive logit:
    ``lse_row - s_ii``, or the mean of both directions; 0 outside ``where``."""
    loss = row_logsumexp - positives
    if column_logsumexp is not None:
        loss = 0.5 * (loss + (column_logsumexp - positives))
    return validation.apply_where(loss, where)
