"""The seed document's five loss examples, as data, recomputed with jaxloss kernels.

The document (a TensorFlow loss-functions tutorial) prints one value per example,
two for the fifth (MSE and Huber on data with an outlier). Several printed values
are wrong: :func:`compute` gives what the mathematics and Keras give, i.e. the
kernel's per-example loss averaged over the batch (Keras's default
``sum_over_batch_size`` reduction). The document prints four decimals, so a printed
value counts as right when it equals the exact value rounded to four decimals.

>>> from jaxloss import document
>>> round(document.compute(document.EXAMPLES[0]), 6)
0.0375
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import regression
from jaxloss._src.cross_entropy import probability

__all__ = ["EXAMPLES", "LossExample", "compute", "document_is_wrong"]

# Half a unit in the last printed digit: the document prints four decimals.
PRINTED_TOLERANCE = 0.5e-4


@dataclasses.dataclass(frozen=True)
class LossExample:
    """One printed loss value of the document, with its inputs exactly as printed.

    Attributes:
      section: the document's numbering ("1" to "5"; the fifth prints two values).
      name: what the document prints before the value.
      keras_class: the ``keras.losses`` class the document calls.
      y_true, y_pred: the document's ``np.array`` inputs.
      printed: the value the document prints.
      per_example: the jaxloss kernel call giving one loss per example (float32 inputs).
    """

    section: str
    name: str
    keras_class: str
    y_true: tuple
    y_pred: tuple
    printed: float
    per_example: Callable[[jax.Array, jax.Array], jax.Array]


def _mean_squared_error(y_true, y_pred):
    return jnp.mean(regression.squared_error(y_pred, y_true), axis=-1, keepdims=True)


def _binary_crossentropy(y_true, y_pred):
    return jnp.mean(probability.binary_cross_entropy(y_pred, y_true), axis=-1, keepdims=True)


def _categorical_crossentropy(y_true, y_pred):
    return probability.categorical_cross_entropy(y_pred, y_true)


def _sparse_categorical_crossentropy(y_true, y_pred):
    return probability.sparse_categorical_cross_entropy(y_pred, y_true.astype(jnp.int32))


def _huber(y_true, y_pred):
    return jnp.mean(regression.huber_loss(y_pred, y_true, delta=1.0), axis=-1, keepdims=True)


_OUTLIER_TRUE = (1.0, 2.0, 3.0, 4.0)
_OUTLIER_PRED = (1.1, 1.9, 5.0, 3.7)
_CLASS_PROBS = ((0.8, 0.1, 0.1), (0.2, 0.7, 0.1), (0.1, 0.2, 0.7))

EXAMPLES: tuple[LossExample, ...] = (
    LossExample(
        "1", "Mean Squared Error", "MeanSquaredError",
        (1.0, 2.0, 3.0, 4.0), (1.1, 1.9, 3.2, 3.7), 0.0475, _mean_squared_error,
    ),
    LossExample(
        "2", "Binary Crossentropy Loss", "BinaryCrossentropy",
        (0, 1, 0, 1), (0.1, 0.8, 0.3, 0.6), 0.3438, _binary_crossentropy,
    ),
    LossExample(
        "3", "Categorical Crossentropy Loss", "CategoricalCrossentropy",
        ((1, 0, 0), (0, 1, 0), (0, 0, 1)), _CLASS_PROBS, 0.3567, _categorical_crossentropy,
    ),
    LossExample(
        "4", "Sparse Categorical Crossentropy Loss", "SparseCategoricalCrossentropy",
        (0, 1, 2), _CLASS_PROBS, 0.3567, _sparse_categorical_crossentropy,
    ),
    LossExample(
        "5", "MSE (sensitive to outliers)", "MeanSquaredError",
        _OUTLIER_TRUE, _OUTLIER_PRED, 1.0475, _mean_squared_error,
    ),
    LossExample(
        "5", "Huber Loss (more robust)", "Huber",
        _OUTLIER_TRUE, _OUTLIER_PRED, 0.7475, _huber,
    ),
)


def compute(example: LossExample) -> float:
    """The example's loss with jaxloss kernels: per-example loss, mean over the batch."""
    y_true = jnp.asarray(np.asarray(example.y_true, np.float32))
    y_pred = jnp.asarray(np.asarray(example.y_pred, np.float32))
    return float(jnp.mean(example.per_example(y_true, y_pred)))


def document_is_wrong(example: LossExample, value: float | None = None) -> bool:
    """True when the printed value is not the exact value rounded to four decimals."""
    value = compute(example) if value is None else value
    return abs(example.printed - value) > PRINTED_TOLERANCE + 1e-9
