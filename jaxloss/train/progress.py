"""Keras-style progress output for ``fit``/``evaluate``/``predict``.

``verbose=1`` draws ``25/25 ━━━━━━━━━━━━━━━━━━━━ 1s 2ms/step - loss: 0.6932 - ...``
(the part of the bar still to run is drawn ``─``, and the time is the estimated
time left until the last step, then the elapsed time);
on a terminal the bar is redrawn in place (at most every 0.05 s), elsewhere
(logs, pipes, captured output) only the final line of each epoch is written.
``verbose=2`` writes one line per epoch, ``25/25 - 1s - 2ms/step - loss: ...``.
The step time excludes the first step, which includes compilation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

BAR_WIDTH = 20
REFRESH_SECONDS = 0.05


def check_verbose(verbose: int | str) -> int:
    """``verbose`` as 0, 1 or 2 (``"auto"`` is 1), or ``ValueError``."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return int(verbose)


def format_value(value: float) -> str:
    """Four decimals, or scientific notation for magnitudes at or below 1e-3 (as Keras)."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_logs(logs: Mapping[str, float]) -> str:
    """`` - name: value`` for each entry, in order."""
    return "".join(f" - {name}: {format_value(value)}" for name, value in logs.items())


def format_step_time(seconds: float) -> str:
    """``2ms/step``-style time per step."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgressBar:
    """One bar for ``target`` steps; call :meth:`update` after each step."""

    def __init__(self, target: int, verbose: int = 1, stream: TextIO | None = None):
        self.target = target
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.dynamic = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._after_first_step: float | None = None
        self._last_draw = 0.0
        self._drawn_width = 0

    def wants_update(self, current: int) -> bool:
        """Whether :meth:`update` would draw now (so the caller can skip fetching logs)."""
        if self.verbose != 1 or not self.dynamic:
            return False
        return current >= self.target or time.perf_counter() - self._last_draw >= REFRESH_SECONDS

    def step_done(self, current: int) -> None:
        """Record the time after the first step (compilation) to exclude it from ms/step."""
        if current == 1 and self._after_first_step is None:
            self._after_first_step = time.perf_counter()

    def _seconds_per_step(self, current: int) -> float:
        now = time.perf_counter()
        if self._after_first_step is not None and current > 1:
            return (now - self._after_first_step) / (current - 1)
        return (now - self._start) / max(current, 1)

    def line(self, current: int, logs: Mapping[str, float], final: bool) -> str:
        """The text of the bar for ``current`` steps done."""
        elapsed = time.perf_counter() - self._start
        per_step = self._seconds_per_step(current)
        count = f"{current:>{len(str(self.target))}d}/{self.target}"
        if self.verbose == 2:
            return f"{count} - {elapsed:.0f}s - {format_step_time(per_step)}{format_logs(logs)}"
        filled = int(BAR_WIDTH * current / max(self.target, 1))
        bar = "━" * filled + "─" * (BAR_WIDTH - filled)
        if final:
            timing = f"{elapsed:.0f}s"
        else:
            timing = f"{per_step * (self.target - current):.0f}s"
        return f"{count} {bar} {timing} {format_step_time(per_step)}{format_logs(logs)}"

    def update(self, current: int, logs: Mapping[str, float], final: bool = False) -> None:
        """Draw the bar (live on a terminal) or, when ``final``, write the epoch's last line."""
        if self.verbose == 0 or (not final and not self.wants_update(current)):
            return
        if self.verbose == 2 and not final:
            return
        text = self.line(current, logs, final)
        if self.dynamic and self.verbose == 1:
            padding = " " * max(self._drawn_width - len(text), 0)
            self.stream.write("\r" + text + padding + ("\n" if final else ""))
            self._drawn_width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = time.perf_counter()
