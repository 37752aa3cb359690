"""jaxloss's kernels against optax's and PyTorch's of the same name: time and temporaries.

Each case calls a jaxloss kernel through the drop-in layer that gives it its peer's name and
signature (:mod:`jaxloss.optax`, :mod:`jaxloss.torch`) and the peer itself on the same
inputs (:mod:`bench.studies.superset.inputs`, seeded NumPy). Timed is the forward+backward
step, ``jax.value_and_grad`` of the mean loss with respect to the first input, compiled by
``jax.jit``; jaxloss and optax take turns within each repeat, and the medians of the
process's CPU time (less disturbed by other work on a shared machine than the wall time, which
is recorded too) give the ratio jaxloss / peer. The compiled temporaries of both JAX steps come
from ``memory_analysis()``. PyTorch (eager, ``loss.backward()``) runs in its own interpreter,
``--torch-python``, one that has PyTorch::

    python -m bench.studies.superset [--torch-python PYTHON]
    python -m bench.studies.superset --quick   # tiny sizes, seconds

Writes ``<machine>-<date>-<commit>.json`` and ``.md`` to ``--out``, by default
``bench/results/superset/``; both record the machine, date, commit, command, versions and load
average (:mod:`bench.common.provenance`).
"""
