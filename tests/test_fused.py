"""Tests for jaxloss.fused_linear_cross_entropy against float64 NumPy references."""

import functools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import fused_linear_cross_entropy, sparse_softmax_cross_entropy
from jaxloss._src import fused, fused_streams


@pytest.fixture(autouse=True)
def float32_products():
    """The float64 comparisons need float32-exact matrix products. JAX's default precision
    gives them on a CPU (this is a no-op there); on a GPU it multiplies float32 in reduced
    precision, which on an NVIDIA H200 put the loss 2.6e-4 (relative) from float64."""
    with jax.default_matmul_precision("highest"):
        yield

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGNORE = -100


def reference(h, w, b, y, cotangent, *, ignore_index=None, label_smoothing=0.0, z_loss=0.0,
              logit_soft_cap=None, reduction="mean"):
    """float64 loss, per-token lse and gradients (hidden, weight, bias) from the formula.

    The gradient is that of ``loss`` for "mean"/"sum" and of ``sum(loss * cotangent)``
    for "none".
    """
    h, w = np.asarray(h, np.float64), np.asarray(w, np.float64)
    y = np.asarray(y)
    num_classes = w.shape[1]
    r = h @ w + (0.0 if b is None else np.asarray(b, np.float64))
    z = r if logit_soft_cap is None else logit_soft_cap * np.tanh(r / logit_soft_cap)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    ignored = np.zeros(y.shape, bool) if ignore_index is None else y == ignore_index
    onehot = np.eye(num_classes)[np.where(ignored, 0, y)]
    targets = (1 - label_smoothing) * onehot + label_smoothing / num_classes
    per_token = np.where(ignored, 0.0, lse - (targets * z).sum(axis=1) + z_loss * lse**2)
    kept = (~ignored).sum()
    if reduction == "none":
        loss, g = per_token, np.asarray(cotangent, np.float64)
    elif reduction == "sum":
        loss, g = per_token.sum(), np.ones_like(lse)
    else:
        loss, g = per_token.sum() / max(kept, 1), np.full_like(lse, 1.0 / max(kept, 1))
    g = np.where(ignored, 0.0, g)
    probs = np.exp(z - lse[:, None])
    d_z = g[:, None] * (probs * (1 + 2 * z_loss * lse)[:, None] - targets)
    d_r = d_z if logit_soft_cap is None else d_z * (1 - (z / logit_soft_cap) ** 2)
    return loss, lse, (d_r @ w.T, h.T @ d_r, d_r.sum(axis=0))


def make_inputs(rng, num_tokens=37, hidden_dim=16, vocab_size=301, dtype=jnp.float32,
                ignored=(3, 10)):
    h = rng.normal(size=(num_tokens, hidden_dim))
    w = rng.normal(size=(hidden_dim, vocab_size)) / np.sqrt(hidden_dim) * 3
    b = rng.normal(size=(vocab_size,))
    y = rng.integers(0, vocab_size, size=num_tokens)
    y[list(ignored)] = IGNORE
    cotangent = rng.normal(size=(num_tokens,))
    return (jnp.asarray(h, dtype), jnp.asarray(w, dtype), jnp.asarray(b, dtype),
            jnp.asarray(y, jnp.int32), jnp.asarray(cotangent, jnp.float32))


def assert_close(actual, expected, rtol=1e-5):
    """Relative to the largest reference entry, so that near-zero entries do not dominate."""
    expected = np.asarray(expected, np.float64)
    scale = max(np.max(np.abs(expected)), 1e-30)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                               atol=rtol * scale)


def loss_and_grads(h, w, b, y, cotangent, **options):
    def objective(h, w, b):
        loss = fused_linear_cross_entropy(h, w, y, bias=b, **options)
        if options.get("reduction") == "none":
            return jnp.sum(loss * cotangent), loss
        return loss, loss

    (_, loss), grads = jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True))(
        h, w, b
    )
    return loss, grads


OPTIONS = {
    "plain": {},
    "ignore_index": {"ignore_index": IGNORE},
    "z_loss": {"z_loss": 1e-2, "ignore_index": IGNORE},
    "soft_cap": {"logit_soft_cap": 2.0, "ignore_index": IGNORE},
    "label_smoothing": {"label_smoothing": 0.2, "ignore_index": IGNORE},
    "everything": {"ignore_index": IGNORE, "label_smoothing": 0.1, "z_loss": 1e-3,
                   "logit_soft_cap": 3.0},
}


CASES = [(name, reduction, 64) for name in OPTIONS for reduction in ("mean", "sum", "none")]
# 301 % 64 != 0 above: a remainder chunk. Here one chunk, and the default.
CASES += [("everything", reduction, chunk) for reduction in ("mean", "none") for chunk in (301, None)]


def check_against_reference(rng, options, streaming):
    """Loss and gradients with ``options`` and the ``streaming`` options (which the float64
    reference does not take) against the reference."""
    h, w, b, y, cotangent = make_inputs(rng, ignored=(3, 10) if "ignore_index" in options else ())
    loss, grads = loss_and_grads(h, w, b, y, cotangent, **options, **streaming)
    expected_loss, _, expected_grads = reference(h, w, b, y, cotangent, **options)
    assert_close(loss, expected_loss)
    for actual, expected in zip(grads, expected_grads):
        assert_close(actual, expected)


@pytest.mark.parametrize("name,reduction,chunk_size", CASES)
def test_matches_float64_reference(rng, name, reduction, chunk_size):
    check_against_reference(rng, dict(OPTIONS[name], reduction=reduction),
                            dict(chunk_size=chunk_size))


def unfused_jaxloss(h, w, b, y, *, ignore_index=None, label_smoothing=0.0, z_loss=0.0,
                    logit_soft_cap=None):
    """Explicit [N, V] logits, then jaxloss's sparse softmax cross-entropy (mean reduction)."""
    logits = h @ w + b[None, :]
    if logit_soft_cap is not None:
        logits = logit_soft_cap * jnp.tanh(logits / logit_soft_cap)
    per_token = sparse_softmax_cross_entropy(logits, y, label_smoothing=label_smoothing,
                                             ignore_index=ignore_index)
    kept = jnp.ones(y.shape, jnp.bool_) if ignore_index is None else y != ignore_index
    per_token = per_token + jnp.where(kept, z_loss * jax.nn.logsumexp(logits, axis=-1) ** 2, 0.0)
    return jnp.sum(per_token) / jnp.sum(kept.astype(per_token.dtype))


@pytest.mark.parametrize("name", list(OPTIONS))
def test_matches_unfused_jaxloss_sparse_cross_entropy(rng, name):
    h, w, b, y, _ = make_inputs(rng, ignored=(3, 10) if name != "plain" else ())
    options = OPTIONS[name]
    grad = jax.jit(jax.value_and_grad(
        lambda h, w, b: fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=64, **options),
        argnums=(0, 1, 2)))
    expected = jax.jit(jax.value_and_grad(
        lambda h, w, b: unfused_jaxloss(h, w, b, y, **options), argnums=(0, 1, 2)))
    (loss, grads), (expected_loss, expected_grads) = grad(h, w, b), expected(h, w, b)
    assert_close(loss, expected_loss)
    for actual, wanted in zip(grads, expected_grads):
        assert_close(actual, wanted)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_chunk_size_extremes_and_no_bias(rng, chunk_size):
    h, w, _, y, cotangent = make_inputs(rng, num_tokens=5, vocab_size=23, ignored=())
    grad_fn = jax.jit(jax.value_and_grad(
        lambda h, w: fused_linear_cross_entropy(h, w, y, chunk_size=chunk_size), argnums=(0, 1)))
    loss, (d_h, d_w) = grad_fn(h, w)
    expected_loss, _, (e_h, e_w, _) = reference(h, w, None, y, cotangent)
    assert_close(loss, expected_loss)
    assert_close(d_h, e_h)
    assert_close(d_w, e_w)


def test_logsumexp_output_and_its_gradient(rng):
    h, w, b, y, cotangent = make_inputs(rng, ignored=())

    def objective(h, w):
        loss, lse = fused_linear_cross_entropy(h, w, y, bias=b, chunk_size=50,
                                               return_logsumexp=True)
        return loss + jnp.sum(lse * cotangent), lse

    (_, lse), (d_h, d_w) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        h, w)
    _, expected_lse, (e_h, e_w, _) = reference(h, w, b, y, cotangent)
    assert_close(lse, expected_lse)
    # d lse / d logits = softmax: add it to the loss gradient by hand.
    r = np.asarray(h, np.float64) @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
    d_r = np.asarray(cotangent, np.float64)[:, None] * np.exp(r - expected_lse[:, None])
    assert_close(d_h, e_h + d_r @ np.asarray(w, np.float64).T)
    assert_close(d_w, e_w + np.asarray(h, np.float64).T @ d_r)


def test_leading_dimensions_and_reduction_none_shape(rng):
    h, w, b, y, _ = make_inputs(rng, num_tokens=12, ignored=())
    loss = jax.jit(lambda h, y: fused_linear_cross_entropy(h, w, y, reduction="none",
                                                           chunk_size=64))(
        h.reshape(3, 4, -1), y.reshape(3, 4))
    flat = jax.jit(
        lambda h, y: fused_linear_cross_entropy(h, w, y, reduction="none", chunk_size=64))(h, y)
    assert loss.shape == (3, 4)
    assert_close(loss.reshape(-1), flat)


def test_vmap_over_outer_batch(rng):
    h, w, b, y, _ = make_inputs(rng, num_tokens=24, ignored=(1, 5, 7))
    hb, yb = h.reshape(3, 8, -1), y.reshape(3, 8)

    def loss_fn(h, w, y):
        return fused_linear_cross_entropy(h, w, y, bias=b, ignore_index=IGNORE, chunk_size=64,
                                          label_smoothing=0.1)

    batched = jax.jit(jax.vmap(jax.value_and_grad(loss_fn, argnums=(0, 1)), (0, None, 0)))
    losses, (d_h, d_w) = batched(hb, w, yb)
    single = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
    for i in range(3):
        loss_i, (d_h_i, d_w_i) = single(hb[i], w, yb[i])
        assert_close(losses[i], loss_i)
        assert_close(d_h[i], d_h_i)
        assert_close(d_w[i], d_w_i)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_inputs_accumulate_in_float32(rng, dtype):
    h, w, b, y, cotangent = make_inputs(rng, dtype=dtype)
    loss, grads = loss_and_grads(h, w, b, y, cotangent, ignore_index=IGNORE, chunk_size=64)
    assert loss.dtype == jnp.float32
    assert [g.dtype for g in grads] == [dtype] * 3
    # The reference sees the same rounded inputs: only the accumulation differs.
    expected_loss, _, expected_grads = reference(h, w, b, y, cotangent, ignore_index=IGNORE)
    assert_close(loss, expected_loss, rtol=1e-5)
    for actual, expected in zip(grads, expected_grads):
        assert_close(actual, expected, rtol=2e-2)


def test_half_weight_gradient_summed_in_float32_over_token_blocks(monkeypatch):
    # One token per block: 64 additions into d weight. Summed in bfloat16 they had drifted
    # to 1.2% of the largest entry; in float32, cast once, the error is that of the
    # bfloat16 products (0.4% here).
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(64, 16)), jnp.bfloat16)
    w = jnp.asarray(rng.normal(size=(16, 301)) * 0.3, jnp.bfloat16)
    y = jnp.asarray(rng.integers(0, 301, 64))
    monkeypatch.setattr(fused, "default_tiles", lambda *shape: (1, 64))
    d_w = jax.jit(jax.grad(
        lambda w: fused_linear_cross_entropy(h, w, y, reduction="sum")))(w)
    assert d_w.dtype == jnp.bfloat16
    expected = jax.grad(lambda w: jnp.sum(sparse_softmax_cross_entropy(
        h.astype(jnp.float32) @ w.astype(jnp.float32), y)))(w.astype(jnp.float32))
    error = np.abs(np.asarray(d_w, np.float32) - np.asarray(expected))
    assert error.max() < 2**-7 * np.abs(np.asarray(expected)).max()


def test_invalid_label_gives_nan_loss_and_gradient(rng):
    h, w, b, y, _ = make_inputs(rng, ignored=())
    y = y.at[4].set(301)
    per_token = jax.jit(
        lambda h: fused_linear_cross_entropy(h, w, y, reduction="none", chunk_size=64))(h)
    assert np.isnan(per_token[4]) and np.all(np.isfinite(np.delete(np.asarray(per_token), 4)))
    d_h = jax.jit(jax.grad(lambda h: fused_linear_cross_entropy(h, w, y, chunk_size=64)))(h)
    assert np.all(np.isnan(d_h[4]))


def test_all_ignored_mean_is_zero(rng):
    h, w, _, y, _ = make_inputs(rng, num_tokens=4, ignored=(0, 1, 2, 3))
    loss, d_h = jax.jit(jax.value_and_grad(
        lambda h: fused_linear_cross_entropy(h, w, y, ignore_index=IGNORE)))(h)
    assert float(loss) == 0.0 and not np.any(d_h)


def test_large_logits_stay_finite(rng):
    h, w, _, y, _ = make_inputs(rng, num_tokens=6, vocab_size=50, ignored=())
    loss, d_w = jax.jit(jax.value_and_grad(
        lambda w: fused_linear_cross_entropy(h * 1e3, w, y, chunk_size=16)))(w)
    assert np.isfinite(loss) and np.all(np.isfinite(d_w))


def test_both_schedules_match_reference_for_mean_and_sum(rng):
    """"forward" (gradients in the forward stream over token blocks) and "recompute"
    (gradients in the backward, logits recomputed per vocabulary chunk), in one jit."""
    h, w, b, y, cotangent = make_inputs(rng)  # 37 tokens, blocks of 7: a remainder block
    clean = y.at[jnp.array([3, 10])].set(0)
    # Every option with the default ("recompute") schedule: test_matches_float64_reference.
    cases = [(name, reduction, schedule) for name, reduction in
             [("plain", "sum"), ("everything", "mean"), ("everything", "sum")]
             for schedule in ("forward", "recompute")]

    def labels_for(options):
        return y if "ignore_index" in options else clean

    @jax.jit
    def all_cases(h, w, b):
        return [jax.value_and_grad(
            lambda h, w, b, name=name, reduction=reduction, schedule=schedule:
                fused_linear_cross_entropy(h, w, labels_for(OPTIONS[name]), bias=b,
                                           chunk_size=64, reduction=reduction,
                                           schedule=schedule, **OPTIONS[name]),
            argnums=(0, 1, 2))(h, w, b) for name, reduction, schedule in cases]

    for (name, reduction, _), (loss, grads) in zip(cases, all_cases(h, w, b)):
        options = OPTIONS[name]
        expected_loss, _, expected_grads = reference(
            h, w, b, labels_for(options), cotangent, reduction=reduction, **options)
        assert_close(loss, expected_loss)
        for actual, expected in zip(grads, expected_grads):
            assert_close(actual, expected)


def dot_products(fn, *args):
    """The number of matrix products in the lowered program of ``jax.jit(fn)``."""
    return jax.jit(fn).lower(*args).as_text().count("dot_general")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_forward_schedule_uses_three_matrix_products(reduction):
    """Explicit logits need three products for loss and gradients (logits, d hidden,
    d weight); "forward" needs three too, "recompute" four; an undifferentiated call one."""
    args = (jax.ShapeDtypeStruct((64, 16), jnp.float32),
            jax.ShapeDtypeStruct((16, 256), jnp.float32),
            jax.ShapeDtypeStruct((256,), jnp.float32))
    y = jnp.arange(64, dtype=jnp.int32)  # 4 token blocks, 4 vocabulary chunks: no remainder

    def loss(schedule):
        return lambda h, w, b: fused_linear_cross_entropy(
            h, w, y, bias=b, chunk_size=64, reduction=reduction, schedule=schedule,
            **OPTIONS["everything"])

    def explicit(h, w, b):
        return jnp.sum(jax.nn.logsumexp(h @ w + b[None, :], axis=-1))

    grad = functools.partial(jax.value_and_grad, argnums=(0, 1, 2))
    assert dot_products(grad(explicit), *args) == 3
    assert dot_products(grad(loss("forward")), *args) == 3
    assert dot_products(grad(loss(None)), *args) == 3  # the default for a scalar: "forward"
    assert dot_products(grad(loss("recompute")), *args) == 4
    # Not differentiated: the loss alone, no gradient computed.
    assert dot_products(loss(None), *args) == 1
    assert dot_products(loss("forward"), *args) == 1


def test_token_block_size():
    assert fused_streams._token_block_size(8192, 65536, 1024) == 128
    assert fused_streams._token_block_size(37, 301, 64) == 7
    assert fused_streams._token_block_size(5, 23, 1) == 1
    assert fused_streams._token_block_size(5, 23, 1000) == 5


BAD_INPUTS = [
    (dict(hidden=np.zeros((4, 8)), weight=np.zeros((7, 10))), "hidden_dim"),
    (dict(weight=np.zeros((8,))), r"weight.shape=\(8,\)"),
    (dict(labels=np.zeros((5,), np.int32)), r"labels.shape=\(5,\)"),
    (dict(labels=np.zeros((4,), np.float32)), "labels"),
    (dict(hidden=np.zeros((4, 8), np.int32)), "hidden"),
    (dict(bias=np.zeros((9,), np.float32)), r"bias.shape=\(9,\)"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(chunk_size=2.5), "chunk_size"),
    (dict(reduction="avg"), "reduction"),
    (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(z_loss=-1.0), "z_loss"),
    (dict(logit_soft_cap=0.0), "logit_soft_cap"),
    (dict(ignore_index=1.5), "ignore_index"),
    (dict(schedule="fast"), "schedule"),
    (dict(schedule="forward", reduction="none"), "schedule"),
    (dict(schedule="forward", return_logsumexp=True), "schedule"),
]


@pytest.mark.parametrize("override,match", BAD_INPUTS)
def test_bad_input_raises(override, match):
    args = dict(hidden=np.zeros((4, 8), np.float32), weight=np.zeros((8, 10), np.float32),
                labels=np.zeros((4,), np.int32))
    args.update(override)
    hidden, weight, labels = (jnp.asarray(args.pop(k)) for k in ("hidden", "weight", "labels"))
    with pytest.raises(ValueError, match=match):
        fused_linear_cross_entropy(hidden, weight, labels, **args)


def test_traced_hyperparameter_raises():
    h, w, y = jnp.zeros((4, 8)), jnp.zeros((8, 10)), jnp.zeros((4,), jnp.int32)
    with pytest.raises(ValueError, match="z_loss"):
        jax.jit(lambda z: fused_linear_cross_entropy(h, w, y, z_loss=z))(0.1)


def test_default_chunk_size():
    assert fused.default_chunk_size(8192, 65536) == 1024  # 32 MiB of logits
    assert fused.default_chunk_size(2048, 32768) == 1280  # 1/24 of the logits
    assert fused.default_chunk_size(2048, 20000) == 768
    assert fused.default_chunk_size(2048, 32768, min_chunks=1) == 4096
    assert fused.default_chunk_size(10, 300) == 128  # at least 128 columns
    assert fused.default_chunk_size(10, 100) == 100
    assert fused.default_chunk_size(10**7, 65536) == 128


def test_default_tiles():
    # All tokens with the default chunk where that tile's temporaries fit.
    assert fused.default_tiles(2048, 512, 32768) == (2048, 1280)
    assert fused.default_tiles(8192, 4096, 128256) == (8192, 1024)
    # A wide hidden layer: the [N, H] product of d hidden alone was 12.8% of the logits.
    assert fused.default_tiles(4096, 4096, 32000) == (512, 768)
    # Many tokens, a small vocabulary: 128 columns of all tokens were 12.5% of the logits.
    assert fused.default_tiles(262144, 64, 1024) == (16384, 1024)
    assert fused.default_tiles(10, 4, 100) == (10, 100)
    # The "forward" schedule: the most tokens whose block fits the budget (at most 32 MiB of
    # logits, at least 64 tokens), the weight gradient added C columns at a time for the
    # default chunk C.
    for shape, block, piece in (((2048, 512, 32768), 155, 1280), ((4096, 4096, 32000), 174, 1280),
                                ((262144, 64, 1024), 8192, 128), ((10, 4, 100), 10, 100)):
        tiles = fused.forward_tiles(*shape)
        assert tiles[1] == piece
        assert fused_streams._token_block_size(shape[0], shape[2], tiles) == block


# Tiles smaller than the inputs in both directions, each with a remainder (37 = 4 * 8 + 5
# tokens, 301 = 4 * 64 + 45 columns), in place of the default rules.
SMALL_TILES = (8, 64)
TILED_CASES = ([(name, reduction, None) for name in OPTIONS for reduction in ("mean", "none")]
               + [(name, "mean", "recompute") for name in ("plain", "everything")])


@pytest.mark.parametrize("name,reduction,schedule", TILED_CASES)
def test_token_blocks_match_float64_reference(rng, monkeypatch, name, reduction, schedule):
    monkeypatch.setattr(fused, "default_tiles", lambda *shape: SMALL_TILES)
    # The "forward" schedule's blocks of 8 * 64 // 301 = 1 token and chunks of 64 columns.
    monkeypatch.setattr(fused, "forward_tiles", lambda *shape: SMALL_TILES)
    check_against_reference(rng, dict(OPTIONS[name], reduction=reduction),
                            dict(schedule=schedule))


def test_token_blocks_weights_and_logsumexp(rng, monkeypatch):
    h, w, b, y, cotangent = make_inputs(rng)
    token_weights = jnp.asarray(rng.uniform(0.0, 2.0, size=y.shape), jnp.float32)

    def step(h, w, b, t):
        loss, lse = fused_linear_cross_entropy(h, w, y, bias=b, weights=t, ignore_index=IGNORE,
                                               z_loss=1e-3, return_logsumexp=True)
        return loss + jnp.sum(lse * cotangent), (loss, lse)

    def run():
        return jax.jit(jax.value_and_grad(step, argnums=(0, 1, 2, 3), has_aux=True))(
            h, w, b, token_weights)

    (_, expected), expected_grads = run()  # all 37 tokens in one tile
    monkeypatch.setattr(fused, "default_tiles", lambda *shape: SMALL_TILES)
    (_, actual), grads = run()
    for a, e in zip(actual, expected):
        assert_close(a, e)
    for a, e in zip(grads, expected_grads):
        assert_close(a, e)


def unfused_temp_ratio(schedule, shape):
    def fused_loss(h, w, y):
        return fused_linear_cross_entropy(h, w, y, schedule=schedule)

    return compiled_temp_bytes(fused_loss, *shape) / compiled_temp_bytes(unfused_loss, *shape)


# Compile-only, small shapes where the two effects show: a hidden dimension a quarter of the
# vocabulary (the [N, H] product of d hidden was 16% of explicit logits' temporaries) and
# 128 times as many tokens as classes (128 columns of all tokens, the smallest chunk, made
# the temporaries as large as explicit logits').
@pytest.mark.parametrize("schedule", ["recompute", "forward"])
@pytest.mark.parametrize("shape", [(2048, 512, 2048), (32768, 16, 256)])
def test_default_tiles_keep_temporaries_under_a_tenth(schedule, shape):
    assert unfused_temp_ratio(schedule, shape) <= 0.1


def test_default_chunk_keeps_temporaries_under_a_tenth_of_explicit_logits():
    """Compile-only, at a shape whose 32 MiB chunk alone was 31% of explicit logits'."""
    shape = (2048, 256, 20000)

    def explicit(h, w, y):
        return jnp.mean(sparse_softmax_cross_entropy(h @ w, y))

    fused_bytes = compiled_temp_bytes(fused_linear_cross_entropy, *shape)
    explicit_bytes = compiled_temp_bytes(explicit, *shape)
    assert explicit_bytes >= 2048 * 20000 * 4
    assert fused_bytes <= 0.1 * explicit_bytes


SHARDED_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    from jaxloss import fused_linear_cross_entropy, fused_linear_cross_entropy_sharded
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    N, H, V = 37, 16, 8 * 40  # 40 columns per device: chunks of 16, 16 and a remainder of 8
    h = jnp.asarray(rng.normal(size=(N, H)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(H, V)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(V,)), jnp.float32)
    y = jnp.asarray(rng.integers(0, V, size=N), jnp.int32).at[3].set(-100)
    cot = jnp.asarray(rng.normal(size=(N,)), jnp.float32)
    explicit = jax.make_mesh((8,), ("vocab",))
    auto = jax.make_mesh((2, 4), ("data", "vocab"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
    cases = [
        (explicit, dict(reduction="mean", ignore_index=-100, label_smoothing=0.1, z_loss=1e-3,
                        logit_soft_cap=5.0)),
        (explicit, dict(reduction="none", ignore_index=-100)),
        (auto, dict(reduction="sum", ignore_index=-100, logit_soft_cap=3.0)),
    ]

    def close(a, e):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * np.max(np.abs(e)))

    for mesh, options in cases:
        def objective(loss_fn, h, w, b, **extra):
            loss, lse = loss_fn(h, w, y, bias=b, chunk_size=16, return_logsumexp=True,
                                **options, **extra)
            return jnp.sum(loss * cot) if loss.ndim else loss, (loss, lse)
        grad = lambda fn, **extra: jax.jit(jax.value_and_grad(
            lambda h, w, b: objective(fn, h, w, b, **extra), argnums=(0, 1, 2), has_aux=True))
        (_, (loss, lse)), grads = grad(fused_linear_cross_entropy_sharded, mesh=mesh,
                                       axis_name="vocab")(h, w, b)
        (_, (e_loss, e_lse)), e_grads = grad(fused_linear_cross_entropy)(h, w, b)
        close(loss, e_loss)
        close(lse, e_lse)
        for g, e in zip(grads, e_grads):
            close(g, e)
    # No bias; the weight gradient stays split along the vocabulary.
    d_w = jax.jit(jax.grad(lambda w: fused_linear_cross_entropy_sharded(
        h, w, jnp.abs(y), mesh=explicit, axis_name="vocab")))(w)
    close(d_w, jax.grad(lambda w: fused_linear_cross_entropy(h, w, jnp.abs(y)))(w))
    assert d_w.sharding.spec == jax.sharding.PartitionSpec(None, "vocab"), d_w.sharding
    for bad, match in [(dict(axis_name="model"), "axis_name"), (dict(weight=w[:, :100]), "divisible")]:
        kwargs = dict(mesh=explicit, axis_name="vocab", weight=w)
        kwargs.update(bad)
        try:
            fused_linear_cross_entropy_sharded(h, labels=jnp.abs(y), **kwargs)
        except ValueError as error:
            assert match in str(error), error
        else:
            raise AssertionError(f"no ValueError for {bad}")
    print("sharded ok")
""")


def test_vocabulary_parallel_on_eight_cpu_devices():
    """shard_map over 8 host devices equals the single-device function (values, grads)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "sharded ok" in result.stdout


def unfused_loss(h, w, y):
    logits = h @ w
    lse = jax.nn.logsumexp(logits, axis=-1)
    return jnp.mean(lse - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


def compiled_temp_bytes(loss_fn, num_tokens, hidden_dim, vocab_size):
    args = (jax.ShapeDtypeStruct((num_tokens, hidden_dim), jnp.float32),
            jax.ShapeDtypeStruct((hidden_dim, vocab_size), jnp.float32),
            jax.ShapeDtypeStruct((num_tokens,), jnp.int32))
    compiled = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1))).lower(*args).compile()
    return compiled.memory_analysis().temp_size_in_bytes


# The shape with the default chunk, and a small one with a small chunk.
@pytest.mark.parametrize("schedule", ["forward", "recompute"])
@pytest.mark.parametrize("shape,chunk_size", [((8192, 1024, 65536), None),
                                              ((1024, 256, 8192), 512)])
def test_temporary_memory_is_under_a_tenth_of_unfused(shape, chunk_size, schedule):
    """Compile-only: forward+backward temporaries, fused against explicit logits. The
    "forward" schedule also holds the float32 weight gradient it accumulates."""

    def fused_loss(h, w, y):
        return fused_linear_cross_entropy(h, w, y, chunk_size=chunk_size, schedule=schedule)

    fused_bytes = compiled_temp_bytes(fused_loss, *shape)
    unfused_bytes = compiled_temp_bytes(unfused_loss, *shape)
    num_tokens, hidden_dim, vocab_size = shape
    accumulator = hidden_dim * vocab_size * 4 if schedule == "forward" else 0
    assert unfused_bytes >= num_tokens * vocab_size * 4  # the logits are really there
    assert fused_bytes <= 0.1 * unfused_bytes + accumulator


def unfused_weighted(h, w, b, y, token_weights, *, reduction, ignore_index=IGNORE,
                     label_smoothing=0.0, z_loss=0.0, logit_soft_cap=None):
    """Explicit logits, `sparse_softmax_cross_entropy`, then the weighting: the "mean"
    divides by the weights of the tokens not ignored."""
    logits = h @ w + b[None, :]
    if logit_soft_cap is not None:
        logits = logit_soft_cap * jnp.tanh(logits / logit_soft_cap)
    per_token = sparse_softmax_cross_entropy(logits, y, label_smoothing=label_smoothing,
                                             ignore_index=ignore_index)
    kept = y != ignore_index
    per_token = per_token + jnp.where(kept, z_loss * jax.nn.logsumexp(logits, axis=-1) ** 2, 0.0)
    weighted = per_token * token_weights
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return jnp.sum(weighted)
    return jnp.sum(weighted) / jnp.sum(jnp.where(kept, token_weights, 0.0))


WEIGHTED_CASES = [(reduction, schedule, name) for name in ("ignore_index", "everything")
                  for reduction, schedule in [("mean", "recompute"), ("mean", "forward"),
                                              ("sum", "recompute"), ("sum", "forward"),
                                              ("none", "recompute")]]


@pytest.mark.parametrize("reduction,schedule,name", WEIGHTED_CASES)
def test_weights_match_unfused_weighting(rng, reduction, schedule, name):
    """Values and gradients (hidden, weight, bias and the weights) under jit."""
    h, w, b, y, cotangent = make_inputs(rng)
    token_weights = jnp.asarray(rng.uniform(0.0, 2.0, size=y.shape), jnp.float32)
    options = OPTIONS[name]

    def objective(loss_fn):
        def scalar(h, w, b, t):
            loss = loss_fn(h, w, b, t)
            return (jnp.sum(loss * cotangent), loss) if reduction == "none" else (loss, loss)
        return jax.jit(jax.value_and_grad(scalar, argnums=(0, 1, 2, 3), has_aux=True))

    fused_fn = objective(lambda h, w, b, t: fused_linear_cross_entropy(
        h, w, y, bias=b, weights=t, chunk_size=64, reduction=reduction, schedule=schedule,
        **options))
    unfused_fn = objective(lambda h, w, b, t: unfused_weighted(
        h, w, b, y, t, reduction=reduction, **options))
    (_, loss), grads = fused_fn(h, w, b, token_weights)
    (_, expected_loss), expected_grads = unfused_fn(h, w, b, token_weights)
    assert_close(loss, expected_loss)
    for actual, expected in zip(grads, expected_grads):
        assert_close(actual, expected)


def test_weights_broadcast_and_ones_change_nothing(rng):
    h, w, b, y, _ = make_inputs(rng, num_tokens=12)
    h, y = h.reshape(3, 4, -1), y.reshape(3, 4)
    per_sequence = jnp.array([[0.5], [1.0], [2.0]], jnp.float32)
    loss = jax.jit(lambda h, t: fused_linear_cross_entropy(
        h, w, y, bias=b, weights=t, ignore_index=IGNORE, chunk_size=64))
    full = jnp.broadcast_to(per_sequence, y.shape)
    assert_close(loss(h, per_sequence), loss(h, full))
    unweighted = jax.jit(lambda h: fused_linear_cross_entropy(
        h, w, y, bias=b, ignore_index=IGNORE, chunk_size=64))(h)
    assert_close(loss(h, jnp.ones(y.shape, jnp.float32)), unweighted)


def test_weights_of_ignored_tokens_only_mean_is_zero(rng):
    h, w, _, y, _ = make_inputs(rng, num_tokens=4, ignored=(0, 1))
    token_weights = jnp.array([1.0, 1.0, 0.0, 0.0], jnp.float32)
    for schedule in ("recompute", "forward"):
        loss, d_h = jax.jit(jax.value_and_grad(lambda h: fused_linear_cross_entropy(
            h, w, y, weights=token_weights, ignore_index=IGNORE, schedule=schedule)))(h)
        assert float(loss) == 0.0 and not np.any(d_h)


@pytest.mark.parametrize("weights,match", [
    (np.ones((4, 1), np.float32), r"weights` of shape \(4, 1\) does not broadcast to labels"),
    (np.ones((5,), np.float32), r"\(5,\)"),
    (np.ones((4,), np.int32), "weights"),
])
def test_bad_weights_raise(weights, match):
    h, w, y = jnp.zeros((4, 8)), jnp.zeros((8, 10)), jnp.zeros((4,), jnp.int32)
    with pytest.raises(ValueError, match=match):
        fused_linear_cross_entropy(h, w, y, weights=jnp.asarray(weights))
