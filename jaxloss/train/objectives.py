"""What ``compile`` turns its ``loss``/``loss_weights``/``metrics`` arguments into.

Each model output gets an :class:`OutputObjective`: a Keras-style loss object
(``loss(y_true, y_pred, sample_weight) -> scalar`` with a ``reduction``), its
weight, and its metrics. Losses are resolved as ``keras.Model.compile`` does:
a name through :func:`jaxloss.losses.get`, a class is instantiated, an instance
is used as it is, and a plain function ``fn(y_true, y_pred)`` is wrapped so
that its output is reduced like Keras's ``LossFunctionWrapper`` (weighted by
``sample_weight``, summed, divided by the number of values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from jaxloss.train import metrics as metrics_lib

# Reductions whose divisor is the number of loss values (the batch size for
# per-example losses): a padded batch must be rescaled by padded/real size.
BATCH_SIZE_REDUCTIONS = ("sum_over_batch_size", "mean", "auto")
KNOWN_REDUCTIONS = (*BATCH_SIZE_REDUCTIONS, "sum", "mean_with_sample_weight")


def _same_rank(y_true: jax.Array, y_pred: jax.Array) -> tuple[jax.Array, jax.Array]:
    return metrics_lib._same_rank(y_true, y_pred)


class FunctionLoss:
    """Wrap ``fn(y_true, y_pred) -> values`` with Keras's ``sum_over_batch_size`` reduction.

    As in Keras, ``y_true`` is cast to float32 and a trailing axis of size 1 is
    squeezed or expanded so both arguments have the same rank before ``fn`` runs.
    A function that already returns a scalar (it reduced over the batch itself) is
    multiplied by the mean sample weight, which is what Keras computes for it.
    """

    reduction = "sum_over_batch_size"

    def __init__(self, fn: Callable[[jax.Array, jax.Array], jax.Array]):
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def call(self, y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
        y_true, y_pred = _same_rank(jnp.asarray(y_true, jnp.float32), jnp.asarray(y_pred))
        return jnp.asarray(self.fn(y_true, y_pred))

    def __call__(
        self, y_true: jax.Array, y_pred: jax.Array, sample_weight: jax.Array | None = None
    ) -> jax.Array:
        values = self.call(y_true, y_pred).astype(jnp.float32)
        if sample_weight is not None:
            weight = jnp.asarray(sample_weight, jnp.float32)
            if values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
                values = jnp.squeeze(values, -1)
            weight = weight.reshape(weight.shape + (1,) * max(values.ndim - weight.ndim, 0))
            values = values * weight
        if values.ndim == 0:
            return values
        return jnp.sum(values) / values.size

    def __repr__(self) -> str:
        return f"FunctionLoss({self.name})"


def _same_rank_shapes(true_tail: tuple, pred_tail: tuple) -> tuple[tuple, tuple]:
    """Per-example shapes after Keras's squeeze/expand of one trailing axis of size 1."""
    if len(pred_tail) == len(true_tail) + 1 and pred_tail[-1:] == (1,):
        return true_tail + (1,), pred_tail
    if len(true_tail) == len(pred_tail) + 1 and true_tail[-1:] == (1,):
        return true_tail, pred_tail + (1,)
    return true_tail, pred_tail


def _keras_losses_get(name: str) -> Any:
    try:
        from jaxloss import losses as keras_losses
    except ImportError as error:  # pragma: no cover - jaxloss.losses ships with the package
        raise ValueError(f"Unknown loss {name!r}: jaxloss.losses is not available.") from error
    return keras_losses.get(name)


def resolve_loss(identifier: Any) -> Any:
    """Return a Keras-style loss object for a name, class, instance or plain function.

    Raises:
      ValueError: for an unknown name, a non-callable object, or an unknown reduction.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        identifier = _keras_losses_get(identifier)
    if isinstance(identifier, type):
        identifier = identifier()
    if hasattr(identifier, "reduction") and hasattr(identifier, "call") and callable(identifier):
        if identifier.reduction not in KNOWN_REDUCTIONS:
            raise ValueError(
                f"Loss {identifier!r} has reduction={identifier.reduction!r}; training needs one "
                f"of {list(KNOWN_REDUCTIONS)} (a scalar per batch)."
            )
        return identifier
    if callable(identifier):
        return FunctionLoss(identifier)
    raise ValueError(f"A loss must be a name, a class, an instance or a function, got {identifier!r}.")


def loss_name(loss: Any) -> str:
    """A readable name for error messages and for choosing sparse vs dense shape rules."""
    return str(getattr(loss, "name", None) or type(loss).__name__)


@dataclass
class OutputObjective:
    """The loss, its weight and the metrics attached to one model output."""

    name: str | None
    loss: Any
    weight: float | None
    metrics: list[metrics_lib.Metric] = field(default_factory=list)

    def prefix(self) -> str:
        """``""`` for a single-output model, ``"<output>_"`` otherwise (Keras's log names)."""
        return "" if self.name is None else f"{self.name}_"


def per_output(spec: Any, names: Sequence[str | None], argument: str) -> list[Any]:
    """Distribute ``spec`` (one value, a list in output order, or a dict by name) over outputs."""
    if len(names) == 1 and names[0] is None:
        if isinstance(spec, dict) or (isinstance(spec, (list, tuple)) and argument != "metrics"):
            raise ValueError(
                f"`{argument}` is a {type(spec).__name__} but the model has a single output."
            )
        return [spec]
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(
                f"`{argument}` names outputs {unknown} that the model does not return; "
                f"outputs: {list(names)}."
            )
        return [spec.get(name) for name in names]
    per_output_lists = argument == "metrics" and isinstance(spec, (list, tuple)) and all(
        entry is None or isinstance(entry, (list, tuple)) for entry in spec
    )
    if isinstance(spec, (list, tuple)) and (argument != "metrics" or per_output_lists):
        if len(spec) != len(names):
            raise ValueError(
                f"`{argument}` has {len(spec)} entries but the model has {len(names)} outputs "
                f"{list(names)}."
            )
        return list(spec)
    return [spec] * len(names)


def check_output_fits_loss(
    loss: Any, y_true: jax.ShapeDtypeStruct, y_pred: jax.ShapeDtypeStruct, output: str | None
) -> None:
    """Raise ``ValueError`` when labels and model output cannot be paired by ``loss``.

    Library losses follow Keras's rules: sparse losses take integer labels of the
    output's shape without its class axis (or with a trailing 1); the others need
    the same shape up to one trailing axis of size 1. A plain function may take
    labels of lower rank (its own sparse convention) but labels of the output's
    rank must have its shape (no silent broadcasting). Every loss is then run
    abstractly (``jax.eval_shape``); it must give one value per example or a scalar.
    """
    where = "" if output is None else f" for output {output!r}"
    name = loss_name(loss)
    true_tail, pred_tail = tuple(y_true.shape[1:]), tuple(y_pred.shape[1:])
    shapes = f"labels of shape {tuple(y_true.shape)} and model output of shape {tuple(y_pred.shape)}"
    if isinstance(loss, FunctionLoss):
        # Keras squeezes/expands one trailing axis of size 1, then calls the function:
        # equal ranks with different shapes would broadcast silently.
        true_tail, pred_tail = _same_rank_shapes(true_tail, pred_tail)
        fits = len(true_tail) != len(pred_tail) or true_tail == pred_tail
        rule = "labels of the output's shape, or of lower rank (sparse labels)"
    elif "sparse" in name.lower():
        fits = len(pred_tail) >= 1 and true_tail in (pred_tail[:-1], pred_tail[:-1] + (1,))
        rule = "labels shaped like the output without its class axis"
    else:
        fits = true_tail in (pred_tail, pred_tail + (1,)) or true_tail + (1,) == pred_tail
        rule = "labels of the output's shape (up to a trailing axis of size 1)"
    if not fits:
        raise ValueError(
            f"The model output{where} does not fit the loss {name!r}: {shapes}; it needs {rule}."
        )
    try:
        jax.eval_shape(loss, y_true, y_pred)
        values = jax.eval_shape(loss.call, y_true, y_pred)
    except Exception as error:  # noqa: BLE001 - re-raised with the shapes that caused it
        raise ValueError(f"The loss {name!r}{where} fails on {shapes}: {error}") from error
    if values.ndim > 0 and values.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"The loss {name!r}{where} returned values of shape {values.shape} for {shapes}: "
            "expected one value per example or a scalar."
        )


def returns_per_example_values(
    loss: Any, y_true: jax.ShapeDtypeStruct, y_pred: jax.ShapeDtypeStruct
) -> bool:
    """True when ``loss.call`` keeps the batch axis (a padded batch can then be masked)."""
    return jax.eval_shape(loss.call, y_true, y_pred).ndim > 0
