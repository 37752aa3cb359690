"""Vocabulary-parallel :func:`jaxloss.fused_linear_cross_entropy` over a device mesh.

The vocabulary (``weight``'s columns) is split over one mesh axis with ``shard_map``; each
device streams its own columns with the kernels of :mod:`jaxloss._src.fused_streams`, and the
per-token statistics are combined across devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxloss._src.fused import _check_inputs
from jaxloss._src.fused_streams import _logit_stats, _LogitStats, _per_token_loss


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
    the single-device function, whose ``schedule="recompute"`` it uses for every
    reduction. In the backward pass each device recomputes only its own
    chunks, so it yields its shard of ``d weight`` and ``d bias`` and a partial
    ``d hidden`` that ``shard_map`` sums over the axis. No device holds more than
    ``[N, chunk_size]`` logits (``N`` the tokens of one token shard). With ``token_axis``
    the ``"mean"`` and ``"sum"`` are one more ``psum`` over that axis, and ``d weight`` is
    summed over it. The mesh may span processes (``jax.distributed``): the arguments are
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
    vocab_size = jnp.shape(weight)[-1] if jnp.ndim(weight) == 2 else None
    chunk_size, label_smoothing, z_loss, logit_soft_cap = _check_inputs(
        hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
        logit_soft_cap, reduction, vocab_shards=num_shards,
    )
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
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    by_token = P(token_axis)
    by_vocab = P(None, axis_name)
    token_axes = () if token_axis is None else (token_axis,)

    def local_loss(hidden, weight, labels, bias):
        local_vocab = weight.shape[1]
        offset = lax.axis_index(axis_name).astype(labels.dtype) * local_vocab
        local = _logit_stats(hidden, weight, bias, labels - offset, chunk_size,
                             logit_soft_cap, bool(label_smoothing), None)
        # lse is invariant to the shift: no gradient through the max.
        shift = lax.pmax(lax.stop_gradient(local.logsumexp), axis_name)
        logsumexp = shift + jnp.log(lax.psum(jnp.exp(local.logsumexp - shift), axis_name))
        stats = _LogitStats(logsumexp, lax.psum(local.label_logit, axis_name),
                            lax.psum(local.logit_sum, axis_name))
        loss, kept = _per_token_loss(stats, labels, vocab_size, ignore_index, label_smoothing,
                                     z_loss)
        return _reduce_over_tokens(loss, kept, reduction, token_axes), stats.logsumexp

    in_specs = (by_token, by_vocab, by_token, P(axis_name))
    args = (hidden, weight, labels, None if bias is None else jnp.asarray(bias))
    if bias is None:
        in_specs, args = in_specs[:3], args[:3]
    axis_types = dict(zip(mesh.axis_names, mesh.axis_types))
    if jax.sharding.AxisType.Explicit in (axis_types[a] for a in (axis_name, *token_axes)):
        # `jax.make_mesh`'s default: arguments must already be laid out as in_specs say
        # (shard_map lays them out itself on automatic axes).
        args = [jax.reshard(a, jax.sharding.NamedSharding(mesh, spec))
                for a, spec in zip(args, in_specs)]
    # The streams' scan carries start invariant and become varying over both axes, so the
    # replication types are not checked; the test against one device checks the gradients.
    loss, logsumexp = jax.shard_map(
        lambda h, w, y, b=None: local_loss(h, w, y, b), mesh=mesh, in_specs=in_specs,
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


def _reduce_over_tokens(loss, kept, reduction, token_axes):
    """The local tokens' losses reduced over every token shard (``"none"``: kept local)."""
    if reduction == "none":
        return loss
    total = lax.psum(jnp.sum(loss), token_axes) if token_axes else jnp.sum(loss)
    if reduction == "sum":
        return total
    count = jnp.sum(kept.astype(loss.dtype))
    count = lax.psum(count, token_axes) if token_axes else count
    return total / jnp.maximum(count, jnp.ones((), loss.dtype))
