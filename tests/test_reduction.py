"""The one list of reduction names and the one reduction, as each caller uses them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss._src import reduction
from jaxloss.train import objectives

VALUES = np.array([0.5, 2.0, 0.0, 1.5], np.float32)
VALUES64 = VALUES.astype(np.float64)
COUNTED = np.array([True, True, False, True])
WEIGHTS = np.array([1.0, 0.5, 0.0, 2.0], np.float32)


def test_each_callers_names_come_from_the_one_list():
    every = set(reduction.REDUCTIONS)
    assert set(reduction.SCALAR_REDUCTIONS) | set(reduction.NO_REDUCTION) == every
    assert set(reduction.TORCH_REDUCTIONS) <= set(reduction.REDUCTIONS)
    assert set(reduction.ENTRY_MEANS) <= set(reduction.SCALAR_REDUCTIONS)
    assert set(objectives.KNOWN_REDUCTIONS) == {*reduction.SCALAR_REDUCTIONS, reduction.AUTO}
    assert set(objectives.BATCH_SIZE_REDUCTIONS) == {*reduction.ENTRY_MEANS, reduction.AUTO}


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("sum", {}, np.sum(VALUES64)),
        ("sum_over_batch_size", {}, np.mean(VALUES64)),
        ("mean", {"counted": COUNTED}, np.sum(VALUES64) / 3),
        ("mean_with_sample_weight", {"sample_weight": WEIGHTS}, np.sum(VALUES64) / 3.5),
        ("mean_with_sample_weight", {}, np.mean(VALUES64)),
    ],
)
def test_reduce_losses_divides_by_what_the_name_says(name, options, expected):
    options = {key: jnp.asarray(value) for key, value in options.items()}
    actual = jax.jit(lambda v: reduction.reduce_losses(v, name, **options))(VALUES)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


@pytest.mark.parametrize("name", reduction.NO_REDUCTION)
def test_no_reduction_returns_the_values(name):
    np.testing.assert_array_equal(reduction.reduce_losses(jnp.asarray(VALUES), name), VALUES)


def test_weights_summing_to_zero_give_zero_and_a_zero_gradient():
    weights = jnp.zeros(4, jnp.float32)
    value, grad = jax.value_and_grad(
        lambda v: reduction.reduce_losses(v, "mean_with_sample_weight", sample_weight=weights)
    )(VALUES)
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros(4, np.float32))


def test_nothing_counted_gives_zero_for_the_zeroed_entries_and_divides_by_one():
    # The caller zeroes the entries that do not count (the fused loss's ignored tokens).
    counted = jnp.zeros(4, bool)
    zeroed = jnp.zeros(4, jnp.float32)
    value, grad = jax.value_and_grad(
        lambda v: reduction.reduce_losses(v, "mean", counted=counted)
    )(zeroed)
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.ones(4, np.float32))


@pytest.mark.parametrize("name", ["auto", "avg", "", 0, "SUM", ["sum"]])
def test_unknown_names_raise_listing_the_accepted_ones(name):
    with pytest.raises(ValueError, match=r"Invalid `reduction`=.*'mean', 'sum', 'none'"):
        reduction.check_reduction(name, reduction.TORCH_REDUCTIONS)
    with pytest.raises(ValueError, match=r"Invalid `reduction`=.*'sum_over_batch_size'"):
        reduction.reduce_losses(jnp.asarray(VALUES), name)
