"""Negative cosine similarity and Circle loss against float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import (
    check_bad_input,
    check_half_precision,
    check_values_and_grads,
    check_vmap,
)

from jaxloss import circle_loss, negative_cosine_similarity


def _cosine(p, t):
    norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-7)
    return -np.sum(norm(p) * norm(t), -1)


def _circle(embeddings, labels, gamma=80.0, margin=0.4):
    """Loop over queries, straight from the paper's formula (float64)."""
    distances = np.maximum(1 - embeddings @ embeddings.T, 0)
    losses = []
    for i in range(len(labels)):
        positive = [j for j in range(len(labels)) if labels[j] == labels[i] and j != i]
        negative = [j for j in range(len(labels)) if labels[j] != labels[i]]
        if not positive or not negative:
            losses.append(0.0)
            continue
        d = distances[i]
        s_pos = [-gamma * max(margin + d[j], 0) * (margin - d[j]) for j in positive]
        s_neg = [gamma * max(1 + margin - d[j], 0) * (1 - margin - d[j]) for j in negative]
        total = np.logaddexp.reduce(s_pos) + np.logaddexp.reduce(s_neg)
        losses.append(np.logaddexp(0.0, total))
    return np.array(losses)


def _embeddings(seed=0, n=6):
    x = np.random.default_rng(seed).normal(size=(n, 4))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_cosine():
    rng = np.random.default_rng(0)
    predictions, targets = rng.normal(size=(2, 4, 5)).astype(np.float32)
    check_values_and_grads(negative_cosine_similarity, _cosine, predictions, targets)
    check_vmap(negative_cosine_similarity, predictions, targets)
    check_half_precision(negative_cosine_similarity, predictions, targets)
    check_bad_input(negative_cosine_similarity, predictions, targets)
    mask = np.arange(5) < 3
    np.testing.assert_allclose(
        negative_cosine_similarity(predictions, targets, where=mask),
        _cosine(predictions[:, :3], targets[:, :3]),
        rtol=1e-5,
    )
    zero = jax.grad(lambda p: jnp.sum(negative_cosine_similarity(p, targets)))(jnp.zeros((4, 5)))
    assert np.all(np.isfinite(zero))


@pytest.mark.parametrize(("gamma", "margin"), [(80.0, 0.4), (8.0, 0.25)])
def test_circle_formula_and_grad(gamma, margin):
    embeddings = _embeddings()
    labels = np.array([0, 0, 1, 1, 2, 2])
    lonely = np.array([0, 0, 1, 1, 2, 3])  # queries 4 and 5 have no positive pair: loss 0
    loss_and_grad = jax.jit(
        jax.value_and_grad(lambda e, y: jnp.sum(circle_loss(e, y, gamma=gamma, margin=margin)))
    )
    for lab in (labels, lonely):
        expected = _circle(embeddings.astype(np.float64), lab, gamma, margin)
        loss = circle_loss(embeddings, lab, gamma=gamma, margin=margin)
        np.testing.assert_allclose(loss, expected, rtol=2e-5, atol=1e-5)
        total, grad = loss_and_grad(embeddings, lab)
        np.testing.assert_allclose(total, expected.sum(), rtol=2e-5)
        assert np.all(np.isfinite(grad))
    batched = jax.vmap(lambda e: circle_loss(e, labels, gamma=gamma, margin=margin))(
        jnp.stack([embeddings, embeddings[::-1]])
    )
    np.testing.assert_allclose(
        batched[1], circle_loss(embeddings[::-1], labels, gamma=gamma, margin=margin), rtol=1e-6
    )


def test_circle_references_where_and_bad_input():
    embeddings = _embeddings()
    labels = np.array([0, 0, 1, 1, 2, 2])
    same = circle_loss(embeddings, labels, ref_embeddings=embeddings, ref_labels=labels)
    np.testing.assert_allclose(same, circle_loss(embeddings, labels), rtol=1e-6)
    masked = circle_loss(embeddings, labels, where=labels != 1)
    np.testing.assert_allclose(masked, np.where(labels != 1, circle_loss(embeddings, labels), 0.0))
    assert circle_loss(embeddings.astype(jnp.bfloat16), labels).dtype == jnp.float32
    with pytest.raises(ValueError, match="labels"):
        circle_loss(embeddings, labels[:3])
    with pytest.raises(ValueError, match="labels"):
        circle_loss(embeddings, labels.astype(np.float32))
    with pytest.raises(ValueError, match="ref_embeddings"):
        circle_loss(embeddings, labels, ref_embeddings=embeddings[:, :2])
    with pytest.raises(ValueError, match="embeddings"):
        circle_loss(embeddings[0], labels)


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e38, 1e-25])
def test_cosine_of_huge_and_tiny_vectors_does_not_overflow(scale):
    # Hypothesis find: ||p||**2 overflowed to inf beyond ~1e19, so parallel vectors gave
    # loss 0 (a plausible, wrong value) instead of -1. Tiny vectors (norm below epsilon)
    # are clipped as documented and give about 0.
    direction = np.array([[1.0, 2.0, -2.0]], np.float32)
    value, grad = jax.jit(jax.value_and_grad(
        lambda p: jnp.sum(negative_cosine_similarity(p, direction))
    ))(direction * np.float32(scale))
    want = -1.0 if scale > 1 else -3 * scale / 1e-7
    np.testing.assert_allclose(value, want, rtol=1e-6)
    assert np.all(np.isfinite(grad))
