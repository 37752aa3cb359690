"""Execute the notebooks and store them with their outputs: ``python -m notebooks.build``.

Each notebook's reviewed source is a jupytext percent file ``notebooks/NN_name.py``.
This command converts it to a notebook, executes it top to bottom in a fresh
kernel running *this* Python interpreter (with the repository on ``PYTHONPATH``,
so an uninstalled checkout works), and writes ``notebooks/NN_name.ipynb`` with
its outputs. ``make notebooks`` runs it.

  python -m notebooks.build                 # all notebooks, full mode, rewrite the .ipynb files
  python -m notebooks.build 02 04           # only the notebooks whose names start so
  python -m notebooks.build --fast          # fast mode (small sizes) into build/notebooks-fast/

Fast mode sets ``JAXLOSS_NOTEBOOK_FAST=1`` in the kernel; every notebook reads it
and shrinks its sizes and epochs. Fast-mode notebooks are never written over the
stored ones (the tests require the stored notebooks to come from a full run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
FAST_ENV = "JAXLOSS_NOTEBOOK_FAST"
KERNEL_NAME = "jaxloss-notebooks"
FAST_OUTPUT_DIR = REPO_ROOT / "build" / "notebooks-fast"

# The first code cell of every notebook, verbatim (the tests check it): on Colab,
# install jaxloss from its GitHub repository, the address in pyproject.toml's project URLs.
COLAB_INSTALL_CELL = """\
import sys

if "google.colab" in sys.modules:  # on Colab: install jaxloss from GitHub
    %pip install -q "jaxloss[notebooks] @ git+https://github.com/jaxloss/jaxloss.git\""""


def sources() -> list[Path]:
    """The notebooks' jupytext sources, ``notebooks/NN_name.py``, in order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def read_source(path: Path):
    """Read a jupytext percent file as an ``nbformat`` notebook (no outputs)."""
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def code_sources(notebook) -> list[str]:
    """The source of each code cell, trailing whitespace stripped: what must stay in sync."""
    return [cell.source.rstrip() for cell in notebook.cells if cell.cell_type == "code"]


@contextlib.contextmanager
def kernel_manager(*, fast: bool, matplotlib_backend: str | None = None) -> Iterator[object]:
    """A kernel manager whose kernel runs ``sys.executable`` with the repository importable.

    The kernelspec lives in a temporary directory, so nothing is installed in the
    user's Jupyter configuration and the kernel is always this interpreter (not
    whatever ``python3`` kernel a Jupyter installation registered).
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    python_path = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {"PYTHONPATH": python_path, FAST_ENV: "1" if fast else "0"}
    if matplotlib_backend is not None:
        env["MPLBACKEND"] = matplotlib_backend
    with tempfile.TemporaryDirectory(prefix="jaxloss-kernels-") as kernels_root:
        spec_dir = Path(kernels_root) / KERNEL_NAME
        spec_dir.mkdir()
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
            "env": env,
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        spec_manager = KernelSpecManager(kernel_dirs=[kernels_root])
        yield KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=spec_manager)


def execute(
    notebook,
    *,
    fast: bool,
    timeout: int = 900,
    matplotlib_backend: str | None = None,
):
    """Execute ``notebook`` in place, in ``notebooks/`` as working directory; return it.

    Raises ``nbclient.exceptions.CellExecutionError`` at the first cell that fails.
    """
    from nbclient import NotebookClient

    with kernel_manager(fast=fast, matplotlib_backend=matplotlib_backend) as manager:
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=timeout,
            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        )
        client.execute()
    # The stored kernelspec is the generic one Colab and Jupyter understand, not our temporary one.
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    notebook.metadata["jaxloss"] = {"fast_mode": fast}
    return notebook


def figure_problems() -> list[str]:
    """Check every open matplotlib figure: a title, axis labels and a legend on each plot.

    Run inside the kernel (the tests append a cell calling it; under the Agg backend
    figures stay open). A plot is an axes that draws data; colorbars are skipped. An
    axes showing an image (a confusion matrix, a heat map) needs no legend: its
    colorbar or cell labels are its key. A title may be the axes' or the figure's.
    """
    import matplotlib.pyplot as plt

    problems = []
    for number in plt.get_fignums():
        figure = plt.figure(number)
        suptitle = figure._suptitle.get_text() if figure._suptitle is not None else ""
        for index, axes in enumerate(figure.axes):
            if hasattr(axes, "_colorbar") or not axes.has_data():
                continue
            where = f"figure {number} axes {index} ({axes.get_title() or suptitle!r})"
            if not (axes.get_title() or suptitle):
                problems.append(f"{where}: no title")
            if not axes.get_xlabel():
                problems.append(f"{where}: no x-axis label")
            if not axes.get_ylabel():
                problems.append(f"{where}: no y-axis label")
            if not axes.images and axes.get_legend() is None and figure.legends == []:
                problems.append(f"{where}: no legend")
    return problems


def build(path: Path, *, fast: bool, output_dir: Path) -> Path:
    """Convert ``path`` to a notebook, execute it and write ``output_dir/<name>.ipynb``."""
    import nbformat

    notebook = execute(read_source(path), fast=fast)
    notebook.metadata.pop("jupytext", None)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / path.with_suffix(".ipynb").name
    temporary = target.with_suffix(".ipynb.tmp")
    nbformat.write(notebook, temporary)
    os.replace(temporary, target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notebooks.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--fast", action="store_true", help=f"fast mode ({FAST_ENV}=1)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        help=f"where to write the .ipynb files (default: notebooks/, or {FAST_OUTPUT_DIR} with --fast)",
    )
    args = parser.parse_args(argv)
    output_dir = args.output_dir or (FAST_OUTPUT_DIR if args.fast else NOTEBOOK_DIR)
    if args.fast and output_dir.resolve() == NOTEBOOK_DIR:
        parser.error("fast-mode notebooks must not replace the stored (full-mode) notebooks")
    selected = [p for p in sources() if not args.names or p.name.startswith(tuple(args.names))]
    if not selected:
        parser.error(f"no notebook matches {args.names}; have {[p.name for p in sources()]}")
    for path in selected:
        start = time.perf_counter()
        target = build(path, fast=args.fast, output_dir=output_dir)
        print(f"{path.name} -> {target} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
