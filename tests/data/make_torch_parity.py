"""Write tests/data/torch_parity.json: PyTorch's own numbers for every loss of torch.nn.functional.

Run with a Python that has torch and numpy (``make torch-parity`` builds one). For each case
the file holds the inputs (float32 values, integer labels), the keyword arguments, and per
reduction the output and the gradients of ``sum(output)`` with respect to each floating
positional input (``null`` where PyTorch gives none). PyTorch computes in float64 from the
float32 inputs, so the numbers are its exact ones. The file also records every loss function
``torch.nn.functional`` has and its signature, and ``torch.__version__``.

The tests read this file and never import torch.
"""

from __future__ import annotations

import inspect
import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).with_name("torch_parity.json")
RNG = np.random.default_rng(20261207)
REDUCTIONS = ("mean", "sum", "none")


def normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, shape).astype(np.float32)


def signs(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def labels(high, *shape):
    return RNG.integers(0, high, shape).astype(np.int64)


def log_softmax(x, axis=1):
    return np.asarray(F.log_softmax(torch.from_numpy(np.float64(x)), dim=axis), np.float32)


def encode(value):
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    return value


def to_torch(value):
    if isinstance(value, np.ndarray):
        if value.dtype == np.float32:
            return torch.from_numpy(value.astype(np.float64))
        return torch.from_numpy(value)
    return value


DISTANCES = {"cosine": lambda a, b: 1.0 - F.cosine_similarity(a, b)}


def _call(function, args, kwargs, reduction, all_floats):
    """Output and gradients, with respect to every floating input (``all_floats``) or the first."""
    tensors = [to_torch(a) for a in args]
    floating = [t for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
    for tensor in floating if all_floats else floating[:1]:
        tensor.requires_grad_(True)
    options = {k: to_torch(v) for k, v in kwargs.items()}
    if "distance_function" in options:
        options["distance_function"] = DISTANCES[options["distance_function"]]
    if reduction is not None:
        options["reduction"] = reduction
    out = getattr(F, function)(*tensors, **options)
    differentiable = [t for t in tensors if isinstance(t, torch.Tensor) and t.requires_grad]
    found = iter(torch.autograd.grad(out.sum(), differentiable, allow_unused=True))
    grads = []
    for tensor in tensors:
        grad = next(found) if isinstance(tensor, torch.Tensor) and tensor.requires_grad else None
        grads.append(None if grad is None else grad.detach().numpy().tolist())
    return out.detach().numpy().tolist(), grads


def run(function, args, kwargs, reductions):
    """Outputs and gradients of ``function`` per reduction."""
    outputs, grads = {}, {}
    for reduction in reductions:
        try:
            result = _call(function, args, kwargs, reduction, all_floats=True)
        except RuntimeError:  # no derivative with respect to a target: the input's alone
            result = _call(function, args, kwargs, reduction, all_floats=False)
        outputs[str(reduction)], grads[str(reduction)] = result
    return outputs, grads


CASES = []


def case(function, *args, reductions=REDUCTIONS, note="", **kwargs):
    outputs, grads = run(function, args, kwargs, reductions)
    CASES.append({
        "function": function,
        "note": note,
        "args": [encode(a) for a in args],
        "kwargs": {k: encode(v) for k, v in kwargs.items()},
        "outputs": outputs,
        "grads": grads,
    })


def classification_cases():
    p, y = uniform(0.02, 0.98, 3, 4), uniform(0, 1, 3, 4)
    case("binary_cross_entropy", p, y)
    case("binary_cross_entropy", p, y, weight=uniform(0.5, 2, 4))
    # 1 - 2**-24 is the float32 below 1; PyTorch's gradient floors p (1 - p) at 1e-12.
    edges = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1e-9, 1 - 2.0**-24], np.float32)
    edge_targets = np.array([1.0, 0.0, 0.3, 0.0, 1.0, 0.6, 1.0, 0.0], np.float32)
    case("binary_cross_entropy", edges, edge_targets,
         note="probabilities at 0 and 1: PyTorch clamps the log at -100")
    case("binary_cross_entropy", edges, edge_targets,
         weight=np.array([0.5, 2.0, 1.0, 1.5, 1.0, 0.25, 3.0, 1.0], np.float32),
         note="probabilities at 0 and 1: PyTorch clamps the log at -100")
    x = normal(3, 4, scale=2)
    case("binary_cross_entropy_with_logits", x, y)
    case("binary_cross_entropy_with_logits", x, y, weight=uniform(0.5, 2, 3, 1),
         pos_weight=uniform(0.5, 3, 4))
    case("binary_cross_entropy_with_logits", normal(2, 3, 2, 2), uniform(0, 1, 2, 3, 2, 2),
         pos_weight=uniform(0.5, 3, 3, 1, 1), note="K-dimensional, pos_weight along the class axis")

    logits, target = normal(4, 5, scale=2), labels(5, 4)
    weight = uniform(0.2, 3, 5)
    ignored = target.copy()
    ignored[1] = -100
    for function, scores in (("cross_entropy", logits), ("nll_loss", log_softmax(logits))):
        case(function, scores, target)
        case(function, scores, ignored, weight=weight)
        case(function, scores, target, ignore_index=2, note="ignore_index within the classes")
        case(function, scores, target, weight=weight, ignore_index=int(target[0]))
        k_scores, k_target = normal(2, 5, 3, 2, scale=2), labels(5, 2, 3, 2)
        k_target[0, 1, 1] = -100
        if function == "nll_loss":
            k_scores = log_softmax(k_scores)
        case(function, k_scores, k_target, weight=weight, note="K-dimensional")
        case(function, scores[0], np.asarray(target[0]), note="one example without a batch axis")
        case(function, scores[:2], np.full(2, -100, np.int64), note="every target ignored")
    case("cross_entropy", logits, ignored, label_smoothing=0.2)
    for smoothing in (0.2, 1.0):
        case("cross_entropy", logits, ignored, weight=weight, label_smoothing=smoothing)
    case("cross_entropy", normal(2, 5, 3, scale=2), labels(5, 2, 3), weight=weight,
         label_smoothing=0.3, ignore_index=1, note="K-dimensional")
    probs = np.float32(np.asarray(F.softmax(torch.from_numpy(np.float64(normal(4, 5))), 1)))
    case("cross_entropy", logits, probs, note="probability targets")
    case("cross_entropy", logits, probs, weight=weight, label_smoothing=0.25)
    k_probs = np.float32(np.asarray(F.softmax(torch.from_numpy(np.float64(normal(2, 5, 3))), 1)))
    case("cross_entropy", normal(2, 5, 3), k_probs, weight=weight, label_smoothing=0.1,
         note="K-dimensional probability targets")

    case("multilabel_soft_margin_loss", x, (y > 0.5).astype(np.float32))
    case("multilabel_soft_margin_loss", x, (y > 0.5).astype(np.float32), weight=uniform(0.5, 2, 4))
    case("multi_margin_loss", normal(3, 4), labels(4, 3))
    case("multi_margin_loss", normal(3, 4), labels(4, 3), p=2, margin=0.7,
         weight=uniform(0.5, 2, 4))
    multilabel = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2]], np.int64)
    case("multilabel_margin_loss", normal(3, 4), multilabel)
    case("soft_margin_loss", x, signs(3, 4))
    case("hinge_embedding_loss", x, signs(3, 4))
    case("hinge_embedding_loss", x, signs(3, 4), margin=0.5)
    case("margin_ranking_loss", normal(5), normal(5), signs(5))
    case("margin_ranking_loss", normal(5), normal(5), signs(5), margin=0.4)


def regression_and_likelihood_cases():
    p, t = normal(3, 4, scale=1.5), normal(3, 4)
    weight = uniform(0.2, 2, 3, 4)
    for function in ("l1_loss", "mse_loss"):
        case(function, p, t)
        case(function, p, t, weight=weight)
    case("huber_loss", p, t)
    case("huber_loss", p, t, delta=0.5, weight=weight)
    for beta in (1.0, 0.5, 0.0):
        case("smooth_l1_loss", p, t, beta=beta)

    counts = RNG.poisson(2.0, (3, 4)).astype(np.float32)
    case("poisson_nll_loss", normal(3, 4), counts)
    case("poisson_nll_loss", normal(3, 4), counts, full=True)
    case("poisson_nll_loss", uniform(0.1, 4, 3, 4), counts, log_input=False, eps=1e-3)
    case("poisson_nll_loss", uniform(0.1, 4, 3, 4), counts, log_input=False, full=True)

    variances = uniform(0.1, 2, 3, 4)
    case("gaussian_nll_loss", p, t, variances)
    case("gaussian_nll_loss", p, t, variances[:, 0], full=True, note="one variance per row")
    case("gaussian_nll_loss", p, t, variances[:, :1])
    case("gaussian_nll_loss", p, t, variances[:1], note="one variance per column")
    case("gaussian_nll_loss", p, t, 0.7, note="a float variance")
    case("gaussian_nll_loss", p, t, np.array([[1e-8, 0.5, 2.0, 1e-7]] * 3, np.float32), eps=1e-6,
         note="variances below eps are clamped")

    log_q = log_softmax(normal(3, 4))
    target = np.float32(np.asarray(F.softmax(torch.from_numpy(np.float64(normal(3, 4))), 1)))
    target[0, 1] = 0.0
    kl_reductions = REDUCTIONS + ("batchmean",)
    case("kl_div", log_q, target, reductions=kl_reductions)
    case("kl_div", log_q, np.log(np.maximum(target, 1e-30)).astype(np.float32), log_target=True,
         reductions=kl_reductions)


def embedding_cases():
    a, b = normal(4, 5), normal(4, 5)
    case("cosine_embedding_loss", a, b, signs(4))
    case("cosine_embedding_loss", a, b, signs(4), margin=0.3)
    anchor, positive, negative = normal(4, 5), normal(4, 5), normal(4, 5)
    case("triplet_margin_loss", anchor, positive, negative)
    case("triplet_margin_loss", anchor, positive, negative, margin=2.0, p=1, eps=1e-3, swap=True)
    case("triplet_margin_with_distance_loss", anchor, positive, negative)
    case("triplet_margin_with_distance_loss", anchor, positive, negative,
         distance_function="cosine", margin=0.5, swap=True,
         note="distance_function 'cosine': 1 - cosine_similarity")


def ctc_cases():
    time, batch, classes = 6, 3, 4
    log_probs = log_softmax(normal(time, batch, classes), axis=2)
    targets = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]], np.int64)
    input_lengths = np.array([6, 5, 6], np.int64)
    target_lengths = np.array([3, 2, 1], np.int64)
    case("ctc_loss", log_probs, targets, input_lengths, target_lengths)
    case("ctc_loss", log_probs, np.array([1, 2, 2, 3, 1, 2], np.int64), input_lengths,
         target_lengths, note="targets concatenated into one axis")
    impossible = np.array([6, 2, 6], np.int64)  # [3, 1] cannot fit in 2 frames with a repeat
    impossible_targets = targets.copy()
    impossible_targets[1] = [1, 1, 0]
    for zero_infinity in (False, True):
        case("ctc_loss", log_probs, impossible_targets, impossible, target_lengths,
             zero_infinity=zero_infinity, blank=0, note="an impossible alignment")
    case("ctc_loss", log_probs, targets % 3, input_lengths, target_lengths, blank=3,
         reductions=("none",), note="blank is the last class")


def margin_port_cases():
    """Negative margins (PyTorch accepts any real margin) and one example without a batch axis."""
    x, y = normal(3, 4, scale=2), signs(3, 4)
    case("hinge_embedding_loss", x, y, margin=-0.5, note="a negative margin")
    case("margin_ranking_loss", normal(5), normal(5), signs(5), margin=-0.3,
         note="a negative margin")
    case("multi_margin_loss", normal(3, 4), labels(4, 3), margin=-0.4, note="a negative margin")
    case("multi_margin_loss", normal(3, 4), labels(4, 3), p=2, margin=-0.2,
         weight=uniform(0.5, 2, 4), note="a negative margin")
    case("multi_margin_loss", normal(4), np.asarray(labels(4)),
         note="one example without a batch axis")
    case("multilabel_margin_loss", normal(4), np.array([2, 0, -1, 3], np.int64),
         note="one example without a batch axis")
    multi_hot = (uniform(0, 1, 2, 3, 4) > 0.5).astype(np.float32)
    case("multilabel_soft_margin_loss", normal(2, 3, 4), multi_hot, weight=uniform(0.5, 2, 4),
         note="the class axis is the last")


def signature(function):
    rows = []
    for parameter in inspect.signature(function).parameters.values():
        default = parameter.default
        if default is inspect.Parameter.empty:
            default = "<required>"
        elif not isinstance(default, (int, float, str, bool, type(None))):
            default = repr(default)
        rows.append([parameter.name, parameter.kind.name, default])
    return rows


def main():
    torch.manual_seed(0)
    classification_cases()
    regression_and_likelihood_cases()
    embedding_cases()
    ctc_cases()
    margin_port_cases()
    losses = sorted(
        name for name in dir(F) if name.endswith("_loss") or name in (
            "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "kl_div"
        )
    )
    data = {
        "torch_version": torch.__version__,
        "losses": losses,
        "signatures": {name: signature(getattr(F, name)) for name in losses},
        "cases": CASES,
    }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{OUT.name}: {len(CASES)} cases of {len({c['function'] for c in CASES})} functions, "
          f"{OUT.stat().st_size // 1024} KiB, torch {torch.__version__}")


if __name__ == "__main__":
    main()
