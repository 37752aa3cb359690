"""The inputs of every case, from NumPy alone (the PyTorch worker imports no JAX).

``make(name, size)`` returns the positional arguments and the keyword arguments of the case
``name`` at ``size`` (``"full"`` or ``"quick"``); the first argument is the one the gradient
is taken with respect to. The same seed gives JAX and PyTorch the same numbers.
"""

from __future__ import annotations

import numpy as np

SHAPES = {
    # rows x classes of the classification cases, elements of the elementwise ones,
    # [batch, features] of the embedding ones, (time, batch, classes, label length) of CTC.
    "full": {"rows": 4096, "classes": 1000, "elements": 2**20, "pairs": (4096, 256),
             "ntxent": (1024, 128), "ctc": (100, 64, 32, 20), "lists": (1024, 64),
             "multilabel": (1024, 32)},
    "quick": {"rows": 16, "classes": 10, "elements": 256, "pairs": (16, 8), "ntxent": (16, 8),
              "ctc": (12, 4, 6, 3), "lists": (8, 6), "multilabel": (8, 5)},
}


def _rng():
    return np.random.default_rng(0)


def _log_softmax(x):
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _float(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def make(name: str, size: str) -> tuple[tuple, dict]:
    shape = SHAPES[size]
    rng = _rng()
    rows, classes = shape["rows"], shape["classes"]
    logits = _float(rng.normal(0.0, 3.0, (rows, classes)))
    labels = rng.integers(0, classes, rows).astype(np.int32)
    one_hot = _float(np.eye(classes)[labels])
    log_targets = _float(_log_softmax(rng.normal(0.0, 1.0, (rows, classes))))
    elements = shape["elements"]
    predictions = _float(rng.normal(0.0, 1.0, elements))
    targets = _float(rng.normal(0.0, 1.0, elements))
    batch, features = shape["pairs"]
    anchors, positives, negatives = (_float(rng.normal(0.0, 1.0, (batch, features)))
                                     for _ in range(3))
    signs = _float(rng.choice([-1.0, 1.0], batch))
    match name:
        case "kl_divergence":
            return (_float(_log_softmax(logits)), _float(np.exp(log_targets))), {}
        case "kl_div":
            return ((_float(_log_softmax(logits)), _float(np.exp(log_targets))),
                    {"reduction": "batchmean"})
        case "kl_divergence_with_log_targets":
            return (_float(_log_softmax(logits)), log_targets), {}
        case "kl_div_log_target":
            return (_float(_log_softmax(logits)), log_targets), {"log_target": True, "reduction": "batchmean"}
        case "poly_loss_cross_entropy":
            return (logits, one_hot), {"epsilon": 2.0}
        case ("multiclass_hinge_loss" | "multiclass_perceptron_loss"
              | "multiclass_sparsemax_loss"):
            return (logits, labels), {}
        case "sparsemax_loss":
            return (predictions, _float(targets > 0)), {}
        case "ranking_softmax_loss":
            lists, items = shape["lists"]
            relevance = _float(rng.integers(0, 2, (lists, items)))
            return (_float(rng.normal(0.0, 1.0, (lists, items))), relevance), {}
        case "ntxent":
            count, dim = shape["ntxent"]
            embeddings = _float(rng.normal(0.0, 1.0, (count, dim)))
            return (embeddings, (np.arange(count) // 2).astype(np.int32)), {"temperature": 0.07}
        case "triplet_margin_loss":
            return (anchors, positives, negatives), {}
        case "cosine_distance":
            return (anchors, positives), {}
        case "cosine_embedding_loss":
            return (anchors, positives, signs), {}
        case "l2_loss" | "squared_error" | "mse_loss" | "smooth_l1_loss" | "huber_loss":
            return (predictions, targets), {}
        case "smooth_labels":
            return (one_hot,), {"alpha": 0.1}
        case "ctc_loss":
            time, ctc_batch, ctc_classes, label_length = shape["ctc"]
            ctc_logits = _float(rng.normal(0.0, 1.0, (ctc_batch, time, ctc_classes)))
            ctc_labels = rng.integers(1, ctc_classes, (ctc_batch, label_length)).astype(np.int32)
            return (ctc_logits, np.zeros((ctc_batch, time), np.float32), ctc_labels,
                    np.zeros((ctc_batch, label_length), np.float32)), {}
        case "torch_ctc_loss":
            time, ctc_batch, ctc_classes, label_length = shape["ctc"]
            ctc_logits = _float(rng.normal(0.0, 1.0, (ctc_batch, time, ctc_classes)))
            ctc_labels = rng.integers(1, ctc_classes, (ctc_batch, label_length)).astype(np.int64)
            log_probs = _float(np.transpose(_log_softmax(ctc_logits), (1, 0, 2)))
            return (log_probs, ctc_labels, np.full(ctc_batch, time, np.int64),
                    np.full(ctc_batch, label_length, np.int64)), {}
        case "dice_loss":
            return (logits.reshape(rows, 1, classes), one_hot.reshape(rows, 1, classes)), {}
        case "nll_loss":
            return (_float(_log_softmax(logits)), labels.astype(np.int64)), {}
        case "gaussian_nll_loss":
            return (predictions, targets, _float(np.exp(rng.normal(0.0, 0.5, elements)))), {}
        case "poisson_nll_loss":
            return (predictions, _float(rng.poisson(2.0, elements))), {}
        case "margin_ranking_loss":
            return (anchors[:, 0], positives[:, 0], signs), {"margin": 0.1}
        case "hinge_embedding_loss" | "soft_margin_loss":
            return (predictions, _float(np.sign(targets) + (targets == 0))), {}
        case "multi_margin_loss":
            return (logits, labels.astype(np.int64)), {}
        case "multilabel_margin_loss":
            count, width = shape["multilabel"]
            order = np.argsort(rng.random((count, width)), axis=1)
            ends = rng.integers(1, width, count)
            target = np.where(np.arange(width) < ends[:, None], order, -1).astype(np.int64)
            return (_float(rng.normal(0.0, 1.0, (count, width))), target), {}
        case "multilabel_soft_margin_loss":
            count, width = shape["multilabel"]
            return (_float(rng.normal(0.0, 1.0, (count, width))),
                    _float(rng.integers(0, 2, (count, width)))), {}
    raise ValueError(f"no inputs for case {name!r}")
