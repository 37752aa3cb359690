"""Memory per device of the sharded losses, from the compiler, as the mesh grows.

The forward+backward step (``jax.value_and_grad`` over every floating input) of
:func:`jaxloss.fused_linear_cross_entropy_sharded` (the vocabulary split over the mesh's
axis; hidden states and labels replicated) and of
:func:`jaxloss.chunked_contrastive_loss_sharded` (the batch split over the mesh) is compiled
for meshes of 1, 2, 4 and 8 devices, and XLA's ``memory_analysis()`` of the partitioned
program gives each device's arguments, outputs and temporaries. Nothing is run: the numbers
are what the compiler plans for one device. On a CPU the devices are the host's, made by
``--xla_force_host_platform_device_count`` (set here when ``XLA_FLAGS`` does not name it)::

    python -m bench.studies.memory_per_device
    python -m bench.studies.memory_per_device --quick   # small shapes, seconds

Writes ``<machine>-<date>-<commit>.json`` and ``.md`` to ``--out``, by default
``bench/results/memory_per_device/``; both name the command that made them.
"""
