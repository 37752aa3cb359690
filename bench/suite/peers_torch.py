"""The PyTorch peers (CPU, eager; on a CUDA machine the GPU, synchronised after each call).

``torch``: native functions where PyTorch has them (``cross_entropy`` with integer or
probability targets, ``binary_cross_entropy_with_logits``, ``mse_loss``, ``huber_loss``); the
focal losses, which PyTorch's core lacks, are written from the paper's formula in PyTorch
operations. Forward+backward is ``torch.autograd.grad`` of the mean loss with respect to the
first input.

``liger_kernel``: Liger-Kernel's fused Triton cross-entropy (``liger_cross_entropy``), on a
CUDA device only and for integer labels only (it has no probability targets). It writes the
gradient into its input's memory during the forward pass, so it gets a copy of the logits of
its own; the first call (the cross-check's loss and gradient) sees the logits, the timed calls
after it see the previous call's gradient in their place: the same work on different values.

PyTorch and Liger-Kernel are optional: they are imported inside the functions, where a
missing one raises the ImportError the worker records as "not installed".
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable

import numpy as np

from bench.common.timing import Entry
from bench.suite import cases as cases_lib

PEERS = ("torch", "liger_kernel")
FRAMEWORK = "torch"


def versions() -> dict:
    import torch

    out = {"torch": torch.__version__, "device": _device(), "threads": torch.get_num_threads()}
    if _device() == "cuda":
        out["devices"] = [torch.cuda.get_device_name(0)]
        try:
            out["liger_kernel"] = importlib.metadata.version("liger-kernel")
        except importlib.metadata.PackageNotFoundError:
            out["liger_kernel"] = None
    return out


def on_accelerator() -> bool:
    return _device() != "cpu"


def configure_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


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


def _liger_kernel(family: str) -> Callable | None:
    """Liger-Kernel's cross-entropy for integer labels; None for every other family."""
    if family != "sparse_softmax_cross_entropy":
        return None
    from liger_kernel.transformers.functional import liger_cross_entropy

    return lambda x, y: liger_cross_entropy(x, y)


def make_entry(peer: str, case: cases_lib.Case, mode: str, inputs: dict) -> Entry | None:
    """``peer``'s kernel for ``case`` and ``mode``; None where the peer has no such kernel
    (Liger-Kernel: every family but integer-label cross-entropy, and any CPU)."""
    import torch

    first, second = (inputs[name] for name in case.input_names())
    if peer == "liger_kernel":
        if _device() != "cuda":
            return None
        kernel = _liger_kernel(case.family)
        if kernel is None:
            return None
        first = first.clone()  # it overwrites its input with the gradient
    else:
        kernel = _kernel(case.family)
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


def device_bandwidth(num_bytes: int, repeats: int) -> float:
    """GB/s of a CUDA device-to-device copy into a buffer written before timing (one read and
    one write per byte), the median of ``repeats``."""
    import torch

    source = torch.zeros(num_bytes // 4, dtype=torch.float32, device="cuda")
    destination = torch.empty_like(source)
    destination.copy_(source)
    samples = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        begin = time.perf_counter()
        destination.copy_(source)
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - begin)
    return round(2 * source.numel() * 4 / float(np.median(samples)) / 1e9, 2)
