"""Logits computed inside the caller's ``jit`` by an elementwise op (``s * c``).

XLA fuses such a producer into every pass over the logits, and the compiler contracts
``s * c - m`` into a fused multiply-add whose result is not exactly 0 at the row maximum.
For logits of scale 1e9 and beyond, an unclamped ``exp(x - m)`` then overflowed: every
softmax kernel must give the float64 value, with bounded gradients, whatever the scale.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

ROWS, CLASSES = 64, 50
SCALES = (1e9, 1e30)


def _inputs():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(ROWS, CLASSES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, ROWS)
    return scores, labels


def _reference_sparse(scores, labels, scale):
    """``max(x) - x_y`` in float64: the exact loss up to ``log C``, negligible at this scale."""
    x = np.asarray(scores, np.float64) * np.float64(np.float32(scale))
    return x.max(-1) - x[np.arange(ROWS), labels]


def _sparse_kernels():
    return {
        "sparse_softmax_cross_entropy": jaxloss.sparse_softmax_cross_entropy,
        "sparse_softmax_cross_entropy(precise)": lambda s, y: jaxloss.sparse_softmax_cross_entropy(
            s, y, precise=True
        ),
        "softmax_cross_entropy": lambda s, y: jaxloss.softmax_cross_entropy(
            s, jax.nn.one_hot(y, CLASSES)
        ),
        "softmax_cross_entropy(precise)": lambda s, y: jaxloss.softmax_cross_entropy(
            s, jax.nn.one_hot(y, CLASSES), precise=True
        ),
        "sparse_softmax_focal_loss(gamma=0)": lambda s, y: jaxloss.sparse_softmax_focal_loss(
            s, y, alpha=None, gamma=0.0
        ),
        "softmax_focal_loss(gamma=0)": lambda s, y: jaxloss.softmax_focal_loss(
            s, jax.nn.one_hot(y, CLASSES), alpha=None, gamma=0.0
        ),
    }


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list(_sparse_kernels()))
def test_loss_and_gradient_stay_exact_when_the_logits_are_scaled_in_jit(name, scale):
    kernel = _sparse_kernels()[name]
    scores, labels = _inputs()

    def total(s, y):
        return jnp.sum(kernel(s * scale, y))

    loss = jax.jit(lambda s, y: kernel(s * scale, y))(scores, labels)
    grad = jax.jit(jax.grad(total))(scores, labels)
    want = _reference_sparse(scores, labels, scale)
    # Rows whose label is not the max: the loss is ~scale, known to float32's rounding.
    far = want > 0
    np.testing.assert_allclose(np.asarray(loss)[far], want[far], rtol=1e-5)
    # Rows whose label is the max: the loss is at most log C, not the overflow it was.
    assert np.all(np.asarray(loss)[~far] <= np.log(CLASSES))
    # The gradient is softmax - one-hot, times the scale: no entry beyond the scale, and -scale
    # at a far row's label. (At the max, the fused computation's rounding may leave the
    # softmax's 1 out; both are within the logits' own rounding at this scale.)
    grad = np.asarray(grad) / np.float32(scale)
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) <= 1 + 1e-5)
    np.testing.assert_allclose(grad[far, labels[far]], -1.0, rtol=1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_ranking_softmax_loss_with_scaled_scores_is_finite(scale):
    scores, _ = _inputs()
    relevance = np.abs(np.random.default_rng(1).normal(size=scores.shape)).astype(np.float32)
    loss = jax.jit(lambda s, y: jaxloss.ranking_softmax_loss(s * scale, y))(scores, relevance)
    x = np.asarray(scores, np.float64) * np.float64(np.float32(scale))
    want = np.sum(relevance * (x.max(-1, keepdims=True) - x), -1)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
