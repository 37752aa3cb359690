"""Generic checks for the kernels owned by the Keras layer (hinge, divergence, ...).

Each check takes a kernel ``fn(first, second, **kwargs)`` and a float64 NumPy
reference ``reference(first, second)`` written from the formula in the test file.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def numeric_grad(reference, first, second, step=1e-6):
    """Central differences of ``sum(reference)`` with respect to ``first``, in float64."""
    first = np.asarray(first, np.float64)
    grad = np.zeros_like(first)
    for index in np.ndindex(first.shape):
        up, down = first.copy(), first.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (np.sum(reference(up, second)) - np.sum(reference(down, second))) / (2 * step)
    return grad


def check_values_and_grads(fn, reference, first, second, rtol=1e-5, atol=1e-6, grad_rtol=1e-4):
    """Loss and gradient under jit match the float64 formula; the gradient is finite."""
    value, grad = jax.jit(jax.value_and_grad(lambda a, b: jnp.sum(fn(a, b)), argnums=0))(
        jnp.asarray(first), jnp.asarray(second)
    )
    losses = jax.jit(fn)(first, second)
    expected = reference(np.asarray(first, np.float64), np.asarray(second, np.float64))
    np.testing.assert_allclose(losses, expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(value, np.sum(expected), rtol=rtol, atol=atol)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(
        grad,
        numeric_grad(reference, first, np.asarray(second, np.float64)),
        rtol=grad_rtol,
        atol=1e-4,
    )


def check_vmap(fn, first, second):
    """vmap over a leading axis equals a loop."""
    stacked = jax.vmap(fn)(jnp.stack([first, first[::-1]]), jnp.stack([second, second[::-1]]))
    np.testing.assert_allclose(stacked[0], fn(first, second), rtol=1e-6)
    np.testing.assert_allclose(stacked[1], fn(first[::-1], second[::-1]), rtol=1e-6)


def check_where_elementwise(fn, first, second):
    """Masked elements give loss 0 and gradient 0; the rest are unchanged."""
    mask = np.arange(first.size).reshape(first.shape) % 3 != 0
    masked = fn(first, second, where=mask)
    np.testing.assert_allclose(masked, np.where(mask, fn(first, second), 0.0), rtol=1e-6)
    grad = jax.grad(lambda a: jnp.sum(fn(a, second, where=mask)))(jnp.asarray(first))
    assert np.all(np.asarray(grad)[~mask] == 0.0)


def check_half_precision(fn, first, second):
    """bfloat16 inputs are computed in float32 and return float32 (float16 takes the same path)."""
    for dtype in (jnp.bfloat16,):
        result = fn(jnp.asarray(first, dtype), jnp.asarray(second, dtype))
        assert result.dtype == jnp.float32
        reference = fn(
            jnp.asarray(first, dtype).astype(jnp.float32),
            jnp.asarray(second, dtype).astype(jnp.float32),
        )
        np.testing.assert_allclose(result, reference, rtol=1e-6)


def check_bad_input(fn, first, second, first_name="predictions"):
    """Mismatched shapes and integer inputs raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=first_name):
        fn(first, second[..., :-1])
    with pytest.raises(ValueError, match=first_name):
        fn(np.asarray(first).astype(np.int32), second)
    with pytest.raises(ValueError, match="where"):
        fn(first, second, where=np.ones(first.shape[:-1] + (2, 3), bool))
