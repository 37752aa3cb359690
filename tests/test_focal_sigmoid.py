"""The sigmoid focal loss against its float64 reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from focal_references import (
    BIG,
    GAMMAS,
    close,
    compiled_loss_and_grad,
    loss_and_grad,
    sigmoid_focal_reference,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxloss


@pytest.mark.parametrize(
    "gamma, alpha", [(0.0, None), (0.5, 0.25), (1.0, None), (2.0, 0.25), (5.0, 0.25)]
)
def test_sigmoid_values_and_gradients(gamma, alpha, rng):
    logits = rng.normal(scale=4.0, size=(6, 5)).astype(np.float32)
    labels = np.concatenate([rng.random((3, 5)), rng.random((3, 5)) < 0.5]).astype(np.float32)
    want, want_grad, scale = sigmoid_focal_reference(logits, labels, alpha, gamma)
    loss, grad = loss_and_grad(
        lambda z, y: jaxloss.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma)
    )(logits, labels)
    assert loss.dtype == jnp.float32 and loss.shape == (6, 5)
    close(loss, want, 2e-6)
    close(grad, want_grad, 2e-6, scale=scale)


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.9])
def test_optax_nan_case_gamma_below_one_logit_1000(gamma):
    # optax's sigmoid_focal_loss once returned NaN gradients here: (1-p_t)^(gamma-1) = inf.
    logits = jnp.array([1000.0, -1000.0, 1000.0], jnp.float32)
    labels = jnp.array([1.0, 0.0, 0.0], jnp.float32)
    loss, grad = loss_and_grad(lambda z, y: jaxloss.sigmoid_focal_loss(z, y, gamma=gamma))(
        logits, labels
    )
    grad2 = jax.jit(jax.grad(lambda z: jnp.sum(jax.grad(
        lambda w: jnp.sum(jaxloss.sigmoid_focal_loss(w, labels, gamma=gamma)))(z))))(logits)  # fmt: skip
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(grad2))
    np.testing.assert_array_equal(grad[:2], [0.0, 0.0])
    np.testing.assert_allclose(grad[2], 0.75, rtol=1e-6)  # wrong side: (1-alpha) * 1
    np.testing.assert_allclose(loss, [0.0, 0.0, 0.75 * 1000.0], rtol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logits=hnp.arrays(np.float32, 16, elements=st.floats(-BIG, BIG, width=32,
                                                         allow_subnormal=False)),
    labels=hnp.arrays(np.float32, 16, elements=st.one_of(
        st.sampled_from([0.0, 1.0]), st.floats(0, 1, width=32, allow_subnormal=False))),
    gamma=st.sampled_from(GAMMAS),
    alpha=st.sampled_from([None, 0.25]),
    magnitude=st.sampled_from([1.0, 1e-3, 1e-30]),
)  # fmt: skip
def test_sigmoid_stability_sweep(logits, labels, gamma, alpha, magnitude):
    # `magnitude` pulls most draws towards the interesting range |z| < 1e5.
    logits = np.where(np.abs(logits) < 1e30, logits * np.float32(magnitude), logits)
    logits = logits.astype(np.float32)
    fn = compiled_loss_and_grad(jaxloss.sigmoid_focal_loss, alpha=alpha, gamma=gamma)
    loss, grad = fn(logits, labels)
    want, want_grad, scale = sigmoid_focal_reference(logits, labels, alpha, gamma)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    close(loss, want, 1e-5)
    close(grad, want_grad, 1e-5, scale=scale)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_traced_hyperparameters_and_their_gradients(gamma, rng):
    logits = rng.normal(scale=3.0, size=(8,)).astype(np.float32)
    labels = rng.random(8).astype(np.float32)
    alpha = np.float32(0.3)
    loss, grads = jax.jit(jax.value_and_grad(
        lambda z, y, a, g: jnp.sum(jaxloss.sigmoid_focal_loss(z, y, alpha=a, gamma=g)),
        argnums=(0, 1, 2, 3)))(logits, labels, alpha, np.float32(gamma))  # fmt: skip
    total = lambda y=labels, a=0.3, g=gamma: np.sum(sigmoid_focal_reference(logits, y, a, g)[0])
    np.testing.assert_allclose(loss, total(), rtol=1e-6)
    np.testing.assert_allclose(grads[0], sigmoid_focal_reference(logits, labels, 0.3, gamma)[1],
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    h = 1e-6
    d_labels = [(total(y=labels + h * e) - total(y=labels - h * e)) / (2 * h) for e in np.eye(8)]
    np.testing.assert_allclose(grads[1], d_labels, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[2], (total(a=0.3 + h) - total(a=0.3 - h)) / (2 * h), rtol=1e-4)
    np.testing.assert_allclose(
        grads[3], (total(g=gamma + h) - total(g=gamma - h)) / (2 * h), rtol=1e-4
    )


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("label", [0.0, 1.0, 0.3])
def test_sigmoid_second_derivative(gamma, label):
    logits = np.array([-30.0, -2.0, -0.1, 0.0, 0.7, 3.0, 20.0], np.float32)
    labels = np.full_like(logits, label)
    second = jax.jit(jax.grad(lambda z: jnp.sum(jax.grad(
        lambda w: jnp.sum(jaxloss.sigmoid_focal_loss(w, labels, gamma=gamma)))(z))))(logits)  # fmt: skip
    h = 1e-5
    z = logits.astype(np.float64)
    want = (sigmoid_focal_reference(z + h, labels, 0.25, gamma)[1]
            - sigmoid_focal_reference(z - h, labels, 0.25, gamma)[1]) / (2 * h)  # fmt: skip
    np.testing.assert_allclose(second, want, rtol=1e-4, atol=1e-9)


def test_forward_mode_is_not_defined_for_the_custom_vjp():
    with pytest.raises(TypeError):
        jax.jvp(
            lambda z: jaxloss.sigmoid_focal_loss(z, jnp.ones(3)), (jnp.ones(3),), (jnp.ones(3),)
        )


def test_sigmoid_gamma_zero_without_alpha_is_cross_entropy(rng):
    logits = rng.normal(scale=5.0, size=(5, 4)).astype(np.float32)
    labels = rng.random((5, 4)).astype(np.float32)
    z, y = logits.astype(np.float64), labels.astype(np.float64)
    cross_entropy = y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)
    got = jax.jit(lambda z, y: jaxloss.sigmoid_focal_loss(z, y, alpha=None, gamma=0.0))(
        logits, labels
    )
    np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)
    if hasattr(jaxloss, "sigmoid_binary_cross_entropy"):
        np.testing.assert_allclose(
            got, jax.jit(jaxloss.sigmoid_binary_cross_entropy)(logits, labels), rtol=1e-6, atol=1e-7
        )


def test_sigmoid_label_smoothing_and_alpha_array(rng):
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    labels = (rng.random((3, 4)) < 0.5).astype(np.float32)
    alpha = np.array([0.1, 0.4, 0.6, 0.9], np.float32)
    got = jax.jit(lambda z, y, a: jaxloss.sigmoid_focal_loss(z, y, alpha=a, label_smoothing=0.2))(
        logits, labels, alpha
    )
    want, _, _ = sigmoid_focal_reference(logits, labels * 0.8 + 0.1, alpha.astype(np.float64), 2.0)
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_sigmoid_labels_outside_unit_interval_give_nan():
    loss = jax.jit(jaxloss.sigmoid_focal_loss)(jnp.zeros(3), jnp.array([0.5, -0.1, 1.5]))
    assert np.isfinite(loss[0]) and np.all(np.isnan(loss[1:]))


def test_sigmoid_where_masks_elements(rng):
    logits = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    labels = jnp.asarray(rng.random((3, 4)), jnp.float32)
    where = jnp.asarray(rng.random((3, 4)) < 0.5)
    loss, grad = loss_and_grad(lambda z, y, w: jaxloss.sigmoid_focal_loss(z, y, where=w))(
        logits, labels, where
    )
    full = jax.jit(jaxloss.sigmoid_focal_loss)(logits, labels)
    np.testing.assert_array_equal(loss, jnp.where(where, full, 0.0))
    assert np.all(np.asarray(grad)[~np.asarray(where)] == 0)
