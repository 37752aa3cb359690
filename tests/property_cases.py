"""Hypothesis strategies, float64 references and the table of every public kernel.

Used by the property tests (``tests/test_properties*.py``). Each :class:`Case` draws
the arguments of one kernel at a fixed shape (a leading batch axis of size ``BATCH``)
from its input domain, extremes included, and holds a float64 NumPy reference
written from the kernel's formula. Compiled functions are cached per case and
hyperparameters (:func:`compiled`), so hypothesis feeds new values to one
executable instead of retracing per example.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import log_softmax, logsumexp

import jaxloss

BATCH = 4
CLASSES = 5
F32_MAX = float(np.finfo(np.float32).max)
GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)


# ------------------------------------------------------------------------ strategies


def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """float32 values in ``[low, high]`` (bounds rounded to float32), no subnormals."""
    return st.floats(float(np.float32(low)), float(np.float32(high)), width=32,
                     allow_subnormal=False)


def values(*numbers: float) -> st.SearchStrategy[float]:
    """One of ``numbers``, each rounded to float32."""
    return st.sampled_from([float(np.float32(n)) for n in numbers])


#: Logits: mostly moderate, often huge (up to +-1e30), sometimes exactly +-1e30 or 0.
LOGIT = st.one_of(
    floats(-20, 20), floats(-1e30, 1e30), values(0.0, 1e30, -1e30, 1e4, -1e4)
)
#: Any finite float32, moderate values preferred.
ANY = st.one_of(floats(-20, 20), floats(-3e38, 3e38), values(0.0, 3e38, -3e38))
#: Regression inputs: the kernels form the error ``e = p - t`` (and ``2e``, the squared
#: error's gradient) in float32, as Keras and optax do; beyond +-4e37 these can overflow to
#: inf, so the gradient of an unmasked element is inf (masked elements' errors are zeroed
#: first: tests/test_regression.py covers that case). Up to 4e37, e**2 still
#: overflows (from 1.8e19), so the loss's documented inf is covered.
ERROR = st.one_of(floats(-20, 20), floats(-4e37, 4e37), values(0.0, 4e37, -4e37, 1e19))
#: Probabilities, with exactly 0 and 1 and tiny values.
PROB = st.one_of(st.sampled_from([0.0, 1.0]), floats(0, 1), floats(0, 1e-6))
#: Binary labels: hard or soft.
LABEL = st.one_of(st.sampled_from([0.0, 1.0]), floats(0, 1))
#: Non-negative values (rates, counts) up to 1e30.
NON_NEGATIVE = st.one_of(floats(0, 20), floats(0, 1e30), st.sampled_from([0.0, 1.0]))
#: Log-rates: every value whose exp fits float32 (it overflows from 88.7).
LOG_RATE = st.one_of(floats(-20, 20), floats(-88, 88), values(0.0, 80.0, -80.0, 88.0, -88.0))


def arrays(shape, elements=LOGIT, dtype=np.float32):
    return hnp.arrays(dtype, shape, elements=elements)


def class_indices(shape, num_classes=CLASSES):
    return hnp.arrays(np.int32, shape, elements=st.integers(0, num_classes - 1))


def one_hot(labels, num_classes=CLASSES):
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


@st.composite
def distributions(draw, shape, soft=True):
    """Rows along the last axis that sum to 1: one-hot, or (``soft``) normalised PROB draws."""
    hard = one_hot(draw(class_indices(shape[:-1], shape[-1])), shape[-1])
    if not soft or draw(st.booleans()):
        return hard
    weights = draw(arrays(shape, PROB)).astype(np.float64)
    total = weights.sum(-1, keepdims=True)
    return np.where(total > 0, weights / np.where(total > 0, total, 1), hard).astype(np.float32)


@st.composite
def probability_rows(draw, shape):
    """Class scores in [0, 1] (with exact 0 and 1); rows need not sum to 1."""
    return draw(arrays(shape, PROB))


@st.composite
def unit_vectors(draw, shape):
    """Rows of unit L2 norm (Circle loss expects normalised embeddings)."""
    raw = draw(arrays(shape, floats(-1, 1))).astype(np.float64)
    raw[:, 0] += (np.linalg.norm(raw, axis=1) == 0)
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------ float64 references


def _f64(x):
    return np.asarray(x, np.float64)


def softplus(x):
    return np.logaddexp(0.0, x)


def clip_f32(p, epsilon=1e-7):
    """Clip as the kernels do in float32: ``1 - 1e-7`` rounds to ``1 - 1.19e-7``."""
    low = float(np.float32(epsilon))
    high = float(np.float32(1.0) - np.float32(epsilon))
    return np.clip(p, low, high)


def ref_sigmoid_bce(x, y, pos_weight=1.0, label_smoothing=0.0):
    x, y = _f64(x), _f64(y) * (1 - label_smoothing) + label_smoothing / 2
    return pos_weight * y * softplus(-x) + (1 - y) * softplus(x)


def ref_binary_ce(p, y, label_smoothing=0.0):
    c, y = clip_f32(_f64(p)), _f64(y) * (1 - label_smoothing) + label_smoothing / 2
    return -(y * np.log(c) + (1 - y) * np.log1p(-c))


def ref_softmax_ce(x, y, label_smoothing=0.0):
    y = _f64(y) * (1 - label_smoothing) + label_smoothing / np.shape(y)[-1]
    return -np.sum(y * log_softmax(_f64(x), axis=-1), -1)


def ref_categorical_ce(p, y, label_smoothing=0.0):
    p = _f64(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = clip_f32(p / p.sum(-1, keepdims=True))
    y = _f64(y) * (1 - label_smoothing) + label_smoothing / np.shape(y)[-1]
    return -np.sum(y * np.log(c), -1)


def ref_sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    x, y = _f64(x), _f64(y)
    log_p, log_not_p = -softplus(-x), -softplus(x)
    ce = -(y * log_p + (1 - y) * log_not_p)
    with np.errstate(divide="ignore"):
        one_minus_pt = np.exp(np.logaddexp(np.log(y) + log_not_p, np.log1p(-y) + log_p))
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * one_minus_pt**gamma * ce


def ref_softmax_focal(x, y, alpha=0.25, gamma=2.0):
    log_p = log_softmax(_f64(x), axis=-1)
    alpha = 1.0 if alpha is None else _f64(alpha)
    weight = (-np.expm1(log_p)) ** gamma
    return -np.sum(np.where(_f64(y) == 0, 0.0, alpha * _f64(y) * weight * log_p), -1)


def ref_binary_focal(p, y, alpha=None, gamma=2.0):
    p, y = _f64(p), _f64(y)
    c = clip_f32(p)
    ce = -(y * np.log(c) + (1 - y) * np.log1p(-c))
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * (1 - p_t) ** gamma * ce


def ref_categorical_focal(p, y, alpha=0.25, gamma=2.0):
    p = _f64(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = clip_f32(p / p.sum(-1, keepdims=True))
    return -np.sum(alpha * (1 - c) ** gamma * _f64(y) * np.log(c), -1)


def ref_huber(p, t, delta=1.0):
    e = np.abs(_f64(p) - _f64(t))
    return np.where(e <= delta, 0.5 * e**2, delta * (e - 0.5 * delta))


def ref_smooth_l1(p, t, beta=1.0):
    e = np.abs(_f64(p) - _f64(t))
    if beta == 0:
        return e
    return np.where(e < beta, 0.5 * e**2 / beta, e - 0.5 * beta)


def ref_log_cosh(p, t):
    e = _f64(p) - _f64(t)
    return np.logaddexp(e, -e) - np.log(2.0)


def ref_categorical_hinge(p, t):
    p, t = _f64(p), _f64(t)
    return np.maximum(np.max((1 - t) * p, -1) - np.sum(t * p, -1) + 1, 0.0)


def ref_multiclass_hinge(x, labels, margin=1.0):
    x = _f64(x)
    others = np.where(one_hot(labels, x.shape[-1]) == 1, -np.inf, x)
    label_scores = np.take_along_axis(x, np.asarray(labels)[:, None], -1)[:, 0]
    return np.maximum(np.max(others, -1) - label_scores + margin, 0.0)


def ref_multi_margin(x, labels, p=1, margin=1.0):
    x = _f64(x)
    label_scores = np.take_along_axis(x, np.asarray(labels)[:, None], -1)
    gaps = np.where(one_hot(labels, x.shape[-1]) == 1, 0.0, (x - label_scores) + margin)
    return np.sum(np.maximum(gaps, 0.0) ** p, -1) / x.shape[-1]


def ref_multilabel_margin(x, targets):
    """PyTorch's rule: the classes listed before the first -1 (repeats count) against the
    rest. Score differences first: 1 - x_j + x_i would lose the 1 in float64 beyond 2**53."""
    x, targets = _f64(x), np.asarray(targets)
    listed = np.cumsum(targets == -1, -1) == 0
    counts = np.stack([np.sum(listed & (targets == c), -1) for c in range(x.shape[-1])], -1)
    pairs = np.maximum((x[:, None, :] - x[:, :, None]) + 1, 0.0)  # [example, listed j, other i]
    weights = counts[:, :, None] * (counts == 0)[:, None, :]
    return np.sum(weights * pairs, (1, 2)) / x.shape[-1]


def ref_kl(p, t, epsilon=1e-7):
    p, t = np.clip(_f64(p), epsilon, 1), np.clip(_f64(t), epsilon, 1)
    return np.sum(t * np.log(t / p), -1)


def ref_poisson(p, t, epsilon=1e-7):
    return _f64(p) - _f64(t) * np.log(_f64(p) + epsilon)


def ref_gaussian_nll(p, t, v, full=False, epsilon=1e-6):
    c, e = np.maximum(_f64(v), epsilon), _f64(p) - _f64(t)
    return 0.5 * (np.log(c) + e**2 / c) + (0.5 * np.log(2 * np.pi) if full else 0.0)


def ref_poisson_nll(p, t, full=False):
    p, t = _f64(p), _f64(t)
    counted = np.maximum(t, 1)
    stirling = counted * np.log(counted) - counted + 0.5 * np.log(2 * np.pi * counted)
    return np.exp(p) - t * p + (np.where(t > 1, stirling, 0.0) if full else 0.0)


def ref_absolute_percentage(p, t, epsilon=1e-7):
    p, t = _f64(p), _f64(t)
    return 100 * np.abs(t - p) / np.maximum(np.abs(t), epsilon)


def ref_squared_log(p, t, epsilon=1e-7):
    return (np.log1p(np.maximum(_f64(p), epsilon)) - np.log1p(np.maximum(_f64(t), epsilon))) ** 2


def ref_tversky(p, t, alpha=0.5, beta=0.5, epsilon=1e-7, axis=-1):
    p, t = _f64(p), _f64(t)
    overlap = np.sum(t * p, axis)
    missed, extra = np.sum(t * (1 - p), axis), np.sum((1 - t) * p, axis)
    return 1 - overlap / (overlap + alpha * missed + beta * extra + epsilon)


def ref_dice(p, t, epsilon=1e-7, axis=-1):
    p, t = _f64(p), _f64(t)
    return 1 - 2 * np.sum(t * p, axis) / (np.sum(t, axis) + np.sum(p, axis) + epsilon)


def ref_negative_cosine(p, t, epsilon=1e-7):
    p, t = _f64(p), _f64(t)
    norm_p = np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), epsilon)
    norm_t = np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), epsilon)
    return -np.sum(p / norm_p * t / norm_t, -1)


def ref_circle(embeddings, labels, gamma=80.0, margin=0.4):
    e = _f64(embeddings)
    d = np.maximum(1 - e @ e.T, 0.0)
    same = labels[:, None] == labels[None, :]
    positive, negative = same & ~np.eye(len(labels), dtype=bool), ~same
    s_pos = -gamma * np.maximum(margin + d, 0) * (margin - d)
    s_neg = gamma * np.maximum(1 + margin - d, 0) * (1 - margin - d)
    lse_pos = logsumexp(np.where(positive, s_pos, -np.inf), axis=1)
    lse_neg = logsumexp(np.where(negative, s_neg, -np.inf), axis=1)
    ok = positive.any(1) & negative.any(1)
    return np.where(ok, softplus(np.where(ok, lse_pos + lse_neg, 0.0)), 0.0)


def _collapse(path, blank=0):
    merged = [a for i, a in enumerate(path) if i == 0 or a != path[i - 1]]
    return tuple(a for a in merged if a != blank)


def ref_ctc(logits, labels):
    """-log of the summed probability of every alignment that collapses to ``labels``."""
    log_p = log_softmax(_f64(logits), axis=-1)
    _, time, classes = log_p.shape
    paths = np.array(list(itertools.product(range(classes), repeat=time)))
    collapsed = [_collapse(tuple(path)) for path in paths]
    losses = []
    for row, label in zip(log_p, np.asarray(labels)):
        matching = np.array([c == tuple(label) for c in collapsed])
        scores = row[np.arange(time), paths[matching]].sum(-1)
        losses.append(-logsumexp(scores))
    return np.array(losses)


def ref_generalized_ce(p, labels, q=0.5):
    true = np.take_along_axis(_f64(p), np.asarray(labels)[:, None], -1)[:, 0]
    return (1 - true**q) / q


def ref_nll(log_probs, labels, ignore_index=None):
    labels = np.asarray(labels)
    picked = -np.take_along_axis(_f64(log_probs), labels[:, None], -1)[:, 0]
    return np.where(labels == ignore_index, 0.0, picked)


def ref_fused(h, w, labels, label_smoothing=0.0, chunk_size=None):
    return ref_softmax_ce(_f64(h) @ _f64(w), one_hot(labels, np.shape(w)[1]), label_smoothing)


# ---------------------------------------------------------------------------- cases


@dataclasses.dataclass(frozen=True, repr=False)
class Case:
    """One public kernel: how to draw its arguments and what its value should be.

    ``fn(*args, **hparams)`` is the per-example loss with a leading batch axis;
    gradients are taken with respect to ``args[0]``. ``where_shape`` is the shape of
    a mask that selects whole examples (``None``: the kernel has no ``where``);
    masked examples give ``masked_value``. ``documented_nan(*args)`` marks the
    outputs that are NaN by the kernel's input rules; ``grad_may_overflow`` says where
    an infinite gradient is documented (its exact value exceeds float32).
    """

    name: str
    fn: Callable
    args: st.SearchStrategy
    reference: Callable
    hparams: tuple = ({},)
    where_shape: tuple | None = (BATCH, 1)
    masked_value: float = 0.0
    masked_grad_is_zero: bool = True
    batch_axes: tuple = (0, 0)
    documented_nan: Callable | None = None
    grad_may_overflow: Callable | None = None
    scale: Callable | None = None  # absolute error allowed, per example (cancellation)

    def __repr__(self):
        return self.name


@st.composite
def _pair(draw, first, second):
    return draw(first), draw(second)


def _elementwise(name, fn, reference, first=ERROR, second=ERROR, shape=(BATCH, 3), **kwargs):
    return Case(name, fn, _pair(arrays(shape, first), arrays(shape, second)), reference, **kwargs)


def _zero_rows(p, *_):
    return np.asarray(p, np.float64).sum(-1) == 0


EPS32 = float(np.finfo(np.float32).eps)


def _row_scale(p, t):
    """float32 resolution of each row's largest input (errors of sums and maxima of rows)."""
    return 4 * EPS32 * np.maximum(np.abs(_f64(p)), np.abs(_f64(t))).max(-1)


def _poisson_scale(p, t):
    """float32 resolution of the two terms, which may cancel."""
    p, t = _f64(p), _f64(t)
    return 4 * EPS32 * (np.abs(p) + np.abs(t) * (np.abs(np.log(p + 1e-7)) + 1))


def _gaussian_nll_scale(p, t, v):
    """float32 resolution of the two terms, which may cancel (log c < 0)."""
    c, e = np.maximum(_f64(v), 1e-6), _f64(p) - _f64(t)
    return 4 * EPS32 * (np.abs(np.log(c)) + e**2 / c + 1)


def _gaussian_nll_grad_overflows(p, t, v):
    return np.abs(_f64(p) - _f64(t)) / np.maximum(_f64(v), 1e-6) > F32_MAX / 2


def _poisson_nll_scale(p, t):
    """float32 resolution of the terms, which may cancel, the Stirling term's included."""
    p, t = _f64(p), _f64(t)
    stirling = t * (np.log(np.maximum(t, 1)) + 1) + np.abs(np.log(2 * np.pi * np.maximum(t, 1)))
    return 4 * EPS32 * (np.exp(p) + t * np.abs(p) + stirling)


def _squared_log_scale(p, t):
    """Both log1p terms carry float32 rounding; the square doubles the relative error."""
    logs = np.log1p(np.maximum(_f64(p), 0)) + np.log1p(np.maximum(_f64(t), 0))
    return 8 * EPS32 * logs * np.sqrt(ref_squared_log(p, t))


def _error_overflows(p, t):
    return np.abs(_f64(p) - _f64(t)) > F32_MAX / 2


def _logit_scale(x, *_):
    """float32 resolution of each row's largest logit (the loss is formed against it)."""
    return 4 * EPS32 * np.max(np.abs(_f64(x)), axis=-1)


_MESH = None


def _sharded(h, w, labels, **kwargs):
    global _MESH
    if _MESH is None:
        _MESH = jax.make_mesh((1,), ("vocab",))
    return jaxloss.fused_linear_cross_entropy_sharded(
        h, w, labels, mesh=_MESH, axis_name="vocab", reduction="none", **kwargs
    )


def _fused(h, w, labels, **kwargs):
    return jaxloss.fused_linear_cross_entropy(h, w, labels, reduction="none", **kwargs)


_CE_SHAPE = (BATCH, CLASSES)
# Every gamma, and alpha both off and on (one compilation per pair: not all ten pairs).
_FOCAL_HPARAMS = tuple(
    {"alpha": alpha, "gamma": gamma}
    for gamma, alpha in zip(GAMMAS, (None, 0.25, None, 0.25, None))
)

CASES = {case.name: case for case in (
    # ---- cross-entropy (jaxloss/_src/cross_entropy/)
    _elementwise(
        "sigmoid_binary_cross_entropy", jaxloss.sigmoid_binary_cross_entropy, ref_sigmoid_bce,
        LOGIT, LABEL,
        hparams=({}, {"pos_weight": 3.0}, {"label_smoothing": 0.1}),
    ),
    _elementwise(
        "binary_cross_entropy", jaxloss.binary_cross_entropy, ref_binary_ce, PROB, LABEL,
        hparams=({}, {"label_smoothing": 0.1}),
    ),
    Case(
        "softmax_cross_entropy", jaxloss.softmax_cross_entropy,
        _pair(arrays(_CE_SHAPE), distributions(_CE_SHAPE)), ref_softmax_ce,
        hparams=({}, {"label_smoothing": 0.1}), scale=_logit_scale,
    ),
    Case(
        "sparse_softmax_cross_entropy", jaxloss.sparse_softmax_cross_entropy,
        _pair(arrays(_CE_SHAPE), class_indices((BATCH,))),
        lambda x, y, **kw: ref_softmax_ce(x, one_hot(y), **kw),
        hparams=({}, {"label_smoothing": 0.1}), scale=_logit_scale,
    ),
    Case(
        "nll_loss", jaxloss.nll_loss, _pair(arrays(_CE_SHAPE), class_indices((BATCH,))), ref_nll,
        hparams=({}, {"ignore_index": 2}), where_shape=(BATCH,),
    ),
    Case(
        "categorical_cross_entropy", jaxloss.categorical_cross_entropy,
        _pair(probability_rows(_CE_SHAPE), distributions(_CE_SHAPE)), ref_categorical_ce,
        hparams=({}, {"label_smoothing": 0.1}), documented_nan=_zero_rows,
    ),
    Case(
        "sparse_categorical_cross_entropy", jaxloss.sparse_categorical_cross_entropy,
        _pair(probability_rows(_CE_SHAPE), class_indices((BATCH,))),
        lambda p, y: ref_categorical_ce(p, one_hot(y)), documented_nan=_zero_rows,
    ),
    # ---- focal (the focal package)
    _elementwise(
        "sigmoid_focal_loss", jaxloss.sigmoid_focal_loss, ref_sigmoid_focal, LOGIT, LABEL,
        hparams=_FOCAL_HPARAMS,
    ),
    Case(
        "softmax_focal_loss", jaxloss.softmax_focal_loss,
        _pair(arrays(_CE_SHAPE), distributions(_CE_SHAPE)), ref_softmax_focal,
        hparams=_FOCAL_HPARAMS, scale=_logit_scale,
    ),
    Case(
        "sparse_softmax_focal_loss", jaxloss.sparse_softmax_focal_loss,
        _pair(arrays(_CE_SHAPE), class_indices((BATCH,))),
        lambda x, y, **kw: ref_softmax_focal(x, one_hot(y), **kw),
        hparams=_FOCAL_HPARAMS, scale=_logit_scale,
    ),
    _elementwise(
        "binary_focal_cross_entropy", jaxloss.binary_focal_cross_entropy, ref_binary_focal,
        PROB, LABEL, hparams=_FOCAL_HPARAMS,
    ),
    Case(
        "categorical_focal_cross_entropy", jaxloss.categorical_focal_cross_entropy,
        _pair(probability_rows(_CE_SHAPE), distributions(_CE_SHAPE)),
        lambda p, y, alpha, gamma: ref_categorical_focal(p, y, 1.0 if alpha is None else alpha,
                                                         gamma),
        hparams=_FOCAL_HPARAMS, documented_nan=_zero_rows,
    ),
    # ---- regression (regression.py)
    _elementwise(
        "squared_error", jaxloss.squared_error, lambda p, t: (_f64(p) - _f64(t)) ** 2,
        grad_may_overflow=_error_overflows,
    ),
    _elementwise("absolute_error", jaxloss.absolute_error, lambda p, t: np.abs(_f64(p) - _f64(t))),
    _elementwise(
        "huber_loss", jaxloss.huber_loss, ref_huber,
        hparams=({}, {"delta": 0.5}, {"delta": 1e4}),
    ),
    _elementwise(
        "smooth_l1_loss", jaxloss.smooth_l1_loss, ref_smooth_l1,
        hparams=({}, {"beta": 0.5}, {"beta": 0.0}),
    ),
    _elementwise("log_cosh", jaxloss.log_cosh, ref_log_cosh),
    # ---- hinge (hinge.py)
    _elementwise(
        "hinge_loss", jaxloss.hinge_loss,
        lambda p, t: np.maximum(1 - _f64(t) * _f64(p), 0.0), second=st.sampled_from([-1.0, 1.0]),
    ),
    _elementwise(
        "squared_hinge_loss", jaxloss.squared_hinge_loss,
        lambda p, t: np.maximum(1 - _f64(t) * _f64(p), 0.0) ** 2,
        second=st.sampled_from([-1.0, 1.0]),
        grad_may_overflow=lambda p, t: 2 * np.abs(1 - _f64(t) * _f64(p)) > F32_MAX,
    ),
    Case(
        "categorical_hinge_loss", jaxloss.categorical_hinge_loss,
        _pair(arrays(_CE_SHAPE, ANY), distributions(_CE_SHAPE, soft=False)),
        ref_categorical_hinge, scale=_row_scale,
    ),
    _elementwise(
        "perceptron_loss", jaxloss.perceptron_loss,
        lambda p, t: np.maximum(-_f64(t) * _f64(p), 0.0), ANY, st.sampled_from([-1.0, 1.0]),
    ),
    Case(
        "multiclass_hinge_loss", jaxloss.multiclass_hinge_loss,
        _pair(arrays(_CE_SHAPE, ANY), class_indices((BATCH,))), ref_multiclass_hinge,
    ),
    Case(
        "multiclass_perceptron_loss", jaxloss.multiclass_perceptron_loss,
        _pair(arrays(_CE_SHAPE, ANY), class_indices((BATCH,))),
        functools.partial(ref_multiclass_hinge, margin=0.0),
    ),
    # ---- margin (margin.py): PyTorch's margin losses
    _elementwise(
        "soft_margin_loss", jaxloss.soft_margin_loss, lambda p, t: softplus(-_f64(t) * _f64(p)),
        LOGIT, st.sampled_from([-1.0, 1.0]),
    ),
    Case(
        "margin_ranking_loss", jaxloss.margin_ranking_loss,
        st.tuples(arrays((BATCH, 3)), arrays((BATCH, 3)),
                  arrays((BATCH, 3), st.sampled_from([-1.0, 1.0]))),
        lambda a, b, t, margin=0.0: np.maximum(margin - _f64(t) * (_f64(a) - _f64(b)), 0.0),
        hparams=({}, {"margin": 0.5}, {"margin": -0.5}), batch_axes=(0, 0, 0),
    ),
    _elementwise(
        "hinge_embedding_loss", jaxloss.hinge_embedding_loss,
        lambda p, t, margin=1.0: np.where(_f64(t) == 1, _f64(p), np.maximum(margin - _f64(p), 0)),
        LOGIT, st.sampled_from([-1.0, 1.0]), hparams=({}, {"margin": 2.0}, {"margin": -0.5}),
    ),
    Case(
        "multilabel_soft_margin_loss", jaxloss.multilabel_soft_margin_loss,
        _pair(arrays(_CE_SHAPE), arrays(_CE_SHAPE, LABEL)),
        lambda x, y: np.mean(ref_sigmoid_bce(x, y), -1),
    ),
    Case(
        "multi_margin_loss", jaxloss.multi_margin_loss,
        _pair(arrays(_CE_SHAPE), class_indices((BATCH,))), ref_multi_margin,
        hparams=({}, {"p": 2}, {"margin": 0.5}, {"margin": -0.5}),
    ),
    Case(
        "multilabel_margin_loss", jaxloss.multilabel_margin_loss,
        _pair(arrays(_CE_SHAPE), hnp.arrays(np.int32, _CE_SHAPE, elements=st.integers(-1, 4))),
        ref_multilabel_margin,
    ),
    # ---- divergence (divergence.py)
    Case(
        "kl_divergence", jaxloss.kl_divergence,
        _pair(probability_rows(_CE_SHAPE), distributions(_CE_SHAPE)), ref_kl,
    ),
    _elementwise(
        "poisson_loss", jaxloss.poisson_loss, ref_poisson, NON_NEGATIVE, NON_NEGATIVE,
        scale=_poisson_scale,
    ),
    # ---- likelihood (likelihood.py): PyTorch's Gaussian and Poisson NLL
    Case(
        "gaussian_nll_loss", jaxloss.gaussian_nll_loss,
        st.tuples(arrays((BATCH, 3), ERROR), arrays((BATCH, 3), ERROR),
                  arrays((BATCH, 3), NON_NEGATIVE)),
        ref_gaussian_nll, hparams=({}, {"full": True}), batch_axes=(0, 0, 0),
        scale=_gaussian_nll_scale, grad_may_overflow=_gaussian_nll_grad_overflows,
    ),
    # Log-rates only: the rates of log_input=False are swept in tests/test_likelihood.py.
    _elementwise(
        "poisson_nll_loss", jaxloss.poisson_nll_loss, ref_poisson_nll, LOG_RATE, NON_NEGATIVE,
        hparams=({}, {"full": True}), scale=_poisson_nll_scale,
    ),
    # ---- relative error (relative_error.py)
    _elementwise(
        "absolute_percentage_error", jaxloss.absolute_percentage_error, ref_absolute_percentage,
        LOGIT, LOGIT,
    ),
    _elementwise(
        "squared_logarithmic_error", jaxloss.squared_logarithmic_error, ref_squared_log,
        scale=_squared_log_scale,
    ),
    # ---- segmentation (segmentation.py), one value per example
    _elementwise(
        "dice_loss", functools.partial(jaxloss.dice_loss, axis=1), ref_dice, PROB, LABEL,
        shape=(BATCH, 6), masked_value=1.0,
    ),
    _elementwise(
        "tversky_loss", functools.partial(jaxloss.tversky_loss, axis=1), ref_tversky,
        PROB, LABEL, shape=(BATCH, 6), masked_value=1.0,
        hparams=({}, {"alpha": 0.7, "beta": 0.3}),
    ),
    # ---- metric learning (metric_learning.py)
    _elementwise(
        "negative_cosine_similarity", jaxloss.negative_cosine_similarity, ref_negative_cosine,
        shape=(BATCH, 3),
    ),
    Case(
        "circle_loss", jaxloss.circle_loss,
        _pair(unit_vectors((BATCH, 3)), class_indices((BATCH,), 2)), ref_circle,
        hparams=({}, {"gamma": 1.0}, {"gamma": 256.0, "margin": 0.25}),
        where_shape=(BATCH,), masked_grad_is_zero=False,
    ),
    # ---- CTC (ctc.py): 4 frames, 3 classes (blank 0), 2 labels
    Case(
        "ctc_loss", jaxloss.ctc_loss,
        _pair(arrays((BATCH, 4, 3)), class_indices((BATCH, 2), 3).map(lambda y: 1 + y % 2)),
        ref_ctc, where_shape=(BATCH,),
    ),
    # ---- robust (robust.py)
    Case(
        "generalized_cross_entropy", jaxloss.generalized_cross_entropy,
        _pair(probability_rows(_CE_SHAPE), class_indices((BATCH,))), ref_generalized_ce,
        hparams=({}, {"q": 0.1}, {"q": 1.0}), where_shape=(BATCH,),
        # d/dp (1 - p^q)/q = -p^(q-1): infinite at p = 0 for q < 1 (documented).
        grad_may_overflow=lambda p, y: np.take_along_axis(_f64(p), y[:, None], -1) == 0,
    ),
    # ---- fused (fused.py): hidden [B, 3] @ weight [3, 7]
    Case(
        "fused_linear_cross_entropy", _fused,
        st.tuples(arrays((BATCH, 3), floats(-1e3, 1e3)), arrays((3, 7), floats(-1e3, 1e3)),
                  class_indices((BATCH,), 7)),
        ref_fused, hparams=({}, {"label_smoothing": 0.1}, {"chunk_size": 3}),
        where_shape=None, batch_axes=(0, None, 0),
        scale=lambda h, w, y: 8e-7 * np.abs(_f64(h)) @ np.abs(_f64(w)).max(-1) + 1e-6,
    ),
    Case(
        "fused_linear_cross_entropy_sharded", _sharded,
        st.tuples(arrays((BATCH, 3), floats(-1e3, 1e3)), arrays((3, 7), floats(-1e3, 1e3)),
                  class_indices((BATCH,), 7)),
        ref_fused, where_shape=None, batch_axes=(0, None, 0),
        scale=lambda h, w, y: 8e-7 * np.abs(_f64(h)) @ np.abs(_f64(w)).max(-1) + 1e-6,
    ),
)}


# ------------------------------------------------------------------------ comparison


def assert_close(got, want, rtol=1e-6, atol=1e-6):
    """Elementwise ``|got - want| <= atol + rtol |want|`` (``atol`` an array, inf: skip);
    NaN and inf must match exactly, and a ``want`` beyond float32's range means inf."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    got, want = np.broadcast_arrays(got, want)
    want = np.where(np.abs(want) > F32_MAX * (1 + 1e-6), np.copysign(np.inf, want), want)
    atol = np.broadcast_to(atol, got.shape)
    exact = (~np.isfinite(want) | ~np.isfinite(got)) & np.isfinite(atol)
    np.testing.assert_array_equal(got[exact], want[exact])
    with np.errstate(invalid="ignore"):
        bad = ~exact & (np.abs(got - want) > atol + rtol * np.abs(want))
    assert not bad.any(), (got[bad], want[bad])


# ------------------------------------------------------------------------ compilation


@functools.cache
def compiled(fn, kind: str = "value_and_grad", in_axes=None, **hparams):
    """jit of ``fn`` with ``hparams`` bound, built once per (fn, kind, hparams).

    ``kind``: ``"value_and_grad"`` gives ``args -> (loss, d sum(loss) / d args[0])``;
    ``"masked"`` the same with a keyword ``where`` argument; ``"vmap"`` the loss mapped
    over a new leading axis of the arguments ``in_axes`` marks.
    """
    bound = functools.partial(fn, **hparams)
    if kind == "value_and_grad":
        return jax.jit(
            lambda first, *rest: (
                bound(first, *rest),
                jax.grad(lambda a: jnp.sum(bound(a, *rest)))(first),
            )
        )
    if kind == "vmap":
        return jax.jit(jax.vmap(bound, in_axes=in_axes))
    if kind == "masked":
        return jax.jit(
            lambda first, *rest, where: (
                bound(first, *rest, where=where),
                jax.grad(lambda a: jnp.sum(bound(a, *rest, where=where)))(first),
            )
        )
    raise ValueError(kind)

