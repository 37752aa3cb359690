"""Kernel forms chosen by the platform the code is compiled for.

Some kernels have a fastest form that differs between XLA:CPU and the accelerators, with the
same mathematics and the same results to rounding:

- the softmax cross-entropies' row statistics: XLA:CPU's vectorised row reductions make
  two passes over a row (the maximum, then the sum of exponentials) faster than one pass
  carrying two accumulators (0.17 to 0.21× its forward time at 1000 and 32000 classes on
  a 2-core AMD EPYC: ``bench/results/platform_forms/cpu.json``), while on a GPU, where the
  passes are bound by memory traffic, one pass reads the logits once instead of twice;
- the softmax focal loss: on XLA:CPU blocks of rows run in a loop so that its several
  elementwise passes stay in cache; on a GPU the loop serialises hundreds of small kernels
  (:mod:`jaxloss._src.row_tiling`).

:func:`per_platform` picks the form with :func:`jax.lax.platform_dependent`, so the choice is
made when the code is lowered for a device (not by the default backend at trace time).
"""

from __future__ import annotations

from collections.abc import Callable

from jax import lax

FORCED_FORMS: str | None = None
"""None: each platform's own form. ``"cpu"`` or ``"accelerator"``: that form everywhere, for
the tests (which check the accelerator forms on a CPU) and the benchmarks (which compare the
two on one device). Set it before tracing: the choice is not part of ``jit``'s cache key, so
call ``jax.clear_caches()`` after changing it."""


def per_platform(*args, cpu: Callable, accelerator: Callable):
    """``cpu(*args)`` when compiled for a CPU, ``accelerator(*args)`` for a GPU or TPU."""
    if FORCED_FORMS == "cpu":
        return cpu(*args)
    if FORCED_FORMS == "accelerator":
        return accelerator(*args)
    if FORCED_FORMS is not None:
        raise ValueError(f"FORCED_FORMS must be None, 'cpu' or 'accelerator', got {FORCED_FORMS!r}")
    return lax.platform_dependent(*args, cpu=cpu, default=accelerator)
