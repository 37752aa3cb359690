"""Writes the benchmark pages from the result files in ``bench/results/``.

Each study's directory (and the suite's files at the top) becomes one page that shows,
for every run, the machine, the date and commit, the command, and the markdown table and
plot that the study wrote beside its JSON. A file with a ``"provenance"`` entry
(:mod:`bench.common.provenance`) gives all of these itself, its exact command included; where
a results file does not record its date and commit, the page gives the commit that added the
file, from git, and says so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import bench_summaries

from bench.studies.checks_overhead import measure as checks_overhead
from bench.studies.platform_forms import measure as platform_forms
from bench.studies.precise_cost import measure as precise_cost
from bench.studies.reproduce import measure as reproduce
from bench.suite import report

SUITE = "suite"
# A run's tables and plot are folded under a summary line when it has a headline (the suite,
# the MNIST step) or when its table file is longer than this many lines.
FOLD_LINES = 24
# A results table of more columns is shown as several tables (the row's names repeated in
# each), of at most VALUE_COLUMNS columns of values each.
MAX_COLUMNS = 8
VALUE_COLUMNS = 6


def _command(study: str) -> str:
    return "python -m bench.suite" if study == SUITE else f"python -m bench.studies.{study}"


def _committed(path: Path, root: Path) -> str | None:
    """``<short commit>, <date>`` of the last commit that changed ``path``, if git knows."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h, %ad", "--date=short", "--", str(path)],
            cwd=root, capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _machine(results: object) -> str | None:
    if not isinstance(results, dict):
        results = results[0] if isinstance(results, list) and results else {}
    machine = results.get("provenance", {}).get("machine") or results.get("machine") or {}
    if isinstance(machine, dict) and machine:
        parts = [machine.get("accelerator"), machine.get("cpu_model")]
        cores = machine.get("cores")
        text = ", ".join(str(p) for p in parts if p and p != "None")
        if not cores:
            return text
        return f"{text}, {cores} core{'' if cores == 1 else 's'}"
    return results.get("device")


def _run_facts(json_path: Path, root: Path, study: str) -> list[str]:
    results = json.loads(json_path.read_text())
    facts = []
    machine = _machine(results)
    if machine:
        facts.append(f"machine: {machine}")
    recorded = results.get("provenance") if isinstance(results, dict) else None
    if recorded:
        versions = ", ".join(f"{name} {version}"
                             for name, version in recorded.get("versions", {}).items())
        load = recorded.get("load_average_1min", {})
        facts.append(f"run: {recorded.get('date')} to {recorded.get('finished')}, "
                     f"commit {recorded.get('commit')}")
        if versions:
            facts.append(f"versions: {versions}")
        facts.append(f"1-min load average: {load.get('start')} at the start, "
                     f"{load.get('end')} at the end")
        facts.append(f"command: `{recorded.get('command')}`")
        return facts
    if isinstance(results, dict) and results.get("git_commit"):
        facts.append(f"run: {results.get('started')} to {results.get('finished')}, "
                     f"commit {results['git_commit']}")
    else:
        committed = _committed(json_path, root)
        if committed:
            facts.append(f"results file committed in {committed} (the file records no date)")
    facts.append(f"command: `{_command(study)}`")
    return facts


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _split_table(rows: list[str]) -> list[str]:
    """A markdown table of more than ``MAX_COLUMNS`` columns as several narrower tables.

    Each repeats the columns that name a row (the leading left-aligned columns with one-word
    headers: ``kernel``, ``shape``; ``N``, ``H``, ``V``) and an even share of the others,
    in their order, so that each fits the page instead of scrolling sideways.
    """
    header, align, *body = [_cells(row) for row in rows]
    if len(header) <= MAX_COLUMNS:
        return rows
    keys = 0
    while (keys < min(3, len(header) - 1) and not align[keys].endswith(":")
           and len(header[keys].split()) == 1):
        keys += 1
    rest = list(range(keys, len(header)))
    parts = -(-len(rest) // VALUE_COLUMNS)
    size = -(-len(rest) // parts)
    out = []
    for start in range(0, len(rest), size):
        columns = list(range(keys)) + rest[start:start + size]
        if out:
            out.append("")
        for row in (header, align, *body):
            out.append("| " + " | ".join(row[c] for c in columns) + " |")
    return out


def _split_wide_tables(lines: list[str]) -> list[str]:
    out, table = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out += _split_table(table)
            table = []
        out.append(line)
    return out[:-1]


def _table_lines(json_path: Path, page_dir: Path) -> list[str]:
    """The markdown table that the study wrote beside its JSON, and its plot."""
    lines = []
    table = json_path.with_suffix(".md")
    if table.exists():
        text = table.read_text().splitlines()
        levels = [len(line) - len(line.lstrip("#")) for line in text if line.startswith("#")]
        # The table file's top heading goes one level under this run's heading.
        offset = max(0, 3 - min(levels)) if levels else 0
        text = ["#" * offset + line if line.startswith("#") else line for line in text]
        # In smaller type (docs/_static/jaxloss.css), so that a table of many columns fits.
        lines += ["````{container} wide-table", *_split_wide_tables(text), "````", ""]
    plot = json_path.with_suffix(".png")
    if plot.exists():
        target = page_dir / plot.name
        if not target.exists() or target.read_bytes() != plot.read_bytes():
            target.write_bytes(plot.read_bytes())
        lines += [f"![{json_path.stem}]({plot.name})", ""]
    return lines


def _headline(study: str, results: object) -> list[str]:
    """The summary a run's section leads with, where the study has one."""
    if study == SUITE:
        return bench_summaries.suite_headline(results)
    if study == "mnist_step":
        return [bench_summaries.mnist_step_facts(results) + ".", "",
                *bench_summaries.mnist_step_headline(results)]
    return []


def _full_results(json_path: Path, study: str, results: object, page_dir: Path) -> list[str]:
    lines = _table_lines(json_path, page_dir)
    if not lines and study == "mnist_step":
        lines = [*bench_summaries.mnist_step_table(results), ""]
    return lines


def _section(json_path: Path, root: Path, study: str, page_dir: Path) -> list[str]:
    results = json.loads(json_path.read_text())
    lines = [f"## {json_path.stem}", ""]
    lines += [f"- {fact}" for fact in _run_facts(json_path, root, study)]
    lines.append("")
    headline = _headline(study, results)
    if headline:
        lines += [*headline, ""]
    full = _full_results(json_path, study, results, page_dir)
    if full and (headline or len(full) > FOLD_LINES):
        lines += [f"`````{{details}} Full results of {json_path.stem}", *full, "`````", ""]
    else:
        lines += full
    return lines


def write_summaries(root: Path, out_dir: Path) -> None:
    """The summaries that the performance and MNIST guides include, into ``out_dir``:
    ``suite_summary.md`` (every suite run: its facts and headline speed-ups),
    ``mnist_step_summary.md`` (one row per run of the MNIST step study),
    ``suite_tables_<run>.md`` (a suite run's full tables) and ``<study>_<platform>.md`` (the
    tables of the ``precise_cost``, ``platform_forms`` and ``checks_overhead`` studies,
    ``reproduce_training.md``: the training guide's table)."""
    results_dir = root / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = []
    for json_path in sorted(results_dir.glob("*.json")):
        results = json.loads(json_path.read_text())
        suite += [f"**{json_path.stem}**", ""]
        suite += [f"- {fact}" for fact in _run_facts(json_path, root, SUITE)]
        suite += ["", *bench_summaries.suite_headline(results), ""]
    # In smaller type (docs/_static/jaxloss.css), so that the table fits the page.
    mnist = [
        "````{container} wide-table",
        "| run | machine | file committed in (the files record no date) | 1-min load "
        "| jaxloss.nn `jax.jit` × tf.keras `train_on_batch` (wall time), per allocator |",
        "|---|---|---|---|---|",
    ]
    for json_path in sorted((results_dir / "mnist_step").glob("*.json")):
        children = json.loads(json_path.read_text())
        low, high = (f"{f(child['load_average_1min'] for child in children):.1f}"
                     for f in (min, max))
        ratios = ", ".join(f"{child['allocator']} "
                           f"{child['peers']['jaxloss.nn+jax.jit']['ratio_to_keras']:.2f}×"
                           for child in children)
        mnist.append(f"| {json_path.stem} | {_machine(children)} "
                     f"| {_committed(json_path, root) or '—'} "
                     f"| {low if low == high else f'{low} to {high}'} | {ratios} |")
    mnist.append("````")
    pages = {"suite_summary.md": suite, "mnist_step_summary.md": mnist}
    # Each suite run's full tables as bench.suite.report writes them, the wide ones split as on
    # the benchmark pages; the plot's link is relative to the guides that include them.
    for json_path in sorted(results_dir.glob("*.json")):
        link = f"../../bench/results/{json_path.with_suffix('.png').name}"
        text = report.markdown(report.load(str(json_path)), png_link=link)
        pages[f"suite_tables_{json_path.stem}.md"] = _split_wide_tables(text.splitlines())
    # The MNIST guide's tables: every peer of the runs under load, the allocator settings.
    for stem in ("cpu-amd-epyc-2-cores", "cpu-amd-epyc-1-core"):
        children = json.loads((results_dir / "mnist_step" / f"{stem}.json").read_text())
        pages[f"mnist_step_{stem}.md"] = bench_summaries.mnist_step_table(children)
    children = json.loads(
        (results_dir / "mnist_step" / "cpu-amd-epyc-2-cores-tunables.json").read_text())
    pages["mnist_step_allocators.md"] = bench_summaries.mnist_allocator_table(children)
    # The kernels guide's comparison with optax.
    pages["suite_optax_speedups.md"] = bench_summaries.optax_speedup_table(
        json.loads((results_dir / "cpu-amd-epyc-2-cores.json").read_text()),
        ("sparse_softmax_cross_entropy", "softmax_cross_entropy", "sigmoid_binary_cross_entropy"))
    # The large-vocabulary guide's tables.
    fused = results_dir / "fused_linear_cross_entropy"
    pages["fused_chunk_rule.md"] = bench_summaries.chunk_rule_table(
        json.loads(next(fused.glob("chunk-rule-*.json")).read_text()))
    pages["fused_forward_chunk_rule.md"] = bench_summaries.chunk_rule_table(
        json.loads(next(fused.glob("forward-chunk-rule-*.json")).read_text()))
    pages["fused_schedules.md"] = bench_summaries.schedules_table(
        [json.loads(path.read_text()) for path in sorted(fused.glob("cpu-schedules-*.json"))])
    pages["fused_cpu.md"] = bench_summaries.fused_cpu_table(
        json.loads((fused / "fused_linear_cross_entropy.json").read_text()))
    pages["fused_gpu.md"] = bench_summaries.fused_gpu_table(
        {dtype: json.loads((fused / f"gpu-h200-{dtype}.json").read_text())
         for dtype in ("float32", "bfloat16")},
        {dtype: json.loads((fused / f"gpu-h200-liger-{dtype}.json").read_text())
         for dtype in ("float32", "bfloat16")})
    for platform in ("cpu", "gpu"):
        for study, markdown in (("precise_cost", precise_cost.markdown),
                                ("platform_forms", platform_forms.markdown),
                                ("checks_overhead", checks_overhead.markdown)):
            path = results_dir / study / f"{platform}.json"
            if path.exists():
                results = json.loads(path.read_text())
                pages[f"{study}_{platform}.md"] = [markdown(results["rows"], results["device"])]
    # The training guide's table: the newest run of the document's training reproductions.
    pages["reproduce_training.md"] = reproduce.table_lines(
        bench_summaries.newest_reproduce_run(results_dir)[1]["rows"])
    for name, lines in pages.items():
        text = "\n".join(lines).rstrip("\n") + "\n"
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def write_pages(root: Path, out_dir: Path) -> list[str]:
    """One page per study with results, and their index, into ``out_dir``."""
    results_dir = root / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    studies = {SUITE: sorted(results_dir.glob("*.json"))}
    for directory in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        studies[directory.name] = sorted(directory.glob("*.json"))
    stems = []
    for study, files in studies.items():
        if not files:
            continue
        title = "The suite: every kernel against its peers" if study == SUITE else study.replace("_", " ")
        lines = [f"# {title}", ""]
        for json_path in files:
            lines += _section(json_path, root, study, out_dir)
        text = "\n".join(lines)
        path = out_dir / f"{study}.md"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        stems.append(study)
    index = (
        "# Benchmarks\n\nGenerated from the result files in `bench/results/`: each run names its "
        "machine, its date and commit, and the command that made it. Speed is always a ratio to a "
        "peer measured in the same run.\n\n```{toctree}\n:maxdepth: 1\n\n"
        + "".join(f"{stem}\n" for stem in stems) + "```\n"
    )
    path = out_dir / "index.md"
    if not path.exists() or path.read_text() != index:
        path.write_text(index)
    return stems
