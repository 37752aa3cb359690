"""CTC kernel against a brute-force sum over all alignments (float64)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import ctc_loss


def _collapse(path, blank=0):
    merged = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
    return tuple(s for s in merged if s != blank)


def _brute_force(logits, labels):
    """-log of the total probability of the paths that collapse to ``labels``."""
    logits = logits.astype(np.float64)
    log_probs = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
    time, classes = log_probs.shape
    total = [
        np.sum(log_probs[np.arange(time), path])
        for path in itertools.product(range(classes), repeat=time)
        if _collapse(path) == tuple(labels)
    ]
    return -np.logaddexp.reduce(total)


def test_matches_brute_force_with_padding_and_grads():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 3)).astype(np.float32) * 2
    labels = np.array([[1, 2], [1, 1], [2, 0]])
    label_paddings = np.array([[0, 0], [0, 0], [0, 1]], np.float32)
    loss = jax.jit(lambda x: ctc_loss(x, labels, label_paddings=label_paddings))(logits)
    expected = [
        _brute_force(logits[0], [1, 2]),
        _brute_force(logits[1], [1, 1]),
        _brute_force(logits[2], [2]),
    ]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    logit_paddings = np.array([[0, 0, 0, 1]] * 3, np.float32)
    short = ctc_loss(logits, labels, logit_paddings=logit_paddings, label_paddings=label_paddings)
    np.testing.assert_allclose(short[0], _brute_force(logits[0, :3], [1, 2]), rtol=1e-5)
    grad = jax.grad(lambda x: jnp.sum(ctc_loss(x, labels, label_paddings=label_paddings)))(logits)
    assert np.all(np.isfinite(grad))
    batched = jax.vmap(lambda x, y: ctc_loss(x[None], y[None])[0])(logits, labels)
    np.testing.assert_allclose(batched, ctc_loss(logits, labels), rtol=1e-6)


def test_bad_labels_and_shapes():
    logits = jnp.zeros((2, 3, 4))
    loss = ctc_loss(logits, jnp.array([[1, 7], [1, 2]]))
    assert np.isnan(loss[0]) and np.isfinite(loss[1])
    assert ctc_loss(logits.astype(jnp.bfloat16), jnp.array([[1, 2], [1, 2]])).dtype == jnp.float32
    np.testing.assert_array_equal(
        ctc_loss(logits, jnp.ones((2, 1), int), where=jnp.array([False, True]))[0], 0.0
    )
    with pytest.raises(ValueError, match="logits"):
        ctc_loss(jnp.zeros((2, 3)), jnp.ones((2, 1), int))
    with pytest.raises(ValueError, match="labels"):
        ctc_loss(logits, jnp.ones((3, 1), int))
    with pytest.raises(ValueError, match="labels"):
        ctc_loss(logits, jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="blank_id"):
        ctc_loss(logits, jnp.ones((2, 1), int), blank_id=4)
    with pytest.raises(ValueError, match="label_paddings"):
        ctc_loss(logits, jnp.ones((2, 1), int), label_paddings=jnp.zeros((2, 2)))


def test_loss_above_1e5_is_not_capped_by_log_epsilon():
    # Hypothesis find: optax's stand-in for log 0 (-1e5) capped a true loss of ~1e5 + 1.6
    # (logits spanning 1e5) near 1e5. The stand-in now lies below every possible alignment.
    logits = np.zeros((1, 4, 3), np.float32)
    logits[0, :, 1] = -1e5  # label 1 is almost impossible in every frame
    labels = np.array([[1, 2]])
    value, grad = jax.jit(jax.value_and_grad(lambda x: ctc_loss(x, labels).sum()))(logits)
    np.testing.assert_allclose(value, _brute_force(logits[0], labels[0]), rtol=1e-6)
    assert np.all(np.isfinite(grad))
