"""Softmax cross-entropy with integer labels against float64 references and the dense form."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cross_entropy_references import (
    EXTREME,
    assert_close,
    check_against_reference,
    loss_and_grad,
    ref_log_softmax,
    ref_one_hot,
    ref_smooth,
    ref_softmax_ce,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxloss


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("use_weights", [False, True])
def test_sparse_softmax_cross_entropy_matches_reference(logits, labels, smoothing, use_weights):
    weights = np.linspace(0.5, 2.0, 7).astype(np.float32) if use_weights else None
    value, grad = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy,
        logits,
        labels,
        label_smoothing=smoothing,
        class_weights=weights,
    )
    y = ref_smooth(ref_one_hot(labels, 7), smoothing)
    w = np.ones(6) if weights is None else weights.astype(np.float64)[labels]
    assert_close(value, w * ref_softmax_ce(logits, y))
    assert_close(grad, w[:, None] * (np.exp(ref_log_softmax(logits)) - y))


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_integer_labels_equal_one_hot(logits, labels, smoothing):
    one_hot = jax.nn.one_hot(labels, 7, dtype=jnp.float32)
    sparse, g_sparse = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy, logits, labels, label_smoothing=smoothing
    )
    dense, g_dense = loss_and_grad(
        jaxloss.softmax_cross_entropy, logits, one_hot, label_smoothing=smoothing
    )
    assert_close(sparse, np.asarray(dense, np.float64))
    assert_close(g_sparse, np.asarray(g_dense, np.float64))


def test_hessian_of_sparse_softmax_cross_entropy(logits, labels):
    hessian = jax.jit(
        jax.jacrev(jax.grad(lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()))
    )(logits)
    p = np.exp(ref_log_softmax(logits))
    expected = np.zeros((6, 7, 6, 7))
    for row in range(6):
        expected[row, :, row, :] = np.diag(p[row]) - np.outer(p[row], p[row])
    assert_close(hessian, expected, atol=1e-6)


def test_forward_mode_on_the_loss_raises_type_error(logits, labels):
    fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(fn, (logits,), (logits,))
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jacfwd(fn)(logits)


@functools.cache
def _jitted_sparse(smoothing):
    fn = functools.partial(jaxloss.sparse_softmax_cross_entropy, label_smoothing=smoothing)
    return jax.jit(jax.value_and_grad(lambda x, y: fn(x, y).sum()))


@settings(max_examples=60, deadline=None)
@given(st.lists(EXTREME, min_size=4, max_size=4), st.integers(0, 3), st.sampled_from([0.0, 0.1]))
def test_sparse_softmax_extreme_logits(row, label, smoothing):
    x = np.array([row], np.float32)
    value, grad = _jitted_sparse(smoothing)(x, np.array([label]))
    assert np.all(np.isfinite(grad))
    y = ref_smooth(ref_one_hot([label], 4), smoothing)
    check_against_reference(float(value), float(ref_softmax_ce(x, y)[0]))
    expected_grad = np.exp(ref_log_softmax(x)) - y
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_hessian_finite_at_extreme_logits():
    x = jnp.array([[3e38, -3e38, 0.0, 1000.0]], jnp.float32)
    fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, jnp.array([1])).sum()
    assert np.all(np.isfinite(jax.jit(jax.jacrev(jax.grad(fn)))(x)))


SPARSE_PRECISE_VARIANTS = [
    {},
    {"label_smoothing": 0.2},
    {"ignore_index": 1},
    {"class_weights": np.array([0.5, 2.0, 1.0, 3.0, 1.5], np.float32)},
    {"where": np.array([True, True, False, True, True])},
    {"where": np.array([True, True, False, True, True]), "label_smoothing": 0.1, "ignore_index": 1},
]


@pytest.mark.parametrize("kwargs", SPARSE_PRECISE_VARIANTS)
def test_precise_sparse_agrees_with_default_on_ordinary_inputs(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 5)) * 3, np.float32)
    x[0] = [4.0, 4.0, 0.0, 4.0, -1.0]  # a three-way tie at the maximum
    x[1] = 0.0  # all tied
    labels = rng.choice([0, 1, 3, 4], size=16)
    labels[:2] = [3, 1]
    default = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, **kwargs)
    precise = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)
    if not kwargs:  # ties at the maximum count once each: log(3 + e^-4 + e^-5) and log(5)
        expected_ties = [np.log(3.0 + np.exp(-4.0) + np.exp(-5.0)), np.log(5.0)]
        np.testing.assert_allclose(precise[0][:2], expected_ties, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.2}, {"ignore_index": 1}])
def test_precise_sparse_above_32_classes_agrees_with_default(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 40)) * 3, np.float32)
    x[0] = 0.0
    x[0, :3] = 4.0  # a three-way tie at the maximum
    x[1] = 0.0
    x[2] = -5.0
    x[2, 7] = 22.0  # label 7 dominates: loss 39 exp(-27) = 7.3e-11
    labels = rng.integers(0, 40, size=16)
    labels[:3] = [2, 1, 7]
    default = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, **kwargs)
    precise = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x, labels, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)
    if not kwargs:
        expected = [np.log(3.0 + 37 * np.exp(-4.0)), np.log(40.0), np.log1p(39 * np.exp(-27.0))]
        np.testing.assert_allclose(precise[0][:3], expected, rtol=1e-6)
        assert default[0][2] == 0.0  # the default's floor


def test_precise_masked_rows_ignored_rows_and_bad_labels():
    x = np.array([[1e30, 0.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, 0.0, 0.0]], np.float32)
    mask = np.array([[False] * 3, [True] * 3, [True] * 3, [True] * 3])
    labels = np.array([0, -100, 7, 0])
    value, grad = loss_and_grad(
        jaxloss.sparse_softmax_cross_entropy, x, labels, where=mask, ignore_index=-100, precise=True
    )
    # Fully masked and ignored rows: 0; an out-of-range label: NaN, never a finite number.
    np.testing.assert_array_equal(value[:2], [0.0, 0.0])
    assert np.isnan(value[2]) and np.all(np.isnan(grad[2]))
    np.testing.assert_array_equal(grad[:2], 0.0)
    np.testing.assert_allclose(value[3], ref_softmax_ce(x[3:], ref_one_hot([0], 3))[0], rtol=1e-6)
    fast = loss_and_grad(jaxloss.sparse_softmax_cross_entropy, x[1:], np.array([-1, 3, 0]), precise=True)
    assert np.all(np.isnan(fast[0][:2])) and np.all(np.isnan(fast[1][:2]))


def test_label_on_masked_class_gives_nan(logits):
    mask = np.arange(7) < 5
    value = jax.jit(jaxloss.sparse_softmax_cross_entropy)(logits, np.array([0, 6, 1, 2, 3, 4]), where=mask)
    np.testing.assert_array_equal(np.isnan(value), [False, True, False, False, False, False])
