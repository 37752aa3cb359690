"""Vocabulary-parallel :func:`jaxloss.fused_linear_cross_entropy` over a device mesh.

The vocabulary (``weight``'s columns) is split over one mesh axis with ``shard_map``; each
device streams its own columns with the kernels of :mod:`jaxloss._src.fused_streams`, and the
per-token statistics are combined across devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxloss._src import reduction as reductions
from jaxloss._src import validation
from jaxloss._src.fused import _check_gradient_filter, _check_inputs, _pick_schedule
from jaxloss._src.fused_streams import (
    _cast_grads,
    _forward_stream,
    _logit_stats,
    _logit_stats_fwd,
    _LogitStats,
    _per_token_loss,
)


def fused_linear_cross_entropy_sharded(
    hidden: jax.typing.ArrayLike,
    weight: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mesh: jax.sharding.Mesh,
    axis_name: str,
    token_axis: str | None = None,
    bias: jax.typing.ArrayLike | None = None,
    chunk_size: int | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
    reduction: str = "mean",
    return_logsumexp: bool = False,
    schedule: str | None = None,
    weights: jax.typing.ArrayLike | None = None,
    gradient_filter: float | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""Vocabulary-parallel :func:`fused_linear_cross_entropy` over a device mesh.

    ``weight`` (and ``bias``) are split along the vocabulary over the mesh axis
    ``axis_name``; ``hidden`` and ``labels`` are replicated, or, with ``token_axis``, split
    along the tokens over that second mesh axis (a 2-D mesh: tokens data-parallel,
    vocabulary model-parallel). Each device streams over its
    own ``V / D`` columns exactly as the single-device function does and produces, per
    token, its shard's logsumexp, label logit (0 unless the label falls in the shard) and
    logit sum. These are combined across devices,

    .. math::
        \mathrm{lse} = m + \log \sum_d e^{\mathrm{lse}_d - m},\quad m = \max_d \mathrm{lse}_d,
        \qquad z_y = \sum_d z_{y,d},

    with one ``pmax`` and three ``psum`` of ``[N]`` vectors; the loss is then formed as in
    the single-device function. With ``schedule="recompute"`` (the default for
    ``reduction="none"`` or ``return_logsumexp``) the backward
    pass has each device recompute only its own
    chunks, so it yields its shard of ``d weight`` and ``d bias`` and a partial
    ``d hidden`` that ``shard_map`` sums over the axis. No device holds more than
    ``[N, chunk_size]`` logits (``N`` the tokens of one token shard). With ``token_axis``
    the ``"mean"`` and ``"sum"`` are one more ``psum`` over that axis, and ``d weight`` is
    summed over it. ``schedule="forward"`` (the default for a scalar loss) computes the gradients in the
    forward pass as the single-device schedule does: each device streams blocks of its
    tokens against its ``V / D`` columns, combining every block's row statistics across the
    vocabulary axis (one ``pmax`` and three ``psum`` of ``[T]`` per block), for three matrix
    products instead of four and a float32 ``[H, V / D]`` accumulator per device. The mesh
    may span processes (``jax.distributed``): the arguments are
    then global arrays. Values and gradients equal the single-device function's.
    The other arguments are those of :func:`fused_linear_cross_entropy`; ``chunk_size``
    counts columns of one device's shard.

    Args:
      mesh: the device mesh.
      axis_name: the mesh axis the vocabulary is split over; ``V`` must be divisible by
        its size.
      token_axis: optional second mesh axis the tokens are split over; the number of
        tokens ``prod(labels.shape)`` must be divisible by its size. ``None``: the tokens
        are replicated.
      schedule: as for :func:`fused_linear_cross_entropy`, on each device's shard.
      weights: optional per-token weights, as for :func:`fused_linear_cross_entropy`
        (``labels.shape`` or broadcasting to it; split over ``token_axis`` like the labels):
        each token's loss is ``weights * loss`` and the ``"mean"`` divides by the weights
        of the tokens not ignored, summed over every token shard.
      gradient_filter: as for :func:`fused_linear_cross_entropy`, on each device's tiles.
        With ``schedule="recompute"`` a device compares its shard's own softmax (each
        entry at least the whole vocabulary's) with ``eps``, so it skips no more than one
        device would, and the same bound holds.

    Returns:
      As :func:`fused_linear_cross_entropy`: a scalar replicated over the mesh, or, for
      ``reduction="none"`` and the logsumexp, per-token values split over ``token_axis``.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from jaxloss import fused_linear_cross_entropy_sharded
      >>> mesh = jax.make_mesh((1,), ("vocab",))
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> weight = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> loss = fused_linear_cross_entropy_sharded(hidden, weight, jnp.array([0, 2]),
      ...                                           mesh=mesh, axis_name="vocab")
      >>> float(loss)
      1.3954...

    References:
      Shoeybi et al., "Megatron-LM", 2019 (arXiv:1909.08053): vocabulary-parallel
      cross-entropy.
    """
    num_shards, num_token_shards = _check_mesh(mesh, axis_name, token_axis)
    forward = _pick_schedule(schedule, reduction, return_logsumexp) == "forward"
    vocab_size = jnp.shape(weight)[-1] if jnp.ndim(weight) == 2 else None
    tiles, label_smoothing, z_loss, logit_soft_cap = _check_inputs(
        hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
        logit_soft_cap, reduction, vocab_shards=num_shards, weights=weights,
        token_shards=num_token_shards, forward=forward,
    )
    gradient_filter = _check_gradient_filter(gradient_filter, label_smoothing)
    if vocab_size % num_shards:
        raise ValueError(
            f"The vocabulary size weight.shape[1]={vocab_size} must be divisible by the size "
            f"{num_shards} of mesh axis {axis_name!r}."
        )
    hidden, weight, labels = jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(labels)
    shape = labels.shape
    num_tokens = int(np.prod(shape, dtype=np.int64))
    if num_tokens % num_token_shards:
        raise ValueError(
            f"The number of tokens prod(labels.shape)={num_tokens} (labels.shape={shape}) must "
            f"be divisible by the size {num_token_shards} of mesh axis `token_axis`="
            f"{token_axis!r}."
        )
    loss_dtype = validation.compute_dtype(hidden, weight)
    token_weights = (jnp.ones((num_tokens,), loss_dtype) if weights is None else
                     jnp.broadcast_to(jnp.asarray(weights), shape).reshape(-1).astype(loss_dtype))
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    by_token = P(token_axis)
    by_vocab = P(None, axis_name)
    token_axes = () if token_axis is None else (token_axis,)

    ignore_index = validation.check_ignore_index(ignore_index)

    def local_loss(hidden, weight, labels, token_weights, bias):
        kept = jnp.ones(labels.shape, jnp.bool_) if ignore_index is None else (
            labels != ignore_index)
        if forward:
            loss_weights = token_weights
            if reduction == "mean":
                count = jnp.sum(jnp.where(kept, token_weights, jnp.zeros((), loss_dtype)))
                count = lax.psum(count, token_axes) if token_axes else count
                loss_weights = _divide_or_zero(loss_weights, count, weights is None)
            local = _weighted_loss_sum(hidden, weight, bias, labels, loss_weights, tiles,
                                       logit_soft_cap, ignore_index, label_smoothing, z_loss,
                                       vocab_size, axis_name, gradient_filter)
            total = lax.psum(local, token_axes) if token_axes else local
            return total, jnp.zeros(labels.shape, total.dtype)
        local_vocab = weight.shape[1]
        offset = lax.axis_index(axis_name).astype(labels.dtype) * local_vocab
        local = _logit_stats(hidden, weight, bias, labels - offset, tiles,
                             logit_soft_cap, bool(label_smoothing), None, gradient_filter)
        # lse is invariant to the shift: no gradient through the max.
        shift = lax.pmax(lax.stop_gradient(local.logsumexp), axis_name)
        logsumexp = shift + jnp.log(lax.psum(jnp.exp(local.logsumexp - shift), axis_name))
        stats = _LogitStats(logsumexp, lax.psum(local.label_logit, axis_name),
                            lax.psum(local.logit_sum, axis_name))
        loss, kept = _per_token_loss(stats, labels, vocab_size, ignore_index, label_smoothing,
                                     z_loss)
        loss = _reduce_over_tokens(loss, kept, reduction, token_axes,
                                   None if weights is None else token_weights)
        return loss, stats.logsumexp

    in_specs = (by_token, by_vocab, by_token, by_token, P(axis_name))
    args = (hidden, weight, labels, token_weights, None if bias is None else jnp.asarray(bias))
    if bias is None:
        in_specs, args = in_specs[:4], args[:4]
    axis_types = dict(zip(mesh.axis_names, mesh.axis_types))
    if jax.sharding.AxisType.Explicit in (axis_types[a] for a in (axis_name, *token_axes)):
        # `jax.make_mesh`'s default: arguments must already be laid out as in_specs say
        # (shard_map lays them out itself on automatic axes).
        args = [jax.reshard(a, jax.sharding.NamedSharding(mesh, spec))
                for a, spec in zip(args, in_specs)]
    # The streams' scan carries start invariant and become varying over both axes, so the
    # replication types are not checked; the test against one device checks the gradients.
    loss, logsumexp = jax.shard_map(
        lambda h, w, y, t, b=None: local_loss(h, w, y, t, b), mesh=mesh, in_specs=in_specs,
        out_specs=(by_token if reduction == "none" else P(), by_token), check_vma=False,
    )(*args)
    if reduction == "none":
        loss = loss.reshape(shape)
    if return_logsumexp:
        return loss, logsumexp.reshape(shape)
    return loss


def _check_mesh(mesh, axis_name, token_axis):
    """The sizes of the vocabulary axis and of the token axis (1 without one), checked."""
    if axis_name not in mesh.axis_names:
        raise ValueError(
            f"`axis_name`={axis_name!r} is not an axis of `mesh` (axes {mesh.axis_names})."
        )
    if token_axis is None:
        return mesh.shape[axis_name], 1
    if token_axis not in mesh.axis_names:
        raise ValueError(
            f"`token_axis`={token_axis!r} is not an axis of `mesh` (axes {mesh.axis_names})."
        )
    if token_axis == axis_name:
        raise ValueError(
            f"`token_axis` and `axis_name` must be different mesh axes, both are {axis_name!r}."
        )
    return mesh.shape[axis_name], mesh.shape[token_axis]


def _divide_or_zero(numerator, total, whole_count):
    """``numerator / total``, 0 where ``total`` is 0; a ``whole_count`` (unweighted tokens)
    is divided by at least 1, which gives the same in fewer operations."""
    if whole_count:
        return numerator / jnp.maximum(total, jnp.ones((), total.dtype))
    return reductions.divide_no_nan(numerator, total)


def _reduce_over_tokens(loss, kept, reduction, token_axes, weights=None):
    """The local tokens' losses (times ``weights``) reduced over every token shard
    (``"none"``: kept local); the weighted ``"mean"`` divides by the kept tokens' weights."""
    if weights is not None:
        loss = loss * weights
    if reduction == "none":
        return loss
    total = lax.psum(jnp.sum(loss), token_axes) if token_axes else jnp.sum(loss)
    if reduction == "sum":
        return total
    counted = kept.astype(loss.dtype) if weights is None else jnp.where(
        kept, weights, jnp.zeros((), loss.dtype))
    count = jnp.sum(counted)
    count = lax.psum(count, token_axes) if token_axes else count
    return _divide_or_zero(total, count, weights is None)


def _combined_stats(local, axis_name):
    """Per-token statistics of the whole vocabulary from each shard's (``[N]`` vectors)."""
    # lse is invariant to the shift: no gradient through the max.
    shift = lax.pmax(lax.stop_gradient(local.logsumexp), axis_name)
    logsumexp = shift + jnp.log(lax.psum(jnp.exp(local.logsumexp - shift), axis_name))
    return _LogitStats(logsumexp, lax.psum(local.label_logit, axis_name),
                       lax.psum(local.logit_sum, axis_name))


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8, 9, 10, 11, 12))
def _weighted_loss_sum(hidden, weight, bias, labels, loss_weights, chunk_size, soft_cap,
                       ignore_index, label_smoothing, z_loss, vocab_size, axis_name,
                       gradient_filter=None):
    """``sum_n loss_weights[n] * loss_n`` over this device's tokens, the vocabulary split over
    ``axis_name``. Not differentiated it streams the local vocabulary for the loss alone;
    the fwd rule computes the gradients along with it (the ``"forward"`` schedule)."""
    offset = lax.axis_index(axis_name).astype(labels.dtype) * weight.shape[1]
    local, _ = _logit_stats_fwd(hidden, weight, bias, labels - offset, chunk_size, soft_cap,
                                bool(label_smoothing), None)
    loss, _ = _per_token_loss(_combined_stats(local, axis_name), labels, vocab_size,
                              ignore_index, label_smoothing, z_loss)
    return jnp.sum(loss * loss_weights)


def _weighted_loss_sum_fwd(hidden, weight, bias, labels, loss_weights, chunk_size, soft_cap,
                           ignore_index, label_smoothing, z_loss, vocab_size, axis_name,
                           gradient_filter=None):
    """One stream over blocks of local tokens, each against the local vocabulary shard
    (:func:`_forward_stream` with ``axis_name``): three matrix products; ``d hidden`` is this
    shard's part, summed by ``shard_map``."""
    losses, grads = _forward_stream(hidden, weight, bias, labels, loss_weights, chunk_size,
                                   soft_cap, ignore_index, label_smoothing, z_loss, vocab_size,
                                   axis_name, gradient_filter)
    total = jnp.sum(losses * loss_weights.astype(losses.dtype))
    return total, (_cast_grads(grads, hidden, weight, bias), labels,
                   losses.astype(loss_weights.dtype))


def _weighted_loss_sum_bwd(chunk_size, soft_cap, ignore_index, label_smoothing, z_loss,
                           vocab_size, axis_name, gradient_filter, residuals, cotangent):
    (d_hidden, d_weight, d_bias), labels, losses = residuals
    # Each token's loss is the same on every vocabulary shard: shard_map sums the weights'
    # cotangents over the shards, so each gives its own copy's share.
    d_loss_weights = (cotangent * losses.astype(cotangent.dtype)).astype(losses.dtype)
    # The sum is the same on every vocabulary shard and depends on all of them: each shard's
    # inputs get the cotangents of all the copies.
    cotangent = lax.psum(cotangent, axis_name)

    def scaled(grad):
        if grad is None:
            return None
        return (cotangent * grad.astype(cotangent.dtype)).astype(grad.dtype)

    return (scaled(d_hidden), scaled(d_weight), scaled(d_bias),
            np.zeros(labels.shape, jax.dtypes.float0), d_loss_weights)


_weighted_loss_sum.defvjp(_weighted_loss_sum_fwd, _weighted_loss_sum_bwd)
