"""jaxloss's kernels against optax and PyTorch: forward+backward time and compiled temporaries."""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import optax

import jaxloss.optax
import jaxloss.torch
from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies import superset as study
from bench.studies.superset.cases import OPTAX_CASES, TORCH_CASES
from bench.studies.superset.inputs import make

MODULE = "bench.studies.superset"
REPEATS = {"full": 15, "quick": 3}


def step_function(function, keywords):
    """``value_and_grad`` of the mean loss with respect to the first input."""
    def mean_loss(first, *rest):
        return jnp.mean(function(first, *rest, **keywords))

    return jax.value_and_grad(mean_loss)


def prepare(function, arguments, keywords):
    arrays = tuple(jnp.asarray(a) for a in arguments)
    compiled, memory = compile_with_memory(step_function(function, keywords), *arrays)
    return (lambda: jax.block_until_ready(compiled(*arrays))), compiled, arrays, memory


def time_interleaved(calls: dict, repeats: int) -> dict:
    """Median CPU (process) and wall seconds per call, the entries taking turns."""
    for call in calls.values():
        call()
    wall = {name: [] for name in calls}
    cpu = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            call()
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    return {name: {"median_cpu_s": statistics.median(cpu[name]),
                   "median_wall_s": statistics.median(wall[name])} for name in calls}


def _loss(compiled, arrays) -> float:
    return float(compiled(*arrays)[0])


def run_optax(size: str, repeats: int, only=None) -> list[dict]:
    rows = []
    for case, inputs, name in OPTAX_CASES:
        if only and case not in only:
            continue
        arguments, keywords = make(inputs, size)
        ours, ours_compiled, arrays, ours_memory = prepare(
            getattr(jaxloss.optax, name), arguments, keywords)
        peer, peer_compiled, _, peer_memory = prepare(
            getattr(optax.losses, name), arguments, keywords)
        timings = time_interleaved({"jaxloss": ours, "optax": peer}, repeats)
        row = {"case": case, "peer": "optax", "function": f"optax.losses.{name}",
               "shapes": [list(a.shape) for a in arrays],
               "jaxloss": {**ours_memory, **timings["jaxloss"],
                           "loss": _loss(ours_compiled, arrays)},
               "optax": {**peer_memory, **timings["optax"],
                         "loss": _loss(peer_compiled, arrays)}}
        row.update(_ratios(row, "optax"))
        peer_temp = row["optax"]["temp_bytes"]
        row["temp_ratio"] = (row["jaxloss"]["temp_bytes"] / peer_temp if peer_temp
                             else None)
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("case", "cpu_ratio", "wall_ratio", "temp_ratio")}),
              flush=True)
    return rows


def run_torch(size: str, repeats: int, torch_python: str, only=None
              ) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "torch.json")
        subprocess.run([torch_python, "-m", f"{MODULE}.torch_worker", size, str(repeats), out],
                       check=True, cwd=provenance.REPO_ROOT,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
        with open(out) as f:
            torch_side = json.load(f)
    by_case = {row["case"]: row for row in torch_side.pop("rows")}
    rows = []
    for case, inputs, name in TORCH_CASES:
        if only and case not in only:
            continue
        arguments, keywords = make(inputs, size)
        ours, ours_compiled, arrays, ours_memory = prepare(
            getattr(jaxloss.torch, name), arguments, keywords)
        timings = time_interleaved({"jaxloss": ours}, repeats)
        row = {"case": case, "peer": "torch", "function": f"torch.nn.functional.{name}",
               "shapes": [list(a.shape) for a in arrays],
               "jaxloss": {**ours_memory, **timings["jaxloss"],
                           "loss": _loss(ours_compiled, arrays)},
               "torch": {k: v for k, v in by_case[case].items() if k != "case"}}
        row.update(_ratios(row, "torch"))
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("case", "cpu_ratio", "wall_ratio")}), flush=True)
    return rows, torch_side


def _ratios(row: dict, peer: str) -> dict:
    return {f"{kind}_ratio": row["jaxloss"][f"median_{kind}_s"] / row[peer][f"median_{kind}_s"]
            for kind in ("cpu", "wall")}


def markdown(record: dict) -> str:
    caption = provenance.caption(record["provenance"])
    parts = []
    header = ("case", "shapes", "CPU ms jaxloss", "CPU ms optax", "CPU ratio", "wall ratio",
              "temp KiB jaxloss", "temp KiB optax", "temp ratio")
    table = []
    for row in record["optax_rows"]:
        ours, peer = row["jaxloss"], row["optax"]
        temp_ratio = "-" if row["temp_ratio"] is None else f"{row['temp_ratio']:.2f}"
        table.append([f"`{row['case']}`", " ".join("×".join(map(str, s)) or "()"
                                                   for s in row["shapes"]),
                      f"{ours['median_cpu_s'] * 1e3:.3g}", f"{peer['median_cpu_s'] * 1e3:.3g}",
                      f"{row['cpu_ratio']:.2f}", f"{row['wall_ratio']:.2f}",
                      f"{ours['temp_bytes'] / 1024:.0f}", f"{peer['temp_bytes'] / 1024:.0f}",
                      temp_ratio])
    parts.append(captioned_table(
        "Forward+backward (`jax.value_and_grad` of the mean loss, first input) of "
        "`jaxloss.optax.<name>` against `optax.losses.<name>`, same inputs, float32, jit, "
        "calls interleaved; medians of the process's CPU time (ratio: jaxloss / optax, below "
        f"1 is faster) and compiled temporaries from `memory_analysis()`. {caption}",
        header, table, text_columns=2))
    if record.get("torch_rows"):
        header = ("case", "shapes", "CPU ms jaxloss", "CPU ms torch", "CPU ratio",
                  "wall ratio", "temp KiB jaxloss")
        table = []
        for row in record["torch_rows"]:
            ours, peer = row["jaxloss"], row["torch"]
            table.append([f"`{row['case']}`", " ".join("×".join(map(str, s)) or "()"
                                                       for s in row["shapes"]),
                          f"{ours['median_cpu_s'] * 1e3:.3g}",
                          f"{peer['median_cpu_s'] * 1e3:.3g}",
                          f"{row['cpu_ratio']:.2f}", f"{row['wall_ratio']:.2f}",
                          f"{ours['temp_bytes'] / 1024:.0f}"])
        torch_side = record["torch"]
        parts.append(captioned_table(
            "Forward+backward of `jaxloss.torch.<name>` (jit) against "
            f"`torch.nn.functional.<name>` (PyTorch {torch_side['torch']}, eager, "
            f"{torch_side['threads']} threads, `loss.backward()`), mean reduction; PyTorch "
            "runs in its own process after the JAX side, so its calls are not interleaved "
            "with jaxloss's.", header, table, text_columns=2))
    else:
        status = record.get("torch_status", "no case of this run has a PyTorch peer.")
        parts.append(f"PyTorch: {status}\n")
    return "\n".join(parts)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=study.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--torch-python", default=None,
                        help="an interpreter with PyTorch, for the PyTorch side")
    parser.add_argument("--cases", nargs="+", default=None,
                        help="only these cases (of either peer), e.g. to time them again")
    parser.add_argument("--out", default=os.path.join("bench", "results", "superset"))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    size = "quick" if args.quick else "full"
    repeats = args.repeats or REPEATS[size]
    facts = provenance.start(MODULE, argv)
    record = {"size": size, "repeats": repeats, "optax_rows": run_optax(size, repeats, args.cases)}
    if args.torch_python:
        record["torch_rows"], record["torch"] = run_torch(size, repeats, args.torch_python,
                                                            args.cases)
        facts["versions"]["torch"] = record["torch"]["torch"]
    else:
        record["torch_status"] = "not run (no --torch-python given)."
    record["provenance"] = provenance.finish(facts)
    ratios = [row["cpu_ratio"] for row in record["optax_rows"]]
    record["cpu_ratio_geomean_vs_optax"] = (math.exp(sum(map(math.log, ratios)) / len(ratios))
                                            if ratios else None)
    stem = provenance.file_stem(args.out, record["provenance"], args.quick)
    os.makedirs(args.out, exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(stem + ".md", "w") as f:
        f.write(text)
    print(text)
    return record
