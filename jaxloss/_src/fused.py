"""Fused linear + cross-entropy for large vocabularies, without the [tokens, vocabulary] logits.

A language model's output layer computes ``logits = hidden @ weight + bias`` of shape
``[N, V]`` and then a softmax cross-entropy against integer labels. For ``N = 8192`` tokens
and ``V = 128256`` the logits alone take 4.2 GB in float32, and autodiff keeps more. Here
the loss is computed by streaming over chunks of the vocabulary: each chunk's logits
``[N, chunk_size]`` are formed, folded into a running (online) logsumexp, and dropped. The
backward pass (a ``jax.custom_vjp``) keeps only the per-token logsumexp as residual besides
the inputs, recomputes each chunk's logits and turns them directly into the chunk's share
of the gradients of ``hidden``, ``weight`` and ``bias``.

Why chunks of the vocabulary (and all tokens at once) rather than chunks of tokens:
streaming over the vocabulary lets each chunk write its slice of ``d weight`` exactly once
while ``d hidden`` (``[N, H]``, small) is accumulated; streaming over tokens would instead
accumulate the whole ``[H, V]`` weight gradient once per token chunk. The default chunk
size keeps one chunk's logits near 32 MiB; the measurements are in ``bench/``.

Where the loss is reduced to a scalar (``reduction="mean"`` or ``"sum"``, as in training)
the default ``schedule="forward"`` computes the gradients in the forward pass instead: the
stream then runs over blocks of tokens, each with all of its ``V`` logits (``[T, V]``, about
as many elements as one vocabulary chunk ``[N, chunk_size]``), so that each token's
logsumexp, loss and loss cotangent are exact within its block. Per block: ``z = h_T @ W``,
``d h_T = d_z @ W.T`` and ``d W += h_T.T @ d_z``: three matrix products in all, as with
explicit logits, where the recomputing schedule needs four. A vocabulary stream cannot do
this in one pass: ``d W[:, j] = sum_n h_n d_z[n, j]`` mixes tokens whose softmax
normalisers are known only at the end of the stream, and a first pass for them costs the
fourth product again. The backward pass then only scales the stored gradients by the
cotangent; the price is one float32 ``[H, V]`` accumulator kept from the forward to the
backward pass. An undifferentiated call computes no gradient (it streams the vocabulary for
the loss alone).

The per-token loss is assembled from three streamed statistics, so that every option
(label smoothing, z-loss, ignored tokens, the reduction, a vocabulary split over devices)
is ordinary differentiable JAX code around one custom-gradient kernel:

* ``lse = log sum_j exp(z_j)``, the logsumexp of the (soft-capped) logits ``z``;
* ``z_y``, the logit of the label;
* ``sum_j z_j``, needed by label smoothing only.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxloss._src import checks, validation
from jaxloss._src import reduction as reductions
from jaxloss._src.label_smoothing import smoothing_weights

# One chunk's float32 logits take about this many bytes (N * chunk_size * 4).
_TARGET_CHUNK_BYTES = 32 * 2**20
_MIN_CHUNK = 128


class _LogitStats(NamedTuple):
    """Per-token statistics of the logits, each of shape ``[N]``."""

    logsumexp: jax.Array
    label_logit: jax.Array
    logit_sum: jax.Array


def default_chunk_size(num_tokens: int, vocab_size: int) -> int:
    """The vocabulary chunk used when ``chunk_size=None``.

    One chunk's float32 logits take about 32 MiB (``num_tokens * chunk_size * 4`` bytes),
    rounded down to a multiple of 128, at least 128 and at most ``vocab_size``.
    """
    chunk = _TARGET_CHUNK_BYTES // (4 * max(int(num_tokens), 1))
    chunk = max(_MIN_CHUNK, chunk // _MIN_CHUNK * _MIN_CHUNK)
    return int(min(chunk, vocab_size))


def _chunk_logits(hidden, weight, bias, start, size, soft_cap, accum_dtype):
    """Soft-capped logits of vocabulary columns ``[start, start + size)``, ``[N, size]``."""
    w = lax.dynamic_slice_in_dim(weight, start, size, axis=1)
    b = None if bias is None else lax.dynamic_slice_in_dim(bias, start, size)
    return _project(hidden, w, b, soft_cap, accum_dtype)


def _project(hidden, weight, bias, soft_cap, accum_dtype):
    """``hidden @ weight + bias`` accumulated in ``accum_dtype``, then soft-capped."""
    matmul_dtype = jnp.promote_types(hidden.dtype, weight.dtype)
    raw = lax.dot_general(
        hidden.astype(matmul_dtype),
        weight.astype(matmul_dtype),
        (((1,), (0,)), ((), ())),
        preferred_element_type=accum_dtype,
    )
    if bias is not None:
        raw = raw + bias.astype(accum_dtype)[None, :]
    if soft_cap is None:
        return raw
    return soft_cap * jnp.tanh(raw / soft_cap)


def _over_chunks(step, carry, vocab_size, chunk_size):
    """``carry = step(carry, start, size)`` over the vocabulary's chunks: a ``scan`` over the
    full chunks, then the static remainder once."""
    num_full = vocab_size // chunk_size
    rest = vocab_size - num_full * chunk_size
    if num_full:
        carry, _ = lax.scan(
            lambda c, i: (step(c, i * chunk_size, chunk_size), None),
            carry,
            jnp.arange(num_full, dtype=jnp.int32),
        )
    if rest:
        carry = step(carry, num_full * chunk_size, rest)
    return carry


def _label_mask(labels, start, size):
    """``[N, size]`` boolean: column ``j`` of the chunk is token n's label."""
    columns = start + lax.broadcasted_iota(labels.dtype, (1, size), 1)
    return columns == labels[:, None]


def _varying_over(axis_name, values):
    """Inside ``shard_map``, type loop-carry initial ``values`` as varying over ``axis_name``.

    A chunk's results depend on the local weight shard, so they vary over the vocabulary
    axis; the zeros they are accumulated into must be typed alike. ``None``: no mesh.
    """
    if axis_name is None:
        return values
    return jax.tree.map(lambda v: lax.pcast(v, (axis_name,), to="varying"), values)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _logit_stats(hidden, weight, bias, labels, chunk_size, soft_cap, with_sum, axis_name):
    stats, _ = _logit_stats_fwd(
        hidden, weight, bias, labels, chunk_size, soft_cap, with_sum, axis_name
    )
    return stats


def _logit_stats_fwd(hidden, weight, bias, labels, chunk_size, soft_cap, with_sum, axis_name):
    accum_dtype = validation.compute_dtype(hidden, weight)
    num_tokens = hidden.shape[0]
    vocab_size = weight.shape[1]
    zeros = jnp.zeros((num_tokens,), accum_dtype)
    init = _varying_over(
        axis_name, (jnp.full((num_tokens,), -jnp.inf, accum_dtype), zeros, zeros, zeros)
    )

    def fold(carry, start, size):
        running_max, scaled_sum, label_logit, logit_sum = carry
        z = _chunk_logits(hidden, weight, bias, start, size, soft_cap, accum_dtype)
        new_max = jnp.maximum(running_max, jnp.max(z, axis=1))
        scaled_sum = scaled_sum * jnp.exp(running_max - new_max) + jnp.sum(
            jnp.exp(z - new_max[:, None]), axis=1
        )
        label_logit = label_logit + jnp.sum(
            jnp.where(_label_mask(labels, start, size), z, jnp.zeros((), accum_dtype)), axis=1
        )
        if with_sum:
            logit_sum = logit_sum + jnp.sum(z, axis=1)
        return new_max, scaled_sum, label_logit, logit_sum

    running_max, scaled_sum, label_logit, logit_sum = _over_chunks(
        fold, init, vocab_size, chunk_size
    )
    logsumexp = running_max + jnp.log(scaled_sum)
    stats = _LogitStats(logsumexp, label_logit, logit_sum)
    return stats, (hidden, weight, bias, labels, logsumexp)


def _logit_grads(z, probs, label_mask, g_lse, g_label, g_sum, soft_cap):
    """``d loss / d raw logits`` of a chunk from the cotangents of its statistics (``[N, 1]``
    each, ``g_sum`` may be ``None``): ``g_lse * softmax + g_label * onehot + g_sum``, times the
    soft cap's derivative ``1 - (z / c)**2``."""
    d_z = g_lse * probs + jnp.where(label_mask, g_label, jnp.zeros((), z.dtype))
    if g_sum is not None:
        d_z = d_z + g_sum
    if soft_cap is not None:
        d_z = d_z * (1.0 - jnp.square(z / soft_cap))
    return d_z


def _input_grads(hidden, weight, d_z, accum_dtype):
    """``(d_z @ weight.T, hidden.T @ d_z)``: two matrix products, accumulated in
    ``accum_dtype``."""
    matmul_dtype = jnp.promote_types(hidden.dtype, weight.dtype)
    d_z_mm = d_z.astype(matmul_dtype)
    d_hidden = lax.dot_general(
        d_z_mm, weight.astype(matmul_dtype), (((1,), (1,)), ((), ())),
        preferred_element_type=accum_dtype,
    )
    d_weight = lax.dot_general(
        hidden.astype(matmul_dtype), d_z_mm, (((0,), (0,)), ((), ())),
        preferred_element_type=accum_dtype,
    )
    return d_hidden, d_weight


def _logit_stats_bwd(chunk_size, soft_cap, with_sum, axis_name, residuals, cotangents):
    hidden, weight, bias, labels, logsumexp = residuals
    g_lse, g_label, g_sum = cotangents
    accum_dtype = logsumexp.dtype
    vocab_size = weight.shape[1]
    g_lse = g_lse.astype(accum_dtype)[:, None]
    g_label = g_label.astype(accum_dtype)[:, None]
    g_sum = g_sum.astype(accum_dtype)[:, None] if with_sum else None

    def chunk_grads(carry, start, size):
        d_hidden, d_weight, d_bias = carry
        z = _chunk_logits(hidden, weight, bias, start, size, soft_cap, accum_dtype)
        d_z = _logit_grads(z, jnp.exp(z - logsumexp[:, None]), _label_mask(labels, start, size),
                           g_lse, g_label, g_sum, soft_cap)
        w = lax.dynamic_slice_in_dim(weight, start, size, axis=1)
        d_h, d_w = _input_grads(hidden, w, d_z, accum_dtype)
        d_hidden = d_hidden + d_h
        d_weight = lax.dynamic_update_slice_in_dim(
            d_weight, d_w.astype(weight.dtype), start, axis=1
        )
        if d_bias is not None:
            d_bias = lax.dynamic_update_slice_in_dim(
                d_bias, jnp.sum(d_z, axis=0).astype(bias.dtype), start, axis=0
            )
        return d_hidden, d_weight, d_bias

    carry = _varying_over(axis_name, (
        jnp.zeros(hidden.shape, accum_dtype),
        jnp.zeros(weight.shape, weight.dtype),
        None if bias is None else jnp.zeros(bias.shape, bias.dtype),
    ))
    d_hidden, d_weight, d_bias = _over_chunks(chunk_grads, carry, vocab_size, chunk_size)
    d_labels = np.zeros(labels.shape, jax.dtypes.float0)
    return d_hidden.astype(hidden.dtype), d_weight, d_bias, d_labels


_logit_stats.defvjp(_logit_stats_fwd, _logit_stats_bwd)


def _static_float(name: str, value) -> float:
    """A hyperparameter that shapes the computation: it must be a concrete Python number."""
    if validation.is_traced(value):
        raise ValueError(
            f"`{name}` must be a concrete number, not a traced value (got {value!r}); "
            "pass it as a static argument of `jax.jit`."
        )
    return float(value)


def _check_inputs(
    hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
    logit_soft_cap, reduction, vocab_shards=1,
):
    """Validate the arguments at trace time; return the normalised scalar options."""
    validation.check_floating("hidden", hidden)
    validation.check_floating("weight", weight)
    validation.check_integer("labels", labels)
    hidden_shape, weight_shape, labels_shape = jnp.shape(hidden), jnp.shape(weight), jnp.shape(labels)
    if len(weight_shape) != 2:
        raise ValueError(
            f"`weight` must have shape [hidden_dim, vocab_size], got weight.shape={weight_shape}."
        )
    if len(hidden_shape) < 1 or hidden_shape[-1] != weight_shape[0]:
        raise ValueError(
            "The last dimension of `hidden` must equal the first of `weight` (hidden_dim), "
            f"got hidden.shape={hidden_shape} and weight.shape={weight_shape}."
        )
    if labels_shape != hidden_shape[:-1]:
        raise ValueError(
            f"`labels` must have shape hidden.shape[:-1]={hidden_shape[:-1]}, "
            f"got labels.shape={labels_shape} (hidden.shape={hidden_shape})."
        )
    if bias is not None:
        validation.check_floating("bias", bias)
        if jnp.shape(bias) != (weight_shape[1],):
            raise ValueError(
                f"`bias` must have shape (vocab_size,)={(weight_shape[1],)}, "
                f"got bias.shape={jnp.shape(bias)} (weight.shape={weight_shape})."
            )
    if chunk_size is not None and (
        not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(f"`chunk_size` must be None or an int >= 1, got {chunk_size!r}.")
    validation.check_ignore_index(ignore_index)
    reductions.check_reduction(reduction, reductions.TORCH_REDUCTIONS)
    label_smoothing = _static_float("label_smoothing", label_smoothing)
    validation.check_label_smoothing(label_smoothing)
    z_loss = _static_float("z_loss", z_loss)
    validation.check_non_negative("z_loss", z_loss)
    if logit_soft_cap is not None:
        logit_soft_cap = _static_float("logit_soft_cap", logit_soft_cap)
        validation.check_positive("logit_soft_cap", logit_soft_cap)
    local_vocab = weight_shape[1] // vocab_shards
    if chunk_size is None:
        num_tokens = int(np.prod(labels_shape, dtype=np.int64))
        chunk_size = default_chunk_size(num_tokens, local_vocab)
    return min(int(chunk_size), max(local_vocab, 1)), label_smoothing, z_loss, logit_soft_cap


def _per_token_loss(stats, labels, vocab_size, ignore_index, label_smoothing, z_loss):
    """Cross-entropy of each token from its logit statistics; 0 where ignored, NaN if invalid.

    ``loss = lse - (1 - s) z_y - (s / V) sum_j z_j + z_loss * lse**2``.
    """
    lse = stats.logsumexp
    # The smoothed one-hot is kept * one_hot(y) + spread on every class.
    kept, spread = smoothing_weights(label_smoothing, vocab_size)
    loss = lse - kept * stats.label_logit
    if label_smoothing:
        loss = loss - spread * stats.logit_sum
    if z_loss:
        loss = loss + z_loss * jnp.square(lse)
    ignored = (
        jnp.zeros(labels.shape, jnp.bool_) if ignore_index is None else labels == ignore_index
    )
    out_of_range = (labels < 0) | (labels >= vocab_size)
    # Multiplying (not `where`) makes the gradient of an invalid token NaN as well.
    poison = jnp.where(out_of_range & ~ignored, jnp.asarray(jnp.nan, loss.dtype),
                       jnp.ones((), loss.dtype))
    loss = jnp.where(ignored, jnp.zeros((), loss.dtype), loss * poison)
    return loss, ~ignored


def _reduce(loss, kept, reduction, shape):
    """The per-token losses reduced; ``"none"`` gives them the labels' shape."""
    if reduction == "none":
        return loss.reshape(shape)
    return reductions.reduce_losses(loss, reduction, counted=kept)


SCHEDULES = ("forward", "recompute")


def _token_block_size(num_tokens: int, vocab_size: int, chunk_size: int) -> int:
    """Tokens per block of the ``"forward"`` schedule: a block's ``[T, V]`` logits hold about
    as many elements as one vocabulary chunk's ``[N, chunk_size]``."""
    return int(max(1, min(num_tokens, num_tokens * chunk_size // max(vocab_size, 1))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7, 8, 9))
def _scalar_loss(hidden, weight, bias, labels, chunk_size, soft_cap, ignore_index,
                 label_smoothing, z_loss, reduction):
    """The reduced loss. Not differentiated, it is the vocabulary stream of
    ``_logit_stats_fwd`` and computes no gradient; the fwd rule below streams over tokens
    and computes the gradients along with the loss."""
    stats, _ = _logit_stats_fwd(hidden, weight, bias, labels, chunk_size, soft_cap,
                                bool(label_smoothing), None)
    loss, kept = _per_token_loss(stats, labels, weight.shape[1], ignore_index, label_smoothing,
                                 z_loss)
    return _reduce(loss, kept, reduction, labels.shape)


def _scalar_loss_fwd(hidden, weight, bias, labels, chunk_size, soft_cap, ignore_index,
                     label_smoothing, z_loss, reduction):
    """Loss and gradients in one stream over blocks of tokens: three matrix products.

    A block of ``T`` tokens has all ``V`` of its logits, so its logsumexp, its per-token loss
    and that loss's cotangent (the reduction is linear; z-loss needs only the token's own
    logsumexp) are exact within the block: ``logits = h_T @ W``, then ``d h_T = d_z @ W.T``
    (written once) and ``d W += h_T.T @ d_z`` (accumulated).
    """
    accum_dtype = validation.compute_dtype(hidden, weight)
    num_tokens, vocab_size = hidden.shape[0], weight.shape[1]
    block = _token_block_size(num_tokens, vocab_size, chunk_size)
    counted = (jnp.ones(labels.shape, jnp.bool_) if ignore_index is None
               else labels != ignore_index)
    # d loss / d per-token loss: the reduction is linear, so this does not depend on them.
    loss_weights = jax.grad(lambda losses: _reduce(losses, counted, reduction, labels.shape))(
        jnp.zeros(labels.shape, accum_dtype))
    with_sum = bool(label_smoothing)

    def block_step(carry, start, size):
        losses, d_hidden, d_weight, d_bias = carry
        h = lax.dynamic_slice_in_dim(hidden, start, size)
        y = lax.dynamic_slice_in_dim(labels, start, size)
        z = _project(h, weight, bias, soft_cap, accum_dtype)
        row_max = jnp.max(z, axis=1)
        scaled = jnp.exp(z - row_max[:, None])
        scaled_sum = jnp.sum(scaled, axis=1)
        mask = _label_mask(y, 0, vocab_size)
        stats = _LogitStats(
            row_max + jnp.log(scaled_sum),
            jnp.sum(jnp.where(mask, z, jnp.zeros((), accum_dtype)), axis=1),
            jnp.sum(z, axis=1) if with_sum else jnp.zeros((size,), accum_dtype),
        )
        per_token, pullback = jax.vjp(
            lambda st: _per_token_loss(st, y, vocab_size, ignore_index, label_smoothing,
                                       z_loss)[0], stats)
        (g,) = pullback(lax.dynamic_slice_in_dim(loss_weights, start, size))
        d_z = _logit_grads(z, scaled / scaled_sum[:, None], mask, g.logsumexp[:, None],
                           g.label_logit[:, None], g.logit_sum[:, None] if with_sum else None,
                           soft_cap)
        d_h, d_w = _input_grads(h, weight, d_z, accum_dtype)
        losses = lax.dynamic_update_slice_in_dim(losses, per_token, start, axis=0)
        d_hidden = lax.dynamic_update_slice_in_dim(d_hidden, d_h, start, axis=0)
        if d_bias is not None:
            d_bias = d_bias + jnp.sum(d_z, axis=0)
        return losses, d_hidden, d_weight + d_w, d_bias

    init = (jnp.zeros(labels.shape, accum_dtype), jnp.zeros(hidden.shape, accum_dtype),
            jnp.zeros(weight.shape, accum_dtype),
            None if bias is None else jnp.zeros(bias.shape, accum_dtype))
    losses, d_hidden, d_weight, d_bias = _over_chunks(block_step, init, num_tokens, block)
    loss = _reduce(losses, counted, reduction, labels.shape)
    grads = (d_hidden.astype(hidden.dtype), d_weight.astype(weight.dtype),
             None if bias is None else d_bias.astype(bias.dtype))
    return loss, (grads, labels)


def _scalar_loss_bwd(chunk_size, soft_cap, ignore_index, label_smoothing, z_loss, reduction,
                     residuals, cotangent):
    (d_hidden, d_weight, d_bias), labels = residuals

    def scaled(grad):
        if grad is None:
            return None
        return (cotangent * grad.astype(cotangent.dtype)).astype(grad.dtype)

    return (scaled(d_hidden), scaled(d_weight), scaled(d_bias),
            np.zeros(labels.shape, jax.dtypes.float0))


_scalar_loss.defvjp(_scalar_loss_fwd, _scalar_loss_bwd)


def _pick_schedule(schedule, reduction, return_logsumexp):
    """``schedule`` checked; ``None`` is ``"forward"`` for a scalar loss, else ``"recompute"``."""
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be None or one of {SCHEDULES}, got {schedule!r}.")
    scalar = reduction != "none" and not return_logsumexp
    if schedule == "forward" and not scalar:
        raise ValueError(
            "`schedule`='forward' needs a scalar loss without its logsumexp, got "
            f"reduction={reduction!r} and return_logsumexp={return_logsumexp!r}."
        )
    if schedule is None:
        return "forward" if scalar else "recompute"
    return schedule


def fused_linear_cross_entropy(
    hidden: jax.typing.ArrayLike,
    weight: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    bias: jax.typing.ArrayLike | None = None,
    chunk_size: int | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_soft_cap: float | None = None,
    reduction: str = "mean",
    return_logsumexp: bool = False,
    schedule: str | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""Softmax cross-entropy of ``hidden @ weight + bias`` without materialising the logits.

    With logits :math:`r = h W + b`, optionally soft-capped :math:`z = c \tanh(r / c)`,
    :math:`\mathrm{lse} = \log \sum_j e^{z_j}` and smoothing :math:`s` over :math:`V` classes,
    each token's loss is

    .. math::
        \ell = \mathrm{lse} - (1 - s)\, z_y - \frac{s}{V} \sum_j z_j
               + \lambda_z\, \mathrm{lse}^2,

    i.e. the sparse softmax cross-entropy against the smoothed targets
    :math:`(1 - s)\,\mathrm{onehot}(y) + s / V`, plus the z-loss. The vocabulary is streamed
    in chunks of ``chunk_size`` columns of ``weight`` with an online logsumexp; the backward
    pass keeps only ``lse`` (and the inputs) and recomputes each chunk's logits, so no
    ``[N, V]`` array exists in the forward or the backward pass. A scalar loss, by default
    (``schedule``), has its gradients computed in the forward pass instead, streaming blocks
    of about ``N * chunk_size / V`` tokens with all their logits: three matrix products in
    all instead of four. ``hidden`` and ``weight``
    may be bfloat16/float16: matrix products accumulate in float32. The products use JAX's
    default matrix precision, as ``hidden @ weight`` would: full float32 on a CPU, reduced on
    a GPU or TPU (on an NVIDIA H200 the float32 loss came out 2.6e-4 from float64, like the
    explicit logits); ``with jax.default_matmul_precision("highest"):`` gives float32-exact
    products there.

    Input rules: shape and dtype errors raise ``ValueError`` at trace time. A label outside
    ``[0, V)`` that is not ``ignore_index`` cannot be checked under ``jit``: that token's loss
    and its gradient are NaN. With ``reduction="mean"`` and every token ignored the loss is 0.

    Args:
      hidden: ``[..., H]`` floating activations (the last hidden states).
      weight: ``[H, V]`` output projection (for a tied embedding ``E`` of shape ``[V, H]``
        pass ``E.T``).
      labels: ``[...]`` integer class indices, ``hidden.shape[:-1]``.
      bias: optional ``[V]`` bias.
      chunk_size: vocabulary columns per chunk; ``None`` picks about 32 MiB of float32
        logits per chunk (``default_chunk_size``). ``V`` need not be a multiple: the
        remainder is a last, smaller chunk.
      ignore_index: label value whose tokens get loss 0 and no gradient and are left out of
        the ``"mean"``.
      label_smoothing: ``s`` in ``[0, 1]``, uniform over the ``V`` classes (Keras, optax).
      z_loss: ``lambda_z >= 0``, weight of ``lse**2`` (PaLM uses 1e-4).
      logit_soft_cap: ``c > 0`` applies ``c * tanh(logits / c)`` before the softmax (Gemma 2
        uses 30); ``None`` disables it.
      reduction: ``"mean"`` over the non-ignored tokens, ``"sum"``, or ``"none"`` (shape
        ``labels.shape``, 0 at ignored tokens).
      return_logsumexp: also return the per-token ``lse`` (shape ``labels.shape``).
      schedule: where the gradients are computed. ``"forward"``: in the forward pass, one
        stream over blocks of tokens, three matrix products for loss and gradients (a
        scalar loss only, without ``return_logsumexp``; it keeps a float32 ``[H, V]``
        weight-gradient accumulator). ``"recompute"``: in the backward pass, recomputing
        each vocabulary chunk's logits, four products. ``None``: ``"forward"`` where it
        applies, else ``"recompute"``.

    Returns:
      The loss (float32 for half-precision inputs, else their dtype), and the logsumexp when
      ``return_logsumexp`` is true.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss import fused_linear_cross_entropy
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> weight = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> labels = jnp.array([0, 2])
      >>> float(fused_linear_cross_entropy(hidden, weight, labels, chunk_size=2))
      1.3954...
      >>> jax.grad(fused_linear_cross_entropy)(hidden, weight, labels).shape
      (2, 2)

    References:
      Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models", 2024
      (arXiv:2411.09009); Hsu et al., "Liger Kernel", 2024 (arXiv:2410.10989);
      Chowdhery et al., "PaLM", 2022 (z-loss); Gemma Team, "Gemma 2", 2024 (soft cap).
    """
    chunk_size, label_smoothing, z_loss, logit_soft_cap = _check_inputs(
        hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
        logit_soft_cap, reduction,
    )
    hidden, weight, labels = jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(labels)
    bias = None if bias is None else jnp.asarray(bias)
    shape = labels.shape
    vocab_size = weight.shape[1]
    checks.check_finite("fused_linear_cross_entropy", "hidden", hidden)
    checks.check_class_labels(
        "fused_linear_cross_entropy", labels, vocab_size, ignore_index=ignore_index
    )
    flat_labels = labels.reshape(-1)
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    if _pick_schedule(schedule, reduction, return_logsumexp) == "forward":
        return _scalar_loss(flat_hidden, weight, bias, flat_labels, chunk_size, logit_soft_cap,
                            validation.check_ignore_index(ignore_index), label_smoothing,
                            z_loss, reduction)
    stats = _logit_stats(
        flat_hidden, weight, bias, flat_labels, chunk_size,
        logit_soft_cap, bool(label_smoothing), None,
    )
    loss, kept = _per_token_loss(
        stats, flat_labels, vocab_size, ignore_index, label_smoothing, z_loss
    )
    loss = _reduce(loss, kept, reduction, shape)
    if return_logsumexp:
        return loss, stats.logsumexp.reshape(shape)
    return loss


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
