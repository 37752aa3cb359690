"""Sigmoid binary cross-entropy against float64 NumPy references."""

import jax
import numpy as np
import pytest
from cross_entropy_references import (
    EXTREME,
    assert_close,
    check_against_reference,
    loss_and_grad,
    ref_sigmoid_bce,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxloss


@pytest.mark.parametrize("pos_weight", [None, 3.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sigmoid_binary_cross_entropy_matches_reference(rng, pos_weight, smoothing):
    x = (rng.normal(size=(5, 4)) * 4).astype(np.float32)
    y = rng.uniform(size=(5, 4)).astype(np.float32)
    value, (g_x, g_y) = loss_and_grad(
        jaxloss.sigmoid_binary_cross_entropy,
        x,
        y,
        argnums=(0, 1),
        pos_weight=pos_weight,
        label_smoothing=smoothing,
    )
    w = 1.0 if pos_weight is None else pos_weight
    ys = y.astype(np.float64) * (1 - smoothing) + smoothing / 2
    assert_close(value, ref_sigmoid_bce(x, ys, w))
    x64 = x.astype(np.float64)
    sig = 1 / (1 + np.exp(-x64))
    assert_close(g_x, (1 - ys) * sig - w * ys * (1 - sig))
    assert_close(g_y, (1 - smoothing) * (w * np.logaddexp(0, -x64) - np.logaddexp(0, x64)), rtol=1e-5)


def test_sigmoid_binary_cross_entropy_pos_weight_per_class_gradient(rng):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float32)
    w = np.array([0.5, 1.0, 4.0], np.float32)
    grad = jax.jit(
        jax.grad(lambda w: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=w).sum())
    )(w)
    expected = (y * np.logaddexp(0, -x.astype(np.float64))).sum(0)
    assert_close(grad, expected)


def test_hessian_of_sigmoid_binary_cross_entropy(rng):
    x = rng.normal(size=(5,)).astype(np.float32) * 3
    y = rng.uniform(size=(5,)).astype(np.float32)
    fn = lambda x: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=2.0).sum()
    hessian = jax.jit(jax.jacrev(jax.grad(fn)))(x)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    expected = np.diag(sig * (1 - sig) * (2.0 * y + 1 - y))
    assert_close(hessian, expected, atol=1e-6)


_jitted_sigmoid = jax.jit(
    jax.value_and_grad(
        lambda x, y, w: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=w).sum()
    )
)


@settings(max_examples=60, deadline=None)
@given(EXTREME, st.sampled_from([0.0, 1.0, 0.3]), st.sampled_from([1.0, 0.5, 3.0]))
def test_sigmoid_binary_extreme_logits(logit, label, pos_weight):
    x, y = np.array([logit], np.float32), np.array([label], np.float32)
    value, grad = _jitted_sigmoid(x, y, np.float32(pos_weight))
    assert np.all(np.isfinite(grad))
    check_against_reference(float(value), float(ref_sigmoid_bce(x, y, pos_weight)[0]), atol=1e-30)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):  # exp(3e38) = inf gives the exact limit 0 here
        expected = (1 - y) / (1 + np.exp(-x64)) - pos_weight * y / (1 + np.exp(x64))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-30)
