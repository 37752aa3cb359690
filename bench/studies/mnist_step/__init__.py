"""Time one training step of the document's MNIST CNN: Flax NNX, jaxloss.nn and tf.keras.

The model (Conv32 3×3 relu, MaxPool 2×2, Conv64 3×3 relu, MaxPool 2×2, Flatten,
Dense128 relu, Dense10 softmax), Keras's sparse categorical cross-entropy on the
softmax probabilities and Adam (learning rate 1e-3, epsilon 1e-7), batch 128,
float32. One step is forward + backward + Adam update, and the loss is fetched
to the host after every step, as ``train_on_batch`` returns it. Peers:

- ``flax``: a straightforward Flax NNX CNN (``nnx.Conv``, ``nnx.max_pool``) with an
  ``@nnx.jit`` step, as in Flax's MNIST example;
- ``jaxloss.nn``: the same model on :func:`jaxloss.nn.conv2d_relu_max_pool_2x2`
  (pooling before bias and ReLU: the same values and gradients; im2col patches
  taken from the image's 2×2 phases so that one matrix product computes only the
  pooled positions, a mask backward for the maximum), same ``@nnx.jit`` step;
- ``jaxloss.nn im2col``: the previous form of that block, kept for comparison:
  :func:`jaxloss.nn.conv2d_im2col` then :func:`jaxloss.nn.max_pool_2x2`, then
  bias and ReLU, same ``@nnx.jit`` step;
- ``jaxloss.nn+jax.jit``: the same, stepped as a pure function of the split NNX
  state with ``jax.jit`` and donated buffers (no per-call graph traversal);
- ``keras.train_on_batch`` and ``keras.fit``: tf.keras (TensorFlow backend, its
  default ``jit_compile``, i.e. no XLA on CPU) on the document's model; ``fit`` runs
  ``--fit-steps`` batches per call and is reported per step.

All peers run in one process on the same CPU, interleaved: each round times
``--steps`` steps of every peer in a rotating order; the figure is the median
over rounds, and each peer's ratio to ``keras.train_on_batch`` is the median of
the per-round ratios. The first call (tracing and compilation) is timed apart
and excluded, as are ``--warmup`` further steps.

The allocator is whatever the process runs under: run it plainly for glibc
malloc, or with ``LD_PRELOAD`` set to a caching allocator. ``--allocators
glibc,glibc-tunables,mimalloc`` runs one child process per allocator and prints
one table. The names (:data:`bench.common.allocators.NAMES`): ``glibc``
(``LD_PRELOAD`` and ``GLIBC_TUNABLES`` removed),
``glibc-tunables`` (glibc with the command line's fallback,
:data:`jaxloss.cli.allocator.GLIBC_TUNABLES_SETTING`: blocks under 64 MiB from
the heap, 128 MiB trim threshold, transparent huge pages for mapped blocks),
``glibc-hugetlb`` (only ``glibc.malloc.hugetlb=1``), ``glibc-nommap``
(``glibc.malloc.mmap_max=0`` and no trimming: measured, not used, its heap
fragments), ``mimalloc`` and ``tcmalloc`` (found by
:func:`jaxloss.cli.allocator.find_allocator_library`). Each child also reports
its peak resident memory, and each peer its minor page faults per step.

TensorFlow and mimalloc come with the ``bench`` extra: ``make bench-mnist`` installs it
into ``.venv`` and runs this study twice (all usable cores, then one); by hand, from the
repository root::

    .venv/bin/python -m bench.studies.mnist_step --allocators glibc,mimalloc --out FILE

Keep ``FILE`` out of ``bench/results/*.json`` itself (those are the suite's files, read
by notebook 06): the measured run is in ``bench/results/mnist_step/``.

Without TensorFlow the Keras peers are left out and the rest still runs.
"""
