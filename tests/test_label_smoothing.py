"""Label smoothing (jaxloss._src.label_smoothing): optax's formula, one masked-class rule."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxloss._src.label_smoothing import (
    mix_with_uniform,
    smooth_binary_labels,
    smooth_labels,
    smoothing_applies,
    smoothing_weights,
)


def _soft_labels(rng, shape):
    labels = rng.random(shape).astype(np.float32)
    return jnp.asarray(labels / labels.sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 7)])
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 1.0])
def test_matches_optax(rng, shape, alpha):
    labels = _soft_labels(rng, shape)
    got = jax.jit(smooth_labels)(labels, alpha)
    np.testing.assert_allclose(got, optax.smooth_labels(labels, alpha), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("axis", [0, 1, -3])
def test_axis_is_the_class_axis(rng, axis):
    labels = _soft_labels(rng, (3, 4, 5))
    got = smooth_labels(labels, 0.2, axis=axis)
    moved = jnp.moveaxis(labels, axis, -1)
    want = jnp.moveaxis(optax.smooth_labels(moved, 0.2), -1, axis)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_where_spreads_alpha_over_the_unmasked_classes_only(rng):
    labels = _soft_labels(rng, (4, 6))
    where = jnp.asarray(rng.random((4, 6)) > 0.4).at[0].set(True).at[3].set(False)
    got = smooth_labels(labels, 0.3, where=where)
    for row in range(3):
        kept = np.asarray(where[row])
        np.testing.assert_allclose(
            got[row][kept], optax.smooth_labels(labels[row][kept], 0.3), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_array_equal(got[row][~kept], 0.0)
    np.testing.assert_array_equal(got[3], 0.0)  # every class masked
    # On the unmasked classes the rule is optax's own `where` form.
    optax_where = optax.smooth_labels(labels[:3], 0.3, where=where[:3].astype(jnp.float32))
    np.testing.assert_allclose(
        jnp.where(where[:3], got[:3], 0.0), jnp.where(where[:3], optax_where, 0.0), rtol=1e-6
    )


def test_where_with_a_concrete_zero_alpha_only_zeroes_the_masked_classes(rng):
    labels = _soft_labels(rng, (3, 4))
    where = jnp.array([True, False, True, True])
    np.testing.assert_array_equal(
        smooth_labels(labels, 0.0, where=where), jnp.where(where, labels, 0.0)
    )


def test_a_broadcast_where_is_a_class_mask_for_every_row(rng):
    labels = _soft_labels(rng, (3, 4))
    where = jnp.array([True, True, False, True])
    np.testing.assert_array_equal(
        smooth_labels(labels, 0.2, where=where),
        smooth_labels(labels, 0.2, where=jnp.broadcast_to(where, labels.shape)),
    )


def test_concrete_zero_is_the_identity_and_a_traced_alpha_is_computed(rng):
    labels = _soft_labels(rng, (3, 4))
    assert smooth_labels(labels, 0) is labels
    assert not smoothing_applies(0.0) and smoothing_applies(0.1)
    assert smoothing_applies(jnp.zeros(3))  # not a scalar
    np.testing.assert_array_equal(jax.jit(smooth_labels)(labels, jnp.float32(0.0)), labels)
    np.testing.assert_allclose(
        jax.jit(smooth_labels)(labels, jnp.float32(0.25)), smooth_labels(labels, 0.25), rtol=1e-7
    )


def test_gradients(rng):
    labels = _soft_labels(rng, (3, 4))
    where = jnp.array([True, False, True, True])
    check_grads(lambda y, a: smooth_labels(y, a, where=where), (labels, 0.3), order=2)
    weights = jnp.asarray(rng.random((3, 4)), jnp.float32)
    d_labels, d_alpha = jax.grad(
        lambda y, a: jnp.sum(weights * smooth_labels(y, a, where=where)), argnums=(0, 1)
    )(labels, 0.3)
    np.testing.assert_allclose(d_labels, jnp.where(where, 0.7 * weights, 0.0), rtol=1e-6)
    want = jnp.sum(jnp.where(where, weights * (1.0 / 3.0 - labels), 0.0))
    np.testing.assert_allclose(d_alpha, want, rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 1.0])
def test_binary_smoothing_is_the_two_class_rule(rng, alpha):
    labels = jnp.asarray(rng.random((4, 3)), jnp.float32)
    as_two_classes = jnp.stack([labels, 1.0 - labels], axis=-1)
    np.testing.assert_allclose(
        jax.jit(smooth_binary_labels)(labels, alpha),
        optax.smooth_labels(as_two_classes, alpha)[..., 0],
        rtol=1e-6,
        atol=1e-7,
    )


def test_weights_and_the_loss_space_mix(rng):
    assert smoothing_weights(0.2, 4) == (0.8, 0.05)
    one_hot = jax.nn.one_hot(jnp.array([2, 0]), 5)
    values = jnp.asarray(rng.normal(size=(2, 5)), jnp.float32)
    linear = lambda y: jnp.sum(y * values, axis=-1)  # noqa: E731
    np.testing.assert_allclose(
        mix_with_uniform(linear(one_hot), linear(jnp.full((2, 5), 0.2)), 0.3),
        linear(smooth_labels(one_hot, 0.3)),
        rtol=1e-5,
    )
