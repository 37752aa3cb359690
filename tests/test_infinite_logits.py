"""Infinite logits, in every kernel and Keras-layer class that takes logits.

The rules (README, "Input rules"):

1. a ``-inf`` logit on a class whose label weight is 0 is a mask: the loss is the loss
   without that class, and the logit gradient there is 0;
2. sigmoid forms: ``-inf`` with label 0 and ``+inf`` with label 1 cost exactly 0, gradient 0;
3. a loss that is truly infinite (label weight above 0 on a ``-inf`` class, or on the wrong
   side of an infinite sigmoid logit) is ``+inf``, never NaN, and its logit gradient is the
   finite limit.

A ``+inf`` logit in a softmax form gives NaN for its row (pinned below).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import losses

INF = np.inf
NUM_CLASSES = 40  # above 32, so that sparse precise=True takes its label-exclusion form


def _softmax_inputs():
    """Rows: -inf masks (finite loss), a label on a -inf class, all -inf with a label."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(5, NUM_CLASSES)) * 3).astype(np.float32)
    logits[0, [1, 4, 7]] = -INF
    logits[1, ::2] = -INF
    logits[2, 5] = -INF
    logits[3, :] = -INF
    logits[4, 1:] = -INF  # one finite class: loss 0 for a label on it
    labels = np.array([2, 3, 5, 0, 0])
    return logits, labels


def _dense_labels(labels):
    dense = np.eye(NUM_CLASSES)[labels]
    dense[0] = 0.0
    dense[0, [0, 2, 3]] = [0.2, 0.5, 0.3]  # soft labels, none on the -inf classes
    return dense.astype(np.float32)


def ref_softmax_loss_and_grad(logits, labels, alpha=None, gamma=0.0):
    """Float64 ``-sum_c a_c y_c (1 - p_c)^gamma log p_c`` and its logit gradient, the softmax
    taken over the finite classes (``p = 0``, ``log p = -inf`` at the others)."""
    x = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    a = np.ones_like(y) if alpha is None else np.broadcast_to(alpha, y.shape)
    finite = np.isfinite(x)
    shifted = np.where(finite, x - np.max(np.where(finite, x, -1e300), -1, keepdims=True), 0.0)
    exp = np.where(finite, np.exp(shifted), 0.0)
    total = np.sum(exp, -1, keepdims=True)
    p = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    with np.errstate(divide="ignore"):
        log_p = np.where(finite, shifted - np.log(np.where(total > 0, total, 1.0)), -INF)
    weighted = a * y
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(weighted > 0, -weighted * (1 - p) ** gamma * log_p, 0.0)
        p_log_p = np.where(p > 0, p * log_p, 0.0)
        # f'_c = d term_c / d log p_c = -a y ((1 - p)^gamma - gamma (1 - p)^(gamma - 1) p log p)
        focal_part = np.where(
            (gamma > 0) & (p < 1), gamma * (1 - p) ** (gamma - 1) * p_log_p, 0.0
        )
        d_log_p = -weighted * ((1 - p) ** gamma - focal_part)
    grad = d_log_p - p * np.sum(d_log_p, -1, keepdims=True)
    return np.sum(terms, -1), grad


def _sparse(kernel, **kwargs):
    return lambda x, y_int, y_dense: kernel(x, y_int, **kwargs)


def _dense(kernel, **kwargs):
    return lambda x, y_int, y_dense: kernel(x, y_dense, **kwargs)


def _keras(cls, labels="dense", **kwargs):
    loss = cls(from_logits=True, reduction=None, **kwargs)
    if labels == "dense":
        return lambda x, y_int, y_dense: loss(y_dense, x)
    return lambda x, y_int, y_dense: loss(y_int, x)


# name: (loss(logits, int labels, dense labels), smoothing, alpha, gamma)
SOFTMAX_FORMS = {
    "softmax_cross_entropy": (_dense(jaxloss.softmax_cross_entropy), 0.0, None, 0.0),
    "softmax_cross_entropy precise": (
        _dense(jaxloss.softmax_cross_entropy, precise=True), 0.0, None, 0.0
    ),
    "sparse_softmax_cross_entropy": (_sparse(jaxloss.sparse_softmax_cross_entropy), 0.0, None, 0.0),
    "sparse_softmax_cross_entropy precise": (
        _sparse(jaxloss.sparse_softmax_cross_entropy, precise=True), 0.0, None, 0.0
    ),
    "sparse_softmax_cross_entropy ignore_index": (
        _sparse(jaxloss.sparse_softmax_cross_entropy, ignore_index=-1), 0.0, None, 0.0
    ),
    "sparse_softmax_cross_entropy smoothing": (
        _sparse(jaxloss.sparse_softmax_cross_entropy, label_smoothing=0.1), 0.1, None, 0.0
    ),
    "softmax_focal_loss": (_dense(jaxloss.softmax_focal_loss), 0.0, 0.25, 2.0),
    "softmax_focal_loss gamma=0.5": (
        _dense(jaxloss.softmax_focal_loss, alpha=None, gamma=0.5), 0.0, None, 0.5
    ),
    "sparse_softmax_focal_loss": (_sparse(jaxloss.sparse_softmax_focal_loss), 0.0, 0.25, 2.0),
    "CategoricalCrossentropy": (_keras(losses.CategoricalCrossentropy), 0.0, None, 0.0),
    "SparseCategoricalCrossentropy": (
        _keras(losses.SparseCategoricalCrossentropy, labels="sparse"), 0.0, None, 0.0
    ),
    "CategoricalFocalCrossentropy": (_keras(losses.CategoricalFocalCrossentropy), 0.0, 0.25, 2.0),
    "SparseCategoricalFocalCrossentropy": (
        _keras(losses.SparseCategoricalFocalCrossentropy, labels="sparse"), 0.0, 0.25, 2.0
    ),
}

SPARSE_LABELLED = {"sparse", "Sparse"}


@pytest.mark.parametrize("name", SOFTMAX_FORMS)
def test_softmax_forms_read_neg_inf_as_a_mask(name):
    fn, smoothing, alpha, gamma = SOFTMAX_FORMS[name]
    logits, labels = _softmax_inputs()
    dense = _dense_labels(labels)
    if any(word in name for word in SPARSE_LABELLED):
        dense = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    reference_labels = dense * (1 - smoothing) + smoothing / NUM_CLASSES
    expected, expected_grad = ref_softmax_loss_and_grad(logits, reference_labels, alpha, gamma)

    @jax.jit
    def loss_and_grad(x):
        value, vjp = jax.vjp(lambda x: fn(x, labels, dense), x)
        return value, vjp(jnp.ones_like(value))[0]

    value, grad = (np.asarray(a) for a in loss_and_grad(jnp.asarray(logits)))
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    # Rules 1 and 3: the loss without the -inf classes, or +inf where a label is on one.
    np.testing.assert_array_equal(np.isposinf(value), np.isposinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(value[finite], expected[finite], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=2e-5, atol=2e-6)
    masked = np.isneginf(logits) & (reference_labels == 0)
    np.testing.assert_array_equal(grad[masked], 0.0)


SOFTMAX_KERNELS = [
    lambda x, y: jaxloss.softmax_cross_entropy(x, jax.nn.one_hot(y, x.shape[-1])),
    jaxloss.sparse_softmax_cross_entropy,
    lambda x, y: jaxloss.softmax_focal_loss(x, jax.nn.one_hot(y, x.shape[-1])),
    jaxloss.sparse_softmax_focal_loss,
]


@pytest.mark.parametrize("index", range(len(SOFTMAX_KERNELS)))
def test_a_pos_inf_logit_gives_nan_for_its_row_in_the_softmax_forms(index):
    # inf - inf in log-sum-exp - x: undefined where two classes hold +inf, and rejected
    # (NaN, like a NaN logit) also where one does; the other rows are untouched.
    logits = jnp.array([[INF, 0.0, 1.0], [2.0, 0.0, 1.0]])
    value = np.asarray(jax.jit(SOFTMAX_KERNELS[index])(logits, jnp.array([0, 0])))
    assert np.isnan(value[0]) and np.isfinite(value[1])


SIGMOID_LOGITS = np.array([-INF, INF, -INF, INF, -INF, INF, 1.5, -0.5], np.float32)
SIGMOID_LABELS = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.3, 1.0, 0.3], np.float32)
ZERO_COST = slice(0, 2)  # rule 2
INFINITE = slice(2, 6)  # rule 3
FINITE = slice(6, 8)


def ref_sigmoid_focal(logits, labels, alpha, gamma, pos_weight=1.0):
    """Float64 alpha_t (1 - p_t)^gamma ce for finite logits (gamma 0, no alpha: the BCE)."""
    x, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    p = 1 / (1 + np.exp(-x))
    ce = pos_weight * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    balance = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return balance * (y * (1 - p) + (1 - y) * p) ** gamma * ce


# name: (elementwise loss(logits, labels), alpha, gamma, pos_weight, d loss / dx at rule-3 entries)
SIGMOID_FORMS = {
    "sigmoid_binary_cross_entropy": (
        jaxloss.sigmoid_binary_cross_entropy, None, 0.0, 1.0, [-1.0, 1.0, -0.3, 0.7]
    ),
    "sigmoid_binary_cross_entropy pos_weight": (
        lambda x, y: jaxloss.sigmoid_binary_cross_entropy(x, y, pos_weight=2.0),
        None, 0.0, 2.0, [-2.0, 1.0, -0.6, 0.7],
    ),
    "sigmoid_focal_loss": (jaxloss.sigmoid_focal_loss, 0.25, 2.0, 1.0, [-0.25, 0.75, None, None]),
    "sigmoid_focal_loss gamma=0.5": (
        lambda x, y: jaxloss.sigmoid_focal_loss(x, y, alpha=None, gamma=0.5),
        None, 0.5, 1.0, [-1.0, 1.0, None, None],
    ),
    "sigmoid_focal_loss traced gamma": (
        lambda x, y: jaxloss.sigmoid_focal_loss(x, y, gamma=jnp.asarray(2.0)),
        0.25, 2.0, 1.0, [-0.25, 0.75, None, None],
    ),
}  # fmt: skip


def _keras_binary(cls, **kwargs):
    # [4, 2] rows: the Keras forms average over the last axis.
    loss = cls(from_logits=True, reduction=None, **kwargs)
    return lambda x, y: loss(y.reshape(4, 2), x.reshape(4, 2))


KERAS_SIGMOID_FORMS = {
    "BinaryCrossentropy": (_keras_binary(losses.BinaryCrossentropy), "sigmoid_binary_cross_entropy"),
    "WeightedBinaryCrossentropy": (
        _keras_binary(losses.WeightedBinaryCrossentropy, pos_weight=2.0),
        "sigmoid_binary_cross_entropy pos_weight",
    ),
    "BinaryFocalCrossentropy": (
        _keras_binary(losses.BinaryFocalCrossentropy, apply_class_balancing=True),
        "sigmoid_focal_loss",
    ),
}


def _sigmoid_loss_and_grad(fn):
    @jax.jit
    def loss_and_grad(x, y):
        value, vjp = jax.vjp(lambda x: fn(x, y), x)
        return value, vjp(jnp.ones_like(value))[0]

    return loss_and_grad


def _numeric_grad(alpha, gamma, pos_weight):
    step = 1e-6
    x, y = SIGMOID_LOGITS[FINITE].astype(np.float64), SIGMOID_LABELS[FINITE]
    up = ref_sigmoid_focal(x + step, y, alpha, gamma, pos_weight)
    down = ref_sigmoid_focal(x - step, y, alpha, gamma, pos_weight)
    return (up - down) / (2 * step)


@pytest.mark.parametrize("name", SIGMOID_FORMS)
def test_sigmoid_forms_at_infinite_logits(name):
    fn, alpha, gamma, pos_weight, limits = SIGMOID_FORMS[name]
    value, grad = (
        np.asarray(a) for a in _sigmoid_loss_and_grad(fn)(SIGMOID_LOGITS, SIGMOID_LABELS)
    )
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    np.testing.assert_array_equal(value[ZERO_COST], 0.0)
    np.testing.assert_array_equal(grad[ZERO_COST], 0.0)
    np.testing.assert_array_equal(value[INFINITE], INF)
    for got, limit in zip(grad[INFINITE], limits):
        if limit is not None:
            np.testing.assert_allclose(got, limit, rtol=1e-6)
    expected = ref_sigmoid_focal(SIGMOID_LOGITS[FINITE], SIGMOID_LABELS[FINITE], alpha, gamma, pos_weight)
    np.testing.assert_allclose(value[FINITE], expected, rtol=1e-5)
    np.testing.assert_allclose(grad[FINITE], _numeric_grad(alpha, gamma, pos_weight), rtol=1e-5)


@pytest.mark.parametrize("name", KERAS_SIGMOID_FORMS)
def test_keras_sigmoid_forms_at_infinite_logits(name):
    fn, kernel_name = KERAS_SIGMOID_FORMS[name]
    _, alpha, gamma, pos_weight, _ = SIGMOID_FORMS[kernel_name]
    value, grad = (
        np.asarray(a) for a in _sigmoid_loss_and_grad(fn)(SIGMOID_LOGITS, SIGMOID_LABELS)
    )
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    # Rows: (-inf, 0) (+inf, 1) costs 0; two rows of rule 3; the finite pair.
    np.testing.assert_array_equal(value[:3], [0.0, INF, INF])
    expected = ref_sigmoid_focal(SIGMOID_LOGITS[FINITE], SIGMOID_LABELS[FINITE], alpha, gamma, pos_weight)
    np.testing.assert_allclose(value[3], expected.mean(), rtol=1e-5)
    np.testing.assert_array_equal(grad[ZERO_COST], 0.0)
    np.testing.assert_allclose(grad[FINITE], _numeric_grad(alpha, gamma, pos_weight) / 2, rtol=1e-5)
