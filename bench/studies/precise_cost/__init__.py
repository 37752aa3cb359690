"""What ``precise=True`` costs in the two softmax cross-entropies, against the default and optax.

Forward and forward+backward under ``jax.jit`` at the cross-entropy sizes of the main
suite, float32, random logits (normal, standard deviation 3) and labels; the three entries
take turns within each repeat (:mod:`bench.common.timing`), medians reported. Each entry's
loss is also recorded, so that the precise and default values can be compared. Part of
``make bench``::

    python -m bench.studies.precise_cost [--quick] [--out bench/results/precise_cost]
"""
