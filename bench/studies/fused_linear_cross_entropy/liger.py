"""The PyTorch side of the fused linear cross-entropy comparison: Liger-Kernel and plain PyTorch.

Times forward+backward over (hidden, weight) of the mean cross-entropy of ``hidden @ weight.T``
with Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss`` (chunked, never holding the ``[N, V]``
logits) and with plain PyTorch (``F.linear`` then ``F.cross_entropy``), on a CUDA device, at
the shapes :mod:`bench.studies.fused_linear_cross_entropy` uses for jaxloss (``N = 8192``,
``H = 1024``, the vocabularies in ``--time``). Calls are interleaved, each ended by
``torch.cuda.synchronize()``; medians reported. Memory is the peak that
``torch.cuda.max_memory_allocated`` saw during one step beyond what was allocated before it
(the inputs), the PyTorch counterpart of XLA's temporaries plus the gradients. PyTorch and
Liger-Kernel are imported inside the functions, so that ``--help`` works without them::

    python -m bench.studies.fused_linear_cross_entropy.liger [--time 65536] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from importlib.metadata import version


def _steps(num_tokens, hidden_dim, vocab_size, dtype):
    import torch
    import torch.nn.functional as F
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    generator = torch.Generator(device="cuda").manual_seed(0)
    hidden = torch.randn(num_tokens, hidden_dim, device="cuda", dtype=dtype,
                         generator=generator).requires_grad_(True)
    weight = (0.03 * torch.randn(vocab_size, hidden_dim, device="cuda",
                                 generator=generator)).to(dtype).requires_grad_(True)
    labels = torch.randint(0, vocab_size, (num_tokens,), device="cuda", generator=generator)
    liger = LigerFusedLinearCrossEntropyLoss()

    def liger_step():
        loss = liger(weight, hidden, labels)
        return loss, torch.autograd.grad(loss, (hidden, weight))

    def torch_step():
        loss = F.cross_entropy(F.linear(hidden, weight).float(), labels)
        return loss, torch.autograd.grad(loss, (hidden, weight))

    return {"liger_kernel": liger_step, "torch_unfused": torch_step}


def _peak_extra_bytes(step) -> int:
    import torch

    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = step()
    torch.cuda.synchronize()
    del result
    return int(torch.cuda.max_memory_allocated() - before)


def run(num_tokens, hidden_dim, vocab_sizes, repeats, dtype_name) -> list[dict]:
    import torch

    # float32 matrix products in TF32, as JAX's default precision does them on a GPU, so that
    # both sides multiply alike (PyTorch's default is full float32).
    torch.backends.cuda.matmul.allow_tf32 = True
    dtype = getattr(torch, dtype_name)
    rows = []
    for vocab_size in vocab_sizes:
        steps = _steps(num_tokens, hidden_dim, vocab_size, dtype)
        row = {"num_tokens": num_tokens, "hidden_dim": hidden_dim, "vocab_size": vocab_size,
               "dtype": dtype_name}
        for name, step in steps.items():
            loss, _ = step()  # warm-up (Triton compiles here)
            row[name] = {"loss": float(loss), "peak_extra_bytes": _peak_extra_bytes(step)}
        samples = {name: [] for name in steps}
        for _ in range(repeats):
            for name, step in steps.items():
                torch.cuda.synchronize()
                begin = time.perf_counter()
                step()
                torch.cuda.synchronize()
                samples[name].append(time.perf_counter() - begin)
        for name in steps:
            row[name]["median_ms"] = 1e3 * statistics.median(samples[name])
        rows.append(row)
        print(json.dumps(row), flush=True)
        del steps
        torch.cuda.empty_cache()
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.liger",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--time", type=int, nargs="+", default=[65536])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit(f"{__package__}.liger needs a CUDA device (Liger-Kernel is Triton)")
    rows = run(args.tokens, args.hidden, args.time, args.repeats, args.dtype)
    record = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "liger_kernel": version("liger-kernel"),
              "allow_tf32": torch.backends.cuda.matmul.allow_tf32, "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"liger-{args.dtype}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
