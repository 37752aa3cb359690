"""The kernels' CPU forms against their accelerator forms, on the device at hand.

jaxloss picks some kernels' form by the platform it compiles for (:mod:`jaxloss._src.platform`):
the softmax cross-entropies' row statistics in two passes (CPU) or one (accelerator), the
softmax focal loss in a loop over blocks of rows (CPU) or as one block (accelerator). This
measures both forms on one device, with optax where it has the kernel, forward and
forward+backward under ``jax.jit``, float32, taking turns within each repeat
(:mod:`bench.common.timing`), medians reported, so that each platform's choice rests on a
measurement. On an accelerator the sparse cross-entropy is also measured at Liger-Kernel's
reference size. Part of ``make bench``::

    python -m bench.studies.platform_forms [--quick] [--out bench/results/platform_forms]
"""
