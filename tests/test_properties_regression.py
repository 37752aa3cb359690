"""Identities of the regression, relative-error, hinge and Poisson kernels.

Huber is half the squared error inside ``delta`` and linear outside, log-cosh is
``e**2 / 2`` near 0 and ``|e| - log 2`` far out, the error losses are symmetric and even,
percentage errors are scale-free, and each loss is smallest where prediction equals
target. Checked by hypothesis under ``jax.jit`` (budget: ``tests/conftest.py``).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_cases import (
    BATCH,
    CASES,
    ERROR,
    F32_MAX,
    arrays,
    assert_close,
    compiled,
    floats,
    values,
)

import jaxloss

SHAPE = (BATCH, 3)
SYMMETRIC = ("squared_error", "absolute_error", "huber_loss", "log_cosh", "squared_logarithmic_error")
#: Below float32's smallest normal number a square may flush to 0.
TINY = 1.2e-38
EVEN = ("squared_error", "absolute_error", "huber_loss", "log_cosh")


def _error(p, t):
    """The error as the kernels form it: ``p - t`` rounded to float32, then float64."""
    return (p - t).astype(np.float64)


@pytest.mark.parametrize("delta", [0.5, 1.0, 1e4])
@given(p=arrays(SHAPE, ERROR), t=arrays(SHAPE, ERROR))
def test_huber_is_half_squared_error_inside_delta_and_linear_outside(delta, p, t):
    hparams = {} if delta == 1.0 else {"delta": delta}
    loss, grad = compiled(jaxloss.huber_loss, **hparams)(p, t)
    e = _error(p, t)
    inside = np.abs(e) <= delta
    want = np.where(inside, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))
    assert_close(loss, want, rtol=1e-6, atol=TINY)
    assert_close(grad, np.clip(e, -delta, delta), rtol=1e-6, atol=0)
    bound = np.minimum(0.5 * e**2, delta * np.abs(e))  # Huber lies below both
    assert np.all((np.asarray(loss) <= bound * (1 + 1e-6)) | (bound > F32_MAX))


@given(p=arrays(SHAPE, ERROR), t=arrays(SHAPE, ERROR))
def test_log_cosh_is_half_squared_error_near_zero_and_abs_minus_log_two_far_out(p, t):
    loss, grad = compiled(jaxloss.log_cosh)(p, t)
    loss, e = np.asarray(loss, np.float64), _error(p, t)
    small, large = np.abs(e) < 1e-3, np.abs(e) > 20
    # log cosh e = e**2/2 - e**4/12 + ...: relative error below 1e-6 for |e| < 1e-3.
    assert_close(loss[small], 0.5 * e[small] ** 2, rtol=1e-6, atol=TINY)
    assert_close(loss[large], np.abs(e[large]) - math.log(2), rtol=1e-6, atol=0)
    assert_close(grad, np.tanh(e), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", SYMMETRIC)
@given(data=st.data())
def test_error_losses_are_symmetric_and_even(name, data):
    """``f(p, t) = f(t, p)``, and for the losses of ``p - t`` also ``f(-p, -t) = f(p, t)``."""
    p, t = data.draw(CASES[name].args)
    fn = compiled(CASES[name].fn, **CASES[name].hparams[-1])
    loss = np.asarray(fn(p, t)[0])
    np.testing.assert_array_equal(fn(t, p)[0], loss)
    if name in EVEN:
        np.testing.assert_array_equal(fn(-p, -t)[0], loss)


@pytest.mark.parametrize("name", EVEN)
@given(p=arrays(SHAPE, ERROR))
def test_targets_none_means_zeros_and_equal_arguments_give_zero(name, p):
    fn = CASES[name].fn
    np.testing.assert_array_equal(compiled(fn)(p)[0], compiled(fn)(p, np.zeros_like(p))[0])
    loss, grad = compiled(fn)(p, p)
    np.testing.assert_array_equal(loss, 0.0)
    np.testing.assert_array_equal(grad, 0.0)


@given(p=arrays(SHAPE, ERROR), t=arrays(SHAPE, values(-1.0, 1.0)))
def test_hinge_losses_are_odd_symmetric_and_squared_hinge_is_the_square(p, t):
    hinge = np.asarray(compiled(jaxloss.hinge_loss)(p, t)[0], np.float64)
    np.testing.assert_array_equal(compiled(jaxloss.hinge_loss)(-p, -t)[0], hinge)
    assert np.all(hinge >= 0)
    squared = compiled(jaxloss.squared_hinge_loss)(p, t)[0]
    with np.errstate(over="ignore"):
        want = (hinge**2).astype(np.float32)  # inf where the square exceeds float32
    assert_close(squared, want, rtol=1e-6, atol=0)


@given(data=st.data())
def test_percentage_error_is_scale_free_and_zero_at_the_target(data):
    p = data.draw(arrays(SHAPE, floats(-1e6, 1e6)))
    t = data.draw(arrays(SHAPE, st.one_of(floats(1, 1e6), floats(-1e6, -1))))
    k = np.float32(2.0 ** data.draw(st.integers(-20, 20)))  # exact: no rounding in k * x
    fn = compiled(jaxloss.absolute_percentage_error)
    loss = np.asarray(fn(p, t)[0])
    assert_close(fn(k * p, k * t)[0], loss, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(fn(t, t)[0], 0.0)


@given(p=arrays(SHAPE, ERROR))
def test_squared_log_error_is_zero_at_the_target(p):
    loss, grad = compiled(jaxloss.squared_logarithmic_error)(p, p)
    np.testing.assert_array_equal(loss, 0.0)
    np.testing.assert_array_equal(grad, 0.0)


@given(data=st.data())
def test_poisson_loss_is_smallest_at_the_observed_count(data):
    """``p - t log(p + eps)`` is convex in p with its minimum at ``p = t - eps``."""
    p, t = data.draw(arrays(SHAPE, floats(0, 1e6))), data.draw(arrays(SHAPE, floats(0, 1e6)))
    fn = compiled(jaxloss.poisson_loss)
    loss = np.asarray(fn(p, t)[0], np.float64)
    at_target, grad = fn(t, t)
    at_target = np.asarray(at_target, np.float64)
    resolution = 4 * np.finfo(np.float32).eps * (np.abs(t) * (np.abs(np.log(t + 1e-7)) + 1) + p)
    assert np.all(loss >= at_target - resolution - 1e-6)
    # d/dp = 1 - t / (p + eps): at p = t it is eps / (t + eps), in [0, 1].
    assert np.all((np.asarray(grad) >= -1e-6) & (np.asarray(grad) <= 1 + 1e-6))
