"""Softmax cross-entropy with dense labels against float64 NumPy references."""

import jax
import numpy as np
import pytest
from cross_entropy_references import (
    EXTREME,
    assert_close,
    check_against_reference,
    loss_and_grad,
    ref_log_softmax,
    ref_smooth,
    ref_softmax_ce,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxloss


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_matches_reference(logits, soft_labels, smoothing):
    value, (g_logits, g_labels) = loss_and_grad(
        jaxloss.softmax_cross_entropy, logits, soft_labels, argnums=(0, 1), label_smoothing=smoothing
    )
    y = ref_smooth(soft_labels.astype(np.float64), smoothing)
    assert_close(value, ref_softmax_ce(logits, y))
    p = np.exp(ref_log_softmax(logits))
    assert_close(g_logits, y.sum(-1, keepdims=True) * p - y)
    assert_close(g_labels, -(1 - smoothing) * ref_log_softmax(logits), rtol=1e-5)


def test_forward_over_reverse_hessian_equals_reverse_over_reverse(logits, soft_labels):
    fn = lambda x: jaxloss.softmax_cross_entropy(x, soft_labels).sum()
    forward_over_reverse = jax.jit(jax.hessian(fn))(logits)
    reverse_over_reverse = jax.jit(jax.jacrev(jax.grad(fn)))(logits)
    np.testing.assert_allclose(forward_over_reverse, reverse_over_reverse, rtol=1e-6, atol=1e-7)


_jitted_dense = jax.jit(
    jax.value_and_grad(lambda x, y: jaxloss.softmax_cross_entropy(x, y).sum())
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(EXTREME, min_size=3, max_size=3),
    st.lists(st.sampled_from([0.0, 1.0, 0.25, 0.5]), min_size=3, max_size=3),
)
def test_softmax_extreme_logits_soft_labels(row, label_row):
    x, y = np.array([row], np.float32), np.array([label_row], np.float32)
    value, grad = _jitted_dense(x, y)
    assert np.all(np.isfinite(grad))
    check_against_reference(float(value), float(ref_softmax_ce(x, y)[0]))
    expected_grad = y.sum() * np.exp(ref_log_softmax(x)) - y
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_classes", [3, 32, 33, 1000])
def test_softmax_value_and_grad_at_extreme_logits_for_short_and_long_rows(num_classes):
    # The differentiated forward, short rows and long: the exact loss or inf, and finite
    # gradients, for rows spanning float32's range (x - m overflows to -inf there).
    x = np.zeros((4, num_classes), np.float32)
    x[0, :2] = [3e38, -3e38]
    x[1, :2] = [3e38, -3e38]
    x[2, :2] = [-3e38, 3e38]
    x[3, :] = np.linspace(-5.0, 5.0, num_classes)
    y = np.zeros_like(x)
    y[0, 0] = 1.0  # the max: loss 0
    y[1, 1] = 1.0  # 6e38 below the max: inf
    y[2, :2] = [0.5, 0.5]  # half on each: 3e38, finite
    y[3, :] = 1.0 / num_classes
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(
        lambda a, b: jaxloss.softmax_cross_entropy(a, b))))(x, y)
    assert np.all(np.isfinite(grad))
    for row in range(4):
        check_against_reference(float(value[row]), float(ref_softmax_ce(x[row:row + 1],
                                                                         y[row:row + 1])[0]))
    assert value[1] == np.inf and np.isfinite(value[2])


def test_softmax_forward_alone_matches_the_differentiated_forward_at_extreme_logits():
    # The non-differentiated forward recomputes rows whose x - m overflows (0 * inf) from halves.
    x = np.array([[3e38, -3e38, 0.0], [3e38, -3e38, 0.0], [1.0, 2.0, 3.0]], np.float32)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], np.float32)
    alone = jax.jit(jaxloss.softmax_cross_entropy)(x, y)
    differentiated = jax.jit(
        lambda x: jax.vjp(lambda a: jaxloss.softmax_cross_entropy(a, y), x)[0]
    )(x)
    np.testing.assert_array_equal(alone[:2], [0.0, np.inf])
    np.testing.assert_allclose(alone, differentiated, rtol=1e-6)
    np.testing.assert_allclose(alone[2], ref_softmax_ce(x[2:], y[2:])[0], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.2}, {"where": np.array([True, False, True, True, True])}])
def test_precise_dense_agrees_with_default_on_ordinary_inputs(kwargs, rng):
    x = np.asarray(rng.normal(size=(16, 5)) * 3, np.float32)
    x[0] = [4.0, 4.0, 0.0, 4.0, -1.0]
    y = np.asarray(rng.dirichlet(np.ones(5), size=16), np.float32)
    default = loss_and_grad(jaxloss.softmax_cross_entropy, x, y, **kwargs)
    precise = loss_and_grad(jaxloss.softmax_cross_entropy, x, y, precise=True, **kwargs)
    for got, want in zip(precise, default, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2.4e-7)


_TEMP_ROWS, _TEMP_CLASSES = 256, 4096


def _temporaries_over_logits(fn, *specs):
    compiled = jax.jit(fn).lower(*specs).compile()
    return compiled.memory_analysis().temp_size_in_bytes / (_TEMP_ROWS * _TEMP_CLASSES * 4)


@pytest.mark.parametrize(
    ("labels_form", "forward_limit", "step_limit"),
    [("array", 0.01, 0.01), ("one_hot", 1.01, 1.01)],
)
def test_softmax_temporaries_stay_within_the_labels_it_must_hold(
    labels_form, forward_limit, step_limit
):
    """Compile only: per-row temporaries for labels passed in; one labels-sized array (the
    one-hot built inside jit) when they are built, forward alone or with the gradient."""
    logits = jax.ShapeDtypeStruct((_TEMP_ROWS, _TEMP_CLASSES), np.float32)
    if labels_form == "array":
        labels = jax.ShapeDtypeStruct((_TEMP_ROWS, _TEMP_CLASSES), np.float32)
        loss = jaxloss.softmax_cross_entropy
    else:
        labels = jax.ShapeDtypeStruct((_TEMP_ROWS,), np.int32)
        loss = lambda x, y: jaxloss.softmax_cross_entropy(x, jax.nn.one_hot(y, _TEMP_CLASSES))
    step = jax.value_and_grad(lambda x, y: loss(x, y).sum())
    assert _temporaries_over_logits(loss, logits, labels) <= forward_limit
    assert _temporaries_over_logits(step, logits, labels) <= step_limit


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"z_loss": 1e-3}, {"logit_soft_cap": 30.0}, {"precise": True}, {"label_smoothing": 0.1},
     {"where": np.array([True, True, False, True, True, True])}],
)
@pytest.mark.parametrize("edge_row", ["none", "masked_minus_inf", "label_on_minus_inf",
                                      "whole_range", "all_minus_inf"])
def test_softmax_loss_alone_equals_the_differentiated_forward(kwargs, edge_row, rng):
    # The loss alone takes one product per class, and the exact form of the differentiated
    # forward only for a batch that holds a row the first cannot give: both agree.
    x = np.asarray(rng.normal(size=(8, 6)) * 4, np.float32)
    y = np.asarray(rng.dirichlet(np.ones(6), size=8), np.float32)
    if edge_row == "masked_minus_inf":
        x[1, 2], y[1, 2] = -np.inf, 0.0
    elif edge_row == "label_on_minus_inf":
        x[1, 3] = -np.inf
    elif edge_row == "whole_range":
        x[1, :2], y[1] = [3e38, -3e38], [0.5, 0.5, 0, 0, 0, 0]
    elif edge_row == "all_minus_inf":
        x[1], y[1] = -np.inf, 0.0
    alone = jax.jit(lambda a, b: jaxloss.softmax_cross_entropy(a, b, **kwargs))(x, y)
    differentiated = jax.jit(lambda a, b: jax.vjp(
        lambda v: jaxloss.softmax_cross_entropy(v, b, **kwargs), a)[0])(x, y)
    assert not np.any(np.isnan(alone))
    np.testing.assert_allclose(alone, differentiated, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("num_classes", [10, 31, 32, 64])
def test_softmax_differentiated_forward_at_edge_rows_for_narrow_and_wide_rows(num_classes, rng):
    # Narrow rows sum the labelled half gaps with a select and no guard, wide ones without
    # the select under the guard: both give the reference loss or inf, never NaN, with
    # finite gradients, also with a mask and at a large offset (x - m exact near the max),
    # and the loss alone agrees.
    x = np.asarray(rng.normal(size=(6, num_classes)) * 4, np.float32)
    y = np.asarray(rng.dirichlet(np.ones(num_classes), size=6), np.float32)
    x[0, 2], y[0, 2] = -np.inf, 0.0  # a mask
    x[1, 3] = -np.inf  # a label on -inf: inf
    x[2, :2], y[2] = [3e38, -3e38], 0.0
    y[2, :2] = [0.5, 0.5]  # spans float32's range: 3e38
    x[3], y[3] = -np.inf, 0.0  # nothing left: 0
    x[4] += 1e4  # a large offset
    where = np.ones((6, num_classes), bool)
    where[5, 1:3], y[5, 1:3] = False, 0.0
    value, grad = jax.jit(jax.value_and_grad(
        lambda a, b: jaxloss.softmax_cross_entropy(a, b, where=where).sum()))(x, y)
    rows = jax.jit(lambda a, b: jax.vjp(
        lambda v: jaxloss.softmax_cross_entropy(v, b, where=where), a)[0])(x, y)
    assert np.all(np.isfinite(grad))
    alone = jax.jit(lambda a, b: jaxloss.softmax_cross_entropy(a, b, where=where))(x, y)
    assert not np.any(np.isnan(rows)) and np.isposinf(rows[1]) and rows[3] == 0.0
    np.testing.assert_allclose(alone, rows, rtol=2e-6, atol=1e-6)
    kept = where & np.isfinite(x)
    expected = ref_softmax_ce(np.where(kept, x, 0.0), y, kept)
    assert not np.any(np.isnan(expected[[0, 2, 4, 5]]))
    for row in (0, 2, 4, 5):
        check_against_reference(float(rows[row]), float(expected[row]))
    assert value == np.inf


@pytest.mark.parametrize("shape", [(4096, 1000), (65536, 10), (1024, 64), (64, 50000)])
def test_softmax_loss_alone_holds_no_logits_sized_temporary(shape):
    """Compile only: the one-product form and its guard stay within a few per-row arrays
    (six float32 values a row, and 1% of the logits), below one logits-sized array."""
    spec = jax.ShapeDtypeStruct(shape, np.float32)
    rows, logits_bytes = shape[0], shape[0] * shape[1] * 4
    for loss in (jaxloss.softmax_cross_entropy,
                 jax.value_and_grad(lambda x, y: jaxloss.softmax_cross_entropy(x, y).sum())):
        compiled = jax.jit(loss).lower(spec, spec).compile()
        assert compiled.memory_analysis().temp_size_in_bytes <= 6 * 4 * rows + logits_bytes // 100
