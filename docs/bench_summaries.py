"""Short summaries of benchmark results, computed from the JSON files in ``bench/results/``.

The pages lead with these and fold the full tables away. Every figure is read from a
results file, or is a median, minimum or maximum of figures read from one.

- :func:`suite_headline`: for a run of ``python -m bench.suite``, jaxloss's speed-up over each
  peer (the peer's median time / jaxloss's), its median, lowest and highest over the kernels.
- :func:`mnist_step_table`: for a run of ``python -m bench.studies.mnist_step``, each allocator's
  training step time and its ratios to tf.keras.
"""

from __future__ import annotations

import statistics

from bench.common.markdown import shape_text
from bench.suite import report

# The allocator a summary uses, when the run has it: the tables to compare kernels by (glibc's
# malloc alone mostly measures page faults on the fresh gradient buffers).
PREFERRED_ALLOCATORS = ("mimalloc", "glibc-tunables", "glibc")
MODES = ("forward_backward", "forward")


def summary_allocator(results: dict) -> str:
    measured = report.allocators(results)
    return next((a for a in PREFERRED_ALLOCATORS if a in measured), measured[0])


def _speedups(results: dict, allocator: str, mode: str, peer: str) -> list[tuple[float, str]]:
    """(peer time / jaxloss time, case name) for every case that both measured."""
    entries = report.index(results)
    out = []
    for family, shape in report.case_list(results):
        ours = report.time_ms(entries.get((allocator, mode, family, shape, "jaxloss")))
        theirs = report.time_ms(entries.get((allocator, mode, family, shape, peer)))
        if ours and theirs:
            out.append((theirs / ours, f"{family} {shape_text(shape)}"))
    return out


def _spread(speedups: list[tuple[float, str]]) -> list[str]:
    if not speedups:
        return ["—", "—", "—"]
    low, high = min(speedups), max(speedups)
    median = statistics.median(value for value, _ in speedups)
    return [f"{median:.2f}× ({len(speedups)})", f"{low[0]:.2f}× ({low[1]})",
            f"{high[0]:.2f}× ({high[1]})"]


def suite_headline(results: dict) -> list[str]:
    """Markdown lines: a sentence naming the allocator and a table of speed-ups per peer."""
    allocator = summary_allocator(results)
    peers = [p for p in report.present_peers(results) if p != "jaxloss"]
    lines = [
        f"jaxloss's speed-up over each peer (the peer's median time / jaxloss's; above 1: "
        f"jaxloss faster), allocator: {report.ALLOCATOR_LABELS[allocator]}. The median over "
        "the kernels that both measured (how many, in parentheses), and the lowest and the "
        "highest with their case.",
        "",
        # In smaller type (docs/_static/jaxloss.css), so that the case names fit the page.
        "````{container} wide-table",
        "| against, pass | median | lowest | highest |",
        "|---|---:|---|---|",
    ]
    for peer in peers:
        for mode in MODES:
            speedups = _speedups(results, allocator, mode, peer)
            if speedups:
                cells = [f"{report.PEER_LABELS[peer]}, {report.MODE_LABELS[mode]}",
                         *_spread(speedups)]
                lines.append("| " + " | ".join(cells) + " |")
    return [*lines, "````"]


# The mnist_step peers, in the order the table shows them.
MNIST_PEERS = {
    "jaxloss.nn+jax.jit": "jaxloss.nn, `jax.jit` on the split state",
    "jaxloss.nn": "jaxloss.nn, `nnx.jit`",
    "jaxloss.nn im2col": "jaxloss.nn im2col (plain block), `nnx.jit`",
    "flax": "Flax NNX (`nnx.Conv`, `nnx.max_pool`), `nnx.jit`",
    "keras.fit": "tf.keras `fit`",
    "keras.train_on_batch": "tf.keras `train_on_batch`",
}


def mnist_step_headline(children: list[dict]) -> list[str]:
    """One row per allocator (child process): jaxloss.nn under ``jax.jit`` against tf.keras."""
    lines = [
        "| allocator | 1-min load | jaxloss.nn `jax.jit`: ms/step | × `train_on_batch` "
        "| CPU × `train_on_batch` | `train_on_batch` ms | `fit` ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for child in children:
        peers = child["peers"]
        ours, keras = peers["jaxloss.nn+jax.jit"], peers["keras.train_on_batch"]
        cells = [child["allocator"], f"{child['load_average_1min']:.1f}",
                 f"{ours['median_ms']:.1f}", f"{ours['ratio_to_keras']:.2f}",
                 f"{ours['cpu_ratio_to_keras']:.2f}", f"{keras['median_ms']:.1f}",
                 f"{peers['keras.fit']['median_ms']:.1f}" if "keras.fit" in peers else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def mnist_step_table(children: list[dict]) -> list[str]:
    """Every peer of every allocator: median wall and CPU time per step, ratios to tf.keras."""
    lines = [
        "| allocator | peer | ms/step | CPU ms/step | × `train_on_batch` | CPU × `train_on_batch` |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for child in children:
        for key, label in MNIST_PEERS.items():
            peer = child["peers"].get(key)
            if peer is None:
                continue
            cells = [child["allocator"], label, f"{peer['median_ms']:.1f}",
                     f"{peer['median_cpu_ms']:.1f}", f"{peer['ratio_to_keras']:.2f}",
                     f"{peer['cpu_ratio_to_keras']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def mnist_step_facts(children: list[dict]) -> str:
    first = children[0]
    return (f"batch {first['batch']}, {first['rounds']} interleaved rounds of "
            f"{first['steps_per_round']} steps, JAX {first['jax']}, one child process per "
            "allocator; the load is the 1-minute load average at the end of each child")
