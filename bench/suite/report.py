"""Turn a result file into the markdown table, a page's section and the PNG plot.

``python -m bench.suite.report bench/results/<name>.json [--readme PAGE]``
rewrites ``<name>.md`` and ``<name>.png`` beside the JSON and the page's text between
``<!-- bench-table:begin -->`` and ``<!-- bench-table:end -->`` (a lone ``<!-- bench-table -->``
marker is replaced by the pair on the first run); a run on a GPU writes the ``bench-table-gpu``
section instead. Nothing here measures anything: every number
comes from the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os

from bench.common import machine
from bench.common.markdown import shape_text, table_lines
from bench.suite import cases as cases_lib
from bench.suite.worker import DEVICE_BANDWIDTH_BYTES

PEER_LABELS = {"jaxloss": "jaxloss", "optax": "optax", "keras_jax": "Keras 3 (JAX)",
               "torch": "PyTorch", "tensorflow": "TensorFlow", "liger_kernel": "Liger-Kernel"}
# The peers with a speed-up column, and its heading.
SPEEDUP_LABELS = {"optax": "jaxloss speed-up vs optax", "torch": "vs PyTorch",
                  "tensorflow": "vs TF", "liger_kernel": "vs Liger-Kernel"}
PEERS = tuple(PEER_LABELS)
FRAMEWORK_LABELS = {"jax": "JAX (XLA in-place update)", "torch": "PyTorch (copy_)"}
MODE_LABELS = {"forward_backward": "forward+backward", "forward": "forward"}
ALLOCATOR_LABELS = {
    "glibc": "glibc malloc",
    "glibc-tunables": "glibc malloc with the command line's GLIBC_TUNABLES",
    "mimalloc": "mimalloc (LD_PRELOAD)",
}
CPU_SECTION, GPU_SECTION = "bench-table", "bench-table-gpu"


def markers(section: str) -> tuple[str, str, str]:
    """The README's begin, end and lone (first run) markers of ``section``."""
    return (f"<!-- {section}:begin -->", f"<!-- {section}:end -->", f"<!-- {section} -->")


BEGIN, END, LONE = markers(CPU_SECTION)
# The suite's speed targets: minimum speed-up of jaxloss over a peer, on forward+backward.
SOFTMAX_CE = ("sparse_softmax_cross_entropy", "softmax_cross_entropy")
TARGETS = (
    ("optax", SOFTMAX_CE, 1.2),
    ("optax", ("sigmoid_focal_loss",), 2.5),
    ("torch", SOFTMAX_CE, 1.5),
    ("tensorflow", SOFTMAX_CE, 3.0),
)


def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def records(results: dict) -> list[dict]:
    return [record for run in results["runs"] for record in run.get("records", [])]


def bandwidth(results: dict, allocator: str) -> float | None:
    """Best copy bandwidth (GB/s) measured by any worker under ``allocator``."""
    values = [run["bandwidth"]["gb_per_s"] for run in results["runs"]
              if run.get("allocator") == allocator and "bandwidth" in run]
    return max(values) if values else None


def device_bandwidths(results: dict) -> dict[str, float]:
    """{framework: GB/s} of the accelerator's own copy, where the run had one."""
    return {run["framework"]: run["bandwidth"]["device_gb_per_s"] for run in results["runs"]
            if "device_gb_per_s" in run.get("bandwidth", {})}


def on_accelerator(results: dict) -> bool:
    return bool(results.get("machine", {}).get("accelerator")) or bool(device_bandwidths(results))


def roofline_bandwidth(results: dict) -> float | None:
    """The roofline's bandwidth: on an accelerator the best copy of its memory; else the best
    copy bandwidth measured in the run, any allocator (the memory system does not depend on
    the allocator once no page is faulted in)."""
    if device_bandwidths(results):
        return max(device_bandwidths(results).values())
    values = [value for allocator in ALLOCATOR_LABELS
              if (value := bandwidth(results, allocator)) is not None]
    return max(values) if values else None


def bandwidth_line(results: dict) -> str:
    if device_bandwidths(results):
        copied = format_bytes(DEVICE_BANDWIDTH_BYTES[results.get("size", "full")])
        return (f"Device memory bandwidth (one read + one write per byte, a {copied} copy in "
                "device memory: " + ", ".join(f"{FRAMEWORK_LABELS.get(name, name)} {value} GB/s"
                                       for name, value in device_bandwidths(results).items())
                + "); the host's copy: " + ", ".join(
                    f"{ALLOCATOR_LABELS[a]} {bandwidth(results, a)} GB/s"
                    for a in allocators(results))
                + f". The roofline uses {roofline_bandwidth(results)} GB/s.")
    return (f"Copy bandwidth (one read + one write per byte, best of 1 thread, "
            f"{results['threads']} threads and an XLA in-place update): " + ", ".join(
                f"{ALLOCATOR_LABELS[a]} {bandwidth(results, a)} GB/s"
                for a in allocators(results))
            + f". The roofline uses {roofline_bandwidth(results)} GB/s.")


def present_peers(results: dict) -> tuple[str, ...]:
    """The peers with at least one measured entry, in :data:`PEER_LABELS` order (a GPU run
    has no TensorFlow, a CPU run no Liger-Kernel)."""
    measured = {record["peer"] for record in records(results) if record.get("status") == "ok"}
    return tuple(peer for peer in PEERS if peer in measured)


def index(results: dict) -> dict:
    """{(allocator, mode, family, shape, peer): record}."""
    return {(r["allocator"], r["mode"], r["family"], tuple(r["shape"]), r["peer"]): r
            for r in records(results)}


def case_list(results: dict) -> list[tuple[str, tuple]]:
    seen = []
    for record in records(results):
        key = (record["family"], tuple(record["shape"]))
        if key not in seen:
            seen.append(key)
    order = {family: i for i, family in enumerate(cases_lib.FAMILIES)}
    return sorted(seen, key=lambda key: (order.get(key[0], 99), -math.prod(key[1])))


def allocators(results: dict) -> list[str]:
    return [a for a in ALLOCATOR_LABELS if any(r["allocator"] == a for r in records(results))]


def time_ms(record: dict | None) -> float | None:
    if record is None or record.get("status") != "ok":
        return None
    return record.get("median_ms")


def clearly_slower(ours: dict, theirs: dict) -> bool:
    """jaxloss is slower beyond noise: its fastest quarter is slower than their slowest."""
    return ours["p25_ms"] > theirs["p75_ms"]


def format_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def format_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value} B"


def status_cell(record: dict | None) -> str:
    if record is None:
        return "not run"
    if record.get("status") == "ok":
        return format_ms(record["median_ms"])
    return record.get("status", "?")


def framework_status(results: dict, allocator: str) -> list[str]:
    """Lines naming the frameworks that were not installed or failed under ``allocator``."""
    lines = []
    for run in results["runs"]:
        if run.get("allocator_requested", run.get("allocator")) != allocator:
            continue
        if run.get("status") != "ok":
            error = run.get("error", "").splitlines()[0] if run.get("error") else ""
            lines.append(f"{run['framework']}: {run.get('status')} ({error[:120]})")
    return lines


def speedup(ours: dict | None, theirs: dict | None) -> str:
    a, b = time_ms(ours), time_ms(theirs)
    if a is None or b is None:
        return "—"
    text = f"{b / a:.2f}×"
    return f"**{text} slower**" if clearly_slower(ours, theirs) else text


def timing_table(results: dict, allocator: str, mode: str) -> list[str]:
    table = index(results)
    peak = roofline_bandwidth(results)
    peers = present_peers(results)
    compared = [peer for peer in SPEEDUP_LABELS if peer in peers]
    header = ["kernel", "shape", *(PEER_LABELS[p] for p in peers),
              *(SPEEDUP_LABELS[p] for p in compared), "roofline ms", "jaxloss % of roofline"]
    rows = []
    for family, shape in case_list(results):
        row = {peer: table.get((allocator, mode, family, shape, peer)) for peer in PEERS}
        ours = row["jaxloss"]
        min_bytes = next((r["min_bytes"] for r in row.values() if r), None)
        roofline = min_bytes / (peak * 1e9) * 1e3 if (min_bytes and peak) else None
        fraction = (f"{100 * roofline / time_ms(ours):.0f}%"
                    if roofline and time_ms(ours) else "—")
        cells = [family, shape_text(shape)] + [status_cell(row[p]) for p in peers]
        cells += [speedup(ours, row[p]) for p in compared]
        cells += [format_ms(roofline), fraction]
        rows.append(cells)
    return table_lines(header, rows, text_columns=2)


def memory_table(results: dict) -> list[str]:
    """Compiled temporary memory and compile (or trace) time, from the first allocator's run
    (both are properties of the compiled program, not of the allocator)."""
    table = index(results)
    allocator = allocators(results)[0]
    jax_peers = ("jaxloss", "optax", "keras_jax")
    traced = ("tensorflow",) if "tensorflow" in present_peers(results) else ()
    header = ["kernel", "shape", "mode", *(f"temp {PEER_LABELS[p]}" for p in jax_peers),
              "jaxloss ≤ optax", *(f"compile s {PEER_LABELS[p]}" for p in jax_peers),
              *(f"trace s {PEER_LABELS[p]}" for p in traced)]
    rows = []
    for family, shape in case_list(results):
        for mode in cases_lib.MODES:
            row = {p: table.get((allocator, mode, family, shape, p)) for p in PEERS}
            temps = {p: row[p].get("temp_bytes") if row[p] else None for p in jax_peers}
            cells = [family, shape_text(shape), MODE_LABELS[mode]]
            cells += [format_bytes(temps[p]) for p in jax_peers]
            if temps["jaxloss"] is None or temps["optax"] is None:
                cells.append("—")
            else:
                cells.append("yes" if temps["jaxloss"] <= temps["optax"] else "**no**")
            for peer in (*jax_peers, *traced):
                record = row[peer]
                ok = record and record["status"] == "ok" and record.get("compile_s") is not None
                cells.append(f"{record['compile_s']:.2f}" if ok else "—")
            rows.append(cells)
    return table_lines(header, rows, text_columns=3)


def checks(results: dict) -> list[str]:
    """Cross-checks: identical inputs in every framework, the same loss and gradient L1 norm
    from every peer (relative 1e-3), and the speed and memory targets."""
    problems = []
    by_case: dict = {}
    for record in records(results):
        by_case.setdefault((record["family"], tuple(record["shape"])), []).append(record)
    for (family, shape), group in by_case.items():
        crcs = {r["inputs_crc32"] for r in group}
        if len(crcs) > 1:
            problems.append(f"{family} {shape_text(shape)}: inputs differ between frameworks")
        for quantity in ("loss", "grad_l1"):
            values = {r["peer"]: r[quantity] for r in group
                      if r.get("status") == "ok" and r.get(quantity) is not None}
            if values:
                reference = values.get("jaxloss", next(iter(values.values())))
                bad = {p: v for p, v in values.items()
                       if not abs(v - reference) <= 1e-3 * abs(reference) + 1e-6}
                if bad:
                    problems.append(f"{family} {shape_text(shape)}: {quantity} disagrees "
                                    f"(reference {reference:.6g}; {bad})")
    return problems


def target_lines(results: dict) -> list[str]:
    """The suite's speed targets, one line each per allocator: met, missed (with the numbers) or not
    measurable (a peer missing)."""
    table = index(results)
    lines = []
    for allocator in allocators(results):
        for peer, families, target in TARGETS:
            worst = None
            for family, shape in case_list(results):
                if family not in families:
                    continue
                ours = time_ms(table.get((allocator, "forward_backward", family, shape,
                                          "jaxloss")))
                theirs = time_ms(table.get((allocator, "forward_backward", family, shape, peer)))
                if ours and theirs and (worst is None or theirs / ours < worst[0]):
                    worst = (theirs / ours, family, shape)
            label = f"{allocator}: jaxloss ≥ {target}× faster than {PEER_LABELS[peer]} on " \
                    f"{', '.join(families)} forward+backward"
            if worst is None:
                lines.append(f"{label}: not measured (a peer is missing)")
            else:
                verdict = "met" if worst[0] >= target else "**missed**"
                lines.append(f"{label}: {verdict} (worst {worst[0]:.2f}× at {worst[1]} "
                             f"{shape_text(worst[2])})")
        slower = []
        for family, shape in case_list(results):
            for mode in cases_lib.MODES:
                ours = table.get((allocator, mode, family, shape, "jaxloss"))
                theirs = table.get((allocator, mode, family, shape, "optax"))
                if time_ms(ours) and time_ms(theirs) and clearly_slower(ours, theirs):
                    slower.append(f"{family} {shape_text(shape)} {MODE_LABELS[mode]} "
                                  f"({theirs['median_ms'] / ours['median_ms']:.2f}×)")
        lines.append(f"{allocator}: jaxloss slower than optax beyond noise: "
                     + ("; ".join(slower) if slower else "nowhere"))
    larger, compared = [], 0
    for (allocator, mode, family, shape, peer), ours in table.items():
        theirs = table.get((allocator, mode, family, shape, "optax"))
        if peer != "jaxloss" or allocator != allocators(results)[0] or not time_ms(ours) \
                or not time_ms(theirs):
            continue
        compared += 1
        if ours["temp_bytes"] > theirs["temp_bytes"]:
            larger.append(f"{family} {shape_text(shape)} {MODE_LABELS[mode]} "
                          f"({format_bytes(ours['temp_bytes'])} vs "
                          f"{format_bytes(theirs['temp_bytes'])})")
    verdict = ("not measured (a peer is missing)" if not compared
               else "**missed**: " + "; ".join(larger) if larger else f"met ({compared} entries)")
    lines.append(f"compiled temporary memory of jaxloss ≤ optax's: {verdict}")
    return lines


def probe_lines(results: dict) -> list[str]:
    """The compute probe's range per worker (:func:`bench.common.machine.compute_probe_ms`, taken
    before each case), where the run recorded it."""
    ranges = []
    for run in results["runs"]:
        probes = [r["probe_ms"] for r in run.get("records", []) if r.get("probe_ms")]
        if probes:
            ranges.append(f"{run['framework']}/{run['allocator']} {min(probes):.2f}–"
                          f"{max(probes):.2f}")
    if not ranges:
        return []
    return ["", "Compute probe before each case (ms for the same single-threaded NumPy work, "
                "best of 3; a wide range means a slower episode of the machine during that "
                "worker): " + ", ".join(ranges) + "."]


def jax_devices(results: dict) -> str:
    for run in results["runs"]:
        if run.get("framework") == "jax" and run.get("versions"):
            return ", ".join(run["versions"]["devices"])
    return "unknown"


def markdown(results: dict, png_link: str | None = None) -> str:
    facts = results["machine"]
    versions = {}
    for run in results["runs"]:
        versions.update({k: v for k, v in (run.get("versions") or {}).items()
                         if k in ("jax", "optax", "keras", "torch", "tensorflow", "liger_kernel")})
    out = [
        f"Machine: **{machine.machine_label(facts)}** ({facts.get('libc', '')}), "
        f"{results['threads']} threads for every framework; JAX devices: {jax_devices(results)}. "
        f"Run `{results['name']}` ({results['size']} sizes) from {results['started']} to "
        f"{results['finished']}, commit {results.get('git_commit')}; versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        bandwidth_line(results),
        "",
        "1-minute load average at each worker's start → end (other work on the machine): "
        + ", ".join(f"{run['framework']}/{run['allocator']} {run['loadavg_start'][0]:.1f} → "
                    f"{run['loadavg_end'][0]:.1f}"
                    for run in results["runs"] if run.get("loadavg_end")) + ".",
        *probe_lines(results),
        "",
        "Times are medians in ms (compile or trace time excluded, warm-up excluded); speed-up = "
        "the peer's time / jaxloss's time, bold where jaxloss is slower beyond noise (its 25th "
        "percentile above the peer's 75th).",
    ]
    for allocator in allocators(results):
        for line in framework_status(results, allocator):
            out.append(f"\nUnder {ALLOCATOR_LABELS[allocator]}, {line}.")
        for mode in ("forward_backward", "forward"):
            out += ["", f"#### {MODE_LABELS[mode].capitalize()}, allocator: "
                        f"{ALLOCATOR_LABELS[allocator]} — {machine.machine_label(facts)}", ""]
            out += timing_table(results, allocator, mode)
    out += liger_lines(results)
    out += ["", "#### Compiled temporary memory (`memory_analysis().temp_size_in_bytes`) and "
                "compile time", ""]
    out += memory_table(results)
    out += ["", "#### Speed and memory targets", ""]
    if on_accelerator(results):
        out += ["The targets were set for the 2-core CPU; on this accelerator they are shown "
                "for comparison only.", ""]
    out += [f"- {line}" for line in target_lines(results)]
    failures = sorted({f"{r['peer']} {r['family']} {shape_text(r['shape'])} "
                       f"{MODE_LABELS[r['mode']]}: {r['status']} ({r.get('error', '')})"
                       for r in records(results)
                       if r["status"] not in ("ok", "no such kernel", "not available")})
    if failures:
        out += ["", "Entries that did not run:"] + [f"- {failure}" for failure in failures]
    problems = checks(results)
    out += ["", "Cross-checks (same inputs everywhere, same loss and gradient from every peer): "
            + ("all agree." if not problems else "")]
    out += [f"- {problem}" for problem in problems]
    if png_link:
        out += ["", f"![benchmark plot]({png_link})"]
    return "\n".join(out) + "\n"


def liger_lines(results: dict) -> list[str]:
    """Our measurements at Liger-Kernel's reference size beside its published figures (only
    when the run had an accelerator, the only place that case runs)."""
    table = index(results)
    shape = tuple(cases_lib.LIGER_CASE_SHAPE)
    measured = []
    for allocator in allocators(results):
        for peer in present_peers(results):
            value = time_ms(table.get((allocator, "forward_backward",
                                       "sparse_softmax_cross_entropy", shape, peer)))
            if value:
                measured.append(f"{PEER_LABELS[peer]} {format_ms(value)} ms")
    if not measured:
        return []
    published = ", ".join(f"{name} {ms} ms" for name, ms in cases_lib.LIGER_REFERENCE_MS.items())
    return ["", f"Sparse softmax cross-entropy forward+backward at {shape_text(shape)} float32 "
                f"on {jax_devices(results)}: " + ", ".join(measured)
            + f". Published reference point, not measured here: {published}."]


def write_readme(readme: str, text_of_section: str, section: str = CPU_SECTION) -> None:
    """Replace the README's text between ``section``'s markers (:func:`markers`)."""
    begin, end, lone = markers(section)
    with open(readme) as f:
        text = f.read()
    block = f"{begin}\n{text_of_section}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    elif lone in text:
        text = text.replace(lone, block, 1)
    else:
        raise ValueError(f"{readme} has neither {begin}/{end} nor {lone}")
    with open(readme, "w") as f:
        f.write(text)


def plot(results: dict, path: str) -> None:
    """Horizontal bars, log time axis: one panel per (mode, allocator), one group per case,
    one bar per peer, a black tick at the roofline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = index(results)
    cases = case_list(results)
    allocator_names = allocators(results)
    peak = roofline_bandwidth(results)
    modes = ("forward_backward", "forward")
    figure, axes = plt.subplots(len(modes), len(allocator_names), squeeze=False,
                                figsize=(7 * len(allocator_names), 0.55 * len(cases) * 2 + 3),
                                sharey=True)
    colors = plt.get_cmap("tab10").colors
    peers = present_peers(results)
    height = 0.8 / len(peers)
    for row, mode in enumerate(modes):
        for column, allocator in enumerate(allocator_names):
            axis = axes[row][column]
            for i, (family, shape) in enumerate(cases):
                for j, peer in enumerate(peers):
                    value = time_ms(table.get((allocator, mode, family, shape, peer)))
                    if value:
                        axis.barh(i + (j - len(peers) / 2 + 0.5) * height, value, height,
                                  color=colors[j], label=PEER_LABELS[peer] if i == 0 else None)
                record = next((table.get((allocator, mode, family, shape, p)) for p in PEERS
                               if table.get((allocator, mode, family, shape, p))), None)
                if record and peak:
                    roof = record["min_bytes"] / (peak * 1e9) * 1e3
                    axis.plot([roof, roof], [i - 0.45, i + 0.45], color="black", linewidth=2,
                              label="roofline" if i == 0 else None)
            axis.set_xscale("log")
            axis.set_yticks(range(len(cases)))
            axis.set_yticklabels([f"{family}\n{shape_text(shape)}" for family, shape in cases],
                                 fontsize=7)
            axis.set_xlabel("median time, ms (log scale)")
            axis.set_title(f"{MODE_LABELS[mode]}, {ALLOCATOR_LABELS[allocator]}", fontsize=10)
            axis.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].invert_yaxis()  # the y axis is shared: the first case on top everywhere
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(peers) + 1, fontsize=8,
                  bbox_to_anchor=(0.5, 0.975))
    figure.suptitle(f"jaxloss vs peers — {machine.machine_label(results['machine'])}, "
                    f"{results['threads']} threads, JAX devices {jax_devices(results)}, "
                    f"run {results['name']}", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_all(json_path: str, readme: str | None = None) -> list[str]:
    """Write ``<name>.md`` and ``<name>.png`` beside the JSON and, when given, the README
    section. Returns the paths written."""
    results = load(json_path)
    stem = os.path.splitext(json_path)[0]
    png_path, md_path = stem + ".png", stem + ".md"
    plot(results, png_path)
    with open(md_path, "w") as f:
        f.write(f"### Benchmarks: {results['name']}\n\n"
                + markdown(results, png_link=os.path.basename(png_path)))
    written = [md_path, png_path]
    if readme:
        link = os.path.relpath(png_path, os.path.dirname(os.path.abspath(readme)))
        section = GPU_SECTION if on_accelerator(results) else CPU_SECTION
        write_readme(readme, markdown(results, png_link=link), section)
        written.append(readme)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json_path")
    parser.add_argument("--readme", help="README whose bench-table section is rewritten")
    args = parser.parse_args(argv)
    for path in write_all(args.json_path, readme=args.readme):
        print(f"bench: wrote {path}")


if __name__ == "__main__":
    main()
