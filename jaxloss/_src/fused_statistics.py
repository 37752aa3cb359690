"""Per-token statistics of ``softmax(hidden @ weight + bias)`` without the ``[N, V]`` logits.

Evaluation of a language model wants more than the loss: each token's log-probability of its
label, the entropy of its predicted distribution and whether the most likely class is the
label. Here they come from one stream over vocabulary chunks, as in
:mod:`jaxloss._src.fused`: per token a running maximum, ``S = sum_j exp(z_j - m)``,
``T = sum_j exp(z_j - m) z_j``, the label logit and the first column reaching the maximum.
Then ``lse = m + log S``, the expected logit ``E = T / S``, ``log p_y = z_y - lse`` and the
entropy ``lse - E``. A ``jax.custom_vjp`` keeps ``lse`` and ``E`` as residuals and recomputes
each chunk's logits in the backward pass.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import checks, validation
from jaxloss._src.fused import _check_inputs
from jaxloss._src.fused_streams import (
    _chunk_label_logit,
    _chunk_logits,
    _label_mask,
    _logit_grads,
    _over_chunks,
    _over_token_blocks,
    _tile_sizes,
    _vocabulary_stream_grads,
)


class TokenStatistics(NamedTuple):
    """What :func:`fused_linear_token_statistics` returns, each of ``labels.shape``."""

    label_log_prob: jax.Array
    entropy: jax.Array
    correct: jax.Array


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _softmax_moments(hidden, weight, bias, labels, tiles, soft_cap):
    """``(lse, z_y, E, argmax)`` per token, ``E = sum_j softmax(z)_j z_j``."""
    moments, _ = _softmax_moments_fwd(hidden, weight, bias, labels, tiles, soft_cap)
    return moments


def _softmax_moments_fwd(hidden, weight, bias, labels, tiles, soft_cap):
    accum_dtype = validation.compute_dtype(hidden, weight)
    num_tokens, vocab_size = hidden.shape[0], weight.shape[1]
    token_block, chunk_size = _tile_sizes(tiles, num_tokens)

    def block_moments(hidden, labels):
        zeros = jnp.zeros(labels.shape, accum_dtype)
        init = (jnp.full(labels.shape, -jnp.inf, accum_dtype), zeros, zeros, zeros,
                jnp.zeros(labels.shape, jnp.int32))

        def fold(carry, start, size):
            running_max, scaled_sum, scaled_logits, label_logit, best = carry
            z = _chunk_logits(hidden, weight, bias, start, size, soft_cap, accum_dtype)
            chunk_max = jnp.max(z, axis=1)
            # Chunks come in column order: a strictly larger maximum moves the argmax, so
            # ties keep the first column, as jnp.argmax does.
            best = jnp.where(chunk_max > running_max,
                             start + jnp.argmax(z, axis=1).astype(jnp.int32), best)
            new_max = jnp.maximum(running_max, chunk_max)
            rescale = jnp.exp(running_max - new_max)
            scaled = jnp.exp(z - new_max[:, None])
            scaled_sum = scaled_sum * rescale + jnp.sum(scaled, axis=1)
            scaled_logits = scaled_logits * rescale + jnp.sum(scaled * z, axis=1)
            label_logit = label_logit + _chunk_label_logit(z, labels, start, size)
            return new_max, scaled_sum, scaled_logits, label_logit, best

        running_max, scaled_sum, scaled_logits, label_logit, best = _over_chunks(
            fold, init, vocab_size, chunk_size)
        return (running_max + jnp.log(scaled_sum), label_logit, scaled_logits / scaled_sum,
                best)

    zeros = jnp.zeros((num_tokens,), accum_dtype)
    logsumexp, label_logit, expected, best = _over_token_blocks(
        block_moments, (hidden, labels),
        (zeros, zeros, zeros, jnp.zeros((num_tokens,), jnp.int32)), token_block)
    return ((logsumexp, label_logit, expected, best),
            (hidden, weight, bias, labels, logsumexp, expected))


def _softmax_moments_bwd(tiles, soft_cap, residuals, cotangents):
    """``d z = g_lse p + g_label onehot(y) + g_E p (1 + z - E)``, times the soft cap's
    derivative; ``d E / d z_j = p_j (1 + z_j - E)``."""
    hidden, weight, bias, labels, logsumexp, expected = residuals
    g_lse, g_label, g_expected, _ = cotangents
    accum_dtype = logsumexp.dtype
    per_token = (labels, logsumexp, expected) + tuple(
        g.astype(accum_dtype) for g in (g_lse, g_label, g_expected))

    def chunk_d_logits(z, rows, start, size):
        labels, logsumexp, expected, g_lse, g_label, g_expected = rows
        # The softmax's factor is per entry here: g_lse + g_E (1 + z_j - E).
        softmax_factor = g_lse[:, None] + g_expected[:, None] * (1 + z - expected[:, None])
        return _logit_grads(z, jnp.exp(z - logsumexp[:, None]), _label_mask(labels, start, size),
                            softmax_factor, g_label[:, None], None, soft_cap)

    d_hidden, d_weight, d_bias = _vocabulary_stream_grads(
        hidden, weight, bias, tiles, soft_cap, accum_dtype, chunk_d_logits, per_token)
    return d_hidden, d_weight, d_bias, np.zeros(labels.shape, jax.dtypes.float0)


_softmax_moments.defvjp(_softmax_moments_fwd, _softmax_moments_bwd)


def fused_linear_token_statistics(
    hidden: jax.typing.ArrayLike,
    weight: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    bias: jax.typing.ArrayLike | None = None,
    chunk_size: int | None = None,
    logit_soft_cap: float | None = None,
) -> TokenStatistics:
    r"""Per-token label log-probability, entropy and accuracy of ``hidden @ weight + bias``.

    With logits :math:`r = h W + b`, optionally soft-capped :math:`z = c \tanh(r / c)`,
    :math:`p = \mathrm{softmax}(z)` and :math:`\mathrm{lse} = \log \sum_j e^{z_j}`:

    .. math::
        \log p_y = z_y - \mathrm{lse}, \qquad
        H(p) = -\sum_j p_j \log p_j = \mathrm{lse} - \sum_j p_j z_j, \qquad
        \mathrm{correct} = [\arg\max_j z_j = y],

    streamed over chunks of ``chunk_size`` vocabulary columns as in
    :func:`jaxloss.fused_linear_cross_entropy`, so that no ``[N, V]`` array exists in the
    forward or the backward pass. ``label_log_prob`` and ``entropy`` are differentiable in
    ``hidden``, ``weight`` and ``bias`` (the backward recomputes each chunk's logits);
    ``correct`` is boolean, ties going to the first maximal column, as ``jnp.argmax``.

    Input rules: those of :func:`jaxloss.fused_linear_cross_entropy` (``ValueError`` at
    trace time). A label outside ``[0, V)`` cannot be checked under ``jit``: its
    ``label_log_prob`` is NaN and ``correct`` False.

    Args:
      hidden: ``[..., H]`` floating activations.
      weight: ``[H, V]`` output projection.
      labels: ``[...]`` integer class indices, ``hidden.shape[:-1]``.
      bias: optional ``[V]`` bias.
      chunk_size: vocabulary columns per chunk; ``None``: ``default_chunk_size``.
      logit_soft_cap: ``c > 0`` applies ``c * tanh(logits / c)`` first; ``None``: none.

    Returns:
      A :class:`jaxloss.TokenStatistics` of ``labels.shape`` arrays: ``label_log_prob`` and
      ``entropy`` (float32 for half-precision inputs, else their dtype), ``correct`` (bool).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import fused_linear_token_statistics
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> weight = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> stats = fused_linear_token_statistics(hidden, weight, jnp.array([0, 2]))
      >>> [round(float(x), 4) for x in stats.label_log_prob]
      [-0.5514, -2.2395]
      >>> stats.correct.tolist()
      [True, False]

    References:
      Wijmans et al., "Cut Your Losses in Large-Vocabulary Language Models", 2024
      (arXiv:2411.09009): the vocabulary stream; Shannon, "A Mathematical Theory of
      Communication", 1948 (entropy).
    """
    chunk_size, _, _, logit_soft_cap = _check_inputs(
        hidden, weight, labels, bias, chunk_size, None, 0.0, 0.0, logit_soft_cap, "none")
    hidden, weight, labels = jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(labels)
    bias = None if bias is None else jnp.asarray(bias)
    shape, vocab_size = labels.shape, weight.shape[1]
    checks.check_finite("fused_linear_token_statistics", "hidden", hidden)
    checks.check_class_labels("fused_linear_token_statistics", labels, vocab_size)
    flat_labels = labels.reshape(-1)
    logsumexp, label_logit, expected, best = _softmax_moments(
        hidden.reshape(-1, hidden.shape[-1]), weight, bias, flat_labels, chunk_size,
        logit_soft_cap)
    in_range = (flat_labels >= 0) & (flat_labels < vocab_size)
    label_log_prob = jnp.where(in_range, label_logit - logsumexp,
                               jnp.asarray(jnp.nan, logsumexp.dtype))
    correct = in_range & (best == flat_labels.astype(best.dtype))
    return TokenStatistics(label_log_prob.reshape(shape), (logsumexp - expected).reshape(shape),
                           correct.reshape(shape))
