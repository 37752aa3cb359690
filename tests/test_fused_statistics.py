"""Tests for jaxloss.fused_linear_token_statistics against float64 NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import fused_linear_token_statistics
from jaxloss._src import fused


@pytest.fixture(autouse=True)
def float32_products():
    """float32-exact matrix products for the float64 comparisons (a no-op on a CPU)."""
    with jax.default_matmul_precision("highest"):
        yield


def reference(h, w, b, y, soft_cap, a, c):
    """float64 statistics, and the gradients of ``sum(a * log p_y + c * entropy)``."""
    h, w = np.asarray(h, np.float64), np.asarray(w, np.float64)
    r = h @ w + (0.0 if b is None else np.asarray(b, np.float64))
    z = r if soft_cap is None else soft_cap * np.tanh(r / soft_cap)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    p = np.exp(z - lse[:, None])
    y = np.asarray(y)
    label_log_prob = z[np.arange(len(y)), y] - lse
    expected = (p * z).sum(axis=1)
    entropy = lse - expected
    onehot = np.eye(w.shape[1])[y]
    a, c = np.asarray(a, np.float64)[:, None], np.asarray(c, np.float64)[:, None]
    # d log p_y / dz = onehot - p;  d entropy / dz = -p (z - E).
    d_z = a * (onehot - p) - c * p * (z - expected[:, None])
    if soft_cap is not None:
        d_z = d_z * (1 - (z / soft_cap) ** 2)
    grads = (d_z @ w.T, h.T @ d_z, d_z.sum(axis=0))
    return (label_log_prob, entropy, z.argmax(axis=1) == y), grads


def assert_close(actual, expected, rtol=1e-5):
    expected = np.asarray(expected, np.float64)
    scale = max(np.max(np.abs(expected)), 1e-30)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol,
                               atol=rtol * scale)


@pytest.mark.parametrize("soft_cap,chunk_size,with_bias", [
    (None, 64, True), (3.0, 64, True), (None, 301, False), (2.0, None, True), (None, 1, False)])
def test_matches_float64_reference(rng, soft_cap, chunk_size, with_bias):
    num_tokens, hidden_dim, vocab_size = 37, 16, 301  # 301 % 64: a remainder chunk
    h = jnp.asarray(rng.normal(size=(num_tokens, hidden_dim)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(hidden_dim, vocab_size)) / 2, jnp.float32)
    b = jnp.asarray(rng.normal(size=(vocab_size,)), jnp.float32) if with_bias else None
    logits = np.asarray(h, np.float64) @ np.asarray(w, np.float64)
    y = rng.integers(0, vocab_size, size=num_tokens)
    y[:10] = logits[:10].argmax(axis=1)  # some tokens right, most wrong
    y = jnp.asarray(y, jnp.int32)
    a = jnp.asarray(rng.normal(size=(num_tokens,)), jnp.float32)
    c = jnp.asarray(rng.normal(size=(num_tokens,)), jnp.float32)

    def objective(h, w, b):
        stats = fused_linear_token_statistics(h, w, y, bias=b, chunk_size=chunk_size,
                                              logit_soft_cap=soft_cap)
        return jnp.sum(a * stats.label_log_prob + c * stats.entropy), stats

    argnums = (0, 1, 2) if with_bias else (0, 1)
    (_, stats), grads = jax.jit(jax.value_and_grad(objective, argnums=argnums, has_aux=True))(
        h, w, b)
    (e_log_prob, e_entropy, e_correct), e_grads = reference(h, w, b, y, soft_cap, a, c)
    assert_close(stats.label_log_prob, e_log_prob)
    assert_close(stats.entropy, e_entropy)
    np.testing.assert_array_equal(stats.correct, e_correct)
    assert stats.correct.dtype == jnp.bool_ and 0 < int(stats.correct.sum()) < num_tokens
    for actual, expected in zip(grads, e_grads):
        assert_close(actual, expected)


@pytest.mark.parametrize("soft_cap,with_bias", [(None, True), (2.0, False)])
def test_token_blocks_match_float64_reference(rng, monkeypatch, soft_cap, with_bias):
    """Tiles of 8 tokens and 64 columns in place of the default (both with a remainder)."""
    monkeypatch.setattr(fused, "default_tiles", lambda *shape: (8, 64))
    test_matches_float64_reference(rng, soft_cap, None, with_bias)


def test_leading_dimensions_ties_and_invalid_labels():
    h = jnp.ones((2, 3, 4))
    w = jnp.zeros((4, 6)).at[:, 1:3].set(1.0)  # columns 1 and 2 tie, in different chunks
    y = jnp.array([[1, 2, 0], [1, 6, -1]], jnp.int32)
    stats = jax.jit(lambda h: fused_linear_token_statistics(h, w, y, chunk_size=2))(h)
    assert stats.entropy.shape == (2, 3)
    assert stats.correct.tolist() == [[True, False, False], [True, False, False]]
    assert np.isnan(stats.label_log_prob[1, 1]) and np.isnan(stats.label_log_prob[1, 2])
    assert np.all(np.isfinite(stats.label_log_prob[0]))


def test_temporaries_stay_a_few_chunks():
    """Compile-only: the differentiated statistics never hold the [N, V] logits."""
    args = (jax.ShapeDtypeStruct((2048, 256), jnp.float32),
            jax.ShapeDtypeStruct((256, 20000), jnp.float32),
            jax.ShapeDtypeStruct((2048,), jnp.int32))

    def total(h, w, y):
        stats = fused_linear_token_statistics(h, w, y)
        return jnp.sum(stats.label_log_prob + stats.entropy)

    compiled = jax.jit(jax.grad(total, argnums=(0, 1))).lower(*args).compile()
    assert compiled.memory_analysis().temp_size_in_bytes <= 0.1 * 2048 * 20000 * 4


@pytest.mark.parametrize("override,match", [
    (dict(labels=np.zeros((5,), np.int32)), r"labels.shape=\(5,\)"),
    (dict(hidden=np.zeros((4, 8), np.int32)), "hidden"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(logit_soft_cap=-1.0), "logit_soft_cap"),
])
def test_bad_input_raises(override, match):
    args = dict(hidden=np.zeros((4, 8), np.float32), weight=np.zeros((8, 10), np.float32),
                labels=np.zeros((4,), np.int32))
    args.update(override)
    hidden, weight, labels = (jnp.asarray(args.pop(k)) for k in ("hidden", "weight", "labels"))
    with pytest.raises(ValueError, match=match):
        fused_linear_token_statistics(hidden, weight, labels, **args)
