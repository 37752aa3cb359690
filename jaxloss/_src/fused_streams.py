"""The streams behind :func:`jaxloss.fused_linear_cross_entropy` (see :mod:`jaxloss._src.fused`).

Two custom-gradient kernels: ``_logit_stats``, a stream over vocabulary chunks giving each
token's logsumexp, label logit and logit sum, whose backward recomputes each chunk's logits;
and ``_scalar_loss``, the reduced loss, whose forward rule streams over token blocks and
computes the gradients along with the loss (three matrix products), its backward only
scaling them.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxloss._src import reduction as reductions
from jaxloss._src import soft_cap_and_z_loss, validation
from jaxloss._src.fused_filter import _negligible_tile, _zero_input_grads
from jaxloss._src.label_smoothing import smoothing_weights

class _LogitStats(NamedTuple):
    """Per-token statistics of the logits, each of shape ``[N]``."""

    logsumexp: jax.Array
    label_logit: jax.Array
    logit_sum: jax.Array


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
    return soft_cap_and_z_loss.soft_cap(raw, soft_cap)


def _over_chunks(step, carry, vocab_size, chunk_size):
    """``carry = step(carry, start, size)`` over the vocabulary's chunks: the static
    remainder first, then a ``scan`` over the full chunks.

    The remainder goes first: placed after the loop, its temporaries (a second ``[N, H]``
    accumulator and its own tiles) were kept beside the loop's, which nearly doubled the
    compiled temporaries (at ``N, H, V = 4096, 1024, 32768`` with chunks of 1280 on a
    CPU)."""
    num_full = vocab_size // chunk_size
    rest = vocab_size - num_full * chunk_size
    if rest:
        carry = step(carry, 0, rest)
    if num_full:
        carry, _ = lax.scan(
            lambda c, i: (step(c, rest + i * chunk_size, chunk_size), None),
            carry,
            jnp.arange(num_full, dtype=jnp.int32),
        )
    return carry


def _label_mask(labels, start, size):
    """``[N, size]`` boolean: column ``j`` of the chunk is token n's label."""
    columns = start + lax.broadcasted_iota(labels.dtype, (1, size), 1)
    return columns == labels[:, None]


def _chunk_label_logit(z, labels, start, size):
    """``[N]``: each token's label logit where its label is among the chunk's columns
    ``[start, start + size)``, else 0. A gather of one column per row: selecting with the
    ``[N, size]`` label mask and summing made XLA keep the selection as a second tile."""
    column = labels - start
    inside = (column >= 0) & (column < size)
    picked = jnp.take_along_axis(z, column[:, None], axis=1, mode="clip")[:, 0]
    return jnp.where(inside, picked, jnp.zeros((), z.dtype))


def _varying_over(axis_name, values):
    """Inside ``shard_map``, type loop-carry initial ``values`` as varying over ``axis_name``.

    A chunk's results depend on the local weight shard, so they vary over the vocabulary
    axis; the zeros they are accumulated into must be typed alike. ``None``: no mesh.
    """
    if axis_name is None:
        return values
    return jax.tree.map(lambda v: lax.pcast(v, (axis_name,), to="varying"), values)


def _tile_sizes(tiles, num_tokens):
    """``(token_block, chunk_size)`` of ``tiles``: an int is a vocabulary chunk for all the
    tokens at once, a pair ``(token_block, chunk_size)`` blocks the tokens as well."""
    if isinstance(tiles, tuple):
        token_block, chunk_size = tiles
        return max(1, min(int(token_block), num_tokens)), int(chunk_size)
    return max(num_tokens, 1), int(tiles)


def _over_token_blocks(block_fn, per_token, outputs, token_block):
    """``block_fn(*rows)`` for each block of ``token_block`` tokens, ``rows`` the block's rows
    of the ``per_token`` arrays; its per-token results are written into ``outputs`` (arrays
    of ``[N, ...]``, returned). With a single block ``block_fn`` sees the whole arrays and
    its results are returned as they are."""
    num_tokens = per_token[0].shape[0]
    if token_block >= num_tokens:
        return block_fn(*per_token)

    def step(carry, start, size):
        rows = [lax.dynamic_slice_in_dim(x, start, size) for x in per_token]
        return jax.tree.map(
            lambda out, new: lax.dynamic_update_slice_in_dim(out, new.astype(out.dtype), start,
                                                             axis=0),
            carry, block_fn(*rows))

    return _over_chunks(step, outputs, num_tokens, token_block)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7, 8))
def _logit_stats(hidden, weight, bias, labels, tiles, soft_cap, with_sum, axis_name,
                 gradient_filter=None):
    """Per-token ``_LogitStats`` of the logits, streamed over vocabulary chunks; the backward
    pass recomputes each tile's logits and skips the products of the tiles that
    ``gradient_filter`` finds negligible (``_negligible_tile``; ``None``: none)."""
    stats, _ = _logit_stats_fwd(
        hidden, weight, bias, labels, tiles, soft_cap, with_sum, axis_name
    )
    return stats


def _logit_stats_fwd(hidden, weight, bias, labels, tiles, soft_cap, with_sum, axis_name,
                     gradient_filter=None):
    accum_dtype = validation.compute_dtype(hidden, weight)
    num_tokens = hidden.shape[0]
    vocab_size = weight.shape[1]
    token_block, chunk_size = _tile_sizes(tiles, num_tokens)

    def block_stats(hidden, labels):
        zeros = jnp.zeros(labels.shape, accum_dtype)
        init = _varying_over(
            axis_name, (jnp.full(labels.shape, -jnp.inf, accum_dtype), zeros, zeros, zeros)
        )

        def fold(carry, start, size):
            running_max, scaled_sum, label_logit, logit_sum = carry
            z = _chunk_logits(hidden, weight, bias, start, size, soft_cap, accum_dtype)
            new_max = jnp.maximum(running_max, jnp.max(z, axis=1))
            scaled_sum = scaled_sum * jnp.exp(running_max - new_max) + jnp.sum(
                jnp.exp(z - new_max[:, None]), axis=1
            )
            label_logit = label_logit + _chunk_label_logit(z, labels, start, size)
            if with_sum:
                logit_sum = logit_sum + jnp.sum(z, axis=1)
            return new_max, scaled_sum, label_logit, logit_sum

        running_max, scaled_sum, label_logit, logit_sum = _over_chunks(
            fold, init, vocab_size, chunk_size
        )
        return running_max + jnp.log(scaled_sum), label_logit, logit_sum

    zeros = jnp.zeros((num_tokens,), accum_dtype)
    logsumexp, label_logit, logit_sum = _over_token_blocks(
        block_stats, (hidden, labels), _varying_over(axis_name, (zeros, zeros, zeros)),
        token_block,
    )
    stats = _LogitStats(logsumexp, label_logit, logit_sum)
    return stats, (hidden, weight, bias, labels, logsumexp)


def _logit_grads(z, probs, label_mask, g_lse, g_label, g_sum, soft_cap):
    """``d loss / d raw logits`` of a chunk from the cotangents of its statistics (``[N, 1]``
    each, or ``g_lse`` of the chunk's shape where the softmax's factor varies along a row;
    ``g_sum`` may be ``None``): ``g_lse * softmax + g_label * onehot + g_sum``, times the
    soft cap's derivative ``1 - (z / c)**2``."""
    d_z = g_lse * probs + jnp.where(label_mask, g_label, jnp.zeros((), z.dtype))
    if g_sum is not None:
        d_z = d_z + g_sum
    if soft_cap is not None:
        d_z = d_z * soft_cap_and_z_loss.soft_cap_derivative(z, soft_cap)
    return d_z


def _hidden_grad(d_z, weight, accum_dtype):
    """``d_z @ weight.T``, accumulated in ``accum_dtype``."""
    matmul_dtype = jnp.promote_types(d_z.dtype, weight.dtype)
    return lax.dot_general(d_z.astype(matmul_dtype), weight.astype(matmul_dtype),
                           (((1,), (1,)), ((), ())), preferred_element_type=accum_dtype)


def _weight_grad(hidden, d_z, accum_dtype):
    """``hidden.T @ d_z``, accumulated in ``accum_dtype``."""
    matmul_dtype = jnp.promote_types(hidden.dtype, d_z.dtype)
    return lax.dot_general(hidden.astype(matmul_dtype), d_z.astype(matmul_dtype),
                           (((0,), (0,)), ((), ())), preferred_element_type=accum_dtype)


def _input_grads(hidden, weight, d_z, accum_dtype):
    """``(d_z @ weight.T, hidden.T @ d_z)``, accumulated in ``accum_dtype``."""
    d_z = d_z.astype(jnp.promote_types(hidden.dtype, weight.dtype))
    return _hidden_grad(d_z, weight, accum_dtype), _weight_grad(hidden, d_z, accum_dtype)


def _add_columns(d_weight, start, d_w):
    """``d_weight`` with ``d_w`` added to its columns from ``start`` on, in place."""
    d_w = d_w.astype(d_weight.dtype) + lax.dynamic_slice_in_dim(d_weight, start, d_w.shape[1], 1)
    return lax.dynamic_update_slice_in_dim(d_weight, d_w, start, axis=1)


def _block_input_grads(hidden, weight, d_z, d_weight, chunk_size, accum_dtype):
    """``(d_z @ weight.T, d_weight + hidden.T @ d_z)`` for a block of tokens with all their
    logits, the second product added ``chunk_size`` columns at a time, in place: in one
    piece its ``[H, V]`` result was a temporary as large as the accumulator."""
    d_z = d_z.astype(jnp.promote_types(hidden.dtype, weight.dtype))
    d_hidden = _hidden_grad(d_z, weight, accum_dtype)

    def add_piece(d_weight, start, size):
        d_z_columns = lax.dynamic_slice_in_dim(d_z, start, size, axis=1)
        return _add_columns(d_weight, start, _weight_grad(hidden, d_z_columns, accum_dtype))

    vocab_size = weight.shape[1]
    if chunk_size >= vocab_size:
        return d_hidden, add_piece(d_weight, 0, vocab_size)
    return d_hidden, _over_chunks(add_piece, d_weight, vocab_size, chunk_size)


def _filtered_block_input_grads(hidden, weight, d_z, d_weight, chunk_size, accum_dtype,
                                skip_piece):
    """``_block_input_grads`` with both products taken ``chunk_size`` columns at a time:
    each piece adds its ``d_z[:, piece] @ weight[:, piece].T`` to ``d hidden`` and its
    ``hidden.T @ d_z[:, piece]`` to ``d_weight``, both skipped (``lax.cond``) where
    ``skip_piece(d_z[:, piece], start, size)`` is true."""

    def add_piece(carry, start, size):
        d_hidden, d_weight = carry
        w = lax.dynamic_slice_in_dim(weight, start, size, axis=1)
        d_z_columns = lax.dynamic_slice_in_dim(d_z, start, size, axis=1)
        d_h, d_w = lax.cond(skip_piece(d_z_columns, start, size),
                            lambda h, w, d_z: _zero_input_grads(h, w, accum_dtype),
                            lambda h, w, d_z: _input_grads(h, w, d_z, accum_dtype),
                            hidden, w, d_z_columns)
        return d_hidden + d_h, _add_columns(d_weight, start, d_w)

    init = (jnp.zeros((hidden.shape[0], weight.shape[0]), accum_dtype), d_weight)
    return _over_chunks(add_piece, init, weight.shape[1], min(chunk_size, weight.shape[1]))


def _vocabulary_stream_grads(hidden, weight, bias, tiles, soft_cap, accum_dtype,
                             chunk_d_logits, per_token, axis_name=None, skip_tile=None):
    """``(d hidden, d weight, d bias)`` from one stream over vocabulary chunks that recomputes
    each chunk's logits ``z`` and takes ``d_z = chunk_d_logits(z, rows, start, size)`` (the
    gradient of the raw logits, soft cap included; ``rows`` the token block's rows of the
    ``per_token`` arrays): ``d hidden`` accumulated, each chunk's slice of ``d weight`` and
    ``d bias`` written once.

    With ``tiles = (token_block, chunk_size)`` smaller than all tokens the stream runs over
    each block of tokens in turn: the block's ``d hidden`` is accumulated over the chunks
    and written once, and each chunk's slices of ``d weight`` and ``d bias`` are added to
    once per block, in ``accum_dtype`` (float32 for half-precision weights, so that the sum
    over blocks is not rounded to half precision each time; cast once at the end). The
    temporaries are then those of one ``[token_block, chunk_size]`` tile and one
    ``[token_block, H]`` block instead of
    ``[N, chunk_size]`` and ``[N, H]``.

    ``skip_tile(d_z, rows, start, size)``, where given, is a scalar boolean: true, the tile's
    two matrix products are skipped (``lax.cond``) and count as zeros; ``d bias`` stays
    exact."""
    num_tokens = hidden.shape[0]
    token_block, chunk_size = _tile_sizes(tiles, num_tokens)
    blocked = token_block < num_tokens

    def token_block_grads(carry, token_start, token_size):
        d_hidden, d_weight, d_bias = carry
        if blocked:
            h = lax.dynamic_slice_in_dim(hidden, token_start, token_size)
            rows = tuple(lax.dynamic_slice_in_dim(x, token_start, token_size) for x in per_token)
        else:
            h, rows = hidden, per_token

        def chunk_grads(inner, start, size):
            block_d_hidden, d_weight, d_bias = inner
            z = _chunk_logits(h, weight, bias, start, size, soft_cap, accum_dtype)
            d_z = chunk_d_logits(z, rows, start, size)
            w = lax.dynamic_slice_in_dim(weight, start, size, axis=1)
            if skip_tile is None:
                d_h, d_w = _input_grads(h, w, d_z, accum_dtype)
            else:
                d_h, d_w = lax.cond(skip_tile(d_z, rows, start, size),
                                    lambda h, w, d_z: _zero_input_grads(h, w, accum_dtype),
                                    lambda h, w, d_z: _input_grads(h, w, d_z, accum_dtype),
                                    h, w, d_z)
            d_w = d_w.astype(d_weight.dtype)
            if blocked:
                d_w = d_w + lax.dynamic_slice_in_dim(d_weight, start, size, axis=1)
            d_weight = lax.dynamic_update_slice_in_dim(d_weight, d_w, start, axis=1)
            if d_bias is not None:
                d_b = jnp.sum(d_z, axis=0).astype(d_bias.dtype)
                if blocked:
                    d_b = d_b + lax.dynamic_slice_in_dim(d_bias, start, size)
                d_bias = lax.dynamic_update_slice_in_dim(d_bias, d_b, start, axis=0)
            return block_d_hidden + d_h, d_weight, d_bias

        inner = (_varying_over(axis_name, jnp.zeros(h.shape, accum_dtype)), d_weight, d_bias)
        block_d_hidden, d_weight, d_bias = _over_chunks(
            chunk_grads, inner, weight.shape[1], chunk_size)
        if not blocked:
            return block_d_hidden.astype(hidden.dtype), d_weight, d_bias
        d_hidden = lax.dynamic_update_slice_in_dim(
            d_hidden, block_d_hidden.astype(hidden.dtype), token_start, axis=0)
        return d_hidden, d_weight, d_bias

    # Written once per slice when all tokens are one block; summed over blocks otherwise.
    sum_dtype = accum_dtype if blocked else None
    d_weight, d_bias = _varying_over(axis_name, (
        jnp.zeros(weight.shape, sum_dtype or weight.dtype),
        None if bias is None else jnp.zeros(bias.shape, sum_dtype or bias.dtype),
    ))
    if not blocked:
        return token_block_grads((None, d_weight, d_bias), 0, num_tokens)
    d_hidden = _varying_over(axis_name, jnp.zeros(hidden.shape, hidden.dtype))
    d_hidden, d_weight, d_bias = _over_chunks(
        token_block_grads, (d_hidden, d_weight, d_bias), num_tokens, token_block)
    return (d_hidden, d_weight.astype(weight.dtype),
            None if d_bias is None else d_bias.astype(bias.dtype))


def _logit_stats_bwd(tiles, soft_cap, with_sum, axis_name, gradient_filter, residuals,
                     cotangents):
    hidden, weight, bias, labels, logsumexp = residuals
    g_lse, g_label, g_sum = cotangents
    accum_dtype = logsumexp.dtype
    per_token = (labels, logsumexp, g_lse.astype(accum_dtype), g_label.astype(accum_dtype))
    if with_sum:
        per_token += (g_sum.astype(accum_dtype),)

    def chunk_d_logits(z, rows, start, size):
        labels, logsumexp, g_lse, g_label = rows[:4]
        g_sum = rows[4][:, None] if with_sum else None
        return _logit_grads(z, jnp.exp(z - logsumexp[:, None]), _label_mask(labels, start, size),
                            g_lse[:, None], g_label[:, None], g_sum, soft_cap)

    skip_tile = None
    if gradient_filter is not None:
        def skip_tile(d_z, rows, start, size):
            labels, _, g_lse = rows[:3]
            return _negligible_tile(d_z, g_lse, labels, start, size, gradient_filter)

    d_hidden, d_weight, d_bias = _vocabulary_stream_grads(
        hidden, weight, bias, tiles, soft_cap, accum_dtype, chunk_d_logits, per_token,
        axis_name, skip_tile)
    return d_hidden, d_weight, d_bias, np.zeros(labels.shape, jax.dtypes.float0)


_logit_stats.defvjp(_logit_stats_fwd, _logit_stats_bwd)


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
        loss = loss + soft_cap_and_z_loss.z_loss_term(lse, z_loss)
    ignored = (
        jnp.zeros(labels.shape, jnp.bool_) if ignore_index is None else labels == ignore_index
    )
    out_of_range = (labels < 0) | (labels >= vocab_size)
    # Multiplying (not `where`) makes the gradient of an invalid token NaN as well.
    poison = jnp.where(out_of_range & ~ignored, jnp.asarray(jnp.nan, loss.dtype),
                       jnp.ones((), loss.dtype))
    loss = jnp.where(ignored, jnp.zeros((), loss.dtype), loss * poison)
    return loss, ~ignored


def _reduce(loss, kept, reduction, shape, weights=None):
    """The per-token losses (times ``weights``, if given) reduced; ``"none"`` gives them the
    labels' shape. The weighted ``"mean"`` divides by the weights of the kept tokens."""
    if weights is None:
        if reduction == "none":
            return loss.reshape(shape)
        return reductions.reduce_losses(loss, reduction, counted=kept)
    weighted = loss * weights
    if reduction == "none":
        return weighted.reshape(shape)
    if reduction == "sum":
        return jnp.sum(weighted)
    return reductions.divide_no_nan(
        jnp.sum(weighted), jnp.sum(jnp.where(kept, weights, jnp.zeros((), weights.dtype))))


def _token_coefficients(kept, reduction, weights, dtype):
    """``c`` with ``_reduce(loss, kept, reduction, ..., weights) == sum(c * loss)`` for a
    scalar ``reduction`` (the losses of ignored tokens being 0); differentiable in
    ``weights``."""
    ones = jnp.ones(kept.shape, dtype)
    weights = ones if weights is None else weights.astype(dtype)
    if reduction == "sum":
        return weights
    counted = jnp.where(kept, weights, jnp.zeros((), dtype))
    if weights is ones:
        # A whole count: at least 1, so that every token ignored gives 0.
        return counted / jnp.maximum(jnp.sum(counted), jnp.ones((), dtype))
    return reductions.divide_no_nan(counted, jnp.sum(counted))


SCHEDULES = ("forward", "recompute")


def _token_block_size(num_tokens: int, vocab_size: int, tiles) -> int:
    """Tokens per block of the ``"forward"`` schedule: a block's ``[T, V]`` logits hold about
    as many elements as one tile of the recomputing stream (``[N, chunk_size]`` for a chunk
    size, ``[token_block, chunk_size]`` for a pair, whose ``token_block`` may exceed
    ``num_tokens``: the area is what counts)."""
    token_block, chunk_size = tiles if isinstance(tiles, tuple) else (num_tokens, tiles)
    return int(max(1, min(num_tokens, token_block * chunk_size // max(vocab_size, 1))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8, 9, 10))
def _scalar_loss(hidden, weight, bias, labels, coefficients, chunk_size, soft_cap, ignore_index,
                 label_smoothing, z_loss, gradient_filter=None):
    """``sum_n coefficients[n] * loss_n``, a reduced loss (``_token_coefficients``). Not
    differentiated, it is the vocabulary stream of ``_logit_stats_fwd`` and computes no
    gradient; the fwd rule below streams over tokens and computes the gradients along with
    the loss, skipping the column pieces that ``gradient_filter`` finds negligible."""
    stats, _ = _logit_stats_fwd(hidden, weight, bias, labels, chunk_size, soft_cap,
                                bool(label_smoothing), None)
    loss, _ = _per_token_loss(stats, labels, weight.shape[1], ignore_index, label_smoothing,
                              z_loss)
    return jnp.sum(coefficients.astype(loss.dtype) * loss)


def _forward_stream(hidden, weight, bias, labels, loss_weights, chunk_size, soft_cap,
                   ignore_index, label_smoothing, z_loss, vocab_size, axis_name=None,
                   gradient_filter=None):
    """Per-token losses and the gradients of ``sum_n loss_weights[n] * loss_n`` in one stream
    over blocks of tokens: three matrix products. Returns ``(losses, (d hidden, d weight,
    d bias))``, all in the accumulation dtype.

    A block of ``T`` tokens has all ``V`` of its logits, so its logsumexp, its per-token loss
    and that loss's cotangent (``loss_weights``: the reduction is linear; z-loss needs only
    the token's own logsumexp) are exact within the block: ``logits = h_T @ W``, then
    ``d h_T = d_z @ W.T`` (written once) and ``d W += h_T.T @ d_z`` (accumulated). With
    ``axis_name`` the weight is this device's shard of a vocabulary of ``vocab_size``
    columns: the blocks' row statistics are combined across the shards (one ``pmax`` and
    up to three ``psum`` of ``[T]`` per block), and ``d hidden`` is this shard's part.

    With ``gradient_filter`` both products are taken in pieces of ``chunk_size`` columns
    (``_filtered_block_input_grads``), a piece's skipped where it is negligible
    (``_negligible_tile`` of the piece's logits' gradient, over the block's tokens).
    """
    accum_dtype = validation.compute_dtype(hidden, weight)
    num_tokens, local_vocab = hidden.shape[0], weight.shape[1]
    offset = 0 if axis_name is None else (
        lax.axis_index(axis_name).astype(labels.dtype) * local_vocab)
    block = _token_block_size(num_tokens, local_vocab, chunk_size)
    _, chunk_size = _tile_sizes(chunk_size, num_tokens)
    loss_weights = loss_weights.astype(accum_dtype)
    with_sum = bool(label_smoothing)

    def over_shards(reduce, values):
        return values if axis_name is None else reduce(values, axis_name)

    def block_step(carry, start, size):
        losses, d_hidden, d_weight, d_bias = carry
        h = lax.dynamic_slice_in_dim(hidden, start, size)
        y = lax.dynamic_slice_in_dim(labels, start, size) - offset
        z = _project(h, weight, bias, soft_cap, accum_dtype)
        row_max = over_shards(lax.pmax, jnp.max(z, axis=1))
        sum_exp = over_shards(lax.psum, jnp.sum(jnp.exp(z - row_max[:, None]), axis=1))
        logsumexp = row_max + jnp.log(sum_exp)
        stats = _LogitStats(
            logsumexp,
            over_shards(lax.psum, _chunk_label_logit(z, y, 0, local_vocab)),
            over_shards(lax.psum, jnp.sum(z, axis=1)) if with_sum
            else jnp.zeros((size,), accum_dtype),
        )
        per_token, pullback = jax.vjp(
            lambda st: _per_token_loss(st, y + offset, vocab_size, ignore_index,
                                       label_smoothing, z_loss)[0], stats)
        (g,) = pullback(lax.dynamic_slice_in_dim(loss_weights, start, size))
        # The softmax from the logsumexp, one more exp per logit: kept beside the logits,
        # exp(z - max) was a second [T, V] temporary.
        d_z = _logit_grads(z, jnp.exp(z - logsumexp[:, None]), _label_mask(y, 0, local_vocab),
                           g.logsumexp[:, None], g.label_logit[:, None],
                           g.logit_sum[:, None] if with_sum else None, soft_cap)
        if gradient_filter is None:
            d_h, d_weight = _block_input_grads(h, weight, d_z, d_weight, chunk_size,
                                               accum_dtype)
        else:
            def skip_piece(d_z_piece, piece_start, piece_size):
                return _negligible_tile(d_z_piece, g.logsumexp, y, piece_start, piece_size,
                                        gradient_filter)

            d_h, d_weight = _filtered_block_input_grads(h, weight, d_z, d_weight, chunk_size,
                                                        accum_dtype, skip_piece)
        losses = lax.dynamic_update_slice_in_dim(losses, per_token, start, axis=0)
        d_hidden = lax.dynamic_update_slice_in_dim(d_hidden, d_h, start, axis=0)
        if d_bias is not None:
            d_bias = d_bias + jnp.sum(d_z, axis=0)
        return losses, d_hidden, d_weight, d_bias

    init = (jnp.zeros(labels.shape, accum_dtype), jnp.zeros(hidden.shape, accum_dtype),
            jnp.zeros(weight.shape, accum_dtype),
            None if bias is None else jnp.zeros(bias.shape, accum_dtype))
    losses, *grads = _over_chunks(block_step, init, num_tokens, block)
    return losses, tuple(grads)


def _cast_grads(grads, hidden, weight, bias):
    """``(d hidden, d weight, d bias)`` in the dtypes of their inputs."""
    d_hidden, d_weight, d_bias = grads
    return (d_hidden.astype(hidden.dtype), d_weight.astype(weight.dtype),
            None if bias is None else d_bias.astype(bias.dtype))


def _scalar_loss_fwd(hidden, weight, bias, labels, coefficients, chunk_size, soft_cap,
                     ignore_index, label_smoothing, z_loss, gradient_filter=None):
    """Loss and gradients in one stream over blocks of tokens (:func:`_forward_stream`)."""
    losses, grads = _forward_stream(hidden, weight, bias, labels, coefficients, chunk_size,
                                   soft_cap, ignore_index, label_smoothing, z_loss,
                                   weight.shape[1], gradient_filter=gradient_filter)
    loss = jnp.sum(coefficients.astype(losses.dtype) * losses)
    return loss, (_cast_grads(grads, hidden, weight, bias), labels,
                  losses.astype(coefficients.dtype))


def _scalar_loss_bwd(chunk_size, soft_cap, ignore_index, label_smoothing, z_loss,
                     gradient_filter, residuals, cotangent):
    (d_hidden, d_weight, d_bias), labels, losses = residuals

    def scaled(grad):
        if grad is None:
            return None
        return (cotangent * grad.astype(cotangent.dtype)).astype(grad.dtype)

    return (scaled(d_hidden), scaled(d_weight), scaled(d_bias),
            np.zeros(labels.shape, jax.dtypes.float0),
            (cotangent * losses.astype(cotangent.dtype)).astype(losses.dtype))


_scalar_loss.defvjp(_scalar_loss_fwd, _scalar_loss_bwd)
