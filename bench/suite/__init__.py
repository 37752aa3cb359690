"""The benchmark suite: every jaxloss kernel family against its peers, on identical inputs.

Each framework (JAX with jaxloss, optax and Keras 3; PyTorch, with Liger-Kernel on a GPU;
TensorFlow) runs in a worker process of its own under each allocator; every peer computes the
mean loss, and its gradient, of the same seeded inputs (:mod:`bench.suite.cases`), timed in
turns with warm-up and compilation apart. The report writes ``bench/results/<machine>.json``,
``.md`` and ``.png`` and the README's benchmark tables. Run from the repository root (part of
``make bench``; ``--quick`` for tiny sizes)::

    python -m bench.suite [--quick] [--allocators glibc mimalloc] [--frameworks jax torch]

- :mod:`bench.suite.run_all`: the runner (``python -m bench.suite``);
- :mod:`bench.suite.worker`: one framework under one allocator;
- :mod:`bench.suite.peers_jax`, :mod:`bench.suite.peers_torch`, :mod:`bench.suite.peers_tf`:
  each framework's kernels;
- :mod:`bench.suite.cases`: the kernel families, sizes, inputs and minimum bytes;
- :mod:`bench.suite.report`: the tables, the README section and the plot, from the JSON
  (``python -m bench.suite.report bench/results/<name>.json``).
"""
