"""CTC kernel against a brute-force sum over all alignments (float64)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import ctc_loss, ctc_loss_with_forward_probs


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


def test_zero_infinity_zeroes_only_impossible_sequences_and_their_gradient():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 3, 4)).astype(np.float32)
    # [1, 1, 2] needs 4 frames (a blank between the repeats); [1, 2] and [3, 3] fit in 3.
    labels = np.array([[1, 1, 2], [1, 2, 0], [3, 3, 0]])
    label_paddings = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 1]], np.float32)

    def total(x, zero_infinity):
        loss = ctc_loss(x, labels, label_paddings=label_paddings, zero_infinity=zero_infinity)
        return jnp.sum(loss), loss

    (_, plain), _ = jax.value_and_grad(total, has_aux=True)(logits, False)
    (_, zeroed), grad = jax.jit(jax.value_and_grad(total, has_aux=True), static_argnums=1)(
        logits, True
    )
    assert plain[0] > 1e4 and zeroed[0] == 0.0
    np.testing.assert_allclose(zeroed[1:], plain[1:], rtol=1e-6)
    np.testing.assert_allclose(zeroed[1], _brute_force(logits[1], [1, 2]), rtol=1e-5)
    assert np.all(grad[0] == 0) and np.all(np.isfinite(grad)) and np.any(grad[1] != 0)
    short = np.array([[0, 0, 1]] * 3, np.float32)  # two real frames: [1, 2] still fits
    shortened = ctc_loss(logits, labels, logit_paddings=short, label_paddings=label_paddings,
                         zero_infinity=True)
    assert shortened[0] == 0.0 and shortened[2] == 0.0 and shortened[1] > 0


def test_forward_probs_give_the_loss_and_the_recursion_s_variables():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)
    labels = np.array([[1, 2], [2, 2]])
    loss, log_alpha_blank, log_alpha_label = jax.jit(ctc_loss_with_forward_probs)(logits, labels)
    np.testing.assert_allclose(loss, ctc_loss(logits, labels), rtol=1e-6)
    assert log_alpha_blank.shape == (4, 2, 3) and log_alpha_label.shape == (4, 2, 2)
    log_probs = jax.nn.log_softmax(logits.astype(np.float64))
    # After the first frame: the empty prefix on a blank, or the first label emitted.
    np.testing.assert_allclose(log_alpha_blank[0, :, 0], log_probs[:, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(
        log_alpha_label[0, :, 0], log_probs[np.arange(2), 0, labels[:, 0]], rtol=1e-5
    )
    # At the last frame the blank variable of the full sequence has the label's merged in:
    # it is the log-likelihood.
    np.testing.assert_allclose(log_alpha_blank[-1, :, 2], -loss, rtol=1e-5)
