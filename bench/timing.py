"""The measurement loop shared by every framework: warm-up apart, peers interleaved, medians."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class Entry:
    """One peer's prepared kernel for one case and mode.

    ``call`` runs the computation once and returns only when its results are ready
    (``block_until_ready`` or the framework's equivalent). ``loss`` returns the loss value as a
    Python float (for the cross-check between peers). ``compile_s`` is the time spent compiling
    or tracing before the first call (None for eager execution); ``temp_bytes`` the compiled
    temporary memory (JAX only).
    """

    call: Callable[[], object]
    loss: Callable[[], float]
    compile_s: float | None = None
    temp_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many times to repeat.

    At least ``min_repeats`` and then until ``seconds`` have passed, at most ``max_repeats``;
    but when one round of the peers is so slow that ``min_repeats`` rounds would pass
    ``cap_seconds``, only ``floor_repeats`` (a peer whose call takes seconds, such as Keras's
    softmax focal loss at [4096, 32000], would otherwise take minutes). The second warm-up
    round is skipped in that case too.
    """

    warmup: int
    min_repeats: int
    max_repeats: int
    seconds: float
    floor_repeats: int = 3
    cap_seconds: float = 10.0


BUDGETS = {
    "full": Budget(warmup=2, min_repeats=5, max_repeats=31, seconds=2.0),
    "quick": Budget(warmup=1, min_repeats=3, max_repeats=3, seconds=0.0),
}


def measure(entries: dict[str, Entry], budget: Budget) -> dict[str, dict]:
    """Time every entry; the peers take turns within each repeat so that a slow phase of a
    shared machine hits all of them alike. Returns per peer the median and spread in ms."""
    for warmup in range(budget.warmup):
        begin = time.perf_counter()
        for entry in entries.values():
            entry.call()
        if (time.perf_counter() - begin) * budget.min_repeats > budget.cap_seconds:
            break
    samples: dict[str, list[float]] = {name: [] for name in entries}
    start = time.perf_counter()
    for repeat in range(budget.max_repeats):
        elapsed = time.perf_counter() - start
        if repeat >= budget.min_repeats and elapsed > budget.seconds:
            break
        if repeat >= budget.floor_repeats and elapsed > budget.cap_seconds:
            break
        for name, entry in entries.items():
            begin = time.perf_counter()
            entry.call()
            samples[name].append(time.perf_counter() - begin)
    return {name: summarize(times) for name, times in samples.items()}


def summarize(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "min_ms": float(ms.min()),
        "p25_ms": float(np.percentile(ms, 25)),
        "p75_ms": float(np.percentile(ms, 75)),
        "repeats": int(ms.size),
    }


def timed(function: Callable[[], object]) -> tuple[object, float]:
    """Run ``function`` once; return its result and the seconds it took."""
    begin = time.perf_counter()
    result = function()
    return result, time.perf_counter() - begin


def write_device_rows(out_dir: str, quick: bool, rows: list[dict],
                      markdown: Callable[[list[dict], str], str]) -> str:
    """Write a single-device JAX benchmark's rows as ``<platform>[-quick].json`` and ``.md`` in
    ``out_dir`` (the device, the versions and the load average with them); print the table.
    Returns the markdown."""
    import jax
    import optax

    from bench import machine

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


def device_benchmark_main(argv, description: str, default_out: str, run: Callable,
                          shapes: dict, markdown: Callable[[list[dict], str], str]) -> None:
    """The command line shared by the single-device benchmarks: ``--quick`` (the ``"quick"``
    shapes and budget, else ``"full"``) and ``--out``; rows written by
    :func:`write_device_rows`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few repeats")
    parser.add_argument("--out", default=default_out, help="output folder")
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    rows = run(shapes[size], BUDGETS[size])
    write_device_rows(args.out, args.quick, rows, markdown)
