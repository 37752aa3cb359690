"""The Keras probability forms (binary, categorical, sparse categorical) against float64 references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cross_entropy_references import (
    assert_close,
    loss_and_grad,
    numerical_grad,
    ref_binary_ce,
    ref_categorical_ce,
    ref_one_hot,
    ref_smooth,
)

import jaxloss


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_cross_entropy_matches_reference(rng, smoothing):
    p = rng.uniform(0.01, 0.99, size=(5, 4)).astype(np.float32)
    y = rng.uniform(size=(5, 4)).astype(np.float32)
    value, grad = loss_and_grad(jaxloss.binary_cross_entropy, p, y, label_smoothing=smoothing)
    ys = y.astype(np.float64) * (1 - smoothing) + smoothing / 2
    assert_close(value, ref_binary_ce(p, ys), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_binary_ce(q, ys), p), rtol=1e-5, atol=1e-5)


def test_binary_cross_entropy_clips_as_keras():
    p = jnp.array([0.0, 1.0, 0.5], jnp.float32)
    y = jnp.array([1.0, 0.0, 1.0], jnp.float32)
    value, grad = loss_and_grad(jaxloss.binary_cross_entropy, p, y)
    assert_close(value, ref_binary_ce([0.0, 1.0, 0.5], [1, 0, 1]), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(grad)[:2], 0.0)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_categorical_cross_entropy_matches_reference(rng, soft_labels, smoothing):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)  # unnormalised: Keras normalises
    value, grad = loss_and_grad(
        jaxloss.categorical_cross_entropy, p, soft_labels, label_smoothing=smoothing
    )
    y = ref_smooth(soft_labels.astype(np.float64), smoothing)
    assert_close(value, ref_categorical_ce(p, y), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_categorical_ce(q, y), p), rtol=1e-5, atol=1e-6)


def test_sparse_categorical_cross_entropy_matches_reference(rng, labels):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)
    value, grad = loss_and_grad(jaxloss.sparse_categorical_cross_entropy, p, labels)
    y = ref_one_hot(labels, 7)
    assert_close(value, ref_categorical_ce(p, y), rtol=2e-6)
    assert_close(grad, numerical_grad(lambda q: ref_categorical_ce(q, y), p), rtol=1e-5, atol=1e-6)


def test_sparse_categorical_equals_categorical_one_hot(rng, labels):
    p = rng.uniform(0.05, 1.0, size=(6, 7)).astype(np.float32)
    one_hot = jax.nn.one_hot(labels, 7, dtype=jnp.float32)
    sparse, g_sparse = loss_and_grad(jaxloss.sparse_categorical_cross_entropy, p, labels)
    dense, g_dense = loss_and_grad(jaxloss.categorical_cross_entropy, p, one_hot)
    assert_close(sparse, np.asarray(dense, np.float64))
    assert_close(g_sparse, np.asarray(g_dense, np.float64), rtol=1e-5)


@pytest.mark.parametrize("fn", [jaxloss.binary_cross_entropy, jaxloss.categorical_cross_entropy])
def test_probability_forms_stay_finite_at_zero_and_one(fn):
    p = jnp.array([[0.0, 1.0, 0.0], [1e-30, 1.0 - 1e-8, 0.0]], jnp.float32)
    y = jnp.array([[1.0, 0.0, 1.0], [0.5, 0.5, 0.0]], jnp.float32)
    value, grad = loss_and_grad(fn, p, y)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
