"""Generalized cross-entropy against its float64 formula and its limits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import generalized_cross_entropy


def _probs(seed=0, shape=(4, 5)):
    p = np.random.default_rng(seed).uniform(0.05, 1, shape).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


@pytest.mark.parametrize("q", [0.3, 0.5, 1.0])
def test_formula_and_grad(q):
    probs = _probs()
    labels = np.array([0, 4, 2, 2])
    true = probs.astype(np.float64)[np.arange(4), labels]
    loss, grad = jax.jit(
        jax.value_and_grad(lambda p: jnp.sum(generalized_cross_entropy(p, labels, q=q)))
    )(probs)
    np.testing.assert_allclose(loss, np.sum((1 - true**q) / q), rtol=1e-5)
    expected_grad = np.zeros((4, 5))
    expected_grad[np.arange(4), labels] = -(true ** (q - 1))
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5)
    batched = jax.vmap(lambda p, y: generalized_cross_entropy(p, y, q=q))(probs[None], labels[None])
    np.testing.assert_allclose(batched[0], generalized_cross_entropy(probs, labels, q=q), rtol=1e-6)


def test_limits_axis_where_and_bad_input():
    probs = _probs(1)
    labels = np.array([1, 0, 3, 4])
    true = probs[np.arange(4), labels]
    np.testing.assert_allclose(generalized_cross_entropy(probs, labels, q=1.0), 1 - true, rtol=1e-5)
    np.testing.assert_allclose(
        generalized_cross_entropy(probs, labels, q=1e-4), -np.log(true), rtol=1e-3
    )
    np.testing.assert_allclose(
        generalized_cross_entropy(probs.T, labels, axis=0),
        generalized_cross_entropy(probs, labels),
        rtol=1e-6,
    )
    masked = generalized_cross_entropy(probs, labels, where=labels > 0)
    np.testing.assert_allclose(
        masked, np.where(labels > 0, generalized_cross_entropy(probs, labels), 0.0)
    )
    assert np.isnan(generalized_cross_entropy(probs, np.array([0, 5, -1, 1])))[1:3].all()
    assert generalized_cross_entropy(probs.astype(jnp.bfloat16), labels).dtype == jnp.float32
    with pytest.raises(ValueError, match="q"):
        generalized_cross_entropy(probs, labels, q=0.0)
    with pytest.raises(ValueError, match="labels"):
        generalized_cross_entropy(probs, labels[:2])
    with pytest.raises(ValueError, match="labels"):
        generalized_cross_entropy(probs, labels.astype(np.float32))


def test_masked_example_with_zero_probability_has_zero_gradient():
    # Hypothesis find: p ** q has an infinite derivative at p = 0, and the mask's
    # 0 * inf made the masked example's gradient NaN.
    probs = np.array([[0.0, 1.0], [0.3, 0.7]], np.float32)
    labels = np.array([0, 1])
    where = np.array([False, True])
    grad = jax.jit(jax.grad(
        lambda p: jnp.sum(generalized_cross_entropy(p, labels, where=where))
    ))(probs)
    np.testing.assert_array_equal(grad[0], [0.0, 0.0])
    np.testing.assert_allclose(grad[1], [0.0, -(0.7**-0.5)], rtol=1e-6)
