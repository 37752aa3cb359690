"""Host-side data handling for the loop: checks, dtypes, validation split, batches.

Everything here is NumPy and runs before (or between) the jitted steps. Rules:

* ``x`` is an array or a pytree of arrays (dict/tuple for multi-input models);
  ``y`` an array, or a dict/list with one array per output. Every leaf must have
  the same number of samples (first axis), else ``ValueError``.
* float64 becomes float32 and integers int32 (Keras converts to ``floatx`` too);
  booleans become float32.
* ``validation_split`` takes the *last* fraction of the samples, before any
  shuffling, as Keras does: ``split_at = floor(n * (1 - validation_split))``.
* A ragged last batch is padded to the full batch size by repeating real rows
  with a zero ``mask``, so one compiled step serves every batch; the loss
  reduction divides by the real count (see :mod:`jaxloss.train.steps`). On a
  device mesh the size is rounded up to a multiple of the device count
  (:mod:`jaxloss.train.parallel`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import numpy as np


def as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a NumPy array with the loop's dtypes (float32/int32)."""
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32) if array.dtype == np.float64 else array
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    raise ValueError(f"`{name}` must hold numbers, got dtype {array.dtype}.")


def num_samples(tree: Any, name: str) -> int:
    """The common first-axis length of every leaf of ``tree``."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` is empty (no arrays).")
    lengths = set()
    for leaf in leaves:
        if np.ndim(leaf) == 0:
            raise ValueError(f"`{name}` must have a batch axis, got a scalar.")
        lengths.add(np.shape(leaf)[0])
    if len(lengths) != 1:
        raise ValueError(f"The arrays in `{name}` have different numbers of samples: {sorted(lengths)}.")
    (length,) = lengths
    return int(length)


def check_lengths(x: Any, y: Any, sample_weight: np.ndarray | None) -> int:
    """Number of samples, after checking that x, y and sample_weight agree."""
    n = num_samples(x, "x")
    if n == 0:
        raise ValueError("`x` has 0 samples: nothing to train or evaluate on.")
    if y is not None:
        n_y = num_samples(y, "y")
        if n_y != n:
            raise ValueError(
                f"`x` and `y` must have the same number of samples, got {n} and {n_y} "
                f"(x shapes {[np.shape(a) for a in jax.tree.leaves(x)]}, "
                f"y shapes {[np.shape(a) for a in jax.tree.leaves(y)]})."
            )
    if sample_weight is not None and np.shape(sample_weight) != (n,):
        raise ValueError(
            f"`sample_weight` must have shape ({n},) (one weight per sample), "
            f"got {np.shape(sample_weight)}."
        )
    return n


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as a positive int, or ``ValueError``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    return int(batch_size)


def check_validation_split(validation_split: Any) -> float:
    """``validation_split`` as a float in [0, 1), or ``ValueError``."""
    value = float(validation_split)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`validation_split` must lie in [0, 1), got {validation_split!r}.")
    return value


def split_at(n: int, validation_split: float) -> int:
    """Index where the validation part starts (Keras: the last fraction, floor)."""
    start = math.floor(n * (1.0 - validation_split))
    if start == 0 or start == n:
        raise ValueError(
            f"`validation_split={validation_split}` of {n} samples leaves "
            f"{start} for training and {n - start} for validation; both must be non-empty."
        )
    return start


def take(tree: Any, index: np.ndarray | slice) -> Any:
    """Rows ``index`` of every leaf."""
    return jax.tree.map(lambda a: a[index], tree)


def class_weight_to_sample_weight(y: np.ndarray, class_weight: Mapping[int, float]) -> np.ndarray:
    """Keras's rule: the class is ``y`` (rounded), ``argmax`` for one-hot rows; missing classes get 1.

    >>> class_weight_to_sample_weight(np.array([0, 1, 1, 2]), {1: 3.0})
    array([1., 3., 3., 1.], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.squeeze(labels, -1) if labels.shape[-1] == 1 else np.argmax(labels, -1)
    if labels.ndim != 1:
        raise ValueError(f"`class_weight` needs labels of shape (n,) or (n, classes), got {np.shape(y)}.")
    classes = np.round(labels).astype(np.int64)
    weights = np.ones(classes.shape, np.float32)
    for label, weight in class_weight.items():
        weights[classes == int(label)] = float(weight)
    return weights


def batch_indices(
    order: np.ndarray, batch_size: int, pad: bool, multiple: int = 1
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(indices, n_real)`` per batch; with ``pad`` every batch is filled up to size.

    The batch size is ``min(batch_size, len(order))``, rounded up to a multiple of
    ``multiple`` (the device count, so that a batch splits evenly over a mesh).
    With ``pad`` a shorter batch (the ragged last one, or every batch when the
    size was rounded up) repeats its own rows up to that size, so the padded rows
    hold finite, realistic values; they are masked out. Without ``pad`` batches
    keep their real size.

    >>> [(index.tolist(), n_real) for index, n_real in batch_indices(np.arange(5), 3, True, 4)]
    [([0, 1, 2, 0], 3), ([3, 4, 3, 4], 2)]
    """
    size = min(batch_size, len(order))
    padded = -(-size // multiple) * multiple
    for start in range(0, len(order), size):
        index = order[start : start + size]
        n_real = len(index)
        if pad and n_real < padded:
            index = np.concatenate([index, np.resize(index, padded - n_real)])
        yield index, n_real


def num_batches(n: int, batch_size: int) -> int:
    """Number of batches for ``n`` samples."""
    return -(-n // min(batch_size, n))


def mask(n_real: int, size: int) -> np.ndarray:
    """1.0 for the real rows of a batch of ``size``, 0.0 for the padding."""
    out = np.zeros((size,), np.float32)
    out[:n_real] = 1.0
    return out
