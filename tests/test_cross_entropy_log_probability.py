"""nll_loss against float64 references, and against the softmax cross-entropy it equals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss


def _ref_nll(log_probs, labels, weights=None, ignore_index=None, axis=-1):
    labels = np.asarray(labels)
    safe = np.where(labels == ignore_index, 0, labels)
    picked = -np.take_along_axis(np.float64(log_probs), np.expand_dims(safe, axis), axis)
    picked = np.squeeze(picked, axis)
    if weights is not None:
        picked = picked * np.float64(weights)[safe]
    return np.where(labels == ignore_index, 0.0, picked)


@pytest.fixture
def inputs(rng):
    log_probs = np.asarray(jax.nn.log_softmax(rng.normal(size=(3, 5, 2)) * 3, axis=1), np.float32)
    labels = rng.integers(0, 5, (3, 2)).astype(np.int32)
    labels[1, 0] = -100
    return log_probs, labels, rng.uniform(0.5, 2, 5).astype(np.float32)


def test_values_gradients_and_the_cross_entropy_identity(inputs):
    """K-dimensional (class axis 1), class weights, ignore_index; NLL of log_softmax is the
    softmax cross-entropy, value and gradient with respect to the logits."""
    log_probs, labels, weights = inputs
    options = {"axis": 1, "class_weights": weights, "ignore_index": -100}

    @jax.jit
    def run(x):
        nll = jax.value_and_grad(lambda a: jnp.sum(jaxloss.nll_loss(a, labels, **options)))
        via_log_softmax = jax.value_and_grad(
            lambda a: jnp.sum(jaxloss.nll_loss(jax.nn.log_softmax(a, axis=1), labels, **options))
        )
        softmax = jax.value_and_grad(
            lambda a: jnp.sum(jaxloss.sparse_softmax_cross_entropy(a, labels, **options))
        )
        return jaxloss.nll_loss(x, labels, **options), nll(x), via_log_softmax(x), softmax(x)

    per_example, (total, grad), identity, softmax = run(log_probs)
    want = _ref_nll(log_probs, labels, weights, -100, axis=1)
    np.testing.assert_allclose(per_example, want, rtol=1e-6)
    np.testing.assert_allclose(total, want.sum(), rtol=1e-6)
    one_hot = np.moveaxis(np.eye(5)[np.where(labels == -100, 0, labels)], -1, 1)
    want_grad = -one_hot * np.float64(weights)[None, :, None] * (labels != -100)[:, None, :]
    np.testing.assert_array_equal(grad, want_grad)
    for got, expected in zip(identity, softmax):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_bad_values_give_nan_and_minus_inf_elsewhere_is_read_as_probability_zero():
    log_probs = jnp.log(jnp.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]))
    log_probs = log_probs.at[2, 1].set(jnp.nan)
    loss = jax.jit(jaxloss.nll_loss)(log_probs, jnp.array([0, 7, 2]))
    np.testing.assert_allclose(loss[0], np.log(2), rtol=1e-6)
    assert np.isnan(loss[1]) and np.isnan(loss[2])
    grad = jax.jit(jax.grad(lambda x: jnp.sum(jaxloss.nll_loss(x, jnp.array([0, 7, 2])))))(
        log_probs
    )
    np.testing.assert_array_equal(grad[0], [-1, 0, 0])
    assert np.isnan(grad[1]).any() and np.isnan(grad[2]).any()
    assert jax.jit(jaxloss.nll_loss)(log_probs[:1], jnp.array([2]))[0] == np.inf
    ignored = jax.jit(lambda x: jaxloss.nll_loss(x, jnp.array([2]), ignore_index=2))(log_probs[:1])
    assert ignored[0] == 0.0
    with pytest.raises(jaxloss.CheckError, match=r"nll_loss: `labels` holds 7 at index \(1,\)"):
        with jaxloss.checks():
            jaxloss.nll_loss(log_probs, jnp.array([0, 7, 2]))


def test_where_vmap_and_half_precision(inputs):
    log_probs, labels, _ = inputs
    log_probs, labels = log_probs[:, :, 0], np.where(labels[:, 0] < 0, 1, labels[:, 0])
    keep = np.array([True, False, True])
    spoiled = log_probs.copy()
    spoiled[1] = np.nan

    @jax.jit
    def run(x, clean, half):
        masked = jax.value_and_grad(lambda a: jnp.sum(jaxloss.nll_loss(a, labels, where=keep)))
        stacked = jax.vmap(jaxloss.nll_loss)(
            jnp.stack([clean, clean[::-1]]), jnp.stack([labels] * 2)
        )
        return masked(x), stacked, jaxloss.nll_loss(half, labels)

    (total, grad), stacked, half = run(spoiled, log_probs, jnp.asarray(log_probs, jnp.bfloat16))
    sliced = _ref_nll(log_probs[keep], labels[keep])
    np.testing.assert_allclose(total, sliced.sum(), rtol=1e-6)
    assert np.all(np.asarray(grad)[1] == 0)
    np.testing.assert_allclose(stacked[1], _ref_nll(log_probs[::-1], labels), rtol=1e-6)
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(half, _ref_nll(jnp.asarray(log_probs, jnp.bfloat16), labels),
                               rtol=1e-6)


def test_bad_arguments_raise_naming_them(inputs):
    log_probs, labels, weights = inputs
    with pytest.raises(ValueError, match="`log_probs` must have a floating-point dtype"):
        jaxloss.nll_loss(labels, labels)
    with pytest.raises(ValueError, match=r"expected \(3, 2\), got labels.shape=\(3, 5\)"):
        jaxloss.nll_loss(log_probs, labels[:, None].repeat(5, 1)[:, :, 0], axis=1)
    with pytest.raises(ValueError, match=r"`class_weights` must have shape \(5,\)"):
        jaxloss.nll_loss(log_probs, labels, axis=1, class_weights=weights[:4])
    with pytest.raises(ValueError, match=r"`where` of shape \(4,\) does not broadcast"):
        jaxloss.nll_loss(log_probs, labels, axis=1, where=np.ones(4, bool))


def test_nll_loss_derivatives_are_the_one_hot_in_both_modes():
    log_probs = np.log(np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [1e-30, 1.0, 1.0]]))
    log_probs[2, 0] = -np.inf
    labels = np.array([1, 2, -100])
    weights = np.array([1.0, 2.0, 3.0])

    def total(x):
        return jnp.sum(jaxloss.nll_loss(x, labels, ignore_index=-100) * weights)

    # The ignored row's label entry is -inf: its loss and gradient are 0, not NaN.
    expected = -np.eye(3)[[1, 2, 0]] * (weights * (labels != -100))[:, None]
    np.testing.assert_allclose(total(jnp.asarray(log_probs, jnp.float32)), 3 * np.log(4), rtol=1e-6)
    for derivative in (jax.grad, jax.jacfwd):
        np.testing.assert_array_equal(derivative(total)(jnp.asarray(log_probs, jnp.float32)),
                                      expected)
