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
from jax.scipy.special import logsumexp as jax_logsumexp
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


def ref_log_space_kl(log_p, t):
    log_p, t = _f64(log_p), _f64(t)
    return np.sum(np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - log_p), 0.0), -1)


def _log_space_kl_scale(log_p, t):
    """float32 resolution of the terms, which may cancel across a row."""
    log_p, t = _f64(log_p), _f64(t)
    return 4 * EPS32 * np.sum(t * (np.abs(log_p) + np.abs(np.log(np.where(t > 0, t, 1)))), -1)


def ref_generalized_kl(log_p, t):
    log_p, t = _f64(log_p), _f64(t)
    safe_t = np.where(t > 0, t, 1)
    ratio = log_p - np.log(safe_t)
    terms = np.where(t > 0, safe_t * (np.expm1(ratio) - ratio), np.exp(log_p))
    return np.sum(terms, -1)


def _generalized_kl_scale(log_p, t):
    """float32 rounding of ``log p - log t``, times the term's slope ``p - t``."""
    log_p, t = _f64(log_p), _f64(t)
    slope = np.abs(np.exp(log_p) - t)
    return 4 * EPS32 * np.sum(slope * (np.abs(log_p) + np.abs(np.log(np.where(t > 0, t, 1)))), -1)


def ref_poly(x, y, epsilon=2.0):
    probs = np.exp(log_softmax(_f64(x), axis=-1))
    return ref_softmax_ce(x, y) + epsilon * np.sum(_f64(y) * (1 - probs), -1)


def ref_sparsemax(x):
    z = _f64(x)
    z = z - z.max(-1, keepdims=True)
    descending = -np.sort(-z, -1)
    ranks = np.arange(1, z.shape[-1] + 1)
    partial = np.cumsum(descending, -1)
    support = 1 + ranks * descending > partial
    size = support.sum(-1, keepdims=True)
    threshold = (np.sum(np.where(support, descending, 0.0), -1, keepdims=True) - 1) / size
    return np.maximum(z - threshold, 0.0)


def ref_multiclass_sparsemax(x, y):
    x, probs = _f64(x), ref_sparsemax(x)
    gaps = np.where(probs > 0, x - np.take_along_axis(x, y[:, None], -1), 0.0)
    return np.sum(probs * gaps, -1) + 0.5 * (1 - np.sum(probs**2, -1))


def _sparse_plus(x):
    return np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1) ** 2 / 4))


def ref_binary_sparsemax(x, y):
    x, y = _f64(x), _f64(y)
    return y * _sparse_plus(-x) + (1 - y) * _sparse_plus(x) - y * (1 - y)


def ref_fenchel_young_logsumexp(x, y):
    return logsumexp(_f64(x), axis=-1) - np.sum(_f64(y) * _f64(x), -1)


def _fenchel_young_logsumexp(x, y):
    return _LOGSUMEXP_FENCHEL_YOUNG(x, y)


def _ctc_loss_of_forward_probs(logits, labels):
    return jaxloss.ctc_loss_with_forward_probs(logits, labels)[0]


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


def box_overlap_parts(b1, b2, eps=1e-7):
    b1, b2 = _f64(b1), _f64(b2)
    side = lambda a, b, i: np.clip(np.minimum(a[..., i + 2], b[..., i + 2])  # noqa: E731
                                   - np.maximum(a[..., i], b[..., i]), 0, None)
    inter = side(b1, b2, 0) * side(b1, b2, 1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    union = area(b1) + area(b2) - inter
    cw = np.maximum(b1[..., 2], b2[..., 2]) - np.minimum(b1[..., 0], b2[..., 0])
    ch = np.maximum(b1[..., 3], b2[..., 3]) - np.minimum(b1[..., 1], b2[..., 1])
    return b1, b2, inter / (union + eps), union, cw, ch


def ref_giou(b1, b2, eps=1e-7):
    """Rezatofighi et al. (2019), torchvision's eps."""
    _, _, iou, union, cw, ch = box_overlap_parts(b1, b2, eps)
    return 1 - iou + (cw * ch - union) / (cw * ch + eps)


def ref_diou(b1, b2, eps=1e-7):
    """Zheng et al. (2020), torchvision's eps."""
    b1, b2, iou, _, cw, ch = box_overlap_parts(b1, b2, eps)
    centers = (b1[..., :2] + b1[..., 2:]) / 2 - (b2[..., :2] + b2[..., 2:]) / 2
    return 1 - iou + np.sum(centers**2, -1) / (cw**2 + ch**2 + eps)


def box_aspect_term(b1, b2):
    """CIoU's v, 0 where a box is a point (no aspect ratio); atan2 gives flat boxes pi / 2."""
    b1, b2 = _f64(b1), _f64(b2)
    w1, h1, w2, h2 = b1[..., 2] - b1[..., 0], b1[..., 3] - b1[..., 1], \
        b2[..., 2] - b2[..., 0], b2[..., 3] - b2[..., 1]
    v = 4 / np.pi**2 * (np.arctan2(w2, h2) - np.arctan2(w1, h1)) ** 2
    return np.where(((w1 > 0) | (h1 > 0)) & ((w2 > 0) | (h2 > 0)), v, 0.0)


def ref_ciou(b1, b2, eps=1e-7, alpha=None):
    """Zheng et al. (2021); ``alpha`` given: held fixed (no gradient flows through it)."""
    _, _, iou, _, _, _ = box_overlap_parts(b1, b2, eps)
    v = box_aspect_term(b1, b2)
    alpha = v / (1 - iou + v + eps) if alpha is None else alpha
    return ref_diou(b1, b2, eps) + alpha * v


def _lovasz(errors, foreground):
    """The Lovász extension of the Jaccard loss at ``max(errors, 0)`` (1-D), from the sets:
    sorted errors weighted by the steps of ``J(S) = |S| / |fg ∪ S|``."""
    order = np.argsort(-errors, kind="stable")
    fg = np.asarray(foreground, bool)[order]
    sizes = np.arange(1, len(errors) + 1)
    jaccard = sizes / (fg.sum() + np.cumsum(~fg))
    steps = np.diff(np.concatenate([[0.0], jaccard]))
    return np.dot(np.maximum(errors[order], 0.0), steps)


def ref_lovasz_hinge(logits, labels):
    x, y = _f64(logits).reshape(len(logits), -1), _f64(labels).reshape(len(logits), -1)
    return np.array([_lovasz(1 - xi * (2 * yi - 1), yi > 0) for xi, yi in zip(x, y)])


def ref_lovasz_softmax(probs, labels, classes="present"):
    p = _f64(probs).reshape(len(probs), -1, np.shape(probs)[-1])
    y = np.asarray(labels).reshape(len(probs), -1)
    out = []
    for pi, yi in zip(p, y):
        per_class = [(_lovasz(np.abs((yi == c) - pi[:, c]), yi == c), np.any(yi == c))
                     for c in range(p.shape[-1])]
        kept = [v for v, present in per_class if present or classes == "all"]
        out.append(np.mean(kept) if kept else 0.0)
    return np.array(out)


def ref_focal_tversky(p, t, alpha=0.5, beta=0.5, gamma=0.75, axis=-1):
    return np.maximum(ref_tversky(p, t, alpha, beta, axis=axis), 0.0) ** gamma


def ref_generalized_dice(p, t, epsilon=1e-7):
    """Sudre et al. (2017): weights 1 / T_c**2 over the pixel axes (all but first and last),
    normalised to a largest weight of 1; absent classes take the largest weight."""
    p, t = _f64(p), _f64(t)
    axes = tuple(range(1, p.ndim - 1))
    sizes = t.sum(axes)
    with np.errstate(divide="ignore"):
        weights = np.where(sizes > 0, 1 / np.where(sizes > 0, sizes, 1) ** 2, 0.0)
    largest = weights.max(-1, keepdims=True)
    weights = np.where(sizes > 0, weights, largest)
    weights = np.where(largest > 0, weights / np.where(largest > 0, largest, 1), 1.0)
    overlap = np.sum(weights * np.sum(t * p, axes), -1)
    return 1 - 2 * overlap / (np.sum(weights * np.sum(t + p, axes), -1) + epsilon)


def ref_multiclass_dice(p, t, false_positive_weight=0.5, false_negative_weight=0.5, smooth=1.0,
                        class_reduction="mean"):
    """optax.losses.dice_loss's formula, summed over the pixel axes (all but first and last)."""
    p, t = _f64(p), _f64(t)
    axes = tuple(range(1, p.ndim - 1))
    overlap, predicted, target = np.sum(p * t, axes), np.sum(p, axes), np.sum(t, axes)
    loss = 1 - (overlap + smooth) / (overlap + false_positive_weight * (predicted - overlap)
                                     + false_negative_weight * (target - overlap) + smooth)
    return loss.mean(-1) if class_reduction == "mean" else loss.sum(-1)


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


def ref_cosine_embedding(x1, x2, y, margin=0.0, epsilon=1e-12):
    x1, x2 = _f64(x1), _f64(x2)
    denominator = np.sqrt((np.sum(x1**2, -1) + epsilon) * (np.sum(x2**2, -1) + epsilon))
    cos = np.sum(x1 * x2, -1) / np.where(denominator > 0, denominator, 1.0)
    return np.where(_f64(y) == 1, 1 - cos, np.maximum(cos - margin, 0.0))


def ref_pairwise_distance(x, y, p=2.0, epsilon=1e-6, epsilon_at="difference"):
    difference = _f64(x) - _f64(y)
    if epsilon_at == "power_sum":
        return np.linalg.norm(np.concatenate(
            [difference, np.full(difference.shape[:-1] + (1,), epsilon ** (1 / p))], -1
        ), ord=p, axis=-1)
    return np.linalg.norm(difference + epsilon, ord=p, axis=-1)


def ref_triplet(a, pos, neg, margin=1.0, swap=False, **distance):
    negative = ref_pairwise_distance(a, neg, **distance)
    if swap:
        negative = np.minimum(negative, ref_pairwise_distance(pos, neg, **distance))
    return np.maximum(ref_pairwise_distance(a, pos, **distance) - negative + margin, 0.0)


def ref_ranking_softmax(logits, labels):
    return -np.sum(_f64(labels) * log_softmax(_f64(logits), axis=-1), -1)


def _ranking_scale(logits, labels):
    """float32 resolution of the largest logit, times the labels' total."""
    return 4 * EPS32 * np.max(np.abs(_f64(logits)), -1) * (1 + np.sum(_f64(labels), -1))


def _triplet_scale(a, pos, neg):
    """float32 resolution of the distances, which may cancel (the largest of any degree)."""
    return 8 * EPS32 * sum(np.abs(_f64(x) - _f64(y)).sum(-1) for x, y in
                           ((a, pos), (a, neg), (pos, neg)))


def ref_cosine_similarity(p, t, epsilon=0.0):
    return 1 - ref_cosine_distance(p, t, epsilon)


def ref_cosine_distance(p, t, epsilon=0.0):
    p, t = _f64(p), _f64(t)
    norm_p = np.sqrt(np.maximum(np.sum(p**2, -1, keepdims=True), epsilon))
    norm_t = np.sqrt(np.maximum(np.sum(t**2, -1, keepdims=True), epsilon))
    # A zero vector has cosine 0 (optax: NaN for epsilon=0).
    norm_p, norm_t = np.where(norm_p > 0, norm_p, 1.0), np.where(norm_t > 0, norm_t, 1.0)
    return 1 - np.sum(p / norm_p * t / norm_t, -1)


def ref_contrastive(q, k, temperature=0.07, symmetric=True, chunk_size=None):
    s = _f64(q) @ _f64(k).T / temperature
    rows = logsumexp(s, axis=1) - np.diag(s)
    if not symmetric:
        return rows
    return 0.5 * (rows + logsumexp(s, axis=0) - np.diag(s))


def ref_sigmoid_contrastive(q, k, scale=10.0, bias=-10.0):
    x = scale * (_f64(q) @ _f64(k).T) + bias
    z = 2 * np.eye(len(x)) - 1
    return softplus(-z * x).sum(1)


def ref_supervised_contrastive(e, labels, temperature=0.1):
    s = _f64(e) @ _f64(e).T / temperature
    eye = np.eye(len(s), dtype=bool)
    log_p = s - logsumexp(np.where(eye, -np.inf, s), axis=1, keepdims=True)
    positive = (labels[:, None] == labels[None, :]) & ~eye
    total = np.where(positive, -log_p, 0.0).sum(1)
    return total / np.maximum(positive.sum(1), 1)


def ref_ntxent(e, labels, temperature=0.07):
    e = _f64(e)
    norms = np.sqrt(np.maximum((e**2).sum(1, keepdims=True), np.finfo(np.float32).eps))
    s = (e / norms) @ (e / norms).T / temperature
    positive = (labels[:, None] == labels[None, :]) & ~np.eye(len(s), dtype=bool)
    negative = labels[:, None] != labels[None, :]
    with np.errstate(divide="ignore"):
        lse_neg = logsumexp(np.where(negative, s, -np.inf), axis=1, keepdims=True)
    pair = np.logaddexp(s, lse_neg) - s
    return np.where(positive, pair, 0.0).sum(1) / np.maximum(positive.sum(1), 1)


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



def ref_quantile(p, t, quantile=0.5):
    e, q = _f64(t) - _f64(p), _f64(quantile)
    return np.maximum(q * e, (q - 1) * e)


def _kl_rows(log_a, log_b):
    a = np.exp(log_a)
    return np.sum(np.where(a > 0, a * (log_a - log_b), 0.0), -1)


def ref_distillation(s, t, temperature=1.0, divergence="forward", beta=0.5):
    log_q = log_softmax(_f64(s) / temperature, axis=-1)
    log_p = log_softmax(_f64(t) / temperature, axis=-1)
    if divergence == "forward":
        return temperature**2 * _kl_rows(log_p, log_q)
    if divergence == "reverse":
        return temperature**2 * _kl_rows(log_q, log_p)
    log_m = np.logaddexp(np.log(beta) + log_p, np.log1p(-beta) + log_q)
    return temperature**2 * (beta * _kl_rows(log_p, log_m) + (1 - beta) * _kl_rows(log_q, log_m))


def _margin(pc, pr, rc, rr):
    return (_f64(pc) - _f64(rc)) - (_f64(pr) - _f64(rr))


def ref_dpo(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0):
    h = beta * _margin(pc, pr, rc, rr)
    return (1 - label_smoothing) * softplus(-h) + label_smoothing * softplus(h)


def ref_ipo(pc, pr, rc, rr, beta=0.1):
    return (_margin(pc, pr, rc, rr) - 1 / (2 * beta)) ** 2


def ref_simpo(c, r, beta=2.0, gamma=0.5):
    return softplus(gamma - beta * (_f64(c) - _f64(r)))


def ref_dpo_reward_margin(pc, pr, rc, rr, beta=0.1):
    return beta * (_f64(pc) - _f64(rc)) - beta * (_f64(pr) - _f64(rr))


def ref_sequence_log_probs(logits, labels, average=False):
    log_probs = np.take_along_axis(log_softmax(_f64(logits), -1), labels[..., None], -1)
    total = log_probs[..., 0].sum(-1)
    return total / labels.shape[-1] if average else total

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


def _log_probs_scale(*log_probs):
    """float32 resolution of the margin's terms, which may cancel (beta <= 0.5 or 2)."""
    return 8 * EPS32 * sum(np.abs(_f64(a)) for a in log_probs)


def _ipo_scale(pc, pr, rc, rr):
    """The margin's rounding, times the square's derivative 2 |h - 1 / (2 beta)|."""
    delta = _log_probs_scale(pc, pr, rc, rr)
    return delta * (2 * np.abs(_margin(pc, pr, rc, rr)) + 10 + delta)


def _distillation_scale(s, t):
    """float32 resolution of each row's logits over T, times T**2 (T up to 2)."""
    return 16 * EPS32 * np.maximum(np.abs(_f64(s)), np.abs(_f64(t))).max(-1)


def _sequence_scale(logits, labels):
    """Each token's log-probability is formed against its row's largest logit."""
    return 4 * EPS32 * np.max(np.abs(_f64(logits)), axis=-1).sum(-1)


def _dpo_reward_margin(*log_probs, **kwargs):
    """The chosen reward less the rejected one: a case needs one value per example."""
    chosen, rejected = jaxloss.dpo_rewards(*log_probs, **kwargs)
    return chosen - rejected


@st.composite
def boxes(draw, shape):
    """Valid boxes ``(x1, y1, x2, y2)``: corners in [-50, 50], sides in [0.01, 50] or 0."""
    corners = draw(arrays(shape + (2,), floats(-50, 50)))
    sides = draw(arrays(shape + (2,), st.one_of(st.just(0.0), floats(0.01, 50))))
    return np.concatenate([corners, corners + sides], -1).astype(np.float32)


def _box_scale(b1, b2):
    """float32 resolution of the corners relative to the smallest positive length (a side,
    or the enclosing diagonal): sides and centres are formed from corners in float32."""
    b1, b2 = _f64(b1), _f64(b2)
    _, _, _, _, cw, ch = box_overlap_parts(b1, b2)
    lengths = np.concatenate(
        [b1[..., 2:] - b1[..., :2], b2[..., 2:] - b2[..., :2], np.hypot(cw, ch)[..., None]], -1
    )
    smallest = np.where(lengths > 0, lengths, np.inf).min(-1)
    largest = np.maximum(np.abs(b1).max(-1), np.abs(b2).max(-1)) + 1
    return 64 * EPS32 * (1 + largest / np.minimum(smallest, largest))

_MESH = None


def _sharded(h, w, labels, **kwargs):
    global _MESH
    if _MESH is None:
        _MESH = jax.make_mesh((1,), ("vocab",))
    return jaxloss.fused_linear_cross_entropy_sharded(
        h, w, labels, mesh=_MESH, axis_name="vocab", reduction="none", **kwargs
    )


def _similarity_scale(*_):
    """float32 resolution of logits up to 20 (unit vectors over temperature 0.07, SigLIP's
    scale 10 and bias -10): a reordered log-sum-exp rounds differently at that size."""
    return 8 * EPS32 * 20


def _contrastive_sharded(q, k, **kwargs):
    global _MESH
    if _MESH is None:
        _MESH = jax.make_mesh((1,), ("vocab",))
    return jaxloss.chunked_contrastive_loss_sharded(q, k, mesh=_MESH, axis_name="vocab", **kwargs)


def _fused(h, w, labels, **kwargs):
    return jaxloss.fused_linear_cross_entropy(h, w, labels, reduction="none", **kwargs)


def _fused_label_nll(h, w, labels, **kwargs):
    """Minus the streamed label log-probability: the per-token cross-entropy."""
    return -jaxloss.fused_linear_token_statistics(h, w, labels, **kwargs).label_log_prob


_CE_SHAPE = (BATCH, CLASSES)
_LOGSUMEXP_FENCHEL_YOUNG = jaxloss.make_fenchel_young_loss(jax_logsumexp)
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
    Case(
        "poly_loss_cross_entropy", jaxloss.poly_loss_cross_entropy,
        _pair(arrays(_CE_SHAPE), distributions(_CE_SHAPE)), ref_poly,
        hparams=({}, {"epsilon": -1.0}), scale=lambda x, y: 4 * _logit_scale(x, y),
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
    _elementwise(
        "l2_loss", jaxloss.l2_loss, lambda p, t: 0.5 * (_f64(p) - _f64(t)) ** 2,
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
    Case(
        "log_space_kl_divergence", jaxloss.log_space_kl_divergence,
        _pair(arrays(_CE_SHAPE), distributions(_CE_SHAPE)), ref_log_space_kl,
        scale=_log_space_kl_scale,
    ),
    Case(
        "generalized_kl_divergence", jaxloss.generalized_kl_divergence,
        _pair(arrays(_CE_SHAPE, LOG_RATE), arrays(_CE_SHAPE, NON_NEGATIVE)), ref_generalized_kl,
        scale=_generalized_kl_scale,
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
    # ---- quantile (regression.py): one level, or one per entry of the last axis
    _elementwise(
        "quantile_loss", jaxloss.quantile_loss, ref_quantile,
        hparams=({"quantile": (0.1, 0.5, 0.9)},),
    ),
    # ---- distillation (distillation.py)
    Case(
        "distillation_loss", jaxloss.distillation_loss,
        _pair(arrays(_CE_SHAPE), arrays(_CE_SHAPE)), ref_distillation,
        hparams=({"temperature": 2.0},), scale=_distillation_scale,
    ),
    Case(
        "reverse_distillation_loss", jaxloss.reverse_distillation_loss,
        _pair(arrays(_CE_SHAPE), arrays(_CE_SHAPE)),
        functools.partial(ref_distillation, divergence="reverse"),
        hparams=({"temperature": 0.5},), scale=_distillation_scale,
    ),
    Case(
        "jensen_shannon_distillation_loss", jaxloss.jensen_shannon_distillation_loss,
        _pair(arrays(_CE_SHAPE), arrays(_CE_SHAPE)),
        functools.partial(ref_distillation, divergence="jensen_shannon"),
        hparams=({"beta": 0.9, "temperature": 2.0},), scale=_distillation_scale,
    ),
    # ---- preference (preference.py): one pair per example, log-probabilities as logits
    Case(
        "dpo_loss", jaxloss.dpo_loss, st.tuples(*[arrays((BATCH,))] * 4), ref_dpo,
        hparams=({"beta": 0.5, "label_smoothing": 0.2},), where_shape=None,
        batch_axes=(0, 0, 0, 0), scale=lambda *a: 0.5 * _log_probs_scale(*a),
    ),
    Case(
        "ipo_loss", jaxloss.ipo_loss, st.tuples(*[arrays((BATCH,))] * 4), ref_ipo,
        where_shape=None, batch_axes=(0, 0, 0, 0), scale=_ipo_scale,
    ),
    Case(
        "simpo_loss", jaxloss.simpo_loss, _pair(arrays((BATCH,)), arrays((BATCH,))), ref_simpo,
        where_shape=None, scale=lambda c, r: 2 * _log_probs_scale(c, r),
    ),
    Case(
        "dpo_rewards", _dpo_reward_margin, st.tuples(*[arrays((BATCH,))] * 4),
        ref_dpo_reward_margin, where_shape=None, batch_axes=(0, 0, 0, 0),
        scale=lambda *a: 0.1 * _log_probs_scale(*a),
    ),
    Case(
        "sequence_log_probs", jaxloss.sequence_log_probs,
        _pair(arrays((BATCH, 3, CLASSES)), class_indices((BATCH, 3))), ref_sequence_log_probs,
        scale=_sequence_scale,
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
    _elementwise(
        "focal_tversky_loss", functools.partial(jaxloss.focal_tversky_loss, axis=1),
        ref_focal_tversky, PROB, LABEL, shape=(BATCH, 6), masked_value=1.0,
        hparams=({}, {"alpha": 0.7, "beta": 0.3, "gamma": 2.0}),
    ),
    Case(
        "generalized_dice_loss", jaxloss.generalized_dice_loss,
        _pair(arrays((BATCH, 4, 3), PROB), arrays((BATCH, 4, 3), LABEL)), ref_generalized_dice,
        where_shape=(BATCH, 1, 1), masked_value=1.0,
    ),
    Case(
        "multiclass_dice_loss", jaxloss.multiclass_dice_loss,
        _pair(arrays((BATCH, 4, 3), PROB), arrays((BATCH, 4, 3), LABEL)), ref_multiclass_dice,
        hparams=({}, {"false_positive_weight": 0.7, "false_negative_weight": 0.3,
                      "smooth": 1e-3, "class_reduction": "sum"}),
        where_shape=(BATCH, 1, 1),
    ),
    Case(
        "lovasz_hinge_loss", jaxloss.lovasz_hinge_loss,
        _pair(arrays((BATCH, 6), LOGIT), arrays((BATCH, 6), st.sampled_from([0.0, 1.0]))),
        ref_lovasz_hinge,
    ),
    Case(
        "lovasz_softmax_loss", jaxloss.lovasz_softmax_loss,
        _pair(probability_rows((BATCH, 6, 3)), class_indices((BATCH, 6), 3)), ref_lovasz_softmax,
        hparams=({}, {"classes": "all"}),
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
    # ---- embedding (embedding.py). The loss of a fully masked pair depends on its target
    # (1 - 0 for a similar pair, max(-margin, 0) for a dissimilar one): tests/test_embedding.py
    # compares `where` with slicing instead.
    Case(
        "cosine_embedding_loss", jaxloss.cosine_embedding_loss,
        st.tuples(arrays((BATCH, 3), ANY), arrays((BATCH, 3), ANY),
                  arrays((BATCH,), st.sampled_from([-1.0, 1.0]))),
        ref_cosine_embedding, hparams=({"margin": 0.5}, {"epsilon": 0.0}, {}),
        where_shape=None, batch_axes=(0, 0, 0),
    ),
    _elementwise(
        "cosine_distance", jaxloss.cosine_distance, ref_cosine_distance, ANY, ANY,
        hparams=({"epsilon": 1e-3}, {}), masked_value=1.0,
    ),
    _elementwise(
        "cosine_similarity", jaxloss.cosine_similarity, ref_cosine_similarity, ANY, ANY,
        hparams=({"epsilon": 2.0}, {}),
    ),
    # The last hyperparameters (the mask's) have margin 1: a fully masked triplet's loss.
    Case(
        "triplet_margin_loss", jaxloss.triplet_margin_loss,
        st.tuples(arrays((BATCH, 3)), arrays((BATCH, 3)), arrays((BATCH, 3))), ref_triplet,
        hparams=({"p": 1.0}, {"p": 3.0, "margin": 0.5}, {"swap": True},
                 {"p": float("inf"), "epsilon_at": "difference"},
                 {"epsilon_at": "power_sum", "epsilon": 1e-3}, {}),
        masked_value=1.0, batch_axes=(0, 0, 0), scale=_triplet_scale,
    ),
    Case(
        "triplet_margin_with_distance_loss", jaxloss.triplet_margin_with_distance_loss,
        st.tuples(arrays((BATCH, 3)), arrays((BATCH, 3)), arrays((BATCH, 3))), ref_triplet,
        hparams=({"swap": True, "margin": 0.5}, {}),
        where_shape=None, batch_axes=(0, 0, 0), scale=_triplet_scale,
    ),
    # ---- ranking (ranking.py): relevance labels 0 to 3
    Case(
        "ranking_softmax_loss", jaxloss.ranking_softmax_loss,
        _pair(arrays(_CE_SHAPE), arrays(_CE_SHAPE, values(0.0, 1.0, 2.0, 3.0))),
        ref_ranking_softmax, scale=_ranking_scale,
    ),
    # ---- contrastive (the contrastive package): unit-norm embeddings, as the papers use
    Case(
        "contrastive_loss", jaxloss.contrastive_loss,
        _pair(unit_vectors((BATCH, 3)), unit_vectors((BATCH, 3))), ref_contrastive,
        hparams=({}, {"symmetric": False, "temperature": 1.0}), where_shape=None,
        scale=_similarity_scale,
    ),
    Case(
        "chunked_contrastive_loss", jaxloss.chunked_contrastive_loss,
        _pair(unit_vectors((BATCH, 3)), unit_vectors((BATCH, 3))), ref_contrastive,
        hparams=({"symmetric": False, "chunk_size": 1}, {"chunk_size": 3}), where_shape=None,
        scale=_similarity_scale,
    ),
    Case(
        "chunked_contrastive_loss_sharded", _contrastive_sharded,
        _pair(unit_vectors((BATCH, 3)), unit_vectors((BATCH, 3))), ref_contrastive,
        hparams=({"chunk_size": 3},), where_shape=None, scale=_similarity_scale,
    ),
    Case(
        "sigmoid_contrastive_loss", jaxloss.sigmoid_contrastive_loss,
        _pair(unit_vectors((BATCH, 3)), unit_vectors((BATCH, 3))), ref_sigmoid_contrastive,
        where_shape=None, scale=_similarity_scale,
    ),
    Case(
        "supervised_contrastive_loss", jaxloss.supervised_contrastive_loss,
        _pair(unit_vectors((BATCH, 3)), class_indices((BATCH,), 2)),
        ref_supervised_contrastive, where_shape=None, scale=_similarity_scale,
    ),
    Case(
        "ntxent_loss", jaxloss.ntxent_loss,
        _pair(arrays((BATCH, 3), floats(-1, 1)), class_indices((BATCH,), 2)), ref_ntxent,
        where_shape=None, scale=_similarity_scale,
    ),
    # ---- CTC (ctc.py): 4 frames, 3 classes (blank 0), 2 labels
    Case(
        "ctc_loss", jaxloss.ctc_loss,
        _pair(arrays((BATCH, 4, 3)), class_indices((BATCH, 2), 3).map(lambda y: 1 + y % 2)),
        ref_ctc, where_shape=(BATCH,),
    ),
    Case(
        "ctc_loss_with_forward_probs", _ctc_loss_of_forward_probs,
        _pair(arrays((BATCH, 4, 3)), class_indices((BATCH, 2), 3).map(lambda y: 1 + y % 2)),
        ref_ctc, where_shape=None,
    ),
    # ---- Fenchel-Young (fenchel_young.py)
    Case(
        "sparsemax", jaxloss.sparsemax, arrays(_CE_SHAPE).map(lambda x: (x,)), ref_sparsemax,
        where_shape=None, batch_axes=(0,),
    ),
    Case(
        "multiclass_sparsemax_loss", jaxloss.multiclass_sparsemax_loss,
        _pair(arrays(_CE_SHAPE), class_indices((BATCH,))), ref_multiclass_sparsemax,
        where_shape=None, scale=_logit_scale,
    ),
    _elementwise(
        "sparsemax_loss", jaxloss.sparsemax_loss, ref_binary_sparsemax, LOGIT, LABEL,
    ),
    Case(
        "make_fenchel_young_loss", _fenchel_young_logsumexp,
        _pair(arrays(_CE_SHAPE), distributions(_CE_SHAPE)), ref_fenchel_young_logsumexp,
        where_shape=None, scale=_logit_scale,
    ),
    # ---- robust (robust.py)
    Case(
        "generalized_cross_entropy", jaxloss.generalized_cross_entropy,
        _pair(probability_rows(_CE_SHAPE), class_indices((BATCH,))), ref_generalized_ce,
        hparams=({}, {"q": 0.1}, {"q": 1.0}), where_shape=(BATCH,),
        # d/dp (1 - p^q)/q = -p^(q-1): infinite at p = 0 for q < 1 (documented).
        grad_may_overflow=lambda p, y: np.take_along_axis(_f64(p), y[:, None], -1) == 0,
    ),
    # ---- detection (detection.py): pairs of boxes
    *(
        Case(name, getattr(jaxloss, name), _pair(boxes((BATCH,)), boxes((BATCH,))), reference,
             hparams=({}, {"eps": 1e-3}), where_shape=(BATCH,), scale=_box_scale)
        for name, reference in (
            ("generalized_box_iou_loss", ref_giou),
            ("distance_box_iou_loss", ref_diou),
            ("complete_box_iou_loss", ref_ciou),
        )
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
        "fused_linear_token_statistics", _fused_label_nll,
        st.tuples(arrays((BATCH, 3), floats(-1e3, 1e3)), arrays((3, 7), floats(-1e3, 1e3)),
                  class_indices((BATCH,), 7)),
        ref_fused, hparams=({}, {"chunk_size": 3}),
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

