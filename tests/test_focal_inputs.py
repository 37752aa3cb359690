"""What every focal form shares: vmap, half-precision inputs and argument errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from focal_references import (
    loss_and_grad,
    one_hot,
    sigmoid_focal_reference,
    softmax_focal_reference,
)

import jaxloss


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "sparse"])
def test_vmap_equals_batched_call(name, rng):
    logits = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    int_labels = jnp.asarray(rng.integers(0, 3, size=4))
    fn, labels = {
        "sigmoid": (jaxloss.sigmoid_focal_loss, jnp.asarray(rng.random((4, 3)), jnp.float32)),
        "softmax": (jaxloss.softmax_focal_loss, jax.nn.one_hot(int_labels, 3)),
        "sparse": (jaxloss.sparse_softmax_focal_loss, int_labels),
    }[name]
    np.testing.assert_allclose(
        jax.jit(jax.vmap(fn))(logits, labels), jax.jit(fn)(logits, labels), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_inputs_are_computed_in_float32(dtype, rng):
    logits = jnp.asarray(rng.normal(scale=30.0, size=(4, 3)), dtype)
    labels = jnp.asarray(rng.integers(0, 3, size=4))
    binary = (rng.random((4, 3)) < 0.5).astype(np.float32)
    upcast = np.asarray(logits, np.float64)
    sigmoid, sigmoid_grad = loss_and_grad(jaxloss.sigmoid_focal_loss)(
        logits, jnp.asarray(binary, dtype)
    )
    sparse, sparse_grad = loss_and_grad(jaxloss.sparse_softmax_focal_loss)(logits, labels)
    assert sigmoid.dtype == sparse.dtype == jnp.float32
    want_sigmoid = sigmoid_focal_reference(upcast, binary, 0.25, 2.0)[0]
    want_sparse = softmax_focal_reference(upcast, one_hot(labels, 3), 0.25, 2.0)[0]
    np.testing.assert_allclose(sigmoid, want_sigmoid, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(sparse, want_sparse, rtol=2e-6, atol=1e-30)
    for grad in (sigmoid_grad, sparse_grad):
        assert grad.dtype == dtype and np.all(np.isfinite(np.asarray(grad, np.float32)))


def test_bad_input_raises_naming_the_argument():
    z = jnp.zeros((2, 3), jnp.float32)
    y = jnp.zeros((2, 3), jnp.float32)
    cases = [
        (lambda: jaxloss.sigmoid_focal_loss(z, y, gamma=-1.0), "`gamma` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, alpha=1.5), "`alpha` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, alpha=np.array([0.5, 0.5, -0.1])), "`alpha` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, label_smoothing=2.0), "`label_smoothing` must lie in"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y[:, :2]), r"labels.shape=\(2, 2\)"),
        (lambda: jaxloss.sigmoid_focal_loss(z.astype(jnp.int32), y), "`logits` must have a floating"),
        (lambda: jaxloss.softmax_focal_loss(z, y, axis=2), "`axis`=2 is out of range"),
        (lambda: jaxloss.softmax_focal_loss(z, y, alpha=np.ones(2) / 2), r"`alpha` must be a scalar or have shape \(3,\)"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(2)), "`labels` must hold integer"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(3, jnp.int32)), r"labels.shape=\(3,\)"),
        (lambda: jaxloss.sparse_softmax_focal_loss(z, jnp.zeros(2, jnp.int32), gamma=-0.5), "`gamma`"),
        (lambda: jaxloss.binary_focal_cross_entropy(z, y, epsilon=0.7), "`epsilon` must lie in"),
        (lambda: jaxloss.categorical_focal_cross_entropy(z, y, label_smoothing=-1.0), "`label_smoothing`"),
        (lambda: jaxloss.sigmoid_focal_loss(z, y, where=jnp.ones(2, bool)), "`where` of shape"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
