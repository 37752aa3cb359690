"""What `jaxloss.checks()` costs when on, and proof that it costs nothing when off.

For a few kernels, forward and forward+backward under `jax.jit` are timed with checked
mode off and on (interleaved, medians; :mod:`bench.common.timing`), and the lowered programs
are compared: with checks off the program holds no host callback::

    python -m bench.studies.checks_overhead [--quick] [--out bench/results/checks_overhead]
"""
