"""Identities of the classification kernels (cross-entropy, focal, fused, CTC, robust).

Each follows from the mathematics: softmax is unchanged by a shift of the logits, focal
with gamma = 0 is the cross-entropy, integer labels are one-hot labels, label smoothing
is a change of labels, ``where`` is slicing. Checked by hypothesis under ``jax.jit``
(budget: ``tests/conftest.py``); the general properties of every kernel are in
``test_properties.py``.
"""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_cases import (
    BATCH,
    CASES,
    CLASSES,
    EPS32,
    LABEL,
    LOGIT,
    PROB,
    arrays,
    assert_close,
    class_indices,
    compiled,
    distributions,
    floats,
    one_hot,
    probability_rows,
    ref_softmax_ce,
)
from scipy.special import softmax

import jaxloss

SHAPE = (BATCH, CLASSES)
#: A per-class alpha (focal) = class weights (cross-entropy).
ALPHA = np.array([0.1, 0.25, 0.5, 0.75, 1.0], np.float32)
#: Logits on a grid of 2**-8 below 2**10: adding a shift on the same grid below 2**12
#: is exact in float32, so a shift-invariant loss must come back unchanged.
GRID_LOGIT = st.integers(-(2**18), 2**18).map(lambda k: k / 256.0)
GRID_SHIFT = st.integers(-(2**20), 2**20).map(lambda k: k / 256.0)


def _loss_scale(x):
    """float32 resolution of losses formed against each row's largest logit."""
    return 8 * EPS32 * np.max(np.abs(np.asarray(x, np.float64)), axis=-1)


#: Kernels that divide by a row's size (probability rows by their sum, vectors by their
#: norm): their gradients are differences of terms ~1 / size, whose rounding is absolute.
ROW_NORMALISED = (
    "categorical_cross_entropy",
    "sparse_categorical_cross_entropy",
    "categorical_focal_cross_entropy",
    "kl_divergence",
    "negative_cosine_similarity",
)


def _grad_atol(name, first):
    """Absolute gradient tolerance: float32 cancellation of the gradient's terms."""
    if name not in ROW_NORMALISED:
        return 2.5e-7  # p - y near p = 1: about two float32 ulps of 1
    first = np.abs(np.asarray(first, np.float64))
    atol = 1e-6 * (1 + 1 / np.maximum(first.max(-1, keepdims=True), 1e-30))
    if "categorical" in name:
        # The gradient jumps at the clip bounds of p / sum(p): within float32 rounding of a
        # bound, which side a kernel lands on is rounding (Keras's too). No comparison there.
        with np.errstate(invalid="ignore", divide="ignore"):
            c = first / first.sum(-1, keepdims=True)
        edge = (np.abs(c - (1 - 1e-7)) < 4e-7) | (np.abs(c - 1e-7) < 4e-14)
        atol = np.where(edge.any(-1, keepdims=True), np.inf, atol)
    return atol


def _per_class_alpha_focal(fn):
    @functools.wraps(fn)
    def focal(x, y, **kwargs):
        return fn(x, y, alpha=ALPHA, **kwargs)

    return focal


softmax_focal_per_class = _per_class_alpha_focal(jaxloss.softmax_focal_loss)
sparse_focal_per_class = _per_class_alpha_focal(jaxloss.sparse_softmax_focal_loss)


def sparse_ce_class_weights(x, y):
    return jaxloss.sparse_softmax_cross_entropy(x, y, class_weights=ALPHA)


# ------------------------------------------------------------------- shift invariance

SHIFT_INVARIANT = {
    "softmax_cross_entropy": ({"label_smoothing": 0.1},),
    "sparse_softmax_cross_entropy": ({}, {"label_smoothing": 0.1}),
    "softmax_focal_loss": ({"alpha": 0.25, "gamma": 0.5},),
    "sparse_softmax_focal_loss": ({"alpha": None, "gamma": 5.0},),
}


@pytest.mark.parametrize("name", sorted(SHIFT_INVARIANT))
@given(data=st.data())
def test_softmax_losses_unchanged_by_a_shift_of_the_logits(name, data):
    case = CASES[name]
    hparams = data.draw(st.sampled_from(SHIFT_INVARIANT[name]))
    x = data.draw(arrays(SHAPE, GRID_LOGIT))
    _, labels = data.draw(case.args)
    shift = np.array(data.draw(st.lists(GRID_SHIFT, min_size=BATCH, max_size=BATCH)), np.float32)
    shifted = x + shift[:, None]
    np.testing.assert_array_equal(shifted - shift[:, None], x)  # the shift is exact
    fn = compiled(case.fn, **hparams)
    (loss, grad), (want, want_grad) = fn(shifted, labels), fn(x, labels)
    atol = 1e-6 + _loss_scale(x) + _loss_scale(shifted)
    assert_close(loss, want, atol=atol)
    assert_close(grad, want_grad, atol=1e-6)


@given(data=st.data())
def test_ctc_unchanged_by_a_shift_of_each_frame(data):
    logits, labels = data.draw(CASES["ctc_loss"].args)
    logits = data.draw(arrays(logits.shape, GRID_LOGIT))
    shift = data.draw(arrays(logits.shape[:2] + (1,), GRID_SHIFT))
    fn = compiled(jaxloss.ctc_loss)
    (loss, grad), (want, want_grad) = fn(logits + shift, labels), fn(logits, labels)
    scale = 8 * EPS32 * logits.shape[1] * np.abs(logits + shift).max((1, 2))
    assert_close(loss, want, rtol=1e-5, atol=1e-5 + scale)
    assert_close(grad, want_grad, atol=1e-5)
    assert np.all(np.asarray(want) >= -1e-5 - scale)  # -log of a probability


# ------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("sparse", [False, True])
@given(data=st.data())
def test_softmax_cross_entropy_gradient_is_softmax_minus_labels(sparse, data):
    """Rows of the gradient sum to 0 (labels summing to 1, no smoothing, no mask)."""
    x = data.draw(arrays(SHAPE, LOGIT))
    if sparse:
        labels = data.draw(class_indices((BATCH,)))
        fn, y = jaxloss.sparse_softmax_cross_entropy, one_hot(labels)
    else:
        labels = y = data.draw(distributions(SHAPE))
        fn = jaxloss.softmax_cross_entropy
    _, grad = compiled(fn)(x, labels)
    grad = np.asarray(grad, np.float64)
    assert_close(grad, softmax(np.asarray(x, np.float64), axis=-1) - y, rtol=1e-5, atol=1e-6)
    assert_close(grad.sum(-1), 0.0, atol=4e-7)


# ------------------------------------------------------------- focal with gamma = 0


def _alpha_t(labels, alpha):
    return 1.0 if alpha is None else alpha * labels + (1 - alpha) * (1 - labels)


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@given(x=arrays(SHAPE, LOGIT), y=arrays(SHAPE, LABEL))
def test_sigmoid_focal_with_gamma_zero_is_balanced_cross_entropy(alpha, label_smoothing, x, y):
    loss, grad = compiled(
        jaxloss.sigmoid_focal_loss, alpha=alpha, gamma=0.0, label_smoothing=label_smoothing
    )(x, y)
    ce, ce_grad = compiled(
        jaxloss.sigmoid_binary_cross_entropy, label_smoothing=label_smoothing
    )(x, y)
    weight = _alpha_t(y * (1 - label_smoothing) + label_smoothing / 2, alpha)
    assert_close(loss, weight * np.asarray(ce, np.float64), rtol=1e-5, atol=1e-30)
    assert_close(grad, weight * np.asarray(ce_grad, np.float64), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@given(p=arrays(SHAPE, PROB), y=arrays(SHAPE, LABEL))
def test_binary_focal_with_gamma_zero_is_balanced_cross_entropy(alpha, label_smoothing, p, y):
    loss, grad = compiled(
        jaxloss.binary_focal_cross_entropy, alpha=alpha, gamma=0.0,
        label_smoothing=label_smoothing,
    )(p, y)
    ce, ce_grad = compiled(jaxloss.binary_cross_entropy, label_smoothing=label_smoothing)(p, y)
    weight = _alpha_t(y * (1 - label_smoothing) + label_smoothing / 2, alpha)
    assert_close(loss, weight * np.asarray(ce, np.float64), rtol=1e-6)
    assert_close(grad, weight * np.asarray(ce_grad, np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("alpha", [None, 0.25, "per class"])
@given(data=st.data())
def test_softmax_focal_with_gamma_zero_is_weighted_cross_entropy(sparse, alpha, data):
    x = data.draw(arrays(SHAPE, LOGIT))
    labels = data.draw(class_indices((BATCH,)) if sparse else distributions(SHAPE))
    y = one_hot(labels) if sparse else labels
    if alpha == "per class":
        focal = sparse_focal_per_class if sparse else softmax_focal_per_class
        loss, grad = compiled(focal, gamma=0.0)(x, labels)
        # -sum_c alpha_c y_c log p_c: the cross-entropy against the labels alpha * y.
        ce, ce_grad = compiled(jaxloss.softmax_cross_entropy)(x, ALPHA * y)
        if sparse:
            weighted, weighted_grad = compiled(sparse_ce_class_weights)(x, labels)
            assert_close(weighted, ce, rtol=1e-5, atol=1e-6 + _loss_scale(x))
            assert_close(weighted_grad, ce_grad, rtol=1e-5, atol=_grad_atol("", x))
        weight = 1.0
    else:
        kernel = jaxloss.sparse_softmax_focal_loss if sparse else jaxloss.softmax_focal_loss
        loss, grad = compiled(kernel, alpha=alpha, gamma=0.0)(x, labels)
        ce, ce_grad = compiled(jaxloss.softmax_cross_entropy)(x, y)
        weight = 1.0 if alpha is None else alpha
    ce, ce_grad = weight * np.asarray(ce, np.float64), weight * np.asarray(ce_grad, np.float64)
    assert_close(loss, ce, rtol=1e-5, atol=1e-6 + _loss_scale(x))
    assert_close(grad, ce_grad, rtol=1e-5, atol=_grad_atol("softmax_focal_loss", x))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@given(p=probability_rows(SHAPE), y=distributions(SHAPE))
def test_categorical_focal_with_gamma_zero_is_cross_entropy(label_smoothing, p, y):
    loss, grad = compiled(
        jaxloss.categorical_focal_cross_entropy, alpha=None, gamma=0.0,
        label_smoothing=label_smoothing,
    )(p, y)
    ce, ce_grad = compiled(jaxloss.categorical_cross_entropy, label_smoothing=label_smoothing)(p, y)
    assert_close(loss, ce, rtol=1e-6)
    # The gradient's terms -y_c / p_c and sum(y) / sum(p) cancel: absolute error ~ their size.
    assert_close(grad, ce_grad, rtol=1e-5, atol=_grad_atol("categorical_cross_entropy", p))


FOCAL_AND_CE = {
    "sigmoid_focal_loss": ("sigmoid_binary_cross_entropy", LOGIT, LABEL),
    "binary_focal_cross_entropy": ("binary_cross_entropy", PROB, LABEL),
    "softmax_focal_loss": ("softmax_cross_entropy", None, None),
    "sparse_softmax_focal_loss": ("sparse_softmax_cross_entropy", None, None),
    "categorical_focal_cross_entropy": ("categorical_cross_entropy", None, None),
}


@pytest.mark.parametrize("name", sorted(FOCAL_AND_CE))
@given(data=st.data())
def test_focal_never_exceeds_cross_entropy(name, data):
    """(1 - p_t) ** gamma <= 1: the focal loss without alpha is at most the cross-entropy."""
    ce_name, first, second = FOCAL_AND_CE[name]
    gamma = data.draw(st.sampled_from([1.0, 5.0]))
    if first is None:
        args = data.draw(CASES[name].args)
    else:
        args = data.draw(arrays(SHAPE, first)), data.draw(arrays(SHAPE, second))
    loss, _ = compiled(CASES[name].fn, alpha=None, gamma=gamma)(*args)
    ce, _ = compiled(CASES[ce_name].fn)(*args)
    loss, ce = np.asarray(loss), np.asarray(ce, np.float64)
    both_nan = np.isnan(loss) & np.isnan(ce)  # probability rows summing to 0 (documented)
    assert np.all(both_nan | (loss <= ce * (1 + 1e-5) + 1e-7)), (loss, ce)


# --------------------------------------------------- integer labels and one-hot labels


SPARSE_AND_DENSE = {
    "sparse_softmax_cross_entropy": ("softmax_cross_entropy", {"label_smoothing": 0.1}),
    "sparse_categorical_cross_entropy": ("categorical_cross_entropy", {}),
    "sparse_softmax_focal_loss": ("softmax_focal_loss", {"alpha": 0.25, "gamma": 0.5}),
}


@pytest.mark.parametrize("name", sorted(SPARSE_AND_DENSE))
@given(data=st.data())
def test_integer_labels_equal_one_hot_labels(name, data):
    dense_name, hparams = SPARSE_AND_DENSE[name]
    first, labels = data.draw(CASES[name].args)
    loss, grad = compiled(CASES[name].fn, **hparams)(first, labels)
    want, want_grad = compiled(CASES[dense_name].fn, **hparams)(first, one_hot(labels))
    scale = _loss_scale(first) if "softmax" in name else 0.0
    assert_close(loss, want, rtol=1e-5, atol=1e-6 + scale)
    assert_close(grad, want_grad, rtol=1e-5, atol=_grad_atol(name, first))


@given(data=st.data())
def test_ignored_labels_give_zero_and_leave_the_rest_unchanged(data):
    x, labels = data.draw(CASES["sparse_softmax_cross_entropy"].args)
    ignored = data.draw(arrays((BATCH,), st.booleans(), dtype=bool))
    marked = np.where(ignored, -100, labels).astype(np.int32)
    loss, grad = compiled(jaxloss.sparse_softmax_cross_entropy, ignore_index=-100)(x, marked)
    want, want_grad = compiled(jaxloss.sparse_softmax_cross_entropy)(x, labels)
    assert_close(loss, np.where(ignored, 0.0, want), atol=0)
    assert_close(grad, np.where(ignored[:, None], 0.0, want_grad), atol=0)


# ------------------------------------------------------------------- label smoothing


SMOOTHED = {
    "sigmoid_binary_cross_entropy": (LOGIT, LABEL, 2),
    "binary_cross_entropy": (PROB, LABEL, 2),
    "sigmoid_focal_loss": (LOGIT, LABEL, 2),
    "binary_focal_cross_entropy": (PROB, LABEL, 2),
    "softmax_cross_entropy": (None, None, CLASSES),
    "categorical_cross_entropy": (None, None, CLASSES),
    "categorical_focal_cross_entropy": (None, None, CLASSES),
}


@pytest.mark.parametrize("name", sorted(SMOOTHED))
@given(data=st.data())
def test_label_smoothing_is_a_change_of_labels_and_zero_is_the_identity(name, data):
    """``s`` gives the loss of the labels ``y (1 - s) + s / K``; ``s = 0`` changes nothing."""
    first, second, num = SMOOTHED[name]
    if first is None:
        args = data.draw(CASES[name].args)
    else:
        args = data.draw(arrays(SHAPE, first)), data.draw(arrays(SHAPE, second))
    x, y = args
    hparams = {"alpha": 0.25, "gamma": 2.0} if "focal" in name else {}
    fn = CASES[name].fn
    plain = compiled(fn, **hparams)(x, y)
    zero = compiled(fn, label_smoothing=0.0, **hparams)(x, y)
    for got, want in zip(zero, plain):
        np.testing.assert_array_equal(got, want)
    s = 0.1
    smoothed = compiled(fn, label_smoothing=s, **hparams)(x, y)
    relabelled = compiled(fn, **hparams)(x, (y * (1 - s) + s / num).astype(np.float32))
    atol = 1e-6 + (_loss_scale(x) if "softmax" in name else 0.0)
    assert_close(smoothed[0], relabelled[0], rtol=1e-5, atol=atol)
    # The smoothed labels round differently in float32 (by ~6e-8), and focal gradients
    # amplify that through (2y - 1) and log(epsilon) terms: 4e-6 absolute.
    atol = np.maximum(_grad_atol(name, x), 4e-6 if "focal" in name else 0.0)
    assert_close(smoothed[1], relabelled[1], rtol=1e-5, atol=atol)


# -------------------------------------------------------------- where equals slicing

KEPT = np.array([True, False, True, True, False])
#: Labels among the kept classes, and their index after slicing.
KEPT_LABELS = st.lists(st.sampled_from([0, 2, 3]), min_size=BATCH, max_size=BATCH).map(
    lambda labels: np.array(labels, np.int32)
)
SLICED_INDEX = np.cumsum(KEPT) - 1

CLASS_MASKED = (
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "categorical_cross_entropy",
    "sparse_categorical_cross_entropy",
    "softmax_focal_loss",
    "sparse_softmax_focal_loss",
    "categorical_focal_cross_entropy",
    "categorical_hinge_loss",
    "kl_divergence",
    "negative_cosine_similarity",
)


@pytest.mark.parametrize("name", CLASS_MASKED)
@given(data=st.data())
def test_where_over_classes_equals_slicing(name, data):
    case = CASES[name]
    hparams = case.hparams[-1]
    if name == "negative_cosine_similarity":
        first = data.draw(arrays(SHAPE, floats(-1e3, 1e3)))
        second = data.draw(arrays(SHAPE, floats(-1e3, 1e3)))
    else:
        first, second = data.draw(case.args)
    if np.issubdtype(second.dtype, np.integer):
        second = data.draw(KEPT_LABELS)
        sliced_second = SLICED_INDEX[second].astype(np.int32)
    else:
        sliced_second = second[:, KEPT]
        if name == "categorical_hinge_loss":  # one-hot among the kept classes
            second = one_hot(data.draw(KEPT_LABELS))
            sliced_second = second[:, KEPT]
    loss, grad = compiled(case.fn, "masked", **hparams)(first, second, where=KEPT)
    want, want_grad = compiled(case.fn, **hparams)(first[:, KEPT], sliced_second)
    scale = case.scale(first, second) if case.scale else 0.0
    assert_close(loss, want, rtol=1e-5, atol=1e-6 + scale)
    grad = np.asarray(grad)
    assert_close(grad[:, KEPT], want_grad, rtol=1e-5, atol=_grad_atol(name, first[:, KEPT]))
    assert np.all(grad[:, ~KEPT] == 0)


# ------------------------------------------------------------------ fused and robust


@given(data=st.data())
def test_fused_cross_entropy_independent_of_chunking_and_sharding(data):
    h, w, labels = data.draw(CASES["fused_linear_cross_entropy"].args)
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    scale = CASES["fused_linear_cross_entropy"].scale(h, w, labels)
    loss, grad = compiled(CASES["fused_linear_cross_entropy"].fn, label_smoothing=smoothing)(
        h, w, labels
    )
    for chunk_size in (1, 7):
        other = compiled(
            CASES["fused_linear_cross_entropy"].fn, label_smoothing=smoothing,
            chunk_size=chunk_size,
        )(h, w, labels)
        assert_close(other[0], loss, rtol=1e-6, atol=scale)
        # d hidden sums softmax-weighted columns of w: its rounding scales with |w|.
        assert_close(other[1], grad, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())))
    explicit = ref_softmax_ce(h.astype(np.float64) @ w, one_hot(labels, 7), smoothing)
    assert_close(loss, explicit, rtol=1e-5, atol=scale)


@given(p=probability_rows(SHAPE), labels=class_indices((BATCH,)))
def test_generalized_cross_entropy_lies_between_mae_and_cross_entropy(p, labels):
    """(1 - p**q) / q decreases in q: from -log p (q -> 0) to 1 - p (q = 1)."""
    true = np.take_along_axis(p.astype(np.float64), labels[:, None], -1)[:, 0]
    mae, _ = compiled(jaxloss.generalized_cross_entropy, q=1.0)(p, labels)
    assert_close(mae, 1 - true, atol=1e-7)
    values = [np.asarray(compiled(jaxloss.generalized_cross_entropy, q=q)(p, labels)[0])
              for q in (1.0, 0.5, 0.1)]
    assert np.all(np.diff(values, axis=0) >= -1e-6)
    with np.errstate(divide="ignore"):
        assert np.all(values[-1] <= -np.log(true) + 1e-5)
