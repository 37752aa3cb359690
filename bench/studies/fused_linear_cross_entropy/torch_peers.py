"""The PyTorch side of the fused linear cross-entropy comparison: Liger-Kernel, Cut
Cross-Entropy and plain PyTorch.

Times forward+backward over (hidden, weight) of the mean cross-entropy of
``hidden @ weight.T`` with

- ``torch_unfused``: plain PyTorch, ``F.cross_entropy(F.linear(hidden, weight).float(), labels)``
  (the ``[N, V]`` logits held, the reference of this side);
- ``liger_kernel``: Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss`` (Triton; chunks of the
  tokens, never holding the whole logits);
- ``cut_cross_entropy``: Cut Cross-Entropy's ``linear_cross_entropy(hidden, weight, labels)``
  (Triton; blocks of the logits computed in on-chip memory only), with its default gradient
  filtering (``filter_eps="high"``: softmax entries below the dtype's machine epsilon / 32
  are skipped in the backward, so its gradient is close to, not equal to, the exact one).

Calls are interleaved, each ended by ``torch.cuda.synchronize()``; medians reported. Memory
is the peak that ``torch.cuda.max_memory_allocated`` saw during one step beyond what was
allocated before it (the inputs), the PyTorch counterpart of XLA's temporaries plus the
gradients. float32 products run in TF32 (``torch.set_float32_matmul_precision("high")``), as
JAX's default precision runs them on a GPU; Cut Cross-Entropy follows that setting in its
forward kernel and multiplies in full float32 in its backward kernel.

Liger-Kernel and Cut Cross-Entropy need a CUDA device; plain PyTorch also runs on a CPU. A
peer whose package is missing is recorded as ``"not installed"``, one that cannot run here
with the reason, one that raised with its error, so one missing peer never stops the others.
PyTorch and the peers are imported inside the functions, so that ``--help`` works without
them::

    python -m bench.studies.fused_linear_cross_entropy.torch_peers \\
        [--tokens 8192] [--hidden 1024] [--vocab 65536] [--dtype float32 bfloat16]

writes ``torch-peers-<machine>-<date>-<commit>.json`` and ``.md`` to ``--out``; with
``--json PATH`` only the measurements, as JSON to ``PATH`` (what
:mod:`bench.studies.fused_linear_cross_entropy.gpu` reads).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from importlib.metadata import PackageNotFoundError, version

MODULE = "bench.studies.fused_linear_cross_entropy.torch_peers"
PEERS = {"torch_unfused": "torch", "liger_kernel": "liger_kernel",
         "cut_cross_entropy": "cut_cross_entropy"}
"""Each PyTorch-side step and the module it needs; ``torch_unfused`` is this side's reference."""
NEEDS_CUDA = ("liger_kernel", "cut_cross_entropy")


def unavailable(name: str, device: str) -> str | None:
    """Why the step ``name`` cannot run on ``device`` ("not installed", or that it needs a
    CUDA device); None when it can."""
    if importlib.util.find_spec(PEERS[name]) is None:
        return "not installed"
    if name in NEEDS_CUDA and device != "cuda":
        return "needs a CUDA device (Triton kernels)"
    return None


def _step(name, hidden, weight, labels):
    import torch
    import torch.nn.functional as F

    if name == "torch_unfused":
        def loss_of():
            return F.cross_entropy(F.linear(hidden, weight).float(), labels)
    elif name == "liger_kernel":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        liger = LigerFusedLinearCrossEntropyLoss()

        def loss_of():
            return liger(weight, hidden, labels)
    else:
        from cut_cross_entropy import linear_cross_entropy

        def loss_of():
            return linear_cross_entropy(hidden, weight, labels)

    def step():
        loss = loss_of()
        return loss, torch.autograd.grad(loss, (hidden, weight))

    return step


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _peak_extra_bytes(step, device: str) -> int | None:
    import torch

    if device != "cuda":
        return None
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = step()
    torch.cuda.synchronize()
    del result
    return int(torch.cuda.max_memory_allocated() - before)


def failure_status(exception: BaseException) -> str:
    """A step's status when it raised: the exception's type and first line."""
    lines = str(exception).strip().splitlines()
    return f"failed: {type(exception).__name__}: {lines[0] if lines else ''}"[:300]


def measure_row(num_tokens, hidden_dim, vocab_size, repeats, dtype_name, device) -> dict:
    """Each step's status, loss, median seconds and memory at one shape and dtype (its
    tensors are freed when it returns)."""
    import torch

    dtype = getattr(torch, dtype_name)
    generator = torch.Generator(device=device).manual_seed(0)
    hidden = torch.randn(num_tokens, hidden_dim, device=device, dtype=dtype,
                         generator=generator).requires_grad_(True)
    # Logits of standard deviation about 1, as on the JAX side.
    weight = (torch.randn(vocab_size, hidden_dim, device=device, generator=generator)
              / hidden_dim**0.5).to(dtype).requires_grad_(True)
    labels = torch.randint(0, vocab_size, (num_tokens,), device=device, generator=generator)
    row = {"num_tokens": num_tokens, "hidden_dim": hidden_dim, "vocab_size": vocab_size,
           "dtype": dtype_name, "device": device}
    steps = {}
    for name in PEERS:
        reason = unavailable(name, device)
        if reason is not None:
            row[name] = {"status": reason}
            continue
        try:
            step = _step(name, hidden, weight, labels)
            loss = float(step()[0])  # warm-up (Triton compiles and tunes here)
            row[name] = {"status": "ok", "loss": loss,
                         "peak_extra_bytes": _peak_extra_bytes(step, device)}
            steps[name] = step
        except Exception as exception:  # a peer's failure is a result, not the end
            row[name] = {"status": failure_status(exception)}
    samples = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            _synchronize(device)
            begin = time.perf_counter()
            step()
            _synchronize(device)
            samples[name].append(time.perf_counter() - begin)
    for name in steps:
        row[name]["median_s"] = statistics.median(samples[name])
    return row


def run(num_tokens, hidden_dim, vocab_sizes, repeats, dtype_names) -> list[dict]:
    """One row of :func:`measure_row` per (dtype, vocabulary), on the GPU where there is one."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for dtype_name in dtype_names:
        for vocab_size in vocab_sizes:
            rows.append(measure_row(num_tokens, hidden_dim, vocab_size, repeats, dtype_name,
                                    device))
            print(json.dumps(rows[-1]), flush=True)
            if device == "cuda":
                torch.cuda.empty_cache()
    return rows


def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def measure(num_tokens, hidden_dim, vocab_sizes, repeats, dtype_names) -> dict:
    """The rows of :func:`run` with the device, the versions and the float32 matrix precision;
    without PyTorch, every step ``"not installed"``."""
    if importlib.util.find_spec("torch") is None:
        return {"status": "not installed", "rows": [
            {"num_tokens": num_tokens, "hidden_dim": hidden_dim, "vocab_size": vocab_size,
             "dtype": dtype_name, **{name: {"status": "not installed"} for name in PEERS}}
            for dtype_name in dtype_names for vocab_size in vocab_sizes]}
    import torch

    torch.set_float32_matmul_precision("high")
    return {
        "status": "ok",
        "device": (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"),
        "versions": {"torch": torch.__version__,
                     "liger_kernel": package_version("liger-kernel"),
                     "cut_cross_entropy": package_version("cut-cross-entropy")},
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "rows": run(num_tokens, hidden_dim, vocab_sizes, repeats, dtype_names),
    }


def markdown(record: dict, provenance_caption: str) -> str:
    from bench.common.markdown import captioned_table

    header = ("dtype", "V", "step", "status", "median ms", "/ torch_unfused", "loss",
              "peak MiB")
    table = []
    for row in record["rows"]:
        reference = row["torch_unfused"].get("median_s")
        for name in PEERS:
            cell = row[name]
            if cell["status"] != "ok":
                table.append([row["dtype"], str(row["vocab_size"]), name, cell["status"]]
                             + ["-"] * 4)
                continue
            peak = cell["peak_extra_bytes"]
            table.append([row["dtype"], str(row["vocab_size"]), name, "ok",
                          f"{1e3 * cell['median_s']:.2f}",
                          f"{cell['median_s'] / reference:.2f}" if reference else "-",
                          f"{cell['loss']:.5f}",
                          "-" if peak is None else f"{peak / 2**20:.0f}"])
    caption = (
        "Forward+backward over (hidden, weight) of the mean cross-entropy of hidden @ weight.T, "
        f"N = {record['rows'][0]['num_tokens']}, H = {record['rows'][0]['hidden_dim']}; "
        "medians of interleaved calls; memory: the peak above the inputs. "
        f"{provenance_caption}")
    return captioned_table(caption, header, table, text_columns=4)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--vocab", type=int, nargs="+", default=[65536])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtype", nargs="+", default=["float32"],
                        choices=["float32", "bfloat16"])
    parser.add_argument("--json", metavar="PATH",
                        help="write only the measurements, as JSON, to PATH")
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(argv)
    if args.json:
        record = measure(args.tokens, args.hidden, args.vocab, args.repeats, args.dtype)
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
        return
    from bench.common import provenance

    facts = provenance.start(MODULE, argv)
    record = measure(args.tokens, args.hidden, args.vocab, args.repeats, args.dtype)
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, **record},
                             markdown(record, provenance.caption(facts)), prefix="torch-peers-")


if __name__ == "__main__":
    main()
