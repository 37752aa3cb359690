"""``fit``'s and ``evaluate``'s data, prepared before the steps run: arrays, weights, validation, batches.

* ``x``, ``y`` and ``sample_weight`` become NumPy arrays with the loop's dtypes
  (:func:`jaxloss.train.batching.as_array`), their lengths are checked, ``y`` is put
  in output order and a missing ``sample_weight`` becomes ones (float32).
* ``class_weight`` becomes per-sample weights (single-output models only, not
  together with ``sample_weight``); it weights the training loss only.
* ``validation_data`` (``(x, y)`` or ``(x, y, sample_weight)``) takes precedence over
  ``validation_split``, which takes the last fraction of the samples, before any
  shuffling; the validation part of a user's ``sample_weight`` weights the validation loss.
* Each epoch's order is drawn from ``(seed, epoch)`` (reproducible and resumable);
  batches are padded as :func:`jaxloss.train.batching.batch_indices` says and placed
  on the device(s) by :func:`jaxloss.train.parallel.put_batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh

from jaxloss.train import batching, parallel
from jaxloss.train.steps import Batch

#: ``build(x_first_batch, y)``: the targets in output order (the trainer builds its
#: objectives from the first batch's shapes on first use).
Build = Callable[[Any, Any], list[np.ndarray]]


class Arrays(NamedTuple):
    """A data set as the steps take it: inputs, targets in output order, float32 sample weights."""

    x: Any
    ys: list[np.ndarray]
    sample_weight: np.ndarray

    @property
    def num_samples(self) -> int:
        return len(self.sample_weight)

    def rows(self, index: slice) -> Arrays:
        """The samples ``index`` of every array."""
        return Arrays(batching.take(self.x, index), [y[index] for y in self.ys], self.sample_weight[index])


def check_epochs(epochs: Any, initial_epoch: Any) -> None:
    """``epochs`` must be an int >= 1 and ``initial_epoch`` in ``[0, epochs)``, else ``ValueError``."""
    if not isinstance(epochs, (int, np.integer)) or epochs < 1 or not 0 <= initial_epoch < epochs:
        raise ValueError(
            f"`epochs` must be an integer >= 1 and `initial_epoch` in [0, epochs), got "
            f"epochs={epochs!r}, initial_epoch={initial_epoch!r}."
        )


def arrays(x: Any, y: Any, sample_weight: Any, batch_size: int, build: Build) -> Arrays:
    """Convert and check ``x``, ``y``, ``sample_weight``; ``y`` in output order through ``build``."""
    x = jax.tree.map(lambda a: batching.as_array(a, "x"), x)
    y = jax.tree.map(lambda a: batching.as_array(a, "y"), y)
    weight = None if sample_weight is None else batching.as_array(sample_weight, "sample_weight")
    n = batching.check_lengths(x, y, weight)
    ys = build(batching.take(x, slice(0, min(batch_size, n))), y)
    if weight is None:
        weight = np.ones((n,), np.float32)
    return Arrays(x, ys, weight.astype(np.float32))


def fit_data(
    x: Any,
    y: Any,
    *,
    batch_size: int,
    validation_split: float,
    validation_data: tuple | None,
    class_weight: Mapping[int, float] | None,
    sample_weight: Any,
    build: Build,
) -> tuple[Arrays, Arrays | None]:
    """The training part and the validation part (None without one) of ``fit``'s arguments.

    ``validation_split`` must have been checked (:func:`jaxloss.train.batching.check_validation_split`).

    Raises:
      ValueError: no ``y``; ``class_weight`` with ``sample_weight`` or several outputs;
        a malformed ``validation_data``; a split that leaves a part empty; and
        whatever :func:`arrays` raises.
    """
    if y is None:
        raise ValueError("`y` is required: the loop trains on (x, y) arrays.")
    user_weighted = sample_weight is not None
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("Pass `class_weight` or `sample_weight`, not both.")
        if isinstance(y, (dict, list, tuple)):
            raise ValueError("`class_weight` is only supported for single-output models.")
        batching.check_lengths(x, y, None)
        sample_weight = batching.class_weight_to_sample_weight(y, class_weight)
    train = arrays(x, y, sample_weight, batch_size, build)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` must be (x_val, y_val) or (x_val, y_val, sample_weight).")
        x_val, y_val, *rest = validation_data
        return train, arrays(x_val, y_val, rest[0] if rest else None, batch_size, build)
    if validation_split:
        start = batching.split_at(train.num_samples, validation_split)
        validation = train.rows(slice(start, None))
        if not user_weighted:  # class weights weight the training loss only
            validation = validation._replace(
                sample_weight=np.ones((validation.num_samples,), np.float32)
            )
        return train.rows(slice(0, start)), validation
    return train, None


def epoch_order(num_samples: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of the samples in ``epoch``: a permutation drawn from ``(seed, epoch)``, or as given."""
    return np.random.default_rng([seed, epoch]).permutation(num_samples) if shuffle else np.arange(num_samples)


def batches(
    data: Arrays, order: np.ndarray, batch_size: int, *, pad: bool, mesh: Mesh | None,
    inputs: parallel.Inputs = "global",
) -> Iterator[Batch]:
    """The batches of ``data`` in ``order``, on the device(s) of ``mesh``, padded when ``pad``.

    With ``inputs="process_local"`` on a mesh that spans processes, ``data`` is this
    process's part, ``batch_size`` its share of each batch, and each share is padded
    to a multiple of this process's devices (the global batch is the processes'
    shares, each with its own padding rows masked out).
    """
    local = inputs == "process_local" and parallel.spans_processes(mesh)
    multiple = parallel.local_device_count(mesh) if local else parallel.num_devices(mesh)
    for index, n_real in batching.batch_indices(order, batch_size, pad, multiple):
        batch = Batch(
            batching.take(data.x, index),
            [y[index] for y in data.ys],
            data.sample_weight[index],
            batching.mask(n_real, len(index)),
        )
        yield parallel.put_batch(batch, mesh, inputs)
