"""The documentation site builds with warnings as errors, and lists every public name."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import api_pages  # noqa: E402

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    # -W: a warning (a broken cross-reference, a malformed docstring) fails the build.
    # Sphinx's basic theme instead of furo, and no copies of the sources: the pages' content
    # and the warnings are the same, and most of a furo build goes into writing the whole
    # navigation tree into each of the ~300 pages. `make docs` builds the site with furo.
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-D", "html_theme=basic", "-D", "html_copy_source=0", str(DOCS), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_every_public_name_has_an_api_page(site):
    missing = []
    for module_name, _, _ in api_pages.available_modules():
        module = importlib.import_module(module_name)
        pages, aliases = api_pages.documented_names(module)
        assert pages, module_name
        listing = (site / "api" / f"{module_name.replace('.', '_')}.html").read_text()
        for name in pages:
            # A function or class has a page of its own; a constant an entry on its module's.
            if callable(vars(module)[name]):
                found = (site / "api" / "generated" / f"{module_name}.{name}.html").exists()
            else:
                found = f'id="{module_name}.{name}"' in listing
            if not found:
                missing.append(f"{module_name}.{name}")
        missing += [f"{module_name}.{alias} (alias)" for alias in aliases if alias not in listing]
    assert not missing, missing


def test_the_kernels_and_layers_have_reference_pages():
    documented = {entry[0] for entry in api_pages.available_modules()}
    assert {"jaxloss", "jaxloss.losses", "jaxloss.train", "jaxloss.data"} <= documented


def test_a_kernel_page_shows_its_formula_and_example(site):
    html = (site / "api" / "generated" / "jaxloss.gaussian_nll_loss.html").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert r"\[\ell = \tfrac{1}{2} \Big(\log c + \frac{(p - t)^2}{c}\Big)" in text
    assert "&gt;&gt;&gt; import jax" in text


def test_every_notebook_is_rendered_with_its_outputs(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        page = (site / "notebooks" / f"{notebook.stem}.html").read_text()
        assert "cell_output" in page, notebook.name


def test_a_notebook_markdown_output_renders_its_tables(site):
    # The benchmark notebook shows its tables through IPython.display.Markdown.
    page = (site / "notebooks" / "06_benchmarks.html").read_text()
    assert re.search(r"<th[^>]*>\s*(?:<p>)?kernel(?:</p>)?\s*</th>", page)
    assert "|—|" not in re.sub(r"<[^>]+>", "", page)  # a table left as text, dashes typeset


def test_every_study_with_results_has_a_benchmark_page_naming_its_runs(site):
    results = ROOT / "bench" / "results"
    studies = [p for p in results.iterdir() if p.is_dir() and any(p.glob("*.json"))]
    assert studies
    for study in studies:
        text = re.sub(r"<[^>]+>", "", (site / "benchmarks" / f"{study.name}.html").read_text())
        assert f"python -m bench.studies.{study.name}" in text, study.name
        for run in study.glob("*.json"):
            assert run.stem in text, run


def test_the_long_benchmark_pages_lead_with_a_summary_and_fold_their_tables(site):
    for page in ("benchmarks/suite.html", "guides/performance.html", "guides/mnist_cpu_step.html"):
        html = (site / page).read_text()
        assert "<details" in html, page
        assert html.index("Summary" if "guides" in page else "speed-up over each peer") < html.index(
            "<details"), page


def test_the_suite_summary_is_computed_from_the_results_file():
    import json

    import bench_summaries

    results = json.loads((ROOT / "bench" / "results" / "cpu-amd-epyc-2-cores.json").read_text())
    allocator = bench_summaries.summary_allocator(results)
    times = {(r["family"], tuple(r["shape"]), r["peer"]): r["median_ms"]
             for run in results["runs"] for r in run["records"]
             if r.get("status") == "ok" and r["allocator"] == allocator
             and r["mode"] == "forward_backward"}
    ratios = [times[(f, s, "optax")] / times[(f, s, "jaxloss")]
              for f, s, p in times if p == "jaxloss" and (f, s, "optax") in times]
    row = next(line for line in bench_summaries.suite_headline(results)
               if line.startswith("| optax, forward+backward"))
    assert f"| {max(ratios):.2f}× (" in row and f"| {min(ratios):.2f}× (" in row


# A time (`12 ms`, `3.2 s`) or a ratio (`1.07×`; not a shape such as `4096×32000`).
TIMING = re.compile(r"\d(?:\.\d+)?\s?(?:ms|µs|s)\b|\d(?:\.\d+)?×(?!\s?\d)")
MILLISECONDS = re.compile(r"\d(?:\.\d+)?\s?(?:ms|µs)\b")


def _written_pages():
    """The docs' markdown written by hand: not the generated pages and tables."""
    generated = {"_build", "_generated", "api", "benchmarks", "notebooks"}
    return [page for page in sorted(DOCS.rglob("*.md"))
            if not generated & set(page.relative_to(DOCS).parts)]


def _outside_code(text):
    """(line number, line) of the lines outside fenced code blocks. A fence whose info is a
    `{directive}` holds markdown and is read; any other fence holds code."""
    fences = []  # (marker, is_code) of the fences open at this line, innermost last
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        in_code = any(is_code for _, is_code in fences)
        if marker and fences and stripped == fences[-1][0]:
            fences.pop()
        elif marker and not in_code:
            fences.append((marker.group(1), not stripped[len(marker.group(1)):].startswith("{")))
        elif not in_code:
            yield number, line


def test_the_guides_type_no_table_of_timings():
    # Measured tables and figures come from bench/results/ when the docs are built
    # (docs/bench_pages.py writes the tables into _generated/, which pages include;
    # docs/bench_summaries.py gives the figures as `{{ name }}` substitutions).
    pages = _written_pages()
    assert any(page.name == "performance.md" for page in pages)
    typed = [f"{page.relative_to(DOCS)}:{number}: {line[:80]}"
             for page in pages for number, line in _outside_code(page.read_text())
             if (line.lstrip().startswith("|") and TIMING.search(line))
             or MILLISECONDS.search(line)]
    assert not typed, typed


def test_the_timing_pattern_finds_typed_figures_and_not_shapes():
    assert TIMING.search("| softmax_cross_entropy | 8192×1000 | 1.31× |")
    assert TIMING.search("| jaxloss | 22.5 ms |")
    assert not TIMING.search("| sparse_softmax_cross_entropy | 4096×32000 | 4096 × 1024 |")
    assert not TIMING.search("| {{ ratio }} | 2 cores |")


def test_every_figure_a_guide_names_is_computed_from_a_results_file():
    import bench_summaries

    figures = bench_summaries.guide_substitutions(ROOT / "bench" / "results")
    named = {name for page in _written_pages()
             for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", page.read_text())}
    assert named and not named - set(figures), sorted(named - set(figures))
    assert all(figures[name].strip() for name in named)
