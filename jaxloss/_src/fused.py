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
keeps one chunk's logits at most 32 MiB and at most 1/24 of the explicit logits
(``default_chunk_size``). Two temporaries do not shrink with the chunk: the ``[N, H]``
product of each chunk's ``d hidden`` (``H / V`` of the explicit logits) and, below
``V = 24 * 128``, the smallest chunk of 128 columns of all tokens. Where they would pass 9%
of the explicit logits the default blocks the tokens as well (``default_tiles``): the
stream runs over the vocabulary once per block of tokens, each block's ``d hidden``
accumulated and written once and each chunk's ``d weight`` added to once per block; the
measurements are in ``bench/``.

Where the loss is reduced to a scalar (``reduction="mean"`` or ``"sum"``, as in training),
the default schedule (``schedule="forward"``) computes the gradients in the forward pass
instead, saving one matrix product: the
stream then runs over blocks of tokens, each with all of its ``V`` logits (``[T, V]``, the
largest block within the temporaries' budget, ``forward_tiles``), so that each token's
logsumexp, loss and loss cotangent are exact within its block. Per block: ``z = h_T @ W``,
``d h_T = d_z @ W.T`` and ``d W += h_T.T @ d_z``: three matrix products in all, as with
explicit logits, where the recomputing schedule needs four. A vocabulary stream cannot do
this in one pass: ``d W[:, j] = sum_n h_n d_z[n, j]`` mixes tokens whose softmax
normalisers are known only at the end of the stream, and a first pass for them costs the
fourth product again. The backward pass then only scales the stored gradients by the
cotangent; the price is one float32 ``[H, V]`` accumulator kept from the forward to the
backward pass (under ``jax.value_and_grad`` of this loss alone it is the gradient's own
buffer). Each block adds its ``d W`` in pieces of columns (``forward_tiles``), so that no
second ``[H, V]`` array is formed. An undifferentiated call computes no gradient (it streams the
vocabulary for the loss alone).

The per-token loss is assembled from three streamed statistics, so that every option
(label smoothing, z-loss, ignored tokens, the reduction, a vocabulary split over devices)
is ordinary differentiable JAX code around one custom-gradient kernel:

* ``lse = log sum_j exp(z_j)``, the logsumexp of the (soft-capped) logits ``z``;
* ``z_y``, the logit of the label;
* ``sum_j z_j``, needed by label smoothing only.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import checks, soft_cap_and_z_loss, validation
from jaxloss._src import reduction as reductions
from jaxloss._src.fused_streams import (
    SCHEDULES,
    _logit_stats,
    _per_token_loss,
    _reduce,
    _scalar_loss,
    _token_coefficients,
)

# One chunk's float32 logits take at most this many bytes (N * chunk_size * 4).
_TARGET_CHUNK_BYTES = 32 * 2**20
_MIN_CHUNK = 128
# The default splits the vocabulary into at least this many chunks (where V allows).
_MIN_CHUNKS = 24


def default_chunk_size(num_tokens: int, vocab_size: int, *, min_chunks: int = _MIN_CHUNKS) -> int:
    """The vocabulary chunk used when ``chunk_size=None``.

    One chunk's float32 logits take ``min(32 MiB, N * V * 4 / min_chunks)`` bytes
    (``N * chunk_size * 4``, ``N = num_tokens``, ``V = vocab_size``): at most 32 MiB, and at
    most a ``1 / min_chunks`` share of the explicit logits, so that the temporaries scale with
    the problem (their share of explicit logits' per shape:
    ``bench/results/fused_linear_cross_entropy/chunk-rule-*.json`` and the docs'
    large-vocabulary guide). The size is rounded down to a multiple of 128, at least 128 and at most ``V``;
    ``V < 128 * min_chunks`` therefore gets fewer, 128-column chunks.
    """
    num_tokens, vocab_size = max(int(num_tokens), 1), int(vocab_size)
    logits_bytes = 4 * num_tokens * vocab_size
    chunk_bytes = min(_TARGET_CHUNK_BYTES, logits_bytes // max(int(min_chunks), 1))
    chunk = chunk_bytes // (4 * num_tokens)
    chunk = max(_MIN_CHUNK, chunk // _MIN_CHUNK * _MIN_CHUNK)
    return int(min(chunk, vocab_size))


# The default tiles keep the modelled temporaries of the recomputing backward pass within
# this share of the explicit float32 logits (``_tile_temporaries``).
_TEMPORARIES_SHARE = 0.09


def _tile_temporaries(num_tokens: int, hidden_dim: int, token_block: int, chunk_size: int) -> int:
    """Bytes of the float32 temporaries the recomputing backward pass keeps at its peak for
    tiles of ``token_block`` tokens and ``chunk_size`` vocabulary columns, as XLA's buffer
    assignment shows them: the tile's logits (their gradient takes their buffer), the
    weight columns ``[H, chunk_size]``, and the larger of the block's ``d hidden`` product
    ``[token_block, H]`` and the chunk's ``d weight`` ``[H, chunk_size]``. A block of fewer
    than all ``N`` tokens adds its hidden rows and its ``d hidden`` accumulator (two
    ``[token_block, H]``); with all tokens the accumulator is the output. The per-token
    statistics, cotangents and their copies add about eight ``[N]`` vectors."""
    tile, columns, rows = token_block * chunk_size, hidden_dim * chunk_size, token_block * hidden_dim
    blocked = 2 * rows if token_block < num_tokens else 0
    return 4 * (tile + columns + max(rows, columns) + blocked + 8 * num_tokens)


@functools.lru_cache(maxsize=256)
def default_tiles(num_tokens: int, hidden_dim: int, vocab_size: int) -> tuple[int, int]:
    """``(token_block, chunk_size)`` used when ``chunk_size=None``.

    First all ``N`` tokens with the vocabulary chunk of ``default_chunk_size``. Where the
    modelled temporaries of that tile (``_tile_temporaries``: its logits, its weight
    columns, and the ``[N, H]`` product of ``d hidden``) exceed 9% of the explicit logits'
    ``4 N V`` bytes (``H`` large beside ``V``, or ``N`` so large that 128 columns are too
    many), the tokens are blocked as well: the tile of most elements, at most those of the
    first, whose temporaries fit, preferring more tokens; blocks of ``128 * 2**k`` tokens,
    chunks of a multiple of 128 columns (or all ``V``).
    """
    num_tokens, hidden_dim, vocab_size = (max(int(x), 1) for x in
                                          (num_tokens, hidden_dim, vocab_size))
    chunk = default_chunk_size(num_tokens, vocab_size)
    budget = _TEMPORARIES_SHARE * 4 * num_tokens * vocab_size
    if _tile_temporaries(num_tokens, hidden_dim, num_tokens, chunk) <= budget:
        return num_tokens, chunk
    area = num_tokens * chunk
    blocks = [num_tokens] + [_MIN_CHUNK * 2**k for k in range(num_tokens.bit_length())
                             if _MIN_CHUNK * 2**k < num_tokens][::-1]
    best, smallest = None, None
    for block in blocks:
        widest = min(vocab_size, max(area // block, 1))
        columns = [vocab_size] if widest == vocab_size else []
        columns += range(widest // _MIN_CHUNK * _MIN_CHUNK, 0, -_MIN_CHUNK)
        for columns_ in columns:
            temporaries = _tile_temporaries(num_tokens, hidden_dim, block, columns_)
            if smallest is None or temporaries < smallest[0]:
                smallest = (temporaries, block, columns_)
            if temporaries <= budget:
                if best is None or block * columns_ > best[0]:
                    best = (block * columns_, block, columns_)
                break
    chosen = best if best is not None else smallest
    assert chosen is not None  # `blocks` is never empty
    _, block, columns_ = chosen
    return block, columns_


_MIN_FORWARD_BLOCK = 64


def forward_tiles(num_tokens: int, hidden_dim: int, vocab_size: int) -> tuple[int, int]:
    """The tiles of ``schedule="forward"`` when ``chunk_size=None``: ``(T * V / C, C)``, so
    that its blocks hold ``T`` tokens with all ``V`` logits (``_token_block_size``) and each
    block's weight gradient is added ``C`` columns at a time.

    ``C`` is ``default_chunk_size``'s chunk (wider pieces would leave less room for the
    block, the one thing that speeds the stream up). ``T`` is the most
    tokens whose block keeps the temporaries within 9% of the explicit logits' ``4 N V``
    bytes: its ``[T, H]`` hidden gradient and about eight ``[N]`` vectors, and one ``[T, V]``
    (the logits, turned into their gradient in place) with, while the weight gradient is
    added, the column pieces ``[T, C]`` and ``[H, C]``, and whose logits take at most
    32 MiB (XLA kept a second ``[T, V]`` for larger blocks). The largest block that fits is the
    fastest: the weight gradient's product sums over the block's tokens, and on a CPU blocks
    of 80 tokens took 1.13 times explicit logits' time where blocks of 192 took 0.98 (at
    ``N, H, V = 2048, 512, 32768``). A block has at least 64 tokens (or all of them): a
    small problem's budget would otherwise make blocks of a token or two.
    """
    num_tokens, hidden_dim, vocab_size = (max(int(x), 1) for x in
                                          (num_tokens, hidden_dim, vocab_size))
    chunk = default_chunk_size(num_tokens, vocab_size)
    budget = _TEMPORARIES_SHARE * 4 * num_tokens * vocab_size
    piece = min(vocab_size, chunk)
    vectors = 4 * 8 * num_tokens
    logits = (budget - vectors) // (4 * (vocab_size + hidden_dim))
    pieces = (budget - vectors - 4 * hidden_dim * piece) // (4 * (vocab_size + piece + hidden_dim))
    # At least a block as large as one recomputing chunk (all tokens for a small problem).
    largest = _TARGET_CHUNK_BYTES // (4 * vocab_size)
    block = max(min(num_tokens, _MIN_FORWARD_BLOCK),
                int(min(num_tokens, largest, logits, pieces)))
    # The area of a [T, V] block as [T * V / C, C]; more than N rows is allowed (the
    # loss-alone stream caps them at N).
    return -(-block * vocab_size // piece), piece


def _check_inputs(
    hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
    logit_soft_cap, reduction, vocab_shards=1, weights=None, token_shards=1, forward=False,
):
    """Validate the arguments at trace time; return the normalised scalar options, the
    first being the tiles: ``chunk_size`` (all tokens at once), or ``default_tiles``'
    ``(token_block, chunk_size)`` where it is ``None`` (``forward_tiles``' for the
    ``"forward"`` schedule)."""
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
    if weights is not None:
        validation.check_floating("weights", weights)
        validation.check_broadcasts("weights", weights, labels_shape, "labels")
    if chunk_size is not None and (
        not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(f"`chunk_size` must be None or an int >= 1, got {chunk_size!r}.")
    validation.check_ignore_index(ignore_index)
    reductions.check_reduction(reduction, reductions.TORCH_REDUCTIONS)
    label_smoothing = soft_cap_and_z_loss.static_float("label_smoothing", label_smoothing)
    validation.check_label_smoothing(label_smoothing)
    z_loss, logit_soft_cap = soft_cap_and_z_loss.check_z_loss_and_soft_cap(z_loss, logit_soft_cap)
    local_vocab = weight_shape[1] // vocab_shards
    if chunk_size is None:
        num_tokens = int(np.prod(labels_shape, dtype=np.int64)) // token_shards
        rule = forward_tiles if forward else default_tiles
        tiles = rule(num_tokens, weight_shape[0], local_vocab)
        return tiles, label_smoothing, z_loss, logit_soft_cap
    return min(int(chunk_size), max(local_vocab, 1)), label_smoothing, z_loss, logit_soft_cap


def _check_gradient_filter(gradient_filter, label_smoothing):
    """``gradient_filter`` as a Python float (``None`` and 0, which skips nothing, give
    ``None``): finite, in ``[0, 1)``,
    and not with label smoothing, whose uniform term ``-s / V`` in every logit's gradient no
    tile's softmax bounds (it sums to ``-s`` over a row, however small each entry)."""
    if gradient_filter is None:
        return None
    value = soft_cap_and_z_loss.static_float("gradient_filter", gradient_filter)
    if value == 0.0 and not label_smoothing:
        return None  # skips nothing: the unfiltered streams, bit for bit
    if not (np.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(
            f"`gradient_filter` must be None or a finite float in [0, 1), got {gradient_filter!r}."
        )
    if label_smoothing:
        raise ValueError(
            "`gradient_filter` cannot be combined with `label_smoothing`: smoothing adds "
            "-s / V to the gradient of every logit, which the filter would drop; got "
            f"gradient_filter={gradient_filter!r} and label_smoothing={label_smoothing!r}."
        )
    return value


def _pick_schedule(schedule, reduction, return_logsumexp):
    """``schedule`` checked; ``None`` is ``"forward"`` for a scalar loss without its
    logsumexp (three matrix products, the way training calls it), else ``"recompute"``."""
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
    weights: jax.typing.ArrayLike | None = None,
    gradient_filter: float | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    r"""Softmax cross-entropy of ``hidden @ weight + bias`` without materialising the logits.

    With logits :math:`r = h W + b`, optionally soft-capped :math:`z = c \tanh(r / c)`,
    :math:`\mathrm{lse} = \log \sum_j e^{z_j}` and smoothing :math:`s` over :math:`V` classes,
    each token's loss is

    .. math::
        \ell = \mathrm{lse} - (1 - s)\, z_y - \frac{s}{V} \sum_j z_j
               + \lambda_z\, \mathrm{lse}^2,

    i.e. the sparse softmax cross-entropy against the smoothed targets
    :math:`(1 - s)\,\mathrm{onehot}(y) + s / V`, plus the z-loss. With per-token
    ``weights`` :math:`w` each token's loss is :math:`w_i \ell_i` and the ``"mean"`` is

    .. math::
        \frac{\sum_i w_i \ell_i}{\sum_{i \text{ not ignored}} w_i},

    what explicit logits, :func:`jaxloss.sparse_softmax_cross_entropy`, the same weighting
    and this division give (0 where the divisor is 0). The vocabulary is streamed
    in chunks of ``chunk_size`` columns of ``weight`` with an online logsumexp; the backward
    pass keeps only ``lse`` (and the inputs) and recomputes each chunk's logits, so no
    ``[N, V]`` array exists in the forward or the backward pass. A scalar loss (``"mean"``
    or ``"sum"`` without ``return_logsumexp``) has its gradients computed in the forward
    pass instead by default (``schedule="forward"``), streaming blocks of tokens with all
    their logits: three matrix products in all instead of four, for a float32 ``[H, V]``
    accumulator more, and an undifferentiated call computes no gradient. ``hidden`` and ``weight``
    may be bfloat16/float16: matrix products accumulate in float32. The products use JAX's
    default matrix precision, as ``hidden @ weight`` would: full float32 on a CPU, reduced on
    a GPU or TPU (on an NVIDIA H200 the float32 loss came out 2.6e-4 from float64, like the
    explicit logits); ``with jax.default_matmul_precision("highest"):`` gives float32-exact
    products there.

    Gradient filtering (``gradient_filter=eps``, after Wijmans et al.): the gradient of the
    logits is computed tile by tile (a tile of the recomputing backward pass, or a block's
    piece of ``C`` columns in the forward schedule), and a tile's matrix products for
    ``d hidden`` and ``d weight`` are skipped where no token's label is among its columns
    and every entry is at most ``eps`` times its token's :math:`|g_n|`. Off the labels the
    entries are :math:`g_n p_{nj} \kappa_{nj}`, with :math:`g_n` the cotangent of token
    ``n``'s logsumexp (its loss weight times :math:`1 + 2 \lambda_z \mathrm{lse}_n`, times
    the loss's cotangent) and :math:`\kappa_{nj} \in [0, 1]` the soft cap's derivative (1
    without one): every tile whose softmax entries are all at most ``eps`` and that holds no
    label is skipped. The loss, the logsumexp and ``d bias`` are exact. With :math:`S` the
    skipped entries, :math:`w_j` the columns of ``weight`` and :math:`h_n` the rows of
    ``hidden``, the gradients change by at most

    .. math::
        \lVert \Delta\, d h_n \rVert \le |g_n| \sum_{j : (n, j) \in S} p_{nj}
            \lVert w_j \rVert \le \epsilon\, |g_n| \sum_{j : (n, j) \in S} \lVert w_j \rVert,
        \qquad
        \lVert \Delta\, d w_j \rVert \le \sum_{n : (n, j) \in S} |g_n|\, p_{nj}
            \lVert h_n \rVert,

    and, as a row's softmax sums to 1, :math:`\lVert \Delta\, d h_n \rVert \le |g_n|
    \max_j \lVert w_j \rVert`. Time is saved only where whole tiles are skippable: peaked
    softmaxes and labels in few tiles (a trained model, a frequency-sorted vocabulary);
    large tiles with many labels are rarely skipped. The skip is a ``lax.cond``; under
    ``jax.vmap`` it becomes a select that computes both branches, so the results are the
    same and no time is saved. ``eps = 0`` is the same as ``None``. Label smoothing is rejected
    (``ValueError``): its term :math:`-s / V` in every logit's gradient is not bounded by the
    softmax.

    Input rules: shape and dtype errors raise ``ValueError`` at trace time. A label outside
    ``[0, V)`` that is not ``ignore_index`` cannot be checked under ``jit``: that token's loss
    and its gradient are NaN. With ``reduction="mean"`` and every token ignored the loss is 0.

    Args:
      hidden: ``[..., H]`` floating activations (the last hidden states).
      weight: ``[H, V]`` output projection (for a tied embedding ``E`` of shape ``[V, H]``
        pass ``E.T``).
      labels: ``[...]`` integer class indices, ``hidden.shape[:-1]``.
      bias: optional ``[V]`` bias.
      chunk_size: vocabulary columns per chunk, all tokens at once; ``None`` picks
        ``min(32 MiB, N * V * 4 / 24)`` bytes of float32 logits per chunk, rounded down to a
        multiple of 128 columns (``default_chunk_size``), and blocks the tokens as well where
        the temporaries of all tokens at once would pass 9% of the explicit logits
        (``default_tiles``; ``forward_tiles`` for ``schedule="forward"``). A larger chunk
        trades memory for speed. ``V`` need not be a multiple: the remainder is a smaller
        chunk, streamed first.
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
        each vocabulary chunk's logits, four products. ``None``: ``"forward"`` for a scalar
        loss without ``return_logsumexp``, else ``"recompute"``. With the
        default tiles both keep their compiled temporaries under a tenth of explicit
        logits' (measured on a CPU at every shape where the logits take 64 MiB or more).
      weights: optional floating per-token weights, of ``labels.shape`` or broadcasting to
        it (``[B, 1]`` weighs whole sequences of ``[B, T]`` labels); anything else raises
        ``ValueError``. Ignored tokens stay 0 and out of the ``"mean"``'s divisor whatever
        their weight. The loss is differentiable in them too.
      gradient_filter: ``None`` (the default) computes every gradient entry; a float
        ``eps`` in ``[0, 1)`` skips the gradient products of the tiles whose softmax entries
        are all at most ``eps`` and that hold no label (see above; Wijmans et al. use
        ``2**-12`` for bfloat16). With it the compiled temporaries grow a little (on a CPU at
        ``N, H, V = 2048, 512, 32768``: 23.0 to 26.1 MiB forward, 16.5 to 19.0 MiB
        recomputing); measured speed:
        ``bench/results/fused_linear_cross_entropy/gradient-filter-*.json``. ``ValueError`` for a value outside ``[0, 1)``, not
        finite, or with ``label_smoothing``.

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
    forward = _pick_schedule(schedule, reduction, return_logsumexp) == "forward"
    tiles, label_smoothing, z_loss, logit_soft_cap = _check_inputs(
        hidden, weight, labels, bias, chunk_size, ignore_index, label_smoothing, z_loss,
        logit_soft_cap, reduction, weights=weights, forward=forward,
    )
    gradient_filter = _check_gradient_filter(gradient_filter, label_smoothing)
    hidden, weight, labels = jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(labels)
    loss_dtype = validation.compute_dtype(hidden, weight)
    flat_weights = None if weights is None else jnp.broadcast_to(
        jnp.asarray(weights), labels.shape).reshape(-1).astype(loss_dtype)
    bias = None if bias is None else jnp.asarray(bias)
    shape = labels.shape
    vocab_size = weight.shape[1]
    checks.check_finite("fused_linear_cross_entropy", "hidden", hidden)
    checks.check_class_labels(
        "fused_linear_cross_entropy", labels, vocab_size, ignore_index=ignore_index
    )
    flat_labels = labels.reshape(-1)
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    if forward:
        ignore_index = validation.check_ignore_index(ignore_index)
        kept = (jnp.ones(flat_labels.shape, jnp.bool_) if ignore_index is None
                else flat_labels != ignore_index)
        coefficients = _token_coefficients(kept, reduction, flat_weights, loss_dtype)
        return _scalar_loss(flat_hidden, weight, bias, flat_labels, coefficients, tiles,
                            logit_soft_cap, ignore_index, label_smoothing, z_loss,
                            gradient_filter)
    stats = _logit_stats(
        flat_hidden, weight, bias, flat_labels, tiles,
        logit_soft_cap, bool(label_smoothing), None, gradient_filter,
    )
    loss, kept = _per_token_loss(
        stats, flat_labels, vocab_size, ignore_index, label_smoothing, z_loss
    )
    loss = _reduce(loss, kept, reduction, shape, flat_weights)
    if return_logsumexp:
        return loss, stats.logsumexp.reshape(shape)
    return loss

