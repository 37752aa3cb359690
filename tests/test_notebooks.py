"""The notebooks: each runs without error in fast mode, and the stored .ipynb matches its source.

Execution uses a kernel on this interpreter (``notebooks.build.kernel_manager``) with
matplotlib's Agg backend and ``JAXLOSS_NOTEBOOK_FAST=1``; nothing is written to disk.
"""

import re
from pathlib import Path

import nbformat
import pytest

from notebooks import build

SOURCES = build.sources()
IDS = [path.stem for path in SOURCES]
README = build.REPO_ROOT / "README.md"
# Notebooks whose figures exist only when their input does (bench/ results are not in a fresh clone).
FIGURES_NEED_INPUT = {"06_benchmarks"}

# A number typed into prose: digits with a decimal point (0.93), a percentage (93%) or a
# power of ten (1e-7). Results belong in code output; integers (epochs, Figure 1) are fine, and
# so are inline code spans (`alpha=0.25` is an argument the code passes, not a result).
TYPED_NUMBER = re.compile(r"(?<![\w.])\d+\.\d+|\d+(\.\d+)?\s*%|\b\d+e-?\d+\b")
INLINE_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)  # fenced blocks, then spans


def typed_numbers(markdown: str) -> list[str]:
    return [match.group(0) for match in TYPED_NUMBER.finditer(INLINE_CODE.sub("", markdown))]


CHECK_FIGURES_CELL = """\
import resource as _resource
from notebooks.build import figure_problems
_problems = figure_problems()
assert not _problems, "figures without title, axis labels or legend:\\n" + "\\n".join(_problems)
_usage = _resource.getrusage(_resource.RUSAGE_SELF)
print(f"kernel CPU seconds: {_usage.ru_utime + _usage.ru_stime:.1f}")
"""


def test_there_are_notebooks():
    assert len(SOURCES) >= 1, f"no notebooks/NN_name.py in {build.NOTEBOOK_DIR}"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_runs_in_fast_mode(source, record_property):
    notebook = build.read_source(source)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK_FIGURES_CELL))
    executed = build.execute(notebook, fast=True, timeout=300, matplotlib_backend="Agg")
    errors = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    # The kernel's CPU time (all threads): the budget is 180 s for all notebooks on one core.
    printed = "".join(
        o.get("text", "") for o in executed.cells[-1].outputs if o.get("name") == "stdout"
    )
    record_property("kernel_cpu_seconds", float(printed.rsplit("kernel CPU seconds:", 1)[-1]))


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_stored_notebook_matches_source_and_has_outputs(source):
    stored_path = source.with_suffix(".ipynb")
    assert stored_path.is_file(), f"{stored_path.name} missing: run `make notebooks`"
    stored = nbformat.read(stored_path, as_version=4)
    assert build.code_sources(stored) == build.code_sources(build.read_source(source)), (
        f"{stored_path.name} is out of sync with {source.name}: run `make notebooks`"
    )
    assert stored.metadata.get("jaxloss", {}).get("fast_mode") is False, (
        f"{stored_path.name} was not built in full mode"
    )
    code_cells = [cell for cell in stored.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)
    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any(output.output_type in ("stream", "execute_result") for output in outputs)
    if "plt." in source.read_text() and source.stem not in FIGURES_NEED_INPUT:
        assert any("image/png" in output.get("data", {}) for output in outputs), (
            f"{stored_path.name} draws figures but stores no image"
        )


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_first_code_cell_installs_jaxloss_on_colab(source):
    assert build.code_sources(build.read_source(source))[0] == build.COLAB_INSTALL_CELL


def test_colab_install_cell_installs_from_the_projects_repository():
    pyproject = (build.REPO_ROOT / "pyproject.toml").read_text()
    (source_url,) = re.findall(r'^Source = "(.+)"$', pyproject, flags=re.MULTILINE)
    assert f'"jaxloss[notebooks] @ git+{source_url}.git"' in build.COLAB_INSTALL_CELL


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_prose_has_no_typed_numbers(source):
    markdown = [c.source for c in build.read_source(source).cells if c.cell_type == "markdown"]
    typed = [number for text in markdown for number in typed_numbers(text)]
    assert typed == [], f"numbers typed into the prose of {source.name} (print them from code)"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_readme_links_notebook_in_colab(source):
    url = f"https://colab.research.google.com/github/jaxloss/jaxloss/blob/main/notebooks/{source.stem}.ipynb"
    assert url in README.read_text()


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("The loss fell to 0.93 after training.", ["0.93"]),
        ("About 93% accuracy.", ["93%"]),
        ("Clipped at 1e-7.", ["1e-7"]),
        ("Figure 1 of Lin et al. (2017), trained for 2 epochs, `jnp.float32`.", []),
        ("Focal loss with `alpha=0.25`, accuracy 0.25.", ["0.25"]),
        ("Code:\n```python\nloss = 1.5 * e\n```\nThen 0.5.", ["0.5"]),
    ],
)
def test_typed_number_pattern(cell, expected):
    assert typed_numbers(cell) == expected


def test_fast_build_never_overwrites_stored_notebooks():
    with pytest.raises(SystemExit):
        build.main(["--fast", "--output-dir", str(build.NOTEBOOK_DIR)])


def test_figure_problems_flags_unlabelled_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    _, (bare, labelled) = plt.subplots(1, 2)
    bare.plot([0, 1], [0, 1])
    labelled.plot([0, 1], [1, 0], label="line")
    labelled.set(title="t", xlabel="x", ylabel="y")
    labelled.legend()
    problems = build.figure_problems()
    plt.close("all")
    assert len(problems) == 4 and all("axes 0" in problem for problem in problems)


def test_readme_notebooks_section_precedes_errata():
    text = README.read_text()
    assert 0 <= text.index("## Notebooks") < text.index("## Errata")
    assert Path(build.NOTEBOOK_DIR / "build.py").is_file() and "make notebooks" in text
