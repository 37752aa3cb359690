"""The fused linear cross-entropy and its peers at Liger-Kernel's shape on one GPU, against
the device's peak.

At ``N = 16384`` tokens (B·T), vocabulary ``V = 131072`` and hidden size ``H = 4096``, in
bfloat16 and in float32 (matrix products accumulated in float32 in every step), one command
times forward+backward over (hidden, weight) of the mean token cross-entropy of

- JAX: explicit float32 logits then :func:`jaxloss.sparse_softmax_cross_entropy`
  (``explicit``, this side's reference), :func:`jaxloss.fused_linear_cross_entropy` with
  ``schedule="forward"`` (the default for a mean) and ``"recompute"``, and tokamax's
  ``linear_softmax_cross_entropy_loss(implementation="xla")``;
- PyTorch (:mod:`bench.studies.fused_linear_cross_entropy.torch_peers`, in a subprocess run
  first, before JAX takes the device's memory): plain PyTorch (``torch_unfused``, this
  side's reference), Liger-Kernel and Cut Cross-Entropy.

Each step's median time is reported with its ratio to its side's reference and with the
fraction of the device's peak that the three matrix products (``3 × 2·N·H·V`` FLOPs: the
logits, the hidden gradient, the weight gradient) would take at the device's dense peak for
that dtype: bfloat16 at the bfloat16 peak; float32 at the TF32 peak where the products may
run in TF32 (JAX's ``jax_default_matmul_precision`` unset or not ``"highest"``/``"float32"``,
as XLA's default precision on a GPU allows; PyTorch with ``allow_tf32``), else at the float32
peak. The peaks are the NVIDIA datasheets' dense figures (:data:`PEAK_TFLOPS`); the record
names the one used and the precision setting. A fused step that recomputes the logits in
the backward does a fourth product, so its fraction of this roofline can stay below the
explicit one even where it runs its products as fast. A step whose package is missing is
recorded as ``"not installed"``, one that failed (out of memory, say) with its error.

On a machine with a network, put the peers' wheels (pure Python, but for pydantic-core) in
the checkout's ``.whl/`` folder (ignored by git), for the GPU machine's Python 3.12::

    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 -d .whl liger-kernel==0.8.5 cut-cross-entropy==25.1.1 \\
        tokamax==0.0.12 qwix==0.1.8 einshape==1.0 pydantic==2.14.4 pydantic-core==2.50.5 \\
        annotated-types typing-inspection typing-extensions typeguard==2.13.3 \\
        immutabledict==4.3.1 tensorboardx==2.6.5

then on the GPU machine (one H100 or H200, PyTorch, Triton and JAX with CUDA installed, no
network needed), in the checkout, one command, meant to end within ten minutes (the PyTorch
side is stopped after ``--torch-timeout`` seconds, 360 by default, and recorded as failed)::

    python3 -m pip install -q --no-index --no-deps --target "$HOME/peer-site" .whl/*.whl \\
      && PYTHONPATH="$PWD:$HOME/peer-site" PYTHONUNBUFFERED=1 \\
         python3 -m bench.studies.fused_linear_cross_entropy.gpu

It writes ``gpu-<device>-<date>-<commit>.json`` and ``.md`` to ``--out``, by default
``bench/results/fused_linear_cross_entropy/``, through
:func:`bench.common.provenance.write_results`. ``--quick`` runs tiny shapes on whatever
device is present (a CPU too, where the Triton peers are recorded as needing CUDA);
``--no-torch`` leaves the PyTorch side out::

    python -m bench.studies.fused_linear_cross_entropy.gpu --quick --no-torch
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp

from bench.common import provenance
from bench.common.markdown import captioned_table
from bench.studies.fused_linear_cross_entropy import torch_peers
from bench.studies.fused_linear_cross_entropy.measure import time_interleaved
from bench.studies.fused_linear_cross_entropy.tokamax_peer import compile_step, fused, tokamax_xla
from jaxloss import sparse_softmax_cross_entropy

MODULE = "bench.studies.fused_linear_cross_entropy.gpu"
SHAPE = (16384, 4096, 131072)
"""(tokens, hidden, vocabulary): Liger-Kernel's benchmark shape (B·T = 16384, a 128k vocabulary)."""
QUICK_SHAPE = (256, 64, 1024)

PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},
    "H100 NVL": {"bfloat16": 835.5, "tf32": 417.5, "float32": 60.0},
    "H100 PCIe": {"bfloat16": 756.5, "tf32": 378.0, "float32": 51.2},
    "H100 SXM": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},
    "A100": {"bfloat16": 312.0, "tf32": 156.0, "float32": 19.5},
}
"""Dense (no sparsity) peak TFLOP/s by device, from NVIDIA's datasheets: bfloat16 and TF32 on
the tensor cores, float32 on the CUDA cores. The H200 has the H100 SXM's compute."""


def device_peaks(device_name: str) -> tuple[str | None, dict | None]:
    """The :data:`PEAK_TFLOPS` entry for a device name as JAX or PyTorch reports it
    (``NVIDIA H100 80GB HBM3`` is the SXM card); (None, None) for any other device."""
    name = device_name.upper()
    if "H200" in name:
        return "H200", PEAK_TFLOPS["H200"]
    if "H100" in name:
        form = "NVL" if "NVL" in name else "PCIe" if "PCIE" in name else "SXM"
        return f"H100 {form}", PEAK_TFLOPS[f"H100 {form}"]
    if "A100" in name:
        return "A100", PEAK_TFLOPS["A100"]
    return None, None


def float32_runs_in_tf32(jax_precision: str | None) -> bool:
    """Whether JAX may multiply float32 in TF32 on an NVIDIA GPU under this
    ``jax_default_matmul_precision``: anything but ``"highest"``/``"float32"`` lets it."""
    return jax_precision not in ("highest", "float32")


def explicit(hidden, weight, labels):
    """The ``[N, V]`` logits in float32 (the products accumulated and kept in float32), then
    jaxloss's sparse softmax cross-entropy, mean."""
    logits = jnp.matmul(hidden, weight, preferred_element_type=jnp.float32)
    return jnp.mean(sparse_softmax_cross_entropy(logits, labels))


JAX_STEPS = {"explicit": explicit, "fused_recompute": fused("recompute"),
             "fused_forward": fused("forward"), "tokamax": tokamax_xla}
"""The JAX side's steps; ``explicit`` is its reference."""


def jax_rows(tokens, hidden_dim, vocab, dtype_names, repeats) -> list[dict]:
    """One row per (dtype, JAX step): status, loss, median seconds, compiled temporaries."""
    rows = []
    for dtype_name in dtype_names:
        dtype = jnp.dtype(dtype_name)
        keys = jax.random.split(jax.random.key(0), 3)
        inputs = (jax.random.normal(keys[0], (tokens, hidden_dim), dtype),
                  (jax.random.normal(keys[1], (hidden_dim, vocab)) / hidden_dim**0.5
                   ).astype(dtype),
                  jax.random.randint(keys[2], (tokens,), 0, vocab))
        cells, compiled = {}, {}
        for name, loss in JAX_STEPS.items():
            if name == "tokamax" and importlib.util.find_spec("tokamax") is None:
                cells[name] = {"status": "not installed"}
                continue
            try:
                step, cells[name] = compile_step(name, loss, *inputs)
                cells[name]["loss"] = float(jax.block_until_ready(step(*inputs))[0])
                cells[name]["status"] = "ok"
                compiled[name] = step
            except Exception as exception:  # out of memory, say: recorded, the others go on
                cells[name] = {"status": torch_peers.failure_status(exception)}
        for name, timing in time_interleaved(compiled, inputs, repeats).items():
            cells[name]["median_s"] = timing["median_wall_s"]
            cells[name]["wall_s"] = timing["wall_s"]
        for name, cell in cells.items():
            rows.append({"side": "jax", "step": name, "dtype": dtype_name, **cell})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "wall_s"}), flush=True)
        del inputs, compiled
    return rows


def torch_record(tokens, hidden_dim, vocab, dtype_names, repeats, python, timeout_s) -> dict:
    """:func:`torch_peers.measure` run by ``python`` in a subprocess (its own CUDA context,
    ended before JAX starts); a failed or timed-out subprocess is recorded as such."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "torch.json")
        command = [python, "-m", torch_peers.MODULE, "--tokens", str(tokens),
                   "--hidden", str(hidden_dim), "--vocab", str(vocab), "--repeats",
                   str(repeats), "--dtype", *dtype_names, "--json", path]
        search_path = os.pathsep.join(filter(None, [str(provenance.REPO_ROOT),
                                                    os.environ.get("PYTHONPATH")]))
        try:
            done = subprocess.run(command, cwd=provenance.REPO_ROOT, timeout=timeout_s,
                                  env=dict(os.environ, PYTHONPATH=search_path))
        except subprocess.TimeoutExpired:
            return {"status": f"failed: no result within {timeout_s} s", "rows": []}
        if done.returncode != 0 or not os.path.exists(path):
            return {"status": f"failed: exit status {done.returncode}", "rows": []}
        with open(path) as f:
            return json.load(f)


def torch_rows(record: dict, dtype_names) -> list[dict]:
    """The PyTorch record's cells as rows like :func:`jax_rows`'; every step of a side that
    did not run carries that side's status."""
    by_dtype = {row["dtype"]: row for row in record["rows"]}
    rows = []
    for dtype_name in dtype_names:
        row = by_dtype.get(dtype_name, {})
        for name in torch_peers.PEERS:
            cell = row.get(name, {"status": record["status"]})
            rows.append({"side": "torch", "step": name, "dtype": dtype_name, **cell})
    return rows


def add_roofline(rows, tokens, hidden_dim, vocab, peaks, jax_precision, torch_tf32) -> None:
    """Each row's ratio to its side's reference, and its fraction of the roofline: the three
    products' FLOPs at the peak for its dtype (see the module docstring)."""
    flops = 3 * 2 * tokens * hidden_dim * vocab
    reference = {(row["side"], row["dtype"]): row.get("median_s") for row in rows
                 if row["step"] in ("explicit", "torch_unfused")}
    for row in rows:
        tf32 = (float32_runs_in_tf32(jax_precision) if row["side"] == "jax"
                else bool(torch_tf32))
        kind = row["dtype"] if row["dtype"] == "bfloat16" else "tf32" if tf32 else "float32"
        row["roofline_flops"] = flops
        row["peak"] = f"{kind} dense"
        row["peak_tflops"] = None if peaks is None else peaks[kind]
        median_s = row.get("median_s")
        base = reference.get((row["side"], row["dtype"]))
        row["ratio_to_reference"] = median_s / base if median_s and base else None
        row["achieved_tflops"] = flops / median_s / 1e12 if median_s else None
        row["fraction_of_peak"] = (row["achieved_tflops"] / row["peak_tflops"]
                                   if row["achieved_tflops"] and row["peak_tflops"] else None)


def markdown(record: dict, provenance_caption: str) -> str:
    header = ("dtype", "side", "step", "status", "median ms", "/ reference", "TFLOP/s",
              "of peak", "loss", "memory MiB")
    table = []
    for row in record["rows"]:
        if row["status"] != "ok":
            table.append([row["dtype"], row["side"], row["step"], row["status"]] + ["-"] * 6)
            continue
        memory = row.get("temp_bytes", row.get("peak_extra_bytes"))
        fraction = row["fraction_of_peak"]
        table.append([
            row["dtype"], row["side"], row["step"], "ok", f"{1e3 * row['median_s']:.2f}",
            f"{row['ratio_to_reference']:.2f}", f"{row['achieved_tflops']:.3g}",
            "-" if fraction is None else f"{100 * fraction:.1f}% of {row['peak']}",
            f"{row['loss']:.5f}", "-" if memory is None else f"{memory / 2**20:.0f}"])
    tokens, hidden_dim, vocab = record["shape"]
    peaks = record["peak_tflops"]
    peak_text = (f"{record['peak_device']}: " + ", ".join(
        f"{kind} {tflops}" for kind, tflops in peaks.items()) + " TFLOP/s"
        if peaks else f"no peak known for {record['device']}")
    caption = (
        f"Forward+backward over (hidden, weight) of the mean token cross-entropy, N = {tokens}, "
        f"H = {hidden_dim}, V = {vocab}, on {record['device']}. Reference: explicit float32 "
        "logits (JAX), plain PyTorch (torch). Roofline: the three products' "
        f"{3 * 2 * tokens * hidden_dim * vocab:.3g} FLOPs at the dense peak for the dtype "
        f"({peak_text}); JAX's jax_default_matmul_precision "
        f"{record['jax_default_matmul_precision']!r}, PyTorch's float32 matmul precision "
        f"{record['torch'].get('float32_matmul_precision')!r}. Memory: XLA's temporaries "
        "(JAX), the peak above the inputs (torch). Medians of interleaved calls. "
        f"{provenance_caption}")
    return captioned_table(caption, header, table, text_columns=4)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=list(SHAPE),
                        metavar=("TOKENS", "HIDDEN", "VOCAB"))
    parser.add_argument("--dtype", nargs="+", default=["bfloat16", "float32"],
                        choices=["bfloat16", "float32"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true", help="leave the PyTorch side out")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="the interpreter of the PyTorch side (default: this one)")
    parser.add_argument("--torch-timeout", type=int, default=360,
                        help="seconds the PyTorch side may take")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes on whatever device is present: a smoke run")
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    tokens, hidden_dim, vocab = QUICK_SHAPE if args.quick else args.shape
    repeats = 2 if args.quick else args.repeats
    facts = provenance.start(MODULE, argv)
    # The PyTorch side first: JAX keeps most of the device's memory once it starts.
    torch = ({"status": "not run (--no-torch)", "rows": []} if args.no_torch else
             torch_record(tokens, hidden_dim, vocab, args.dtype, repeats, args.torch_python,
                          args.torch_timeout))
    jax_precision = jax.config.jax_default_matmul_precision
    rows = jax_rows(tokens, hidden_dim, vocab, args.dtype, repeats) + torch_rows(torch,
                                                                                 args.dtype)
    device = jax.devices()[0]
    device_name = getattr(device, "device_kind", device.platform)
    peak_device, peaks = device_peaks(device_name)
    add_roofline(rows, tokens, hidden_dim, vocab, peaks, jax_precision,
                 torch.get("allow_tf32"))
    facts = provenance.finish(facts)
    peer_versions = {"tokamax": torch_peers.package_version("tokamax"),
                     **torch.get("versions", {})}
    facts["versions"].update({k: v for k, v in peer_versions.items() if v is not None})
    record = {"provenance": facts, "shape": [tokens, hidden_dim, vocab], "device": device_name,
              "peak_device": peak_device, "peak_tflops": peaks,
              "jax_default_matmul_precision": jax_precision,
              "torch": {k: v for k, v in torch.items() if k != "rows"}, "rows": rows}
    provenance.write_results(args.out, record, markdown(record, provenance.caption(facts)),
                             quick=args.quick, prefix="gpu-")


if __name__ == "__main__":
    main()
