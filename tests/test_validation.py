"""The shared input checks: each raises a ValueError that names the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss._src import validation


def test_check_floating_names_argument_and_dtype():
    with pytest.raises(ValueError, match=r"`logits` must have a floating-point dtype, got int32"):
        validation.check_floating("logits", jnp.zeros((2, 3), jnp.int32))
    validation.check_floating("logits", jnp.zeros((2, 3), jnp.bfloat16))


def test_check_integer_rejects_float_labels():
    with pytest.raises(ValueError, match=r"`labels` must hold integer class indices"):
        validation.check_integer("labels", jnp.zeros((2,), jnp.float32))
    validation.check_integer("labels", jnp.zeros((2,), jnp.int8))


def test_check_same_shape_reports_both_shapes():
    with pytest.raises(ValueError, match=r"logits.shape=\(2, 3\) and labels.shape=\(3, 2\)"):
        validation.check_same_shape("logits", jnp.zeros((2, 3)), "labels", jnp.zeros((3, 2)))


@pytest.mark.parametrize("axis, ndim, expected", [(-1, 2, 1), (0, 3, 0), (2, 3, 2), (-3, 3, 0)])
def test_canonical_axis(axis, ndim, expected):
    assert validation.canonical_axis(axis, ndim) == expected


@pytest.mark.parametrize("axis", [2, -3, 1.0, True])
def test_canonical_axis_out_of_range(axis):
    with pytest.raises(ValueError, match="`axis`"):
        validation.canonical_axis(axis, 2)


def test_check_in_interval():
    validation.check_in_interval("alpha", 0.0, 0.0, 1.0)
    validation.check_in_interval("alpha", np.array([0.2, 1.0]), 0.0, 1.0)
    for bad in (-0.1, 1.5, float("nan"), np.array([0.5, 2.0])):
        with pytest.raises(ValueError, match=r"`alpha` must lie in \[0.0, 1.0\]"):
            validation.check_in_interval("alpha", bad, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"`delta` must lie in \(0.0, inf\]"):
        validation.check_positive("delta", 0.0)


def test_traced_hyperparameters_are_not_checked_at_trace_time():
    @jax.jit
    def f(gamma):
        validation.check_non_negative("gamma", gamma)
        return gamma

    assert float(f(-1.0)) == -1.0


def test_check_where():
    validation.check_where("where", jnp.ones((4, 1), bool), (4, 3))
    with pytest.raises(ValueError, match="boolean mask"):
        validation.check_where("where", jnp.ones((4,), jnp.float32), (4,))
    with pytest.raises(ValueError, match=r"does not broadcast to the per-example loss shape \(4,\)"):
        validation.check_where("where", jnp.ones((3,), bool), (4,))


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ((jnp.float16,), jnp.float32),
        ((jnp.bfloat16, jnp.bfloat16), jnp.float32),
        ((jnp.float32, jnp.int32), jnp.float32),
        ((jnp.int32,), jnp.float32),
    ],
)
def test_compute_dtype(dtypes, expected):
    arrays = [jnp.zeros((2,), d) for d in dtypes]
    assert validation.compute_dtype(*arrays) == jnp.dtype(expected)


def test_nan_where_and_apply_where():
    values = jnp.array([1.0, 2.0, 3.0])
    flagged = validation.nan_where(jnp.array([False, True, False]), values)
    assert np.isnan(flagged[1]) and flagged[0] == 1.0
    masked = validation.apply_where(values, jnp.array([True, False, True]))
    np.testing.assert_array_equal(masked, [1.0, 0.0, 3.0])
