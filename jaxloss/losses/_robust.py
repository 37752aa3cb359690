"""Losses robust to noisy labels: the generalized cross-entropy of integer labels.

The numbers come from :mod:`jaxloss._src.robust`.
"""

from __future__ import annotations

import jax

from jaxloss._src import robust
from jaxloss.losses._base import LossFunctionWrapper, as_float_array, constructor_arguments
from jaxloss.losses._labels import sparse_labels
from jaxloss.losses._registry import register


@register
def categorical_generalized_cross_entropy(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike, q: float = 0.5
) -> jax.Array:
    """``(1 - p ** q) / q`` with ``p`` the probability of the integer label ``y_true``."""
    y_pred = as_float_array(y_pred)
    labels = sparse_labels(y_true, y_pred, -1, "categorical_generalized_cross_entropy")
    return robust.generalized_cross_entropy(y_pred, labels, q=q)


@register
class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Noise-robust generalized cross-entropy of integer labels, ``q`` in ``(0, 1)``."""

    def __init__(
        self,
        q=0.5,
        reduction="sum_over_batch_size",
        name="categorical_generalized_cross_entropy",
        dtype=None,
    ):
        if not 0 < q < 1:
            raise ValueError(f"`q` must lie in the open interval (0, 1), got q={q!r}.")
        super().__init__(categorical_generalized_cross_entropy, **constructor_arguments(locals()))
