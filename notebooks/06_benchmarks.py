# ---
# jupyter:
#   jupytext:
#     comment_magics: false
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Benchmarks: the latest `make bench` results
#
# `make bench` (the `bench/` package) times every jaxloss kernel family against optax, Keras 3 on
# JAX, PyTorch and TensorFlow (and, on a GPU, Liger-Kernel) on the same inputs, machine and run,
# and writes a JSON file per machine to `bench/results/`. This notebook reads each of those files
# (the stored ones: a 2-core CPU and an NVIDIA H200) and shows it as tables and plots. It
# measures nothing itself: every number below comes from the JSON, and the machine, the allocator
# and the run are named with it.
#
# In a fresh Colab session there is no `bench/results/` folder (the package installs without it):
# the notebook then says so. Clone the repository and run `make bench` to produce one, or read the
# stored copy of this notebook on the repository page.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install jaxloss from GitHub
    %pip install -q "jaxloss[notebooks] @ git+https://github.com/jaxloss/jaxloss.git"

# %%
import json
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from matplotlib.patches import Patch

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # nothing to shrink here: reading is fast
PEERS = {"jaxloss": "jaxloss", "optax": "optax", "keras_jax": "Keras 3 (JAX)", "torch": "PyTorch",
         "tensorflow": "TensorFlow", "liger_kernel": "Liger-Kernel"}
PEER_COLORS = {peer: f"C{i}" for i, peer in enumerate(PEERS)}
MODES = {"forward_backward": "forward+backward", "forward": "forward"}

# JAXLOSS_BENCH_RESULTS overrides where to look; by default bench/results/ of this checkout
# (the notebook runs in notebooks/, or from the repository root).
candidates = [Path(os.environ["JAXLOSS_BENCH_RESULTS"])] if "JAXLOSS_BENCH_RESULTS" in os.environ else [
    Path.cwd().parent / "bench" / "results",
    Path.cwd() / "bench" / "results",
]
# One file per machine, by name (cpu-... before gpu-...); earlier runs kept for the record
# are in git (git show 3cb293d:bench/results/history/...) and are not shown.
folder = next((folder for folder in candidates if folder.is_dir()), None)
result_files = sorted(folder.glob("*.json")) if folder else []
all_results = [json.loads(path.read_text()) for path in result_files]
if all_results:
    print(f"{len(result_files)} result file(s): " + ", ".join(path.name for path in result_files))
else:
    print("NO BENCHMARK RESULTS FOUND: no bench/results/*.json in "
          + " or ".join(os.path.relpath(folder) for folder in candidates)
          + ".\nRun `make bench` in a clone of the repository, then re-run this notebook. "
          "Nothing below is shown without results.")

# %% [markdown]
# ## The machine and the run

# %%
def records(results):
    return [record for run in results["runs"] for record in run.get("records", [])]


def describe_run(results):
    """Print the machine and the run; return the allocators, the cases and the record index."""
    machine = results.get("machine", {})
    print("machine:", ", ".join(f"{key} {value}" for key, value in machine.items()))
    print(f"run {results.get('name')!r} ({results.get('size')} sizes), {results.get('threads')} threads, "
          f"{results.get('started')} to {results.get('finished')}, commit {results.get('git_commit')}")
    for run in results["runs"]:
        bandwidth = run.get("bandwidth", {}).get("gb_per_s")
        device_bandwidth = run.get("bandwidth", {}).get("device_gb_per_s")
        load = (f", load average {run['loadavg_start'][0]:.1f} -> {run['loadavg_end'][0]:.1f}"
                if run.get("loadavg_start") and run.get("loadavg_end") else "")
        print(f"  worker {run.get('framework')}/{run.get('allocator')}: status {run.get('status')}"
              + (f", host copy bandwidth {bandwidth} GB/s" if bandwidth else "")
              + (f", device copy bandwidth {device_bandwidth} GB/s" if device_bandwidth else "")
              + load + (f", {run['error'].splitlines()[0][:100]}" if run.get("error") else ""))
    allocators = sorted({record["allocator"] for record in records(results)})
    cases = []
    for record in records(results):
        key = (record["family"], tuple(record["shape"]))
        if key not in cases:
            cases.append(key)
    table = {(r["allocator"], r["mode"], r["family"], tuple(r["shape"]), r["peer"]): r for r in records(results)}
    print(f"{len(cases)} kernel/shape cases, allocators: {', '.join(allocators)}")
    return allocators, cases, table

# %% [markdown]
# ## Median times
#
# One table per allocator and mode: median milliseconds per call (warm-up and compilation
# excluded), and jaxloss's speed-up over each peer (the peer's time divided by jaxloss's).


# %%
def median(record):
    return record["median_ms"] if record and record.get("status") == "ok" else None


def cell(record):
    if record is None:
        return "not run"
    return f"{record['median_ms']:.3g}" if record.get("status") == "ok" else record.get("status", "?")


def present_peers(results):
    """The peers with at least one measured entry (a GPU run has no TensorFlow, a CPU run no
    Liger-Kernel)."""
    measured = {record["peer"] for record in records(results) if record.get("status") == "ok"}
    return [peer for peer in PEERS if peer in measured]


def show_tables(results, allocators, cases, table):
    peers = present_peers(results)
    compared = [peer for peer in ("optax", "torch", "tensorflow", "liger_kernel") if peer in peers]
    for allocator in allocators:
        for mode, mode_label in MODES.items():
            lines = [
                f"**{results.get('name')}: {mode_label}, allocator {allocator}** (ms)",
                "",
                "| kernel | shape | " + " | ".join(PEERS[peer] for peer in peers) + " | "
                + " | ".join(f"speed-up vs {PEERS[peer]}" for peer in compared) + " |",
                "|---|---|" + "---:|" * (len(peers) + len(compared)),
            ]
            for family, shape in cases:
                row = {peer: table.get((allocator, mode, family, shape, peer)) for peer in PEERS}
                ours = median(row["jaxloss"])
                speedups = [
                    f"{median(row[peer]) / ours:.2f}×" if ours and median(row[peer]) else "—"
                    for peer in compared
                ]
                lines.append(
                    f"| `{family}` | {'×'.join(map(str, shape))} | "
                    + " | ".join(cell(row[peer]) for peer in peers) + " | " + " | ".join(speedups) + " |"
                )
            display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Forward+backward time per kernel, all peers

# %%
def plot_times(results, allocators, cases, table):
    allocator = allocators[-1] if "mimalloc" in allocators else allocators[0]
    columns = 3
    rows_needed = math.ceil(len(cases) / columns)
    fig, axes = plt.subplots(rows_needed, columns, figsize=(5 * columns, 2.8 * rows_needed), squeeze=False)
    for ax, (family, shape) in zip(axes.flat, cases):
        names, times = [], []
        for peer in PEERS:
            value = median(table.get((allocator, "forward_backward", family, shape, peer)))
            if value is not None:
                names.append(peer)
                times.append(value)
        ax.barh([PEERS[peer] for peer in names], times, color=[PEER_COLORS[peer] for peer in names])
        ax.invert_yaxis()
        ax.set(title=f"{family} {'×'.join(map(str, shape))}", xlabel="ms (forward+backward)", ylabel="framework")
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    fig.suptitle(f"Median forward+backward time, allocator {allocator}, run {results.get('name')!r}, "
                 f"{results['machine'].get('accelerator') or results['machine'].get('cpu_model')}")
    shown = present_peers(results)
    fig.legend(handles=[Patch(color=PEER_COLORS[p], label=PEERS[p]) for p in shown],
               loc="lower right", ncol=len(shown), fontsize=8)
    plt.tight_layout(rect=(0, 0.04, 1, 1))
    plt.show()

# %% [markdown]
# ## Compiled temporary memory of the JAX entries
#
# From `memory_analysis()` of each compiled function: the scratch memory XLA allocates besides
# the inputs and outputs.

# %%
def plot_memory(results, allocators, cases, table):
    jax_peers = ("jaxloss", "optax", "keras_jax")
    labels, values = [], {peer: [] for peer in jax_peers}
    for family, shape in cases:
        labels.append(f"{family}\n{'×'.join(map(str, shape))}")
        for peer in jax_peers:
            record = table.get((allocators[0], "forward_backward", family, shape, peer))
            temp = record.get("temp_bytes") if record and record.get("status") == "ok" else None
            values[peer].append(temp / 2**20 if temp is not None else math.nan)
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(cases)), 4.5))
    width = 0.8 / len(jax_peers)
    for i, peer in enumerate(jax_peers):
        ax.bar([k + i * width for k in range(len(cases))], values[peer], width, label=PEERS[peer],
               color=PEER_COLORS[peer])
    ax.set_xticks([k + width for k in range(len(cases))], labels, rotation=60, ha="right", fontsize=7)
    ax.set(title=f"Compiled temporary memory, forward+backward, run {results.get('name')!r} "
                 "(no bar: 0 bytes or not run)",
           xlabel="kernel and shape",
           ylabel="MiB (log scale)", yscale="log")
    ax.legend()
    plt.show()


# %% [markdown]
# ## Each machine's run
#
# The functions above, applied to each result file in turn: the machine and the run, the median
# tables, the forward+backward plot and the compiled temporary memory.

# %%
for results in all_results:
    display(Markdown(f"### Run `{results.get('name')}`"))
    allocators, cases, table = describe_run(results)
    show_tables(results, allocators, cases, table)
    plot_times(results, allocators, cases, table)
    plot_memory(results, allocators, cases, table)
