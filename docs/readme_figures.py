"""The README's benchmark summary, computed from the JSON files in ``bench/results/``.

The README holds the lines between ``<!-- readme-benchmarks:begin -->`` and
``<!-- readme-benchmarks:end -->``; ``tests/test_readme.py`` checks that they equal
:func:`benchmark_lines`. After a new run, rewrite them from the repository root with
``PYTHONPATH=. python docs/readme_figures.py README.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bench_summaries

from bench.common.markdown import shape_text
from bench.suite import cases as cases_lib

BEGIN, END = "<!-- readme-benchmarks:begin -->", "<!-- readme-benchmarks:end -->"
CPU_RUN, GPU_RUN = "cpu-amd-epyc-2-cores.json", "gpu-nvidia-h200.json"
FUSED_RUN = "fused_linear_cross_entropy/fused_linear_cross_entropy.json"
TOKAMAX_RUN = "fused_linear_cross_entropy/tokamax-cpu-amd-epyc-2-cores-20261208-f64416b.json"
CONTRASTIVE_RUN = "contrastive/cpu-amd-epyc-2-cores-20261207-1421c19.json"
MIB = 2**20


def _ratios(results: dict, peer: str, families=None, exclude=()) -> dict[str, float]:
    """{case: the peer's median time / jaxloss's}, forward+backward, for the chosen families."""
    allocator = bench_summaries.summary_allocator(results)
    return {case: value for value, case in
            bench_summaries._speedups(results, allocator, "forward_backward", peer)
            if (families is None or case.split(" ")[0] in families)
            and case.split(" ")[0] not in exclude}


def _one(ratios: dict[str, float], family: str) -> str:
    (value,) = [v for case, v in ratios.items() if case.split(" ")[0] == family]
    return f"{value:.2f}×"


def _span(ratios: dict[str, float]) -> str:
    return bench_summaries._span(ratios.values())


def _run_facts(results: dict, path: str) -> str:
    facts = results["machine"]
    label = facts.get("accelerator") or f"{facts['cpu_model']}, {facts['cores']} cores"
    allocator = bench_summaries.summary_allocator(results)
    extra = ", mimalloc" if allocator == "mimalloc" else ""
    return (f"{label}, {results['started'][:10]}, commit {results['git_commit']}, "
            f"`python -m bench.suite`{extra}, `bench/results/{path}`")


def benchmark_lines(results_dir: Path) -> list[str]:
    """The README's benchmark bullets: speed-ups over the peers on the CPU and the GPU, and
    the fused and chunked losses' compiled temporaries against the explicit forms'."""
    cpu = json.loads((results_dir / CPU_RUN).read_text())
    gpu = json.loads((results_dir / GPU_RUN).read_text())
    cpu_optax = _ratios(cpu, "optax")
    liger_shape = shape_text(tuple(cases_lib.LIGER_CASE_SHAPE))
    gpu_optax = _ratios(gpu, "optax")
    sparse_liger = gpu_optax[f"sparse_softmax_cross_entropy {liger_shape}"]
    liger = _ratios(gpu, "liger_kernel")[f"sparse_softmax_cross_entropy {liger_shape}"]
    fused = next(row for row in json.loads((results_dir / FUSED_RUN).read_text())["rows"]
                 if "median_cpu_s" in row["fused"])
    tokamax = json.loads((results_dir / TOKAMAX_RUN).read_text())
    contrastive = json.loads((results_dir / CONTRASTIVE_RUN).read_text())
    largest = max(contrastive["rows"], key=lambda row: row["batch"])
    shape = " × ".join(str(fused[key]) for key in ("num_tokens", "hidden_dim", "vocab_size"))
    liger_text = liger_shape.replace("×", " × ")
    return [
        f"- **CPU** ({_run_facts(cpu, CPU_RUN)}): against optax, sigmoid focal "
        f"{_one(cpu_optax, 'sigmoid_focal_loss')}, sigmoid binary cross-entropy "
        f"{_one(cpu_optax, 'sigmoid_binary_cross_entropy')}, Huber "
        f"{_one(cpu_optax, 'huber_loss')}, dense softmax cross-entropy "
        f"{_span(_ratios(cpu, 'optax', ('softmax_cross_entropy',)))}, sparse "
        f"{_span(_ratios(cpu, 'optax', ('sparse_softmax_cross_entropy',)))}; against PyTorch "
        f"{_span(_ratios(cpu, 'torch'))}.",
        f"- **GPU** ({_run_facts(gpu, GPU_RUN)}): against optax "
        f"{_span(_ratios(gpu, 'optax', exclude=('sigmoid_focal_loss',)))} (sparse "
        f"cross-entropy {sparse_liger:.2f}× at {liger_text}), sigmoid focal "
        f"{_one(gpu_optax, 'sigmoid_focal_loss')}; against PyTorch "
        f"{_span(_ratios(gpu, 'torch'))}; against Liger-Kernel's fused Triton cross-entropy "
        f"{liger:.2f}× at {liger_text}.",
        _fused_speed_line(tokamax),
        f"- **Memory:** the fused linear cross-entropy's compiled temporaries are "
        f"{100 * fused['temp_ratio']:.1f}% of explicit logits' at {shape} "
        f"({fused['fused']['temp_bytes'] / MIB:.0f} MiB against "
        f"{fused['unfused']['temp_bytes'] / MIB:.0f} MiB, `bench/results/{FUSED_RUN}`); the "
        f"chunked contrastive loss's {100 * largest['temp_ratio']:.1f}% of the explicit loss's "
        f"at B = {largest['batch']}, D = {largest['features']} "
        f"({largest['chunked']['temp_bytes'] / MIB:.0f} MiB against "
        f"{largest['explicit']['temp_bytes'] / MIB:.0f} MiB) at {largest['wall_ratio']:.2f}× "
        f"its time (`bench/results/{CONTRASTIVE_RUN}`).",
    ]


def _fused_speed_line(tokamax: dict) -> str:
    """The fused loss's CPU time against explicit logits and tokamax, at each shape."""
    facts = tokamax["provenance"]
    shapes = "; ".join(
        f"{row['tokens']} × {row['hidden']} × {row['vocab']}: "
        f"{row['fused']['cpu_over_explicit']:.2f}× (tokamax "
        f"{row['tokamax']['cpu_over_explicit']:.2f}×)"
        for row in tokamax["rows"])
    return (f"- **Fused linear cross-entropy, CPU** ({facts['machine']['cpu_model']}, "
            f"{facts['machine']['cores']} cores, {facts['date'][:10]}, commit "
            f"{facts['commit']}, `{facts['command']}`, `bench/results/{TOKAMAX_RUN}`): "
            f"CPU time over explicit logits' at {shapes}.")


def section(readme: str) -> str:
    """The README's text between the markers."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[start:end].strip("\n")


def rewrite(readme: str, results_dir: Path) -> str:
    """``readme`` with the text between the markers replaced by :func:`benchmark_lines`."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + "\n".join(benchmark_lines(results_dir)) + "\n" + readme[end:]


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    results = Path(__file__).resolve().parents[1] / "bench" / "results"
    path.write_text(rewrite(path.read_text(), results))
