"""The PyTorch peer (CPU, eager; on a CUDA machine the GPU, synchronised after each call).

Native functions where PyTorch has them (``cross_entropy`` with integer or probability
targets, ``binary_cross_entropy_with_logits``, ``mse_loss``, ``huber_loss``); the focal losses,
which PyTorch's core lacks, are written from the paper's formula in PyTorch operations.
Forward+backward is ``torch.autograd.grad`` of the mean loss with respect to the first input.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import cases as cases_lib
from bench.timing import Entry

PEERS = ("torch",)
FRAMEWORK = "torch"


def versions() -> dict:
    import torch

    return {"torch": torch.__version__, "device": _device(),
            "threads": torch.get_num_threads()}


def on_accelerator() -> bool:
    return _device() != "cpu"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sigmoid_focal(logits, labels):
    import torch.nn.functional as F

    alpha, gamma = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA
    probs = logits.sigmoid()
    cross_entropy = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_t = probs * labels + (1 - probs) * (1 - labels)
    alpha_t = alpha * labels + (1 - alpha) * (1 - labels)
    return (alpha_t * (1 - p_t) ** gamma * cross_entropy).mean()


def _softmax_focal(logits, labels):
    alpha, gamma = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA
    log_probs = logits.log_softmax(dim=-1)
    focal = -alpha * (1 - log_probs.exp()) ** gamma * labels * log_probs
    return focal.sum(dim=-1).mean()


def _kernel(family: str) -> Callable:
    import torch.nn.functional as F

    return {
        "sparse_softmax_cross_entropy": lambda x, y: F.cross_entropy(x, y),
        "softmax_cross_entropy": lambda x, y: F.cross_entropy(x, y),
        "softmax_focal_loss": _softmax_focal,
        "sigmoid_binary_cross_entropy": lambda x, y: F.binary_cross_entropy_with_logits(x, y),
        "sigmoid_focal_loss": _sigmoid_focal,
        "squared_error": lambda x, y: F.mse_loss(x, y),
        "huber_loss": lambda x, y: F.huber_loss(x, y, delta=cases_lib.HUBER_DELTA),
    }[family]


def prepare_inputs(arrays: dict) -> dict:
    import torch

    device = _device()
    out = {}
    for name, array in arrays.items():
        tensor = torch.from_numpy(array).to(device)
        out[name] = tensor.long() if name == "labels_int" else tensor  # cross_entropy wants int64
    return out


def make_entry(peer: str, case: cases_lib.Case, mode: str, inputs: dict) -> Entry:
    import torch

    kernel = _kernel(case.family)
    first, second = (inputs[name] for name in case.input_names())
    synchronize = torch.cuda.synchronize if _device() == "cuda" else (lambda: None)
    if mode == "forward":
        def run():
            with torch.no_grad():
                value = kernel(first, second)
            synchronize()
            return value, None
    else:
        leaf = first.detach().requires_grad_(True)

        def run():
            value = kernel(leaf, second)
            (gradient,) = torch.autograd.grad(value, leaf)
            synchronize()
            return value.detach(), gradient

    def check():
        value, gradient = run()
        return float(value), None if gradient is None else float(gradient.abs().sum())

    return Entry(call=run, loss=check, compile_s=None, temp_bytes=None)
