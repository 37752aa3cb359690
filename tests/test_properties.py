"""Properties every public kernel has, checked by hypothesis over its whole input domain.

The kernels, their input strategies and float64 references are tabulated in
``tests/property_cases.py``. The budget comes from the hypothesis profile
(``tests/conftest.py``): a small derandomized one by default, ``HYPOTHESIS_PROFILE=thorough``
for a long search. The identities of each family are in ``test_properties_<family>.py``.
"""

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_cases import BATCH, CASES, F32_MAX, assert_close, compiled

import jaxloss


def test_every_public_kernel_has_a_case():
    public = {
        name for name, value in vars(jaxloss).items()
        if inspect.isfunction(value) and value.__module__ != "jaxloss._src.checks"
    }
    assert public == set(KERNELS)


KERNELS = sorted(CASES)


def _rows(mask, shape):
    """Broadcast a per-example (or per-element) boolean to ``shape``."""
    mask = np.asarray(mask, bool)
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)), shape)


@pytest.mark.parametrize("name", KERNELS)
@given(data=st.data())
def test_loss_and_gradient_are_finite_and_match_float64(name, data):
    """Loss within 1e-5 of float64 (inf exactly where the true value exceeds float32,
    NaN exactly where the input rules say so); gradient finite where its value fits."""
    case = CASES[name]
    hparams = data.draw(st.sampled_from(case.hparams), label="hparams")
    args = data.draw(case.args, label="args")
    loss, grad = compiled(case.fn, **hparams)(*args)
    loss, grad = np.asarray(loss, np.float64), np.asarray(grad, np.float64)
    with np.errstate(all="ignore"):
        want = np.asarray(case.reference(*args, **hparams), np.float64)
        nan_rows = np.zeros(loss.shape, bool)
        if case.documented_nan is not None:
            nan_rows = np.asarray(case.documented_nan(*args))
        np.testing.assert_array_equal(np.isnan(loss), nan_rows, err_msg="NaN loss")
        overflow = np.abs(want) > F32_MAX * (1 + 1e-5)
        fits = ~nan_rows & ~overflow & (np.abs(want) <= F32_MAX * (1 - 1e-5))
        assert np.all(np.isfinite(loss[fits])), (loss, want)
        np.testing.assert_array_equal(loss[overflow], np.sign(want[overflow]) * np.inf)
        atol = 1e-6 + (0.0 if case.scale is None else case.scale(*args))
        error = np.abs(loss - want)
        bad = fits & (error > 1e-5 * np.abs(want) + atol)
        assert not bad.any(), (loss[bad], want[bad], hparams)
        grad_ok = ~_rows(nan_rows, grad.shape)
        assert not np.isnan(grad[grad_ok]).any(), grad
        if case.grad_may_overflow is not None:
            grad_ok &= ~_rows(case.grad_may_overflow(*args), grad.shape)
        assert np.all(np.isfinite(grad[grad_ok])), grad


@pytest.mark.parametrize("name", KERNELS)
@given(data=st.data())
def test_batch_permutation_vmap_and_example_mask(name, data):
    """Permuting the batch permutes the losses; vmap over stacked batches equals the calls;
    a mask selecting whole examples gives them the masked value (and gradient 0).
    Hyperparameters do not change these: only the last set is compiled."""
    case = CASES[name]
    hparams = case.hparams[-1]
    args = data.draw(case.args, label="args")
    order = np.array(data.draw(st.permutations(range(BATCH)), label="order"))
    loss, _ = compiled(case.fn, **hparams)(*args)
    loss = np.asarray(loss)
    # Reordered or re-fused float32 arithmetic may round differently (fused kernels' logits).
    with np.errstate(all="ignore"):
        atol = np.broadcast_to(1e-7 if case.scale is None else case.scale(*args), loss.shape)
    permuted = [a[order] if axis == 0 else a for a, axis in zip(args, case.batch_axes)]
    permuted_loss = np.asarray(compiled(case.fn, **hparams)(*permuted)[0])
    assert_close(permuted_loss, loss[order], atol=atol[order])

    in_axes = tuple(None if axis is None else 0 for axis in case.batch_axes)
    stacked = [a if axis is None else np.stack([a, p])
               for a, p, axis in zip(args, permuted, case.batch_axes)]
    mapped = compiled(case.fn, "vmap", in_axes=in_axes, **hparams)(*stacked)
    assert_close(mapped[0], loss, atol=atol)
    assert_close(mapped[1], permuted_loss, atol=atol[order])

    if case.where_shape is None:
        return
    keep = data.draw(hnp.arrays(bool, BATCH), label="keep")
    masked, grad = compiled(case.fn, "masked", **hparams)(*args, where=keep.reshape(case.where_shape))
    want = np.where(_rows(keep, loss.shape), loss, case.masked_value)
    assert_close(masked, want, atol=atol)
    if case.masked_grad_is_zero:
        assert np.all(np.asarray(grad)[~keep] == 0)
