"""Float64 NumPy references and helpers shared by the cross-entropy tests."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

F32_MAX = float(np.finfo(np.float32).max)


def ref_log_softmax(logits, mask=None):
    x = np.asarray(logits, np.float64)
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def ref_softmax_ce(logits, labels, mask=None):
    """sum_c y_c (logsumexp(x) - x_c) over the unmasked classes."""
    log_probs = ref_log_softmax(logits, mask)
    y = np.asarray(labels, np.float64)
    if mask is not None:
        y = np.where(mask, y, 0.0)
        log_probs = np.where(mask, log_probs, 0.0)
    return -np.sum(y * log_probs, axis=-1)


def ref_smooth(one_hot, smoothing):
    return one_hot * (1 - smoothing) + smoothing / one_hot.shape[-1]


def ref_one_hot(labels, num_classes):
    return (np.asarray(labels)[..., None] == np.arange(num_classes)).astype(np.float64)


def ref_sigmoid_bce(logits, labels, pos_weight=1.0):
    """w y softplus(-x) + (1 - y) softplus(x)."""
    x, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    return pos_weight * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)


def clip_bounds(epsilon):
    """Keras's clip bounds as float32 holds them (1 - 1e-7 rounds to 1 - 1.19e-7)."""
    return float(np.float32(epsilon)), float(np.float32(1 - epsilon))


def ref_binary_ce(probs, labels, epsilon=1e-7):
    p = np.clip(np.asarray(probs, np.float64), *clip_bounds(epsilon))
    y = np.asarray(labels, np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_categorical_ce(probs, labels, epsilon=1e-7):
    p = np.asarray(probs, np.float64)
    q = np.clip(p / p.sum(-1, keepdims=True), *clip_bounds(epsilon))
    return -np.sum(np.asarray(labels, np.float64) * np.log(q), axis=-1)


def numerical_grad(fn, x, step=1e-6):
    """Central differences of sum(fn(x)) in float64, one coordinate at a time."""
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (fn(up).sum() - fn(down).sum()) / (2 * step)
    return grad


def loss_and_grad(fn, *args, argnums=0, **kwargs):
    """Loss and gradient of sum(loss) through jax.jit."""
    total = lambda *a: jnp.sum(fn(*a, **kwargs))
    value = jax.jit(functools.partial(fn, **kwargs))(*args)
    grad = jax.jit(jax.grad(total, argnums=argnums))(*args)
    return np.asarray(value), grad


def assert_close(actual, expected, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


EXTREME = st.floats(-F32_MAX, F32_MAX, allow_nan=False, allow_infinity=False, width=32)


def check_against_reference(value, expected, rtol=1e-5, atol=1e-6):
    """Finite and close where the float64 value fits float32; inf where it does not.

    The absolute floor is float32's resolution of log(sum(exp(x - m))) near log(1) = 0:
    a confident correct prediction (row [6, 0, 0, 0], label 0: loss 0.0074) is accurate
    to ~1e-7 absolute, not 1e-5 relative (optax and PyTorch behave the same).
    """
    if expected > F32_MAX * (1 + 1e-6):
        assert value == np.inf
    elif expected < F32_MAX * (1 - 1e-6):
        assert np.isfinite(value)
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
