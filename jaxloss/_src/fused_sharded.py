"""Vocabulary-parallel :func:`jaxloss.fused_linear_cross_entropy` over a device mesh.

The vocabulary (``weight``'s columns) is split over one mesh axis with ``shard_map``; each
device streams its own columns with the kernels of :mod:`jaxloss._src.fused_streams`, and the
per-token statistics are combined across devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxloss._src.fused import _check_inputs
from jaxloss._src.fused_streams import _logit_stats, _LogitStats, _per_token_loss, _reduce


def fused_linear_cross_entropy_sharded(
    hidden: jax.typing.ArrayLike,
    weight: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    mesh: jax.sharding.Mesh,
    axis_name: str,
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
    ``axis_name``; ``hidden`` and ``labels`` are replicated. Each device streams over its
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
    ``[N, chunk_size]`` logits. Values and gradients equal the single-device function's.
    The other arguments are those of :func:`fused_linear_cross_entropy`; ``chunk_size``
    counts columns of one device's shard.

    Args:
      mesh: the device mesh.
      axis_name: the mesh axis the vocabulary is split over; ``V`` must be divisible by
        its size.

    Returns:
      As :func:`fused_linear_cross_entropy`, replicated over the mesh.

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
    if axis_name not in mesh.axis_names:
        raise ValueError(
            f"`axis_name`={axis_name!r} is not an axis of `mesh` (axes {mesh.axis_names})."
        )
    num_shards = mesh.shape[axis_name]
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
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    replicated, by_vocab = jax.sharding.PartitionSpec(), jax.sharding.PartitionSpec(None, axis_name)

    def local_loss(hidden, weight, labels, bias):
        local_vocab = weight.shape[1]
        offset = lax.axis_index(axis_name).astype(labels.dtype) * local_vocab
        # Each device's d hidden is partial; the transpose of this cast sums them.
        local_hidden = lax.pcast(hidden, (axis_name,), to="varying")
        local = _logit_stats(local_hidden, weight, bias, labels - offset, chunk_size,
                             logit_soft_cap, bool(label_smoothing), axis_name)
        # lse is invariant to the shift: no gradient through the max.
        shift = lax.pmax(lax.stop_gradient(local.logsumexp), axis_name)
        logsumexp = shift + jnp.log(lax.psum(jnp.exp(local.logsumexp - shift), axis_name))
        stats = _LogitStats(logsumexp, lax.psum(local.label_logit, axis_name),
                            lax.psum(local.logit_sum, axis_name))
        loss, kept = _per_token_loss(stats, labels, vocab_size, ignore_index, label_smoothing,
                                     z_loss)
        return _reduce(loss, kept, reduction, shape), stats.logsumexp.reshape(shape)

    if bias is None:
        in_specs = (replicated, by_vocab, replicated)
        body = lambda h, w, y: local_loss(h, w, y, None)  # noqa: E731
        args = (hidden, weight, labels)
    else:
        in_specs = (replicated, by_vocab, replicated, jax.sharding.PartitionSpec(axis_name))
        body = local_loss
        args = (hidden, weight, labels, jnp.asarray(bias))
    axis_type = dict(zip(mesh.axis_names, mesh.axis_types))[axis_name]
    if axis_type == jax.sharding.AxisType.Explicit:
        # `jax.make_mesh`'s default: arguments must already be laid out as in_specs say
        # (shard_map lays them out itself on automatic axes).
        args = [jax.reshard(a, jax.sharding.NamedSharding(mesh, spec))
                for a, spec in zip(args, in_specs)]
    loss, logsumexp = jax.shard_map(
        body, mesh=mesh, in_specs=in_specs, out_specs=(replicated, replicated)
    )(*args)
    if return_logsumexp:
        return loss, logsumexp
    return loss
