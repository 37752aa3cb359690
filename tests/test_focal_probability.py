"""The Keras probability-space focal losses against Keras 3 and at their boundaries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from focal_references import GAMMAS, loss_and_grad, one_hot

import jaxloss


@pytest.mark.standard_promotion
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"alpha": 0.3}, {"gamma": 0.5, "label_smoothing": 0.1}, {"gamma": 0.0, "alpha": 0.9}],
)
def test_binary_focal_cross_entropy_matches_keras_elementwise(kwargs, rng):
    keras = pytest.importorskip("keras")
    probs = rng.random((12, 1)).astype(np.float32)
    probs[:4, 0] = [0.0, 1.0, 1e-9, 1.0 - 1e-8]
    labels = (rng.random((12, 1)) < 0.5).astype(np.float32)
    labels[:4, 0] = [0.0, 1.0, 1.0, 0.0]
    keras_kwargs = {
        "gamma": kwargs.get("gamma", 2.0),
        "label_smoothing": kwargs.get("label_smoothing", 0.0),
    }
    if "alpha" in kwargs:
        keras_kwargs.update(apply_class_balancing=True, alpha=kwargs["alpha"])
    # Keras averages over the last axis: of size 1 here, so its values are elementwise.
    want = jax.jit(lambda y, p: keras.losses.binary_focal_crossentropy(y, p, **keras_kwargs))(
        labels, probs
    )
    got, grad = loss_and_grad(lambda p, y: jaxloss.binary_focal_cross_entropy(p, y, **kwargs))(
        probs, labels
    )
    np.testing.assert_allclose(got[:, 0], np.asarray(want), rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(grad))


@pytest.mark.standard_promotion
@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.5, "gamma": 0.5, "label_smoothing": 0.2}])
def test_categorical_focal_cross_entropy_matches_keras_per_row(kwargs, rng):
    keras = pytest.importorskip("keras")
    probs = (rng.random((6, 4)) * 3).astype(np.float32)  # unnormalised, as Keras allows
    probs[0] = [0.0, 1.0, 0.0, 0.0]
    labels = one_hot(rng.integers(0, 4, size=6), 4)
    labels[0] = [1.0, 0.0, 0.0, 0.0]
    want = jax.jit(lambda y, p: keras.losses.categorical_focal_crossentropy(y, p, **kwargs))(
        labels, probs
    )
    got, grad = loss_and_grad(
        lambda p, y: jaxloss.categorical_focal_cross_entropy(p, y, **kwargs)
    )(probs, labels)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6)
    assert np.all(np.isfinite(grad))


def test_probability_forms_have_finite_gradients_at_the_boundaries():
    probs = jnp.array([0.0, 1.0, 0.0, 1.0, 0.5], jnp.float32)
    labels = jnp.array([0.0, 1.0, 1.0, 0.0, 1.0], jnp.float32)
    cat = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
    binary = loss_and_grad(lambda p, y, g: jaxloss.binary_focal_cross_entropy(p, y, gamma=g))
    categorical = loss_and_grad(
        lambda p, y, g: jaxloss.categorical_focal_cross_entropy(p, y, gamma=g)
    )
    for gamma in map(np.float32, GAMMAS):  # traced gamma: one compile for the whole set
        for loss, grad in (binary(probs, labels, gamma), categorical(cat, cat, gamma)):
            assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad)), gamma


def test_probability_forms_where_and_invalid_values():
    probs = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], jnp.float32)
    labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
    keep = jnp.array([True, True, False])
    categorical = jax.jit(jaxloss.categorical_focal_cross_entropy)
    binary = jax.jit(jaxloss.binary_focal_cross_entropy)
    sliced = categorical(probs[:, :2], labels[:, :2])
    np.testing.assert_allclose(categorical(probs, labels, where=keep), sliced, rtol=1e-6)
    np.testing.assert_array_equal(binary(probs, labels, where=keep)[:, 2], 0.0)
    assert np.all(np.isnan(binary(jnp.array([1.2, 0.5]), jnp.array([1.0, 2.0]))))


@pytest.mark.parametrize("p", [1e-7, 1.0 - 1.1920929e-7])
def test_binary_focal_gradient_at_the_clip_bounds_equals_cross_entropy(p):
    # Hypothesis find: jnp.clip's derivative is 1/2 at its ends, so at p = epsilon (or
    # 1 - epsilon) gamma = 0 gave half the cross-entropy's gradient.
    probs = jnp.full((2,), p, jnp.float32)
    labels = jnp.array([0.0, 1.0])
    focal = jax.grad(lambda q: jnp.sum(jaxloss.binary_focal_cross_entropy(q, labels, gamma=0.0)))
    ce = jax.grad(lambda q: jnp.sum(jaxloss.binary_cross_entropy(q, labels)))
    np.testing.assert_allclose(jax.jit(focal)(probs), jax.jit(ce)(probs), rtol=1e-6)


def test_categorical_focal_gradient_finite_for_a_tiny_probability_row():
    # Hypothesis find: the gradient of p / sum(p) has -p / sum(p)**2, which underflowed
    # to inf for rows summing to less than ~1e-19 (here 1.5e-25; exact gradient ~6e24).
    probs = jnp.full((1, 5), 2.9649195e-26, jnp.float32)
    labels = jnp.array([[0.0, 0.0, 0.0, 1.0, 0.0]])
    focal = jax.grad(lambda p: jnp.sum(
        jaxloss.categorical_focal_cross_entropy(p, labels, alpha=None, gamma=0.0)))
    ce = jax.grad(lambda p: jnp.sum(jaxloss.categorical_cross_entropy(p, labels)))
    np.testing.assert_allclose(jax.jit(focal)(probs), jax.jit(ce)(probs), rtol=1e-5)
