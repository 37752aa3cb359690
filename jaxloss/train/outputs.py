"""A model's outputs as the loop sees them: names, targets, one objective each, log names.

* Outputs are named as Keras names them: a dict's keys (in sorted order), ``output_1``,
  ``output_2``, ... for a list or tuple, and ``None`` for a single array.
* ``y`` is matched to the outputs by name (a dict) or by position (a list of as
  many arrays); a single-output model takes one array.
* Each output gets an :class:`~jaxloss.train.objectives.OutputObjective`: its loss
  (checked against the output's shape), its loss weight, its ``metrics`` and its
  ``weighted_metrics`` (a name in both lists is logged ``weighted_<name>`` the second time).
* The logs are ``loss``, then ``<output>_loss`` per output with a loss when there are
  several outputs, then each output's metrics (``<output>_<metric>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxloss.train import metrics as metrics_lib
from jaxloss.train import objectives


def name_outputs(outputs: Any) -> tuple[list[str | None], list[Any]]:
    """The outputs' names and the outputs in that order.

    >>> name_outputs({"score": 1, "box": 2})
    (['box', 'score'], [2, 1])
    >>> name_outputs((1, 2))
    (['output_1', 'output_2'], [1, 2])
    """
    if isinstance(outputs, Mapping):
        names = sorted(outputs)
        return names, [outputs[name] for name in names]
    if isinstance(outputs, (list, tuple)):
        return [f"output_{i + 1}" for i in range(len(outputs))], list(outputs)
    return [None], [outputs]


def flatten_outputs(outputs: Any, names: Sequence[str | None]) -> list[Any]:
    """The outputs as a list in the order of ``names`` (from :func:`name_outputs`)."""
    if isinstance(outputs, Mapping):
        return [outputs[name] for name in names]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def y_in_output_order(y: Any, names: Sequence[str | None]) -> list[np.ndarray]:
    """The targets as a list in output order.

    Raises:
      ValueError: ``y`` does not hold one target per output (by name or position).
    """
    if names == [None]:
        if isinstance(y, (dict, list, tuple)):
            raise ValueError(f"The model has one output but `y` is a {type(y).__name__}.")
        return [y]
    if isinstance(y, Mapping):
        missing = [name for name in names if name not in y]
        if missing:
            raise ValueError(f"`y` lacks targets for outputs {missing}; outputs: {list(names)}.")
        return [y[name] for name in names]
    if isinstance(y, (list, tuple)) and len(y) == len(names):
        return list(y)
    raise ValueError(
        f"The model has {len(names)} outputs {list(names)}: pass `y` as a dict by output name "
        f"or a list of {len(names)} arrays."
    )


def check_metric_names(metrics: Any) -> None:
    """Fail early (at compile) on unknown metric names; shapes resolve "accuracy" later."""
    for leaf in jax.tree.leaves(metrics, is_leaf=lambda leaf: isinstance(leaf, str)):
        if isinstance(leaf, str):
            metrics_lib.get(leaf, (1,), (1, 2))


def _metric_lists(spec: Any, names: Sequence[str | None]) -> list[list[Any]]:
    """One list of metric identifiers per output."""
    if spec is None:
        return [[] for _ in names]
    lists = objectives.per_output(spec, names, "metrics")
    return [
        [] if entry is None else list(entry) if isinstance(entry, (list, tuple)) else [entry]
        for entry in lists
    ]


def _target_spec(y: np.ndarray, output: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    """The shape and dtype of one batch of targets for ``output``."""
    return jax.ShapeDtypeStruct((output.shape[0], *np.shape(y)[1:]), np.asarray(y).dtype)


def build_objectives(
    names: Sequence[str | None],
    outputs: Sequence[jax.ShapeDtypeStruct],
    ys: Sequence[np.ndarray],
    *,
    loss: Any,
    loss_weights: Any,
    metrics: Any,
    weighted_metrics: Any,
) -> list[objectives.OutputObjective]:
    """One objective per output, from ``compile``'s arguments and a batch's shapes.

    Args:
      names: the output names (:func:`name_outputs`).
      outputs: the shapes of one batch of each output.
      ys: the targets in output order (their trailing shapes and dtypes count).
      loss, loss_weights, metrics, weighted_metrics: as ``compile`` took them (losses resolved).

    Raises:
      ValueError: structures that do not match the outputs, an output that does
        not fit its loss, or no loss at all.
    """
    losses = objectives.per_output(loss, names, "loss")
    weights = (
        [None] * len(names)
        if loss_weights is None
        else objectives.per_output(loss_weights, names, "loss_weights")
    )
    built = []
    for name, output_loss, weight, metric_list, weighted_list, y, output in zip(
        names, losses, weights, _metric_lists(metrics, names), _metric_lists(weighted_metrics, names),
        ys, outputs,
    ):
        y_spec = _target_spec(y, output)
        if output_loss is not None:
            objectives.check_output_fits_loss(output_loss, y_spec, output, name)
        resolved = [metrics_lib.get(m, y_spec.shape, output.shape) for m in metric_list]
        taken = {metric.name for metric in resolved}
        for identifier in weighted_list:
            metric = metrics_lib.get(identifier, y_spec.shape, output.shape, weighted=True)
            if metric.name in taken:  # "accuracy" in both lists: Keras 2's name
                metric = metrics_lib.Metric(f"weighted_{metric.name}", metric.fn, True)
            resolved.append(metric)
        built.append(objectives.OutputObjective(name, output_loss, weight, resolved))
    if all(o.loss is None for o in built):
        raise ValueError("Every output has `loss=None`: there is nothing to minimise.")
    return built


def can_pad(
    built: Sequence[objectives.OutputObjective],
    outputs: Sequence[jax.ShapeDtypeStruct],
    ys: Sequence[np.ndarray],
) -> bool:
    """Whether every output's loss stays exact on a padded batch (:func:`objectives.can_pad`)."""
    return all(
        o.loss is None or objectives.can_pad(o.loss, _target_spec(y, output), output)
        for o, output, y in zip(built, outputs, ys)
    )


def log_names(built: Sequence[objectives.OutputObjective]) -> list[str]:
    """The names of the logs, in order: the loss, each output's loss, the metrics.

    >>> mse = objectives.resolve_loss("mse")
    >>> log_names([objectives.OutputObjective("a", mse, None),
    ...            objectives.OutputObjective("b", mse, 0.5)])
    ['loss', 'a_loss', 'b_loss']
    """
    names = ["loss"]
    if len(built) > 1:
        names += [f"{o.name}_loss" for o in built if o.loss is not None]
    for objective in built:
        names += [objective.prefix() + metric.name for metric in objective.metrics]
    return names
