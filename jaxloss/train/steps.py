"""The loop's steps as plain functions: ``train_step``, ``eval_step``, ``predict_step``.

Each step takes a :class:`StepConfig` (what stays fixed for a trainer: the model's
graph definitions, the optimizer, the objectives) and arrays: the
:class:`TrainState`, the metric accumulators and a :class:`Batch`. The
:class:`~jaxloss.train.Trainer` jits each of them once, so a step is traced once per
batch shape; called directly they run eagerly, for tests and for custom loops.

* A batch carries a ``mask`` (1 for a real row, 0 for padding); each output's loss is
  the Keras loss object called with ``sample_weight = sample_weight * mask``, and a
  loss reduced over the batch size is rescaled by
  :func:`~jaxloss.train.objectives.padding_rescale` so that a padded batch gives the
  loss of its real rows.
* The total loss is ``sum(loss_weight * output_loss) + regularization`` (Keras's
  ``compute_loss``).
* Accumulators hold ``(sum, count)`` per log name: the loss summed over real rows,
  each output's loss likewise, and each metric's ``sum(value * w)`` and ``sum(w)``
  (``w`` the mask, times the sample weights for weighted metrics). :func:`read_logs`
  divides them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxloss.train import layers, objectives
from jaxloss.train import metrics as metrics_lib
from jaxloss.train.outputs import flatten_outputs

Accumulators = dict[str, jax.Array]


class TrainState(NamedTuple):
    """Everything a training run changes: parameters, other NNX state, optimizer state."""

    params: Any
    rest: Any
    opt_state: Any


class Batch(NamedTuple):
    """One batch: inputs, targets in output order, sample weights and the padding mask."""

    x: Any
    ys: list[np.ndarray]
    sample_weight: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class StepConfig:
    """What the steps need besides their arrays; fixed once a trainer knows its outputs.

    Attributes:
      train_graphdef: the model's graph definition in training mode (``model.train()``).
      eval_graphdef: the same in evaluation mode (``model.eval()``).
      optimizer: the optax transformation.
      output_names: the model's output names (:func:`jaxloss.train.outputs.name_outputs`).
      objectives: one :class:`~jaxloss.train.objectives.OutputObjective` per output.
    """

    train_graphdef: Any
    eval_graphdef: Any
    optimizer: optax.GradientTransformation
    output_names: Sequence[str | None] | None = None
    objectives: Sequence[objectives.OutputObjective] = ()


def total_loss(
    config: StepConfig, batch: Batch, preds: Sequence[jax.Array], model: nnx.Module
) -> tuple[jax.Array, list[jax.Array | None]]:
    """The weighted total loss with regularization, and each output's loss (None without one)."""
    weight = batch.sample_weight * batch.mask
    total = jnp.zeros((), jnp.float32)
    parts: list[jax.Array | None] = []
    for objective, y_true, y_pred in zip(config.objectives, batch.ys, preds):
        if objective.loss is None:
            parts.append(None)
            continue
        value = jnp.asarray(objective.loss(y_true, y_pred, sample_weight=weight), jnp.float32)
        if objective.loss.reduction in objectives.BATCH_SIZE_REDUCTIONS:
            value = value * objectives.padding_rescale(objective.loss, y_true, y_pred, batch.mask)
        parts.append(value)
        total = total + (value if objective.weight is None else value * objective.weight)
    return total + layers.regularization_loss(model), parts


def accumulate(
    config: StepConfig, accum: Accumulators, batch: Batch, preds: Sequence[jax.Array],
    total: jax.Array, parts: Sequence[jax.Array | None],
) -> Accumulators:
    """``accum`` plus this batch's ``(sum, count)`` for every log."""
    n_real = jnp.sum(batch.mask)
    weight = batch.sample_weight * batch.mask
    updates = {"loss": (total * n_real, n_real)}
    multi = len(config.objectives) > 1
    for objective, part, y_true, y_pred in zip(config.objectives, parts, batch.ys, preds):
        if multi and part is not None:
            updates[f"{objective.name}_loss"] = (part * n_real, n_real)
        for metric in objective.metrics:
            values = metrics_lib.per_sample(metric.fn(y_true, y_pred), batch.mask.shape[0])
            metric_weight = weight if metric.weighted else batch.mask
            updates[objective.prefix() + metric.name] = (
                jnp.sum(values * metric_weight), jnp.sum(metric_weight)
            )
    return {name: accum[name] + jnp.stack(updates[name]) for name in accum}


def train_step(
    config: StepConfig, state: TrainState, accum: Accumulators, batch: Batch
) -> tuple[TrainState, Accumulators]:
    """One optimizer step on ``batch`` (model in training mode); the updated state and accumulators."""

    def loss_fn(params: Any) -> tuple[jax.Array, Any]:
        model = nnx.merge(config.train_graphdef, params, state.rest, copy=True)
        preds = flatten_outputs(model(batch.x), config.output_names)
        total, parts = total_loss(config, batch, preds, model)
        return total, (preds, parts, nnx.state(model, nnx.Not(nnx.Param)))

    (total, (preds, parts, rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = config.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    accum = accumulate(config, accum, batch, preds, total, parts)
    return TrainState(params, rest, opt_state), accum


def eval_step(
    config: StepConfig, state: TrainState, accum: Accumulators, batch: Batch
) -> Accumulators:
    """Loss and metrics of ``batch`` (model in evaluation mode) added to ``accum``."""
    model = nnx.merge(config.eval_graphdef, state.params, state.rest)
    preds = flatten_outputs(model(batch.x), config.output_names)
    total, parts = total_loss(config, batch, preds, model)
    return accumulate(config, accum, batch, preds, total, parts)


def predict_step(config: StepConfig, params: Any, rest: Any, x: Any) -> Any:
    """The model's outputs for ``x`` (evaluation mode), in the structure the model returns."""
    return nnx.merge(config.eval_graphdef, params, rest)(x)


def new_accumulators(names: Sequence[str]) -> Accumulators:
    """Zero ``(sum, count)`` for each log name."""
    return {name: jnp.zeros((2,), jnp.float32) for name in names}


def read_logs(accum: Accumulators, names: Sequence[str]) -> dict[str, float]:
    """``sum / count`` for each log name (0.0 where nothing was counted); fetches ``accum``.

    >>> read_logs({"loss": jnp.array([3.0, 2.0]), "mae": jnp.zeros(2)}, ["loss", "mae"])
    {'loss': 1.5, 'mae': 0.0}
    """
    values = jax.device_get(accum)
    return {
        name: float(values[name][0] / values[name][1]) if values[name][1] else 0.0
        for name in names
    }
