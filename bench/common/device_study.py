"""The command line and result files of the studies that time JAX kernels on one device.

``--quick`` (tiny sizes, the ``"quick"`` budget) or a full run, ``--out FOLDER``; the rows go
to ``<platform>[-quick].json`` and ``.md`` in that folder, with the device, the versions and
the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence

import jax
import optax

from bench.common import machine
from bench.common.timing import BUDGETS
from bench.suite.cases import SIZES

MODES = ("forward", "forward+backward")
"""The passes a single-device study times, as its rows name them."""
FULL_SHAPES = SIZES["full"]["softmax"]
"""``[batch, classes]`` of a full cross-entropy study: the suite's softmax sizes."""
QUICK_SHAPES = ((64, 100),)
"""``[batch, classes]`` of its ``--quick`` run: one small shape, enough to exercise every row."""


def write_device_rows(out_dir: str, quick: bool, rows: list[dict],
                      markdown: Callable[[list[dict], str], str]) -> str:
    """Write a single-device JAX benchmark's rows as ``<platform>[-quick].json`` and ``.md`` in
    ``out_dir`` (the device, the versions and the load average with them); print the table.
    Returns the markdown."""
    device = jax.devices()[0]
    where = machine.jax_device_label(device)
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, device.platform + ("-quick" if quick else ""))
    record = {"device": where, "python": platform.python_version(), "jax": jax.__version__,
              "optax": optax.__version__, "load_average_1min_at_end": os.getloadavg()[0],
              "rows": rows}
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    table = markdown(rows, where)
    with open(stem + ".md", "w") as f:
        f.write(table)
    print(table)
    return table


def device_benchmark_main(argv: Sequence[str] | None, *, package: str, run: Callable,
                          markdown: Callable[[list[dict], str], str], cases: dict | None = None,
                          quick_help: str = "tiny sizes, a few repeats") -> None:
    """The command line of the single-device study ``package`` (``python -m PACKAGE``, its
    docstring's first line as the description): ``--quick`` (the ``"quick"`` cases and
    budget, else ``"full"``) and ``--out`` (default ``bench/results/<study>/``);
    ``run(cases[size], budget)`` gives the rows, written by :func:`write_device_rows`.
    ``cases`` defaults to :data:`QUICK_SHAPES` and :data:`FULL_SHAPES`."""
    if cases is None:
        cases = {"quick": QUICK_SHAPES, "full": FULL_SHAPES}
    parser = argparse.ArgumentParser(prog=f"python -m {package}",
                                     description=sys.modules[package].__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=os.path.join("bench", "results", package.split(".")[-1]),
                        help="output folder")
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    rows = run(cases[size], BUDGETS[size])
    write_device_rows(args.out, args.quick, rows, markdown)
