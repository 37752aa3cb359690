"""Inputs shared by the tests of jaxloss.losses: one case per loss configuration.

Each case names a loss class (the same name in ``keras.losses`` and
``jaxloss.losses``), its constructor arguments, a function making ``(y_true,
y_pred)`` from a NumPy generator, and the sample-weight shapes it accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

BATCH, TIME, CLASSES = 4, 3, 5


def _floats(rng, *shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape).astype(np.float32)


def _probs(rng, *shape):
    x = rng.uniform(0.05, 1.0, shape).astype(np.float32)
    return x / x.sum(-1, keepdims=True)


def _one_hot(rng, *shape):
    return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


def regression(rng, *shape):
    return _floats(rng, *shape), _floats(rng, *shape)


def positive(rng, *shape):
    return _floats(rng, *shape, low=0.1, high=3.0), _floats(rng, *shape, low=0.1, high=3.0)


def counts(rng, *shape):
    return rng.poisson(2.0, shape).astype(np.float32), _floats(rng, *shape, low=0.0, high=3.0)


def signs01(rng, *shape):
    return rng.integers(0, 2, shape).astype(np.float32), _floats(rng, *shape)


def signs(rng, *shape):
    return rng.choice([-1.0, 1.0], shape).astype(np.float32), _floats(rng, *shape)


def one_hot_scores(rng, *shape):
    return _one_hot(rng, *shape), _floats(rng, *shape)


def distributions(rng, *shape):
    return _probs(rng, *shape), _probs(rng, *shape)


def masks(rng, *shape):
    return rng.integers(0, 2, shape).astype(np.float32), _floats(rng, *shape, low=0.0, high=1.0)


def embeddings(rng, *shape):
    x = rng.normal(size=(shape[0], CLASSES)).astype(np.float32)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    labels = rng.integers(0, 3, shape[0]).astype(np.float32)
    return labels, x


def paired_embeddings(rng, *shape):
    """Unit-norm pairs: ``y_true`` the keys, ``y_pred`` the queries, ``[batch, features]``."""
    keys, queries = rng.normal(size=(2, shape[0], CLASSES)).astype(np.float32)
    return (keys / np.linalg.norm(keys, axis=-1, keepdims=True),
            queries / np.linalg.norm(queries, axis=-1, keepdims=True))


def sequences(rng, *shape):
    labels = rng.integers(1, CLASSES, (shape[0], 2)).astype(np.int32)
    labels[0, 1] = 0  # a shorter sequence, padded with the blank 0
    return labels, _floats(rng, shape[0], 6, CLASSES, low=-3.0, high=3.0)


def binary_probs(rng, *shape):
    y_true = rng.integers(0, 2, shape).astype(np.float32)
    y_pred = _floats(rng, *shape, low=0.0, high=1.0)
    y_pred.flat[:4] = [0.0, 1.0, 0.0, 1.0]  # probabilities of exactly 0 and 1,
    y_true.flat[:4] = [1.0, 0.0, 0.0, 1.0]  # wrong and right
    return y_true, y_pred


def soft_binary_probs(rng, *shape):
    return _floats(rng, *shape, low=0.0, high=1.0), _floats(rng, *shape, low=0.0, high=1.0)


def binary_logits(rng, *shape):
    y_true = rng.integers(0, 2, shape).astype(np.float32)
    y_pred = _floats(rng, *shape, low=-4.0, high=4.0)
    y_pred.flat[:4] = [-1e4, 1e4, -100.0, 100.0]  # extreme logits, wrong and right
    y_true.flat[:4] = [1.0, 0.0, 0.0, 1.0]
    return y_true, y_pred


def categorical_probs(rng, *shape):
    y_true = _one_hot(rng, *shape)
    y_pred = _probs(rng, *shape)
    y_pred.reshape(-1, shape[-1])[:2] = np.eye(shape[-1])[[0, 1]]  # exact 0s and a 1
    y_true.reshape(-1, shape[-1])[:2] = np.eye(shape[-1])[[0, 2]]
    return y_true, y_pred


def categorical_logits(rng, *shape):
    y_true = _one_hot(rng, *shape)
    y_pred = _floats(rng, *shape, low=-4.0, high=4.0)
    y_pred.reshape(-1, shape[-1])[:2] = 100.0 * np.eye(shape[-1])[[0, 1]] - 50.0
    y_true.reshape(-1, shape[-1])[:2] = np.eye(shape[-1])[[0, 2]]
    return y_true, y_pred


def binary_logits_moderate(rng, *shape):
    """Logits within +-8, where Keras's sigmoid-then-clip focal loss is still exact."""
    y_true = rng.integers(0, 2, shape).astype(np.float32)
    return y_true, _floats(rng, *shape, low=-8.0, high=8.0)


def categorical_logits_moderate(rng, *shape):
    return _one_hot(rng, *shape), _floats(rng, *shape, low=-6.0, high=6.0)


def sparse_probs(rng, *shape):
    y_true = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    y_true.flat[:2] = [0, 2]
    y_pred = _probs(rng, *shape)
    y_pred.reshape(-1, shape[-1])[:2] = np.eye(shape[-1])[[0, 1]]
    return y_true, y_pred


def distributions_sparse(rng, *shape):
    return rng.integers(0, shape[-1], shape[:-1]).astype(np.int32), _probs(rng, *shape)


def sparse_logits(rng, *shape):
    y_true = rng.integers(0, shape[-1], shape[:-1]).astype(np.int32)
    y_true.flat[:2] = [0, 2]
    y_pred = _floats(rng, *shape, low=-4.0, high=4.0)
    y_pred.reshape(-1, shape[-1])[:2] = 100.0 * np.eye(shape[-1])[[0, 1]] - 50.0
    return y_true, y_pred


def sparse_logits_column(rng, *shape):
    y_true, y_pred = sparse_logits(rng, *shape)
    return y_true[..., None], y_pred


def sparse_logits_ignored(rng, *shape):
    y_true, y_pred = sparse_logits(rng, *shape)
    y_true.flat[1::3] = -1
    return y_true, y_pred


def box_pairs(rng, *shape):
    """Boxes (x1, y1, x2, y2) of shape [*shape[:-1], 4]: overlapping, nested and disjoint."""
    corners = rng.uniform(0.0, 4.0, shape[:-1] + (2, 2))
    sides = rng.uniform(0.5, 3.0, shape[:-1] + (2, 2))
    boxes = np.concatenate([corners, corners + sides], -1).astype(np.float32)
    return boxes[..., 0, :], boxes[..., 1, :]


def pixel_labels(rng, *shape):
    """Binary masks and logits [batch, pixels]."""
    return rng.integers(0, 2, shape).astype(np.float32), _floats(rng, *shape, low=-3.0, high=3.0)


def pixel_classes(rng, *shape):
    """Class indices [batch, pixels] and softmax probabilities [batch, pixels, classes]."""
    return rng.integers(0, shape[-1], shape[:-1]).astype(np.float32), _probs(rng, *shape)


# (input shape, sample-weight kinds) pairs a case is checked with.
PER_ENTRY = (
    ((BATCH, CLASSES), ("none", "sample", "sample1")),
    ((BATCH, TIME, CLASSES), ("none", "timestep")),
)
PER_BATCH = (((BATCH, TIME, CLASSES), ("none", "sample", "sample1")),)
PER_ROW = (((BATCH, TIME, CLASSES), ("none", "sample1")),)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    kwargs: dict
    make: Callable
    layouts: tuple = PER_ENTRY
    # The reduction code is shared by every class; slow losses (CTC's scan compiles
    # at each eager call) are checked with two reductions only.
    # False where the exact gradient is infinite (generalized CE at p = 0).
    finite_grad: bool = True
    reductions: tuple = (
        "sum_over_batch_size",
        "sum",
        "mean",
        "mean_with_sample_weight",
        "none",
        None,
    )

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}({args})-{self.make.__name__}"


REGRESSION_CASES = (
    Case("MeanSquaredError", {}, regression),
    Case("MeanAbsoluteError", {}, regression),
    Case("MeanAbsolutePercentageError", {}, positive),
    Case("MeanSquaredLogarithmicError", {}, positive),
    Case("CosineSimilarity", {}, regression),
    Case("CosineSimilarity", {"axis": 1}, regression, PER_ROW),
    Case("Huber", {}, regression),
    Case("Huber", {"delta": 0.5}, regression),
    Case("LogCosh", {}, regression),
    Case("Hinge", {}, signs01),
    Case("Hinge", {}, signs),
    Case("SquaredHinge", {}, signs01),
    Case("CategoricalHinge", {}, one_hot_scores),
    Case("KLDivergence", {}, distributions),
    Case("Poisson", {}, counts),
    Case("Dice", {}, masks),
    Case("Dice", {"axis": (1, 2)}, masks, PER_BATCH),
    Case("Tversky", {}, masks),
    Case("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": (1, 2)}, masks, PER_BATCH),
    Case("Circle", {}, embeddings, (((2 * BATCH,), ("none", "sample")),)),
    Case(
        "Circle", {"gamma": 10.0, "margin": 0.25}, embeddings, (((2 * BATCH,), ("none", "sample")),)
    ),
    Case(
        "CTC",
        {},
        sequences,
        (((BATCH,), ("none", "sample")),),
        reductions=("mean_with_sample_weight", "none"),
    ),
)


CROSSENTROPY_CASES = (
    Case("BinaryCrossentropy", {}, binary_probs),
    Case("BinaryCrossentropy", {"label_smoothing": 0.1}, binary_probs),
    Case("BinaryCrossentropy", {}, soft_binary_probs),
    Case("BinaryCrossentropy", {"from_logits": True}, binary_logits),
    Case("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, binary_logits),
    Case("BinaryCrossentropy", {"axis": 1}, binary_probs, PER_ROW),
    Case("CategoricalCrossentropy", {}, categorical_probs),
    Case("CategoricalCrossentropy", {"label_smoothing": 0.1}, categorical_probs),
    Case("CategoricalCrossentropy", {"from_logits": True}, categorical_logits),
    Case(
        "CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, categorical_logits
    ),
    Case("CategoricalCrossentropy", {"from_logits": True, "axis": 1}, categorical_logits, PER_ROW),
    Case("SparseCategoricalCrossentropy", {}, sparse_probs),
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, sparse_logits),
    Case("SparseCategoricalCrossentropy", {"from_logits": True}, sparse_logits_column),
    Case("SparseCategoricalCrossentropy", {"ignore_class": 2}, sparse_probs),
    Case("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 2}, sparse_logits),
    Case(
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": -1},
        sparse_logits_ignored,
    ),
    Case("CategoricalGeneralizedCrossEntropy", {}, sparse_probs, finite_grad=False),
    Case("CategoricalGeneralizedCrossEntropy", {"q": 0.8}, distributions_sparse),
)


FOCAL_CASES = (
    Case("BinaryFocalCrossentropy", {}, binary_probs),
    Case("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4}, binary_probs),
    Case("BinaryFocalCrossentropy", {"gamma": 0.5, "label_smoothing": 0.1}, soft_binary_probs),
    Case("BinaryFocalCrossentropy", {"from_logits": True}, binary_logits_moderate),
    Case(
        "BinaryFocalCrossentropy",
        {"from_logits": True, "apply_class_balancing": True, "label_smoothing": 0.2},
        binary_logits_moderate,
    ),
    Case("CategoricalFocalCrossentropy", {}, categorical_probs),
    Case(
        "CategoricalFocalCrossentropy",
        {"alpha": 0.5, "gamma": 1.0, "label_smoothing": 0.1},
        categorical_probs,
    ),
    Case("CategoricalFocalCrossentropy", {"from_logits": True}, categorical_logits_moderate),
    Case(
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "label_smoothing": 0.2, "gamma": 3.0},
        categorical_logits_moderate,
    ),
)


# The classes Keras does not have: no parity test reads this group.
EXTENSION_CASES = (
    Case("WeightedBinaryCrossentropy", {"pos_weight": 2.0}, binary_probs),
    Case("SparseCategoricalFocalCrossentropy", {}, sparse_probs),
    Case("PoissonNegativeLogLikelihood", {}, counts),
    Case("Quantile", {"quantile": 0.25}, regression),
    Case("Distillation", {"temperature": 2.0}, regression),
    Case("GeneralizedBoxIoU", {}, box_pairs, (((BATCH, 4), ("none", "sample")),)),
    Case("DistanceBoxIoU", {}, box_pairs, (((BATCH, 4), ("none", "sample")),)),
    Case("CompleteBoxIoU", {"eps": 1e-6}, box_pairs, (((BATCH, 4), ("none", "sample")),)),
    Case("FocalTversky", {"gamma": 2.0, "axis": (1, 2)}, masks, PER_BATCH),
    Case("GeneralizedDice", {}, masks, PER_BATCH),
    Case("LovaszHinge", {}, pixel_labels, (((BATCH, 6), ("none", "sample")),)),
    Case(
        "LovaszSoftmax", {"classes": "all"}, pixel_classes, (((BATCH, 6, 3), ("none", "sample")),)
    ),
    Case("Contrastive", {"temperature": 0.5}, paired_embeddings,
         (((BATCH, CLASSES), ("none", "sample")),)),
    Case("SigmoidContrastive", {}, paired_embeddings, (((BATCH, CLASSES), ("none", "sample")),)),
)


def sample_weight(kind: str, rng, shape: tuple):
    """Weights of the given kind for inputs of ``shape`` (``[batch, ...]``)."""
    if kind == "none":
        return None
    if kind == "sample":
        return rng.uniform(0.0, 2.0, shape[:1]).astype(np.float32)
    if kind == "sample1":
        return rng.uniform(0.0, 2.0, (shape[0], 1)).astype(np.float32)
    return rng.uniform(0.0, 2.0, shape[:2]).astype(np.float32)
