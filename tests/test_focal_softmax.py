"""The dense and sparse softmax focal losses against their float64 reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from focal_references import (
    BIG,
    F32_MAX,
    GAMMAS,
    close,
    compiled_loss_and_grad,
    loss_and_grad,
    one_hot,
    softmax_focal_reference,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

import jaxloss


_PER_CLASS = np.array([0.1, 0.5, 0.9, 1.0, 0.3], np.float32)


@pytest.mark.parametrize(
    "gamma, alpha", [(0.0, None), (0.5, _PER_CLASS), (1.0, 0.25), (2.0, _PER_CLASS), (5.0, None)]
)
def test_softmax_and_sparse_values_and_gradients(gamma, alpha, rng):
    logits = rng.normal(scale=3.0, size=(6, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=6)
    want, want_grad = softmax_focal_reference(logits, one_hot(labels, 5), alpha, gamma)
    dense = lambda z, y: jaxloss.softmax_focal_loss(z, y, alpha=alpha, gamma=gamma)
    sparse = lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, alpha=alpha, gamma=gamma)
    for fn, lab in [(dense, one_hot(labels, 5)), (sparse, labels)]:
        loss, grad = loss_and_grad(fn)(logits, lab)
        np.testing.assert_allclose(loss, want, rtol=2e-6)
        np.testing.assert_allclose(grad, want_grad, rtol=2e-6, atol=1e-9)


def test_softmax_soft_labels_and_class_axis(rng):
    logits = rng.normal(scale=2.0, size=(5, 3, 2)).astype(np.float32)
    labels = rng.dirichlet(np.ones(5), size=(3, 2)).astype(np.float32)  # [3, 2, 5]
    labels = np.moveaxis(labels, -1, 0)
    want, want_grad = softmax_focal_reference(
        np.moveaxis(logits, 0, -1), np.moveaxis(labels, 0, -1), 0.25, 2.0
    )
    loss, grad = loss_and_grad(lambda z, y: jaxloss.softmax_focal_loss(z, y, axis=0))(
        logits, labels
    )
    np.testing.assert_allclose(loss, want, rtol=2e-6)
    # Soft labels: the terms of the gradient may cancel, so the tolerance is absolute.
    np.testing.assert_allclose(grad, np.moveaxis(want_grad, -1, 0), rtol=1e-5, atol=1e-7)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    logits=hnp.arrays(np.float32, (4, 3), elements=st.floats(-BIG, BIG, width=32,
                                                             allow_subnormal=False)),
    labels=hnp.arrays(np.int32, 4, elements=st.integers(0, 2)),
    gamma=st.sampled_from(GAMMAS),
    magnitude=st.sampled_from([1.0, 1e-3, 1e-30]),
)  # fmt: skip
def test_softmax_stability_sweep(logits, labels, gamma, magnitude):
    logits = np.where(np.abs(logits) < 1e30, logits * np.float32(magnitude), logits)
    logits = logits.astype(np.float32)
    want, want_grad = softmax_focal_reference(logits, one_hot(labels, 3), None, gamma)
    fn = compiled_loss_and_grad(jaxloss.sparse_softmax_focal_loss, alpha=None, gamma=gamma)
    per_example, grad = fn(logits, labels)
    assert np.all(np.isfinite(grad))
    # The loss is finite unless its true value exceeds float32's range (logits spanning > 3.4e38).
    assert np.all(np.isfinite(per_example) | (np.abs(want) > F32_MAX))
    close(per_example, want, 1e-5)
    close(grad, want_grad, 1e-5)


def test_softmax_second_derivative(rng):
    logits = rng.normal(scale=2.0, size=(4,)).astype(np.float32)
    labels = np.int32(1)
    hessian = jax.jit(jax.jacrev(jax.grad(
        lambda z: jaxloss.sparse_softmax_focal_loss(z, labels, gamma=0.5))))(logits)  # fmt: skip
    h = 1e-6
    y = one_hot(labels, 4)
    want = np.stack([(softmax_focal_reference(logits + h * e, y, 0.25, 0.5)[1]
                      - softmax_focal_reference(logits - h * e, y, 0.25, 0.5)[1]) / (2 * h)
                     for e in np.eye(4)])  # fmt: skip
    np.testing.assert_allclose(hessian, want, rtol=1e-4, atol=1e-7)


def test_softmax_gamma_zero_without_alpha_is_cross_entropy(rng):
    logits = rng.normal(scale=5.0, size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    z = logits.astype(np.float64)
    cross_entropy = logsumexp(z, axis=-1) - z[np.arange(5), labels]
    got = jax.jit(lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, alpha=None, gamma=0.0))(
        logits, labels
    )
    np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)
    if hasattr(jaxloss, "sparse_softmax_cross_entropy"):
        cross_entropy = jax.jit(jaxloss.sparse_softmax_cross_entropy)(logits, labels)
        np.testing.assert_allclose(got, cross_entropy, rtol=1e-6)


def test_sparse_ignore_index_and_out_of_range_labels(rng):
    logits = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    labels = jnp.array([0, -1, 2, 3, -7])
    loss, grad = loss_and_grad(
        lambda z, y: jaxloss.sparse_softmax_focal_loss(z, y, ignore_index=-1)
    )(logits, labels)
    assert np.all(np.isfinite(loss[:3])) and loss[1] == 0 and np.all(np.isnan(loss[3:]))
    np.testing.assert_array_equal(grad[1], [0.0, 0.0, 0.0])
    grad = np.asarray(grad)
    assert np.all(np.isfinite(grad[[0, 2]])) and np.all(np.isnan(grad[3:]))


def test_softmax_where_equals_slicing(rng):
    logits = rng.normal(size=(3, 5)).astype(np.float32)
    labels = np.array([0, 2, 3])
    keep = np.array([True, False, True, True, False])
    kept_logits = logits[:, keep]
    kept_labels = np.array([0, 1, 2])  # class indices after slicing away classes 1 and 4
    want, want_grad = loss_and_grad(jaxloss.sparse_softmax_focal_loss)(kept_logits, kept_labels)
    for fn, lab in [(jaxloss.sparse_softmax_focal_loss, labels),
                    (jaxloss.softmax_focal_loss, one_hot(labels, 5))]:  # fmt: skip
        loss, grad = loss_and_grad(lambda z, y, w, fn=fn: fn(z, y, where=w))(logits, lab, keep)
        np.testing.assert_allclose(loss, want, rtol=1e-6)
        np.testing.assert_allclose(grad[:, keep], want_grad, rtol=1e-6, atol=1e-8)
        np.testing.assert_array_equal(grad[:, ~keep], 0.0)
    rows = np.array([[True], [False], [True]])
    masked, grad = loss_and_grad(lambda z, y, w: jaxloss.sparse_softmax_focal_loss(z, y, where=w))(
        logits, labels, rows
    )
    assert masked[1] == 0.0 and masked[0] != 0.0 and np.all(grad[1] == 0.0)
    on_masked_class = np.asarray(
        jax.jit(jaxloss.sparse_softmax_focal_loss)(logits, np.array([0, 1, 2]), where=keep)
    )
    assert np.isnan(on_masked_class[1]) and np.all(np.isfinite(on_masked_class[[0, 2]]))
