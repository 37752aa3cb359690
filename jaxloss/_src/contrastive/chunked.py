"""The contrastive loss streamed over blocks of keys: no ``[batch, batch]`` logits.

:func:`jaxloss.contrastive_loss` forms the logits ``s = q k^T / tau`` of the whole batch,
``B**2`` floats (1 GiB at ``B = 16384`` in float32), and autodiff keeps more of that size.
Here the keys are streamed in blocks of ``chunk_size``: each block's logits ``[B, chunk]``
are formed, folded into a running (online) logsumexp of every query's row, reduced at once
to the exact logsumexp of the block's columns, and dropped. The backward pass (a
``jax.custom_vjp``) keeps only those two ``[B]`` vectors besides the inputs, recomputes each
block's logits and turns them into the block's share of the gradients: all of ``d keys``
for the block's keys, a sum into ``d queries``. The cost is one more ``B x B x D`` matrix
product than the explicit form (the recomputed logits); the exponentials run on blocks that
stay in cache.

The temperature is folded into the queries (``q / tau``) before the kernel, so that a
learned, traced temperature gets its gradient from ordinary autodiff.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src.contrastive import inputs
from jaxloss._src.fused import default_chunk_size
from jaxloss._src.fused_streams import _over_chunks, _varying_over


def _block_logits(queries, keys, start, size, query_valid, key_valid):
    """The logits of keys ``[start, start + size)`` against every query, ``[B, size]``:
    masked as a row sees them (invalid keys -inf) and as a column does (invalid queries)."""
    block = lax.dynamic_slice_in_dim(keys, start, size, axis=0)
    logits = lax.dot_general(queries, block, (((1,), (1,)), ((), ())))
    if query_valid is None:
        return logits, logits, block
    minus_inf = jnp.asarray(-jnp.inf, logits.dtype)
    valid = lax.dynamic_slice_in_dim(key_valid, start, size)
    row_view = jnp.where(valid[None, :], logits, minus_inf)
    column_view = jnp.where(query_valid[:, None], logits, minus_inf)
    return row_view, column_view, block


def _finite_or_zero(values):
    return jnp.where(jnp.isfinite(values), values, jnp.zeros((), values.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _logsumexps(queries, keys, query_valid, key_valid, chunk_size, with_columns, axis_name):
    """``(logsumexp_j s_ij, logsumexp_i s_ij)``: every query's row over the keys and every
    key's column over the queries (``None`` unless ``with_columns``); -inf where empty."""
    result, _ = _logsumexps_fwd(
        queries, keys, query_valid, key_valid, chunk_size, with_columns, axis_name
    )
    return result


def _logsumexps_fwd(queries, keys, query_valid, key_valid, chunk_size, with_columns, axis_name):
    num_queries, num_keys = queries.shape[0], keys.shape[0]
    dtype = queries.dtype
    init = _varying_over(axis_name, (
        jnp.full((num_queries,), -jnp.inf, dtype),
        jnp.zeros((num_queries,), dtype),
        jnp.zeros((num_keys if with_columns else 0,), dtype),
    ))

    def fold(carry, start, size):
        running_max, scaled_sum, columns = carry
        row_view, column_view, _ = _block_logits(
            queries, keys, start, size, query_valid, key_valid
        )
        new_max = jnp.maximum(running_max, jnp.max(row_view, axis=1))
        shift = _finite_or_zero(new_max)
        scaled_sum = scaled_sum * jnp.exp(running_max - shift) + jnp.sum(
            jnp.exp(row_view - shift[:, None]), axis=1
        )
        if with_columns:
            block_columns = inputs.masked_logsumexp(column_view, None, axis=0)
            columns = lax.dynamic_update_slice_in_dim(columns, block_columns, start, axis=0)
        return new_max, scaled_sum, columns

    running_max, scaled_sum, columns = _over_chunks(fold, init, num_keys, chunk_size)
    rows = _finite_or_zero(running_max) + jnp.log(scaled_sum)
    columns = columns if with_columns else None
    return (rows, columns), (queries, keys, query_valid, key_valid, rows, columns)


def _logsumexps_bwd(chunk_size, with_columns, axis_name, residuals, cotangents):
    queries, keys, query_valid, key_valid, rows, columns = residuals
    g_rows, g_columns = cotangents
    # An empty row or column (-inf) has no entries whose probability could be formed.
    rows = _finite_or_zero(rows)[:, None]
    g_rows = g_rows[:, None]
    if with_columns:
        columns = _finite_or_zero(columns)

    def block_grads(carry, start, size):
        d_queries, d_keys = carry
        row_view, column_view, block = _block_logits(
            queries, keys, start, size, query_valid, key_valid
        )
        d_logits = g_rows * jnp.exp(row_view - rows)
        if with_columns:
            block_columns = lax.dynamic_slice_in_dim(columns, start, size)[None, :]
            block_g = lax.dynamic_slice_in_dim(g_columns, start, size)[None, :]
            d_logits = d_logits + block_g * jnp.exp(column_view - block_columns)
        d_queries = d_queries + d_logits @ block
        d_block = lax.dot_general(d_logits, queries, (((0,), (0,)), ((), ())))
        d_keys = lax.dynamic_update_slice_in_dim(d_keys, d_block, start, axis=0)
        return d_queries, d_keys

    carry = _varying_over(axis_name, (jnp.zeros(queries.shape, queries.dtype),
                                      jnp.zeros(keys.shape, keys.dtype)))
    d_queries, d_keys = _over_chunks(block_grads, carry, keys.shape[0], chunk_size)
    no_gradient = [None if v is None else np.zeros(v.shape, jax.dtypes.float0)
                   for v in (query_valid, key_valid)]
    return (d_queries, d_keys, *no_gradient)


_logsumexps.defvjp(_logsumexps_fwd, _logsumexps_bwd)


def _check_chunk_size(chunk_size, num_keys: int) -> int:
    """``chunk_size`` as a number of keys in ``[1, num_keys]``; None: about 32 MiB of logits."""
    if chunk_size is None:
        return default_chunk_size(max(num_keys, 1), max(num_keys, 1), min_chunks=1)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or (
        chunk_size < 1
    ):
        raise ValueError(f"`chunk_size` must be None or an int >= 1, got {chunk_size!r}.")
    return int(min(chunk_size, max(num_keys, 1)))


def _prepare(name, queries, keys, temperature, where):
    queries, keys, where = inputs.check_pair(queries, keys, where)
    validation.check_positive("temperature", temperature)
    checks.check_finite(name, "queries", queries)
    checks.check_finite(name, "keys", keys)
    return queries / jnp.asarray(temperature, queries.dtype), keys, where


def chunked_contrastive_loss(
    queries: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    temperature: float = 0.07,
    symmetric: bool = True,
    where: jax.typing.ArrayLike | None = None,
    chunk_size: int | None = None,
) -> jax.Array:
    r""":func:`contrastive_loss` streamed over blocks of keys, without the ``[B, B]`` logits.

    The same loss, values and gradients (to float32 rounding) as
    :func:`jaxloss.contrastive_loss`: with :math:`s_{ij} = q_i \cdot k_j / \tau`,

    .. math::
        \ell_i = \log \sum_j e^{s_{ij}} - s_{ii}

    or, with ``symmetric``, its mean with :math:`\log \sum_j e^{s_{ji}} - s_{ii}`. No array of ``[B, B]`` exists in the forward or the backward
    pass; the largest is one block of logits, ``[B, chunk_size]``. On a 2-core AMD EPYC at
    ``B = 16384``, ``D = 512`` the compiled temporaries of the forward and backward pass
    were 3.2% of the explicit form's
    (``bench/results/contrastive/cpu-amd-epyc-2-cores-20261207-1421c19.json``).

    Args:
      queries, keys, temperature, symmetric, where: as :func:`jaxloss.contrastive_loss`.
      chunk_size: keys per block; ``None`` picks about 32 MiB of float32 logits per block
        (the rule of ``jaxloss._src.fused.default_chunk_size``). ``B`` need not be a
        multiple: the remainder is a last, smaller block.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import chunked_contrastive_loss
    >>> queries = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> chunked_contrastive_loss(queries, queries, temperature=1.0, chunk_size=1)
    Array([0.31326163, 0.31326163], dtype=float32)

    References:
      Wang et al., "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for
      Contrastive Loss" (Inf-CL), 2024 (arXiv:2410.17243).
    """
    queries, keys, where = _prepare("chunked_contrastive_loss", queries, keys, temperature, where)
    chunk_size = _check_chunk_size(chunk_size, keys.shape[0])
    rows, columns = _logsumexps(queries, keys, where, where, chunk_size, bool(symmetric), None)
    positives = jnp.sum(queries * keys, axis=1)
    return inputs.combine_directions(rows, columns, positives, where)


def chunked_contrastive_loss_sharded(
    queries: jax.typing.ArrayLike,
    keys: jax.typing.ArrayLike,
    *,
    mesh: jax.sharding.Mesh,
    axis_name: str,
    temperature: float = 0.07,
    symmetric: bool = True,
    where: jax.typing.ArrayLike | None = None,
    chunk_size: int | None = None,
) -> jax.Array:
    r"""Data-parallel :func:`chunked_contrastive_loss`: the batch split over a mesh axis.

    ``queries``, ``keys`` and ``where`` are split along the batch over the mesh axis
    ``axis_name``. Each device gathers every query (``all_gather``, ``[B, D]``) and streams
    its own keys against them, which gives its keys' columns exactly and, for every query,
    the logsumexp over its keys; these row parts are combined across devices,

    .. math::
        \mathrm{lse}_i = m_i + \log \sum_d e^{\mathrm{lse}_{i,d} - m_i},\quad
        m_i = \max_d \mathrm{lse}_{i,d},

    with one ``pmax`` and one ``psum`` of ``[B]`` vectors. The backward pass recomputes
    each device's blocks only; the gathered queries' gradients are summed back to their
    devices by the transpose of the gather. No device holds more than ``[B, chunk_size]``
    logits. The mesh may span processes (``jax.distributed``): the arguments are then
    global arrays. Values and gradients equal the single-device function's.

    Args:
      queries, keys, temperature, symmetric, where, chunk_size: as
        :func:`chunked_contrastive_loss`; ``chunk_size`` counts keys of one device.
      mesh: the device mesh.
      axis_name: the mesh axis the batch is split over; ``B`` must be divisible by its
        size.

    Returns:
      The loss, shape ``[batch]``, split over ``axis_name``.

    >>> import jax, jax.numpy as jnp
    >>> from jaxloss import chunked_contrastive_loss_sharded
    >>> mesh = jax.make_mesh((1,), ("batch",))
    >>> queries = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> chunked_contrastive_loss_sharded(queries, queries, mesh=mesh, axis_name="batch",
    ...                                  temperature=1.0)
    Array([0.31326163, 0.31326163], dtype=float32)

    References:
      Wang et al., "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for
      Contrastive Loss" (Inf-CL), 2024 (arXiv:2410.17243).
    """
    if axis_name not in mesh.axis_names:
        raise ValueError(
            f"`axis_name`={axis_name!r} is not an axis of `mesh` (axes {mesh.axis_names})."
        )
    num_shards = mesh.shape[axis_name]
    queries, keys, where = _prepare(
        "chunked_contrastive_loss_sharded", queries, keys, temperature, where
    )
    batch = queries.shape[0]
    if batch % num_shards:
        raise ValueError(
            f"The batch size queries.shape[0]={batch} must be divisible by the size "
            f"{num_shards} of mesh axis {axis_name!r}."
        )
    chunk_size = _check_chunk_size(chunk_size, batch // num_shards)
    symmetric = bool(symmetric)

    def local_loss(queries, keys, valid):
        all_queries = lax.all_gather(queries, axis_name, tiled=True)
        all_valid = None if valid is None else lax.all_gather(valid, axis_name, tiled=True)
        rows, columns = _logsumexps(
            all_queries, keys, all_valid, valid, chunk_size, symmetric, axis_name
        )
        # lse is invariant to the shift: no gradient through the max.
        shift = _finite_or_zero(lax.pmax(lax.stop_gradient(rows), axis_name))
        total = lax.psum(jnp.exp(rows - shift), axis_name)
        present = total > 0
        safe = jnp.where(present, total, jnp.ones((), total.dtype))
        rows = jnp.where(present, shift + jnp.log(safe), jnp.asarray(-jnp.inf, total.dtype))
        local = queries.shape[0]
        rows = lax.dynamic_slice_in_dim(rows, lax.axis_index(axis_name) * local, local)
        positives = jnp.sum(queries * keys, axis=1)
        return inputs.combine_directions(rows, columns, positives, valid)

    by_batch = jax.sharding.PartitionSpec(axis_name)
    if where is None:
        in_specs = (by_batch, by_batch)
        body = lambda q, k: local_loss(q, k, None)  # noqa: E731
        args = (queries, keys)
    else:
        in_specs = (by_batch, by_batch, by_batch)
        body = local_loss
        args = (queries, keys, where)
    axis_type = dict(zip(mesh.axis_names, mesh.axis_types))[axis_name]
    if axis_type == jax.sharding.AxisType.Explicit:
        # `jax.make_mesh`'s default: arguments must already be laid out as in_specs say.
        args = [jax.reshard(a, jax.sharding.NamedSharding(mesh, spec))
                for a, spec in zip(args, in_specs)]
    return jax.shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=by_batch)(*args)
