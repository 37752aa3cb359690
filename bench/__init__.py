"""jaxloss's benchmarks: the suite against its peers, and the studies of single questions.

- :mod:`bench.suite`: every kernel family against optax, Keras 3, PyTorch, TensorFlow (and,
  on a GPU, Liger-Kernel) under each allocator; ``python -m bench.suite``.
- :mod:`bench.studies`: one package per question (``python -m bench.studies.<name>``).
- :mod:`bench.common`: the timing loop, the machine's facts and the allocators, shared by both.

Results are written to ``bench/results/``, named by machine (``make bench``,
``make bench-mnist``).
"""
