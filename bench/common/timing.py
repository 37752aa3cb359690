"""The measurement loop shared by every framework: warm-up apart, peers interleaved, medians."""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class Entry:
    """One peer's prepared kernel for one case and mode.

    ``call`` runs the computation once and returns only when its results are ready
    (``block_until_ready`` or the framework's equivalent). ``loss`` returns what the
    cross-check between peers compares: for the suite's peers the loss and the gradient's L1
    norm (``None`` for a forward pass), for the studies the loss as a Python float.
    ``compile_s`` is the time spent compiling or tracing before the first call (None for
    eager execution); ``temp_bytes`` the compiled temporary memory (JAX only).
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


def utc_now() -> str:
    """The current UTC time to the second, ISO 8601, as the result files record it."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
