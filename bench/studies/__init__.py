"""Studies of single questions, each its own package and command, results in ``bench/results/``.

- :mod:`bench.studies.precise_cost`: what ``precise=True`` costs in the softmax
  cross-entropies (``python -m bench.studies.precise_cost``);
- :mod:`bench.studies.platform_forms`: the kernels' CPU forms against their accelerator forms
  (``python -m bench.studies.platform_forms``);
- :mod:`bench.studies.checks_overhead`: what checked mode costs, and that off it costs nothing
  (``python -m bench.studies.checks_overhead``);
- :mod:`bench.studies.fused_linear_cross_entropy`: the fused linear cross-entropy against
  explicit logits, tokamax, and Liger-Kernel's and Cut Cross-Entropy's on a GPU
  (``python -m bench.studies.fused_linear_cross_entropy``; all at once on one GPU:
  ``python -m bench.studies.fused_linear_cross_entropy.gpu``);
- :mod:`bench.studies.mnist_step`: one training step of the document's MNIST CNN against
  tf.keras, under each allocator (``python -m bench.studies.mnist_step``);
- :mod:`bench.studies.superset`: the kernels with an optax or PyTorch namesake against it,
  time and temporaries (``python -m bench.studies.superset``);
- :mod:`bench.studies.glibc_tunables`: page faults, time and memory of fresh XLA:CPU buffers
  under glibc settings (``python -m bench.studies.glibc_tunables``);
- :mod:`bench.studies.reproduce`: the document's training runs, its printed values next to
  jaxloss's (``python -m bench.studies.reproduce``).
"""
