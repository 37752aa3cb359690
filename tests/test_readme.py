"""The README's measured figures are computed from ``bench/results/``, never typed."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import readme_figures  # noqa: E402

README = ROOT / "README.md"
# A ratio (`1.07×`, `2x`), a share (`3.2%`), a time (`12 ms`, `3 s`) or a size (`68 MiB`);
# not a shape such as `16384 × 131072` or `2 processes × 2 CPU devices`.
MEASURED = re.compile(
    r"\d(?:\.\d+)?\s?(?:[×x](?![\s\d]*\d)|%|(?:ms|µs|s|MiB|GiB|MB|GB|KiB)\b)")


def test_the_benchmark_section_is_the_one_computed_from_the_results_files():
    expected = "\n".join(readme_figures.benchmark_lines(ROOT / "bench" / "results"))
    assert readme_figures.section(README.read_text()) == expected, (
        "README's benchmark section is stale: run `PYTHONPATH=. python docs/readme_figures.py "
        "README.md`")


def test_no_figure_is_typed_outside_the_computed_section():
    text = README.read_text()
    start, end = text.index(readme_figures.BEGIN), text.index(readme_figures.END)
    outside = text[:start] + text[end:]
    typed = [line for line in outside.splitlines() if MEASURED.search(line)]
    assert typed == [], typed


def test_the_measured_pattern_finds_figures_and_not_shapes():
    for figure in ("1.07× at", "3.2% of", "68 MiB", "took 12 ms", "2x faster"):
        assert MEASURED.search(figure), figure
    for shape in ("16384 × 131072", "2 processes × 2 CPU devices", "`[N, H] x [H, V]`",
                  "Python 3.11 (3.10+)", "all 22 classes"):
        assert not MEASURED.search(shape), shape
