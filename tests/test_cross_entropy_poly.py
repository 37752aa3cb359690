"""Poly-1 cross-entropy against float64 formulas; epsilon 0 is the cross-entropy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import check_bad_input, check_half_precision, check_values_and_grads
from scipy.special import log_softmax

from jaxloss import poly_loss_cross_entropy, softmax_cross_entropy


def _poly(x, y, epsilon):
    log_p = log_softmax(np.asarray(x, np.float64), -1)
    return -np.sum(y * log_p, -1) + epsilon * np.sum(y * -np.expm1(log_p), -1)


@pytest.mark.parametrize("epsilon", [2.0, -1.0])
def test_formula_gradients_dtypes_bad_input(logits, soft_labels, epsilon):
    def fn(x, y, **kwargs):
        return poly_loss_cross_entropy(x, y, epsilon=epsilon, **kwargs)

    check_values_and_grads(fn, lambda x, y: _poly(x, y, epsilon), logits, soft_labels)
    check_half_precision(fn, logits, soft_labels)
    check_bad_input(fn, logits, soft_labels, "logits")


def test_epsilon_zero_is_the_cross_entropy(logits, soft_labels):
    def both(x, y):
        return [
            jax.value_and_grad(lambda a, f=f: jnp.sum(f(a, y)))(x)
            for f in (
                lambda a, b: poly_loss_cross_entropy(a, b, epsilon=0.0),
                softmax_cross_entropy,
            )
        ]

    (poly, poly_grad), (ce, ce_grad) = jax.jit(both)(logits, soft_labels)
    np.testing.assert_allclose(poly, ce, rtol=1e-6)
    np.testing.assert_allclose(poly_grad, ce_grad, rtol=1e-6, atol=1e-7)


def test_where_is_slicing_and_precise_keeps_tiny_losses(logits, soft_labels):
    mask = np.array([True, True, False, True, False, True, True])
    sliced = soft_labels[:, mask] / soft_labels[:, mask].sum(-1, keepdims=True)
    labels = np.zeros_like(soft_labels)
    labels[:, mask] = sliced
    masked = jax.jit(lambda x, y: poly_loss_cross_entropy(x, y, where=mask))(logits, labels)
    np.testing.assert_allclose(masked, _poly(logits[:, mask], sliced, 2.0), rtol=1e-5)
    rows = np.array([True, False, True, True, True, False])[:, None]
    dropped = poly_loss_cross_entropy(logits, soft_labels, axis=-1, where=rows)
    np.testing.assert_allclose(dropped, np.where(rows[:, 0], _poly(logits, soft_labels, 2.0), 0),
                               rtol=1e-5)
    # A confident right prediction: 1 - p = 2e-13, below float32's resolution near 1.
    confident, one_hot = np.array([[30.0, 0.0, 0.0]], np.float32), np.array([[1.0, 0.0, 0.0]])
    log_sum_exp = np.log1p(2 * np.exp(-30.0))  # exact: float64's 30 - logsumexp cancels
    want = log_sum_exp - 2.0 * np.expm1(-log_sum_exp)
    precise = poly_loss_cross_entropy(confident, one_hot.astype(np.float32), precise=True)
    np.testing.assert_allclose(precise, want, rtol=1e-5)
