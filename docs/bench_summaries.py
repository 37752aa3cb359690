"""Short summaries of benchmark results, computed from the JSON files in ``bench/results/``.

The pages lead with these and fold the full tables away. Every figure is read from a
results file, or is a median, minimum or maximum of figures read from one.

- :func:`suite_headline`: for a run of ``python -m bench.suite``, jaxloss's speed-up over each
  peer (the peer's median time / jaxloss's), its median, lowest and highest over the kernels.
- :func:`mnist_step_table`: for a run of ``python -m bench.studies.mnist_step``, each allocator's
  training step time and its ratios to tf.keras.
- :func:`guide_substitutions`: every figure that the guides' prose quotes, by name, each from
  one results file; conf.py hands them to MyST, and a page writes ``{{ name }}``.
- The other ``*_table`` functions: the tables that the guides include from ``docs/_generated/``.
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import datetime
from pathlib import Path

from bench.common import machine
from bench.common.markdown import shape_text
from bench.suite import cases as cases_lib
from bench.suite import report
from jaxloss._src.fused import default_chunk_size

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


# Figures in the guides' prose, each computed from one results file. conf.py passes them to
# MyST as substitutions: a guide writes ``{{ name }}`` where the figure goes.


def _span(values, digits: int = 2, unit: str = "×") -> str:
    """``low to high`` of ``values`` (one value when they round alike), with ``unit``."""
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return f"{low}{unit}" if low == high else f"{low} to {high}{unit}"


def _clock(stamp: str) -> str:
    """``HH:MM`` of an ISO timestamp."""
    return stamp[11:16]


def _suite_ratio(results: dict, allocator: str, mode: str, family: str, shape: tuple,
                 peer: str) -> float:
    """The peer's median time / jaxloss's for one case of a suite run."""
    entries = report.index(results)
    ours = report.time_ms(entries[(allocator, mode, family, shape, "jaxloss")])
    return report.time_ms(entries[(allocator, mode, family, shape, peer)]) / ours


def suite_cpu_figures(results: dict) -> dict[str, str]:
    """The CPU run's date, its workers' hours and load, and the figures the performance guide
    quotes from its tables."""
    runs = [run for run in results["runs"] if run.get("loadavg_end")]
    loads = [value for run in runs for value in (run["loadavg_start"][0], run["loadavg_end"][0])]

    def window(frameworks):
        chosen = [run for run in runs if run["framework"] in frameworks]
        return (f"{_clock(min(run['started'] for run in chosen))} to "
                f"{_clock(max(run['finished'] for run in chosen))} UTC")

    minutes = sum(
        (datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"]))
        .total_seconds() for run in runs) / 60
    allocator = summary_allocator(results)
    dense_torch = [_suite_ratio(results, allocator, "forward_backward", "softmax_cross_entropy",
                                shape, "torch")
                   for family, shape in report.case_list(results)
                   if family == "softmax_cross_entropy" and shape[-1] >= 1000]
    row_floats = [record["temp_bytes"] for record in report.records(results)
                  if (record["peer"], record["family"], record["mode"], record["allocator"])
                  == ("jaxloss", "softmax_cross_entropy", "forward", allocator)]
    by_allocator = []
    for family in report.SOFTMAX_CE:
        for shape in ((8192, 1000), (4096, 32000)):
            times = [report.format_ms(report.time_ms(report.index(results).get(
                (name, "forward_backward", family, shape, "jaxloss"))))
                for name in ("glibc", "glibc-tunables", "mimalloc")]
            by_allocator.append(f"`{family}` at {shape_text(shape)}: {times[0]} ms under plain "
                                f"glibc, {times[1]} ms with the tunables, {times[2]} ms under "
                                "mimalloc")
    return {
        "suite_cpu_date": results["started"][:10],
        "suite_cpu_machine": machine.machine_label(results["machine"]),
        "suite_cpu_commit": results["git_commit"],
        "suite_cpu_load": _span(loads, 1, ""),
        "suite_cpu_other_workers": window(("torch", "tensorflow")),
        "suite_cpu_jax_workers": window(("jax",)),
        "suite_cpu_worker_minutes": f"{minutes:.0f}",
        "suite_cpu_dense_vs_torch": _span(dense_torch),
        "suite_cpu_row_floats": f"{report.format_bytes(min(row_floats))} to "
                                f"{report.format_bytes(max(row_floats))}",
        "suite_cpu_by_allocator": "; ".join(by_allocator),
    }


def suite_gpu_figures(results: dict) -> dict[str, str]:
    """The GPU run's machine and versions, the Liger-Kernel reference case, and the figures
    against the speed targets."""
    versions = {}
    for run in results["runs"]:
        versions.update(run.get("versions") or {})
    facts = results["machine"]
    entries = report.index(results)
    allocator = report.allocators(results)[0]
    liger_shape = tuple(cases_lib.LIGER_CASE_SHAPE)
    liger = {peer: entries[(allocator, "forward_backward", "sparse_softmax_cross_entropy",
                            liger_shape, peer)] for peer in report.present_peers(results)}
    peak = report.roofline_bandwidth(results)
    min_bytes = liger["jaxloss"]["min_bytes"]
    published = list(cases_lib.LIGER_REFERENCE_MS.values())

    def optax_ratios(shapes):
        return [_suite_ratio(results, allocator, "forward_backward", family, shape, "optax")
                for family, shape in report.case_list(results)
                if family in report.SOFTMAX_CE and shape in shapes]

    shapes = {shape for family, shape in report.case_list(results) if family in report.SOFTMAX_CE}
    small = {shape for shape in shapes if shape[-1] <= 1000}
    torch = [_suite_ratio(results, allocator, "forward_backward", family, shape, "torch")
             for family, shape in report.case_list(results) if family in report.SOFTMAX_CE]
    extra = {(r["family"], tuple(r["shape"]), r["mode"]): r["temp_bytes"]
             for r in report.records(results) if r["peer"] == "jaxloss"}
    most = max(extra[("sparse_softmax_cross_entropy", liger_shape, mode)]
               for mode in MODES)
    return {
        "suite_gpu_date": results["started"][:10],
        "suite_gpu_machine": f"one {facts['accelerator']} with a {facts['cores']}-core "
                             f"{facts['cpu_model']} host",
        "suite_gpu_versions": ", ".join(
            f"{label} {versions[key]}" for key, label in (
                ("jax", "JAX"), ("optax", "optax"), ("keras", "Keras"), ("torch", "PyTorch"),
                ("liger_kernel", "Liger-Kernel")) if key in versions),
        "suite_gpu_liger_shape": shape_text(liger_shape),
        "suite_gpu_liger_times": ", ".join(
            f"{report.PEER_LABELS[peer]} {report.format_ms(report.time_ms(record))} ms"
            for peer, record in liger.items()),
        "suite_gpu_liger_roofline": f"{report.format_ms(min_bytes / (peak * 1e9) * 1e3)} ms",
        "suite_gpu_liger_bytes": f"{min_bytes / 2e9:.2g} GB",
        "suite_gpu_bandwidth": f"{peak:.0f} GB/s",
        "suite_gpu_liger_published": ", ".join(
            f"{name} {ms} ms" for name, ms in cases_lib.LIGER_REFERENCE_MS.items()),
        "suite_gpu_published_ratio": f"{published[1] / published[0]:.2f}×",
        "suite_gpu_liger_ratio": f"{report.time_ms(liger['torch']) / report.time_ms(liger['liger_kernel']):.2f}×",
        "suite_gpu_jaxloss_ratio": f"{report.time_ms(liger['torch']) / report.time_ms(liger['jaxloss']):.2f}×",
        "suite_gpu_optax_liger": _span(optax_ratios({liger_shape})),
        "suite_gpu_optax_large": _span(optax_ratios(shapes - small - {liger_shape})),
        "suite_gpu_optax_small": _span(optax_ratios(small)),
        "suite_gpu_torch": _span(torch),
        "suite_gpu_most_temp": report.format_bytes(most),
        "suite_gpu_most_temp_share": f"{100 * most / (math.prod(liger_shape) * 4):.1f}%",
    }


def precise_cost_figures(cpu: dict, gpu: dict) -> dict[str, str]:
    """``precise=True`` against the default and optax, from the CPU and the GPU file."""
    def ratios(rows, key, classes, family=None, mode=None, exclude=()):
        return [row[key] for row in rows
                if classes(row["shape"][-1]) and family in (None, row["form"])
                and mode in (None, row["mode"]) and (row["form"], row["mode"]) not in exclude]

    many, few = (lambda n: n >= 1000), (lambda n: n <= 10)
    cpu_rows, gpu_rows = cpu["rows"], gpu["rows"]
    sparse_large = next(row for row in cpu_rows if row["form"] == "sparse_softmax_cross_entropy"
                        and row["shape"][-1] == max(r["shape"][-1] for r in cpu_rows)
                        and row["mode"] == "forward+backward")
    dense_both = ratios(cpu_rows, "precise_over_default", many, "softmax_cross_entropy",
                        "forward+backward")
    elsewhere = [row["precise_over_default"] for row in cpu_rows
                 if many(row["shape"][-1]) and row is not sparse_large
                 and not (row["form"] == "softmax_cross_entropy"
                          and row["mode"] == "forward+backward")]
    gpu_sparse_large = next(row for row in gpu_rows if row["form"] == sparse_large["form"]
                            and row["shape"] == sparse_large["shape"]
                            and row["mode"] == "forward+backward")
    return {
        "precise_cpu_device": cpu["device"],
        "precise_cpu_jax": cpu["jax"],
        "precise_cpu_load": f"{cpu['load_average_1min_at_end']:.1f}",
        "precise_cpu_sparse_large": f"{sparse_large['precise_over_default']:.2f}×",
        "precise_cpu_elsewhere": _span(elsewhere),
        "precise_cpu_dense_both": _span(dense_both),
        "precise_cpu_sparse_few": _span(ratios(cpu_rows, "precise_over_default", few,
                                               "sparse_softmax_cross_entropy",
                                               "forward+backward")),
        "precise_gpu_device": gpu["device"],
        "precise_gpu_many": _span(ratios(gpu_rows, "precise_over_default", many)),
        "precise_gpu_all": _span([row["precise_over_default"] for row in gpu_rows]),
        "precise_cpu_most": f"{max(row['precise_over_default'] for row in cpu_rows):.2f}×",
        "precise_gpu_sparse_large": f"{gpu_sparse_large['precise_over_default']:.2f}×",
        "precise_gpu_few": _span(ratios(gpu_rows, "precise_over_default", few)),
        "precise_gpu_few_slowest": report.format_ms(max(
            row[key] for row in gpu_rows if few(row["shape"][-1])
            for key in ("default_ms", "precise_ms", "optax_ms"))),
        "precise_gpu_optax_many": _span(ratios(gpu_rows, "precise_over_optax", many)),
        "precise_gpu_optax_few": _span(ratios(gpu_rows, "precise_over_optax", few)),
    }


def platform_forms_figures(cpu: dict, gpu: dict) -> dict[str, str]:
    """The CPU forms' time / the accelerator forms', on the CPU and on the GPU."""
    def ratio(rows, family, shape, mode="forward+backward"):
        row = next(r for r in rows if (r["family"], tuple(r["shape"]), r["mode"])
                   == (family, shape, mode))
        return f"{row['cpu_over_accelerator']:.2f}×"

    def spread(rows, classes, families, mode="forward+backward"):
        return _span([r["cpu_over_accelerator"] for r in rows if classes(r["shape"][-1])
                      and r["family"] in families and r["mode"] == mode])

    sparse, dense, focal = report.SOFTMAX_CE + ("softmax_focal_loss",)
    big, mid, liger = (4096, 32000), (8192, 1000), tuple(cases_lib.LIGER_CASE_SHAPE)
    return {
        "forms_cpu_device": cpu["device"],
        "forms_cpu_large": f"{ratio(cpu['rows'], sparse, big)} (sparse) and "
                           f"{ratio(cpu['rows'], dense, big)} (dense)",
        "forms_cpu_mid": f"{ratio(cpu['rows'], sparse, mid)} and {ratio(cpu['rows'], dense, mid)}",
        "forms_cpu_few": spread(cpu["rows"], lambda n: n <= 10, (sparse, dense)),
        "forms_cpu_focal": spread(cpu["rows"], lambda n: n >= 1000, (focal,)),
        "forms_gpu_device": gpu["device"],
        "forms_gpu_sparse": f"{ratio(gpu['rows'], sparse, big)} at {shape_text(big)} and "
                            f"{ratio(gpu['rows'], sparse, liger)} at {shape_text(liger)} "
                            f"(forward {ratio(gpu['rows'], sparse, big, 'forward')} and "
                            f"{ratio(gpu['rows'], sparse, liger, 'forward')})",
        "forms_gpu_dense": ratio(gpu["rows"], dense, big),
        "forms_gpu_focal": f"{ratio(gpu['rows'], focal, big)} at {shape_text(big)} and "
                           f"{ratio(gpu['rows'], focal, mid)} at {shape_text(mid)}",
        "forms_gpu_small": spread(gpu["rows"], lambda n: n <= 1000, (sparse, dense)),
    }


def superset_figures(runs: list[dict]) -> dict[str, str]:
    """The superset study's runs, oldest first: the last is the latest run with both peers;
    of the runs on the Intel Xeon the performance guide's changes were first measured on,
    the last is after those changes and the first before the perceptron change."""
    xeon = [run for run in runs if "Xeon" in run["provenance"]["machine"]["cpu_model"]]
    before, after, latest = xeon[:-1], xeon[-1], runs[-1]

    def ratios(chosen, case, key="cpu_ratio"):
        return [row[key] for run in chosen for row in run["optax_rows"] if row["case"] == case]

    def loads(chosen):
        return [value for run in chosen for value in run["provenance"]["load_average_1min"].values()]

    def row(run, case):
        return next(r for r in run["optax_rows"] if r["case"] == case)

    def nll(chosen):
        return [r["cpu_ratio"] for run in chosen for r in run.get("torch_rows", [])
                if r["case"] == "nll_loss"]

    quiet = min(before, key=lambda run: max(loads([run])))
    loaded = [run for run in before if run is not quiet and run.get("torch_rows")]
    figures = {
        "superset_load": _span(loads(before), 1, ""),
        "superset_ntxent_time": _span(ratios(runs, "ntxent")),
        "superset_ntxent_temp": _span(ratios(runs, "ntxent", "temp_ratio")),
        "superset_torch_loaded": _span([r["cpu_ratio"] for run in loaded for r in run["torch_rows"]]),
        "superset_quiet_load": _span(loads([quiet]), 1, ""),
        "superset_nll_quiet": _span(nll([quiet])),
        "superset_nll_loaded": _span(nll(loaded)),
        "superset_perceptron_before": _span(ratios(runs[:1], "multiclass_perceptron_loss")),
        "superset_perceptron_after": _span(ratios(runs[1:], "multiclass_perceptron_loss")),
        "superset_kl_after_temp": report.format_bytes(
            row(after, "kl_divergence_with_log_targets")["jaxloss"]["temp_bytes"]),
        "superset_after_commit": after["provenance"]["commit"],
        "superset_after_time": _clock(after["provenance"]["date"]),
        "superset_after_load": _span(loads([after]), 1, ""),
    }
    for case in ("triplet_margin_loss", "cosine_distance", "l2_loss",
                 "kl_divergence_with_log_targets", "poly_loss_cross_entropy"):
        figures[f"superset_{case}_before"] = _span(ratios(before, case))
        figures[f"superset_{case}_after"] = _span(ratios([after], case))
    figures["superset_triplet_after_temp"] = _span(
        ratios([after], "triplet_margin_loss", "temp_ratio")
        + ratios([after], "cosine_distance", "temp_ratio"))
    figures["superset_runs"] = ", ".join(
        f"{run['provenance']['commit']} ({_clock(run['provenance']['date'])} UTC, load "
        f"{_span(loads([run]), 1, '')}, {run['repeats']} repeats)" for run in before)
    figures.update(superset_latest_figures(latest))
    figures["superset_runs_date"] = before[0]["provenance"]["date"][:10]
    figures["superset_versions"] = ", ".join(
        f"{name} {version}" for name, version in before[0]["provenance"]["versions"].items())
    return figures


def superset_latest_figures(run: dict) -> dict[str, str]:
    """The latest superset run: its provenance, the spread of its CPU-time ratios to each
    peer, and the cases where jaxloss took longer."""
    provenance = run["provenance"]

    def slower(rows):
        cases = [f"`{row['case']}` {row['cpu_ratio']:.2f}×" for row in rows
                 if row["cpu_ratio"] > 1.0]
        return ", ".join(cases) if cases else "none"

    optax_rows, torch_rows = run["optax_rows"], run.get("torch_rows", [])
    return {
        "superset_latest_run": (
            f"{machine.machine_label(provenance['machine'])}, {provenance['date'][:10]} "
            f"{_clock(provenance['date'])} UTC, commit {provenance['commit']}, 1-minute load "
            f"{_span(list(provenance['load_average_1min'].values()), 1, '')}, "
            f"{run['repeats']} repeats"),
        "superset_latest_optax": _span([row["cpu_ratio"] for row in optax_rows]),
        "superset_latest_optax_slower": slower(optax_rows),
        "superset_latest_torch": _span([row["cpu_ratio"] for row in torch_rows]),
        "superset_latest_torch_slower": slower(torch_rows),
    }


def contrastive_figures(run: dict) -> dict[str, str]:
    """optax's NT-Xent against jaxloss's contrastive steps: temporaries and CPU time."""
    rows = {row["batch"]: row for row in run["rows"]}
    timed = [batch for batch, row in rows.items() if row["optax_ntxent"].get("median_cpu_s")]
    largest, timed_largest = max(rows), max(timed)
    provenance = run["provenance"]
    return {
        "contrastive_optax_temp": ", ".join(
            f"{report.format_bytes(rows[batch]['optax_ntxent']['temp_bytes'])} at `B = {batch}`"
            for batch in sorted(rows)),
        "contrastive_largest": str(largest),
        "contrastive_ntxent_share": _span(
            [100 * row["ntxent_over_optax_ntxent_temp"] for row in rows.values()], 2, " %"),
        "contrastive_chunked_share": f"{100 * max(r['chunked_over_optax_ntxent_temp'] for r in rows.values()):.2f} %",
        "contrastive_timed_batch": str(timed_largest),
        "contrastive_optax_cpu": f"{rows[timed_largest]['optax_ntxent']['median_cpu_s']:.1f} s",
        "contrastive_ntxent_cpu": f"{rows[timed_largest]['ntxent_over_optax_ntxent_cpu']:.2f}×",
        "contrastive_run": f"run of {provenance['date'][:10]} {_clock(provenance['date'])} UTC on "
                           f"{machine.machine_label(provenance['machine'])}, load "
                           f"{_span(provenance['load_average_1min'].values(), 1, '')}, commit "
                           f"{provenance['commit']}",
        "contrastive_memory": f"{provenance['machine']['memory_gib']} GiB",
    }


def chunked_contrastive_figures(run: dict, name: str) -> dict[str, str]:
    """The chunked contrastive loss's compiled temporaries against the explicit form's, at the
    run's largest batch (``name``: the results file, under ``bench/results/``)."""
    row = max(run["rows"], key=lambda row: row["batch"])
    return {
        "contrastive_chunked_temp_share": f"{100 * row['temp_ratio']:.1f}%",
        "contrastive_chunked_temp_shape": f"B = {row['batch']}, D = {row['features']}",
        "contrastive_chunked_temp_file": f"`bench/results/{name}`",
    }


def newest_reproduce_run(results_dir: Path) -> tuple[str, dict]:
    """(name under ``bench/results/``, record) of the newest ``bench.studies.reproduce`` run."""
    runs = {path: _load(path) for path in (results_dir / "reproduce").glob("*.json")}
    path = max(runs, key=lambda path: runs[path]["provenance"]["date"])
    return path.relative_to(results_dir).as_posix(), runs[path]


def reproduce_figures(name: str, run: dict) -> dict[str, str]:
    """The training guide's figures: the run that made the table, and the MNIST CNN's values
    beside the document's."""
    facts = run["provenance"]
    mnist = {row["quantity"]: row for row in run["rows"] if row["run"] == "mnist"}
    figures = {
        "reproduce_run": f"{machine.machine_label(facts['machine'])}, "
                         f"{facts['date'][:10]}, commit {facts['commit']}",
        "reproduce_file": f"`bench/results/{name}`",
    }
    for quantity in ("test accuracy", "test loss", "final loss", "final accuracy"):
        key = quantity.replace(" ", "_")
        figures[f"reproduce_mnist_{key}"] = f"{mnist[quantity]['ours']:.4f}"
        figures[f"reproduce_mnist_{key}_document"] = f"{mnist[quantity]['document']:.4f}"
    return figures


def _load(path: Path):
    return json.loads(path.read_text())


def guide_substitutions(results_dir: Path) -> dict[str, str]:
    """Every figure the guides' prose takes from a results file, by name."""
    figures = {}
    figures.update(suite_cpu_figures(_load(results_dir / "cpu-amd-epyc-2-cores.json")))
    figures.update(suite_gpu_figures(_load(results_dir / "gpu-nvidia-h200.json")))
    figures.update(precise_cost_figures(_load(results_dir / "precise_cost" / "cpu.json"),
                                        _load(results_dir / "precise_cost" / "gpu.json")))
    figures.update(platform_forms_figures(_load(results_dir / "platform_forms" / "cpu.json"),
                                          _load(results_dir / "platform_forms" / "gpu.json")))
    superset = sorted((_load(path) for path in (results_dir / "superset").glob("*.json")),
                      key=lambda run: run["provenance"]["date"])
    figures.update(superset_figures(superset))
    figures.update(mnist_step_figures({path.stem: _load(path) for path in
                                       sorted((results_dir / "mnist_step").glob("*.json"))}))
    figures.update(large_vocabulary_figures(results_dir / "fused_linear_cross_entropy"))
    figures.update(memory_per_device_figures(_load(
        next((results_dir / "memory_per_device").glob("*.json")))))
    figures.update(checks_overhead_figures(_load(results_dir / "checks_overhead" / "cpu.json")))
    figures.update(contrastive_figures(_load(
        results_dir / "contrastive" / "cpu-intel-r-xeon-r-processor-2-cores-20261207-bc2648b.json")))
    figures.update(reproduce_figures(*newest_reproduce_run(results_dir)))
    chunked = "contrastive/cpu-amd-epyc-2-cores-20261207-1421c19.json"
    figures.update(chunked_contrastive_figures(_load(results_dir / chunked), chunked))
    return figures


def mnist_allocator_table(children: list[dict]) -> list[str]:
    """One row per allocator setting: jaxloss.nn's step under ``jax.jit``, its ratios to
    tf.keras's ``train_on_batch``, minor page faults a step and the child's peak resident
    memory."""
    lines = [
        "| `--allocators` | `GLIBC_TUNABLES` / `LD_PRELOAD` | jaxloss.nn `jax.jit`: ms/step | × tf.keras "
        "| CPU × tf.keras | faults/step | peak RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for child in children:
        ours = child["peers"]["jaxloss.nn+jax.jit"]
        if child["allocator"] == "mimalloc":
            tunables = "`LD_PRELOAD` of `libmimalloc.so`"
        else:
            tunables = f"`{child['glibc_tunables']}`" if child.get("glibc_tunables") else "(none)"
        cells = [child["allocator"], tunables, f"{ours['median_ms']:.1f}",
                 f"{ours['ratio_to_keras']:.2f}", f"{ours['cpu_ratio_to_keras']:.2f}",
                 f"{ours['median_minor_faults']:,.0f}", f"{child['peak_rss_mib']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mnist_ratios(children: list[dict], with_ms: bool = False) -> str:
    """``allocator ratio× (CPU ratio×)`` for each child: jaxloss.nn under ``jax.jit``."""
    parts = []
    for child in children:
        ours = child["peers"]["jaxloss.nn+jax.jit"]
        time = f"{ours['median_ms']:.1f} ms, " if with_ms else ""
        parts.append(f"{child['allocator']} {time}{ours['ratio_to_keras']:.2f}× "
                     f"(CPU {ours['cpu_ratio_to_keras']:.2f}×)")
    return ", ".join(parts)


def mnist_step_figures(runs: dict[str, list[dict]]) -> dict[str, str]:
    """The MNIST guide's figures, from the runs of ``python -m bench.studies.mnist_step``
    by file stem. The quiet runs are those whose every child ended at a 1-minute load under
    the machine's 2 cores."""
    def peer(children, allocator, key, field="median_ms"):
        return [c["peers"][key][field] for c in children if c["allocator"] == allocator]

    def child(children, allocator):
        return next(c for c in children if c["allocator"] == allocator)

    quiet = [children for stem, children in runs.items() if stem.startswith("cpu-amd-epyc-2")
             and all(c["load_average_1min"] < 2 for c in children)]
    everywhere = [c for children in quiet for c in children]
    jit, keras, fit = "jaxloss.nn+jax.jit", "keras.train_on_batch", "keras.fit"
    loaded, single = runs["cpu-amd-epyc-2-cores"], runs["cpu-amd-epyc-1-core"]
    calm, tunables = runs["cpu-amd-epyc-2-cores-quiet"], runs["cpu-amd-epyc-2-cores-tunables"]
    three, busy = runs["cpu-amd-epyc-2-cores-tunables-3way"], runs["cpu-amd-epyc-2-cores-tunables-loaded"]
    tunables_runs = (tunables, busy, three)
    calm_fast = child(calm, "mimalloc")["peers"]
    figures = {
        "mnist_quiet_load": _span([c["load_average_1min"] for c in everywhere], 1, ""),
        "mnist_quiet_tunables_ms": _span([c["peers"][jit]["median_ms"] for c in everywhere
                                          if c["allocator"] == "glibc-tunables"], 1, " ms"),
        "mnist_quiet_mimalloc_ms": _span([c["peers"][jit]["median_ms"] for c in everywhere
                                          if c["allocator"] == "mimalloc"], 1, " ms"),
        "mnist_quiet_keras_ms": _span([c["peers"][keras]["median_ms"] for c in everywhere],
                                      1, " ms"),
        "mnist_quiet_cached_ratio": _span([c["peers"][jit]["ratio_to_keras"] for c in everywhere
                                           if c["allocator"] in ("glibc-tunables", "mimalloc")]),
        "mnist_quiet_glibc_ms": _span([c["peers"][jit]["median_ms"] for c in everywhere
                                       if c["allocator"] == "glibc"], 1, " ms"),
        "mnist_quiet_glibc_ratio": _span([c["peers"][jit]["ratio_to_keras"] for c in everywhere
                                          if c["allocator"] == "glibc"]),
        "mnist_loaded_loads": f"{child(loaded, 'glibc')['load_average_1min']:.1f} (glibc) and "
                              f"{child(loaded, 'mimalloc')['load_average_1min']:.1f} (mimalloc) "
                              f"for the 2-core run, "
                              f"{child(single, 'glibc')['load_average_1min']:.1f} and "
                              f"{child(single, 'mimalloc')['load_average_1min']:.1f} for the "
                              "1-core run",
        "mnist_loaded_keras_cpu": _span([c["peers"][keras]["median_cpu_ms"]
                                         for c in loaded + single], 1, " ms"),
        "mnist_loaded_cpu_one": _span(peer(single, "mimalloc", jit, "cpu_ratio_to_keras")),
        "mnist_loaded_cpu_two": _span(peer(loaded, "mimalloc", jit, "cpu_ratio_to_keras")),
        "mnist_loaded_cpu_plain": _span(peer(single + loaded, "mimalloc", "jaxloss.nn im2col",
                                             "cpu_ratio_to_keras")),
        "mnist_loaded_wall_one": _span(peer(single, "mimalloc", jit, "ratio_to_keras")),
        "mnist_loaded_wall_two": _span(peer(loaded, "mimalloc", jit, "ratio_to_keras"), 1),
        "mnist_loaded_glibc_cpu": _span([c["peers"][key]["cpu_ratio_to_keras"]
                                         for c in loaded + single if c["allocator"] == "glibc"
                                         for key in ("jaxloss.nn", jit, "jaxloss.nn im2col")],
                                        1),
        "mnist_calm_load": f"{child(calm, 'glibc')['load_average_1min']:.1f} and "
                           f"{child(calm, 'mimalloc')['load_average_1min']:.1f}",
        "mnist_calm_rounds": f"{calm[0]['rounds']} interleaved rounds of "
                             f"{calm[0]['steps_per_round']} steps",
        "mnist_calm_keras": f"{calm_fast[keras]['median_ms']:.1f} ms/step (mimalloc) and "
                            f"{child(calm, 'glibc')['peers'][keras]['median_ms']:.1f} ms (glibc)",
        "mnist_calm_fit": f"{calm_fast[fit]['median_ms']:.1f} ms and "
                          f"{child(calm, 'glibc')['peers'][fit]['median_ms']:.1f} ms",
        "mnist_calm_ours": f"{calm_fast[jit]['median_ms']:.1f} ms under mimalloc: "
                           f"{calm_fast[jit]['ratio_to_keras']:.2f}× `train_on_batch`'s wall "
                           f"time and {calm_fast[jit]['cpu_ratio_to_keras']:.2f}× its CPU time, "
                           f"{calm_fast[jit]['median_ms'] / calm_fast[fit]['median_ms']:.2f}× "
                           "`fit`'s wall time",
        "mnist_calm_nnx": f"{calm_fast['jaxloss.nn']['median_ms']:.1f} ms "
                          f"({calm_fast['jaxloss.nn']['ratio_to_keras']:.2f}×)",
        "mnist_calm_glibc": f"{child(calm, 'glibc')['peers'][jit]['median_ms']:.1f} ms "
                            f"({child(calm, 'glibc')['peers'][jit]['ratio_to_keras']:.2f}×)",
        "mnist_calm_plain": f"{calm_fast['jaxloss.nn im2col']['median_ms']:.1f} ms "
                            f"({calm_fast['jaxloss.nn im2col']['ratio_to_keras']:.2f}×)",
        "mnist_tunables_facts": f"JAX {tunables[0]['jax']}, {tunables[0]['machine']['libc']}, "
                                f"one child each, {tunables[0]['rounds']} interleaved rounds of "
                                f"{tunables[0]['steps_per_round']} steps, 1-minute load "
                                f"{_span([c['load_average_1min'] for c in tunables], 1, '')} at "
                                "the end of the children",
        "mnist_busy_facts": f"{busy[0]['rounds']} rounds, 1-minute load "
                            f"{_span([c['load_average_1min'] for c in busy], 1, '')} at the ends",
        "mnist_busy_ratios": _mnist_ratios(busy),
        "mnist_three_load": _span([c["load_average_1min"] for c in three], 1, ""),
        "mnist_three_ratios": _mnist_ratios(three, with_ms=True),
        "mnist_three_keras": _span([c["peers"][keras]["median_ms"] for c in three], 1, " ms"),
        "mnist_tunables_mimalloc": _span(peer(tunables, "mimalloc", jit, "ratio_to_keras")),
        "mnist_tunables_range": _span([r for children in tunables_runs
                                       for r in peer(children, "glibc-tunables", jit,
                                                     "ratio_to_keras")]),
        "mnist_mimalloc_range": _span([r for children in tunables_runs
                                       for r in peer(children, "mimalloc", jit,
                                                     "ratio_to_keras")]),
        "mnist_glibc_range": _span([r for children in tunables_runs
                                    for r in peer(children, "glibc", jit, "ratio_to_keras")]),
        "mnist_cached_speedup": _span([
            child(children, "glibc")["peers"][jit]["median_ms"] / c["peers"][jit]["median_ms"]
            for children in tunables_runs for c in children
            if c["allocator"] in ("glibc-tunables", "mimalloc")], 1),
        "mnist_glibc_faults": f"{min(peer(tunables_runs[0] + busy + three, 'glibc', jit, 'median_minor_faults')):,.0f}",
        "mnist_hugetlb_faults": _span([r for children in tunables_runs
                                       for r in peer(children, "glibc-hugetlb", jit,
                                                     "median_minor_faults")], 0, ""),
        "mnist_tunables_rss": f"{child(tunables, 'glibc-tunables')['peak_rss_mib'] - child(tunables, 'glibc')['peak_rss_mib']:.0f} MiB",
    }
    return figures


# The large-vocabulary guide: bench/results/fused_linear_cross_entropy/.
MIB = 2**20


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _nvh(row: dict) -> str:
    """``N × H × V`` of a row, with no-break spaces so that a table cell keeps it on one line."""
    return "\u00a0×\u00a0".join(str(row[key]) for key in ("num_tokens", "hidden_dim",
                                                            "vocab_size"))


def chunk_rule_table(run: dict) -> list[str]:
    """The default tiles against the fixed 32 MiB chunk: compiled temporaries as a share of
    explicit logits', per shape (bold where the default is under 10%)."""
    lines = ["| N × H × V | explicit logits | default tile: tokens × columns "
             "| fixed 32 MiB chunk | default / explicit | fixed 32 MiB / explicit |",
             "|---|---|---|---|---|---|"]
    for row in run["rows"]:
        default = _percent(row["temp_ratio_default"])
        if row["temp_ratio_default"] < 0.1:
            default = f"**{default}**"
        shape = _nvh(row)
        cells = [shape, f"{row['logits_bytes'] / MIB:.0f} MiB",
                 f"{row.get('token_block', row['num_tokens'])}\u00a0×\u00a0"
                 f"{row['chunks']['default']}", str(row["chunks"]["fixed_32mib"]), default,
                 _percent(row["temp_ratio_fixed_32mib"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def schedules_table(runs: list[dict]) -> list[str]:
    """``schedule="forward"`` against ``"recompute"`` and explicit logits: process CPU seconds
    and compiled temporaries, one row per run."""
    lines = ["| N × H × V | forward | recompute | explicit logits | forward / recompute "
             "| forward / explicit | temp MiB forward / recompute / explicit |",
             "|---|---|---|---|---|---|---|"]
    for run in runs:
        row = run["rows"][0]
        steps = (row["fused"], row["fused_recompute"], row["unfused"])
        cells = [_nvh(row), *(f"{step['median_cpu_s']:.2f}" for step in steps),
                 f"{row['cpu_ratio_recompute']:.2f}", f"{row['cpu_ratio']:.2f}",
                 " / ".join(f"{step['temp_bytes'] / MIB:.0f}" for step in steps)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def fused_cpu_table(run: dict) -> list[str]:
    """The fused loss against explicit logits per vocabulary size (in brackets: a plain
    ``jax.nn.logsumexp`` version), temporaries for every size, times where measured."""
    lines = ["| V | temp MiB fused | temp MiB unfused | fused / unfused | wall s fused "
             "| wall s unfused | CPU s fused | CPU s unfused | CPU-time ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in run["rows"]:
        fused, unfused, plain = row["fused"], row["unfused"], row["unfused_logsumexp"]
        cells = [str(row["vocab_size"]), f"{fused['temp_bytes'] / MIB:.1f}",
                 f"{unfused['temp_bytes'] / MIB:.0f}", f"{row['temp_ratio']:.3f}"]
        if "median_wall_s" in fused:
            cells += [f"{fused['median_wall_s']:.0f}",
                      f"{unfused['median_wall_s']:.0f} ({plain['median_wall_s']:.0f})",
                      f"{fused['median_cpu_s']:.1f}",
                      f"{unfused['median_cpu_s']:.1f} ({plain['median_cpu_s']:.1f})",
                      f"{row['cpu_ratio']:.2f} ({row['cpu_ratio_logsumexp']:.2f})"]
        else:
            cells += [""] * 5
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def fused_gpu_table(jax_runs: dict[str, dict], liger_runs: dict[str, dict]) -> list[str]:
    """Per dtype and vocabulary size: jaxloss's fused loss, Liger-Kernel's, explicit logits in
    JAX and in PyTorch; memory is XLA's temporaries plus the outputs, or PyTorch's peak above
    the inputs."""
    lines = ["| dtype | V | jaxloss fused | Liger-Kernel fused | JAX unfused | PyTorch unfused "
             "| Liger / jaxloss | memory: jaxloss fused, Liger, PyTorch unfused |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for dtype, run in jax_runs.items():
        liger = {row["vocab_size"]: row for row in liger_runs[dtype]["rows"]}
        for row in run["rows"]:
            theirs = liger[row["vocab_size"]]
            ours_ms = row["fused"]["median_wall_s"] * 1e3
            ours_bytes = row["fused"]["temp_bytes"] + row["fused"]["output_bytes"]
            cells = [dtype, str(row["vocab_size"]), f"{ours_ms:.1f} ms",
                     f"{theirs['liger_kernel']['median_ms']:.1f} ms",
                     f"{row['unfused']['median_wall_s'] * 1e3:.1f} ms",
                     f"{theirs['torch_unfused']['median_ms']:.1f} ms",
                     f"{theirs['liger_kernel']['median_ms'] / ours_ms:.2f}×",
                     f"{ours_bytes / MIB:.0f}, {theirs['liger_kernel']['peak_extra_bytes'] / MIB:.0f}, "
                     f"{theirs['torch_unfused']['peak_extra_bytes'] / MIB:.0f} MiB"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _provenance_text(provenance: dict) -> str:
    return (f"{machine.machine_label(provenance['machine'])}, 1-minute load average "
            f"{_span(provenance['load_average_1min'].values(), 1, '')}, "
            f"{provenance['date'][:10]}, commit {provenance['commit']}, jax "
            f"{provenance['versions']['jax']}")


def large_vocabulary_figures(directory: Path) -> dict[str, str]:
    """The figures the large-vocabulary guide's prose quotes."""
    chunk_rule = _load(next(directory.glob("chunk-rule-*.json")))
    forward_rule = _load(next(directory.glob("forward-chunk-rule-*.json")))
    timed = next(row for row in chunk_rule["rows"] if "cpu_ratio_default" in row)
    schedules = [_load(path) for path in sorted(directory.glob("cpu-schedules-*.json"))]
    cpu = _load(directory / "fused_linear_cross_entropy.json")
    measured = next(row for row in cpu["rows"] if "median_cpu_s" in row["fused"])
    gpu = {name: _load(directory / f"gpu-h200-{name}.json")
           for name in ("float32", "bfloat16", "float32-chunk4096", "float32-chunk16384")}
    liger = {name: _load(directory / f"gpu-h200-liger-{name}.json")
             for name in ("float32", "bfloat16")}
    tokamax = _load(next(directory.glob("tokamax-*.json")))

    def gpu_row(name, vocab=65536):
        return next(row for row in gpu[name]["rows"] if row["vocab_size"] == vocab)

    default = gpu_row("float32")

    def chunk_gain(name):
        row = gpu_row(name)
        return (f"{default['fused']['median_wall_s'] / row['fused']['median_wall_s']:.2f}× "
                f"faster than the default "
                f"{default_chunk_size(default['num_tokens'], default['vocab_size'])} for "
                f"{row['fused']['temp_bytes'] / default['fused']['temp_bytes']:.1f}× the "
                "temporaries")

    liger_ratios, wall_ratios = [], []
    for dtype in ("float32", "bfloat16"):
        theirs = {row["vocab_size"]: row for row in liger[dtype]["rows"]}
        for row in gpu[dtype]["rows"]:
            liger_ratios.append(theirs[row["vocab_size"]]["liger_kernel"]["median_ms"]
                                / (row["fused"]["median_wall_s"] * 1e3))
            wall_ratios.append(row["wall_ratio"])
    bf16 = gpu_row("bfloat16")
    bf16_liger = next(row for row in liger["bfloat16"]["rows"] if row["vocab_size"] == 65536)
    loads = [value for run in schedules for value in run["machine"]["load_average_1min"]]

    def tokamax_shape(row):
        def ratios(key):
            digits = 3 if "temp" in key else 2
            return ", ".join(f"{row[step][key]:.{digits}f}"
                             for step in ("fused", "fused_recompute", "tokamax"))

        return (f"at [{row['tokens']}, {row['hidden']}] × [{row['hidden']}, {row['vocab']}], "
                f"CPU time {ratios('cpu_over_explicit')} and temporaries "
                f"{ratios('temp_over_explicit')}")

    tokamax_rows = tokamax["rows"]
    return {
        "flce_chunk_rule_run": _provenance_text(chunk_rule["provenance"]),
        "flce_chunk_rule_command": f"`{chunk_rule['provenance']['command']}`",
        "flce_forward_rule_run": _provenance_text(forward_rule["provenance"]),
        "flce_forward_rule_command": f"`{forward_rule['provenance']['command']}`",
        "flce_forward_rule_max": _percent(max(row["temp_ratio_default"]
                                              for row in forward_rule["rows"])),
        "flce_h200_chunk4096": chunk_gain("float32-chunk4096"),
        "flce_h200_chunk16384": chunk_gain("float32-chunk16384"),
        "flce_timed_shape": f"{timed['num_tokens']} × {timed['hidden_dim']} × {timed['vocab_size']}",
        "flce_timed_default": f"{timed['cpu_ratio_default']:.2f}× the process CPU time of "
                              f"explicit logits ({timed['default']['median_cpu_s']:.2f} s) and "
                              f"{timed['wall_ratio_default']:.2f}× its wall time "
                              f"({timed['default']['median_wall_s']:.2f} s)",
        "flce_timed_fixed": f"{timed['cpu_ratio_fixed_32mib']:.2f}× and "
                            f"{timed['wall_ratio_fixed_32mib']:.2f}× "
                            f"({timed['fixed_32mib']['median_cpu_s']:.2f} s CPU, "
                            f"{timed['fixed_32mib']['median_wall_s']:.2f} s wall; explicit "
                            f"{timed['explicit']['median_cpu_s']:.2f} s CPU, "
                            f"{timed['explicit']['median_wall_s']:.2f} s wall)",
        "flce_schedules_load": _span(loads, 0, ""),
        "flce_schedules_machine": machine.machine_label(schedules[0]["machine"]),
        "flce_recompute_temp": f"{measured['fused']['temp_bytes'] / MIB:.1f} MiB",
        "flce_cpu_machine": f"{machine.machine_label(cpu['machine'])}, jax {cpu['jax']}",
        "flce_cpu_load": _span(cpu["machine"]["load_average_1min"], 0, ""),
        "flce_cpu_vocab": str(measured["vocab_size"]),
        "flce_cpu_share": _percent(measured["temp_ratio"]),
        "flce_cpu_temps": f"{measured['fused']['temp_bytes'] / MIB:.0f} MiB against "
                          f"{measured['unfused']['temp_bytes'] / MIB:.0f} MiB",
        "flce_cpu_ratio": f"{measured['cpu_ratio']:.2f}×",
        "flce_cpu_ratio_plain": f"{measured['cpu_ratio_logsumexp']:.2f}×",
        "flce_cpu_wall": f"{measured['wall_ratio']:.2f} and {measured['wall_ratio_logsumexp']:.2f}",
        "flce_cpu_outputs": f"{measured['fused']['output_bytes'] / MIB:.0f} MiB",
        "flce_cpu_repeats": str(len(measured["fused"]["cpu_s"])),
        "flce_tokamax_run": _provenance_text(tokamax["provenance"]),
        "flce_tokamax_repeats": str(len(tokamax_rows[0]["fused"]["cpu_s"])),
        "flce_tokamax_forward": ", ".join(
            f"{row['fused']['cpu_over_explicit']:.2f}" for row in tokamax_rows[:2]),
        "flce_tokamax_shapes": "; ".join(tokamax_shape(row) for row in tokamax_rows),
        "flce_gpu_versions": f"JAX {gpu['float32']['jax']}, PyTorch {liger['float32']['torch']}, "
                             f"Liger-Kernel {liger['float32']['liger_kernel']}",
        "flce_gpu_repeats": str(len(default["fused"]["wall_s"])),
        "flce_gpu_liger": _span(liger_ratios),
        "flce_gpu_wall": _span(wall_ratios, 1),
        "flce_gpu_chunk4096": f"{gpu_row('float32-chunk4096')['wall_ratio']:.2f}× "
                              f"({gpu_row('float32-chunk4096')['fused']['temp_bytes'] / MIB:.0f} "
                              "MiB of temporaries)",
        "flce_gpu_chunk16384": f"{gpu_row('float32-chunk16384')['wall_ratio']:.2f}× "
                               f"({gpu_row('float32-chunk16384')['fused']['temp_bytes'] / MIB:.0f} MiB)",
        "flce_gpu_bf16_memory": f"{bf16_liger['liger_kernel']['peak_extra_bytes'] / MIB:.0f} "
                                "against "
                                f"{(bf16['fused']['temp_bytes'] + bf16['fused']['output_bytes']) / MIB:.0f} MiB",
    }


def optax_speedup_table(results: dict, families: tuple[str, ...]) -> list[str]:
    """jaxloss's speed-up over optax (optax's median time / jaxloss's), forward+backward, per
    case of ``families`` and per allocator of a suite run."""
    allocators = report.allocators(results)
    lines = ["| kernel | shape | " + " | ".join(report.ALLOCATOR_LABELS[a] for a in allocators)
             + " |", "|---|---|" + "---:|" * len(allocators)]
    for family, shape in report.case_list(results):
        if family not in families:
            continue
        cells = [f"`{family}`", shape_text(shape)]
        cells += [f"{_suite_ratio(results, a, 'forward_backward', family, shape, 'optax'):.2f}×"
                  for a in allocators]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def memory_per_device_figures(run: dict) -> dict[str, str]:
    """Arguments and temporaries per device of the sharded fused and contrastive losses."""
    rows = sorted(run["rows"], key=lambda row: row["devices"])
    one, more = rows[0], rows[1:]

    def mib(row, loss, key):
        return f"{row[loss][key] / MIB:.1f}"

    def series(loss, key):
        return (f"{mib(one, loss, key)} MiB on one device to "
                + ", ".join(mib(row, loss, key) for row in more[:-1])
                + f" and {mib(more[-1], loss, key)} MiB on "
                + ", ".join(str(row["devices"]) for row in more[:-1])
                + f" and {more[-1]['devices']}")

    hidden = math.prod(one["fused_shape"][:2]) * 4
    return {
        "memory_fused_arguments": series("fused", "argument_bytes"),
        "memory_fused_hidden": f"{hidden / MIB:.0f} MiB",
        "memory_fused_temp": series("fused", "temp_bytes"),
        "memory_contrastive_arguments": f"{mib(one, 'contrastive', 'argument_bytes')} MiB of "
                                        "queries and keys on one device, "
                                        f"{mib(more[-1], 'contrastive', 'argument_bytes')} MiB "
                                        f"on {more[-1]['devices']}",
        "memory_contrastive_temp": series("contrastive", "temp_bytes"),
    }


def checks_overhead_figures(run: dict) -> dict[str, str]:
    """Checked mode's time over unchecked, from ``bench/results/checks_overhead/``."""
    rows = {(row["case"], row["mode"]): row["ratio"] for row in run["rows"]}
    sparse = next(case for case, _ in rows if case.startswith("sparse_softmax_cross_entropy"))
    squared = max(ratio for (case, _), ratio in rows.items() if case.startswith("squared_error"))
    return {
        "checks_device": run["device"],
        "checks_sparse_case": sparse.split(" ", 1)[1],
        "checks_sparse_forward": f"{rows[(sparse, 'forward')]:.2f}×",
        "checks_sparse_both": f"{rows[(sparse, 'forward+backward')]:.2f}×",
        "checks_squared": f"{squared:.2f}×",
    }
