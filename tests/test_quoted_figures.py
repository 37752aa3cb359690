"""Every measured figure that a docstring (or the changelog) quotes is the one in the results
file it names.

Docstrings cannot take the docs' substitutions, so each figure is written out beside the
file it comes from, and this test recomputes it from that file. A new run that changes a
figure fails here until the docstring says the new one. A guide that quotes a notebook's
stored output is checked against that output the same way.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _rows(name):
    """The rows of a results file, named by its path under bench/results/ or a glob of it."""
    return json.loads(next(RESULTS.glob(name)).read_text())["rows"]


def _span(values):
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return f"{low}×" if low == high else f"{low} to {high}×"


def _forms(name, family, shape, mode="forward+backward"):
    (row,) = [r for r in _rows(name) if (r["family"], r["shape"], r["mode"])
              == (family, list(shape), mode)]
    return f"{row['cpu_over_accelerator']:.2f}×"


def _precise_cpu():
    return f"{_span([r['precise_over_default'] for r in _rows('precise_cost/cpu.json')])} the default's time"


def _two_pass_cpu():
    return _span([r["cpu_over_accelerator"] for r in _rows("platform_forms/cpu.json")
                  if r["family"].endswith("softmax_cross_entropy") and r["mode"] == "forward"
                  and r["shape"][-1] >= 1000])


def _row_stats_gpu():
    name, sparse = "platform_forms/gpu.json", "sparse_softmax_cross_entropy"
    return (f"took {_forms(name, sparse, (4096, 32000))} this form's time at 4096 × 32000 and "
            f"{_forms(name, sparse, (16384, 131072))} at 16384 × 131072")


def _focal_loop_gpu():
    return _forms("platform_forms/gpu.json", "softmax_focal_loss", (4096, 32000))


def _chunked_contrastive():
    row = max(_rows("contrastive/cpu-amd-epyc-2-cores-20261207-1421c19.json"),
              key=lambda r: r["batch"])
    return f"``B = {row['batch']}``, ``D = {row['features']}``", f"{100 * row['temp_ratio']:.1f}%"


def _chunk_rule():
    rows = {(r["num_tokens"], r["hidden_dim"], r["vocab_size"]): r
            for r in _rows("fused_linear_cross_entropy/chunk-rule-*.json")}
    shapes = [(8192, 1024, 8192), (8192, 1024, 16384), (4096, 4096, 32000), (262144, 64, 1024)]
    *first, last = (f"{100 * rows[shape]['temp_ratio_default']:.1f}%" for shape in shapes)
    largest = max(row["temp_ratio_default"] for row in rows.values())
    every = "every measured shape is under 10%" if largest < 0.1 else f"one is {largest:.1%}"
    return f"they are now {', '.join(first)} and {last}, and {every}"


def _gradient_filter_temporaries():
    rows = _rows("fused_linear_cross_entropy/gradient-filter-*.json")
    figures = []
    for schedule, name in (("forward", "forward"), ("recompute", "recomputing")):
        (row,) = [r for r in rows if (r["inputs"], r["schedule"]) == ("peaked", schedule)]
        off, on = (row["variants"][key]["temp_bytes"] / 2**20
                   for key in ("off", next(k for k in row["variants"] if k != "off")))
        figures.append(f"{off:.1f} to {on:.1f} MiB {name}")
    return ", ".join(figures)


# (source file, the results file it names, the quoted figures)
QUOTES = [
    ("jaxloss/_src/cross_entropy/softmax.py", "precise_cost/cpu.json", lambda: [_precise_cpu()]),
    ("jaxloss/_src/cross_entropy/sparse_softmax.py", "precise_cost/cpu.json",
     lambda: [_precise_cpu()]),
    ("jaxloss/_src/platform.py", "platform_forms/cpu.json", lambda: [_two_pass_cpu()]),
    ("jaxloss/_src/cross_entropy/__init__.py", "platform_forms/gpu.json",
     lambda: [_row_stats_gpu()]),
    ("jaxloss/_src/focal/__init__.py", "platform_forms/gpu.json",
     lambda: [f"{_focal_loop_gpu()} the time of one"]),
    ("jaxloss/_src/row_tiling.py", "platform_forms/gpu.json",
     lambda: [f"{_focal_loop_gpu()} the time"]),
    ("jaxloss/_src/contrastive/chunked.py",
     "contrastive/cpu-amd-epyc-2-cores-20261207-1421c19.json",
     lambda: list(_chunked_contrastive())),
    ("CHANGELOG.md", "fused_linear_cross_entropy/chunk-rule-*.json", lambda: [_chunk_rule()]),
    ("jaxloss/_src/fused.py", "fused_linear_cross_entropy/gradient-filter-*.json",
     lambda: [_gradient_filter_temporaries()]),
]


@pytest.mark.parametrize("source, results, figures", QUOTES, ids=[q[0] for q in QUOTES])
def test_a_quoted_figure_is_the_results_files(source, results, figures):
    text = " ".join((ROOT / source).read_text().split())
    assert f"bench/results/{results}" in text
    for figure in figures():
        assert figure in text, f"{source} should quote {figure!r} from {results}"


def _stored_output(notebook: str) -> str:
    """Every stored stream output of a notebook, as one text."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return "".join("".join(output.get("text", "")) for cell in cells
                   for output in cell.get("outputs", []))


def test_the_choosing_a_loss_guide_quotes_the_notebooks_stored_output():
    import re

    output = _stored_output("02_choosing_a_loss.ipynb")
    guide = " ".join((ROOT / "docs" / "guides" / "choosing_a_loss.md").read_text().split())
    fits = {name.strip(): values.split() for name, values in
            re.findall(r"^(squared error \(MSE\)|absolute error \(MAE\)|Huber, delta=0\.5)"
                       r"\s+([\d. ]+)$", output, flags=re.MULTILINE)}
    points, outliers = re.search(r"(\d+) training points, (\d+) of them outliers", output).groups()
    shrink = re.search(r"p_t = 0\.9 gets (\d+)x less .* p_t = 0\.968 about (\d+)x less",
                       output).groups()
    quoted = [
        f"fits a line to {points} points, {outliers} of them corrupted",
        f"RMSE of {fits['squared error (MSE)'][2]} (its intercept is pulled from 1.0 to "
        f"{fits['squared error (MSE)'][1]})",
        f"the absolute error's {fits['absolute error (MAE)'][2]} and Huber's (`delta=0.5`) "
        f"{fits['Huber, delta=0.5'][2]}",
        f"gets {shrink[0]}× less loss than under cross-entropy, and one at `p_t = 0.968` about "
        f"{shrink[1]}× less",
    ]
    for figure in quoted:
        assert figure in guide, figure
