"""What ``compile`` turns its ``loss``/``loss_weights``/``metrics`` arguments into.

Each model output gets an :class:`OutputObjective`: a Keras-style loss object
(``loss(y_true, y_pred, sample_weight) -> scalar`` with a ``reduction``, and
``loss.call(y_true, y_pred)`` for the unreduced values), its weight, and its
metrics. Losses are resolved as ``keras.Model.compile`` does: a name through
:func:`jaxloss.losses.get`, a class is instantiated, an instance is used as it
is, and a plain function ``fn(y_true, y_pred)`` is wrapped in
:class:`jaxloss.losses.LossFunctionWrapper` (Keras's reduction: weighted by
``sample_weight``, summed, divided by the number of values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from jaxloss import losses
from jaxloss._src import reduction as reductions
from jaxloss.train import metrics as metrics_lib

# Reductions whose divisor is the number of loss values (the batch size for
# per-example losses): a padded batch is rescaled by :func:`padding_rescale`.
BATCH_SIZE_REDUCTIONS = (*reductions.ENTRY_MEANS, reductions.AUTO)
# A training step needs one number per batch (see jaxloss._src.reduction).
KNOWN_REDUCTIONS = (
    *BATCH_SIZE_REDUCTIONS,
    *(name for name in reductions.SCALAR_REDUCTIONS if name not in BATCH_SIZE_REDUCTIONS),
)


def _same_rank_shapes(true_tail: tuple, pred_tail: tuple) -> tuple[tuple, tuple]:
    """Per-example shapes after Keras's squeeze/expand of one trailing axis of size 1."""
    if len(pred_tail) == len(true_tail) + 1 and pred_tail[-1:] == (1,):
        return true_tail + (1,), pred_tail
    if len(true_tail) == len(pred_tail) + 1 and true_tail[-1:] == (1,):
        return true_tail, pred_tail + (1,)
    return true_tail, pred_tail


def resolve_loss(identifier: Any) -> Any:
    """Return a Keras-style loss object for a name, class, instance or plain function.

    Raises:
      ValueError: for an unknown name, a non-callable object, or an unknown reduction.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        identifier = losses.get(identifier)
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
        name = getattr(identifier, "__name__", type(identifier).__name__)
        return losses.LossFunctionWrapper(identifier, name=name)
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

    Losses whose name contains ``sparse`` take labels of the output's shape without
    its class axis (or with a trailing 1). Any other loss gets labels and output
    with one trailing axis of size 1 squeezed or added (Keras's rule); labels of the
    output's rank must then have its shape (no silent broadcasting), labels of
    lower rank are left to the loss (a custom function's own sparse convention).
    Every loss is then run abstractly (``jax.eval_shape``): its own shape checks
    apply, and it must give one value per example or a scalar.
    """
    where = "" if output is None else f" for output {output!r}"
    name = loss_name(loss)
    true_tail, pred_tail = tuple(y_true.shape[1:]), tuple(y_pred.shape[1:])
    shapes = f"labels of shape {tuple(y_true.shape)} and model output of shape {tuple(y_pred.shape)}"
    if "sparse" in name.lower():
        fits = len(pred_tail) >= 1 and true_tail in (pred_tail[:-1], pred_tail[:-1] + (1,))
        rule = "labels shaped like the output without its class axis"
    else:
        true_tail, pred_tail = _same_rank_shapes(true_tail, pred_tail)
        fits = len(true_tail) != len(pred_tail) or true_tail == pred_tail
        rule = "labels of the output's shape (up to a trailing axis of size 1)"
    if not fits:
        raise ValueError(
            f"The model output{where} does not fit the loss {name!r}: {shapes}; it needs {rule}."
        )
    try:
        jax.eval_shape(loss, y_true, y_pred)
        values = _unreduced_shape(loss, y_true, y_pred)
    except (ValueError, TypeError, IndexError) as error:  # shape errors: re-raised naming the shapes
        raise ValueError(
            f"The model output{where} does not fit the loss {name!r} ({shapes}): {error}"
        ) from error
    if values.ndim > 0 and values.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"The loss {name!r}{where} returned values of shape {values.shape} for {shapes}: "
            "expected one value per example or a scalar."
        )


def can_pad(loss: Any, y_true: jax.ShapeDtypeStruct, y_pred: jax.ShapeDtypeStruct) -> bool:
    """True when a batch padded with zero-weight repeated rows leaves ``loss`` exact.

    That needs per-example values (``loss.call`` keeps the batch axis, so the
    padding can be weighted out) that do not depend on the other rows: a loss
    with ``couples_examples = True`` (in-batch pairs, as Circle) would see the
    repeated rows as extra pairs.
    """
    if getattr(loss, "couples_examples", False):
        return False
    return _unreduced_shape(loss, y_true, y_pred).ndim > 0


def _unreduced_shape(
    loss: Any, y_true: jax.ShapeDtypeStruct, y_pred: jax.ShapeDtypeStruct
) -> jax.ShapeDtypeStruct:
    """Shape of ``loss.call``'s values; its inputs are floats, as ``Loss.__call__`` passes them."""
    as_float = jax.ShapeDtypeStruct(y_true.shape, jnp.float32)
    return jax.eval_shape(loss.call, as_float, y_pred)


def padding_rescale(loss: Any, y_true: jax.Array, y_pred: jax.Array, mask: jax.Array) -> jax.Array:
    """The factor that turns a padded batch's ``sum_over_batch_size`` loss into its real rows' loss.

    Such a loss divides its weighted sum by the number of entries it counts: every
    entry, or, for a loss with a ``compute_mask`` (``ignore_class``; Circle's
    positive queries), the entries of that mask (Keras's rule). Padded rows have
    zero weight, so the sum is already that of the real rows; the divisor still
    counts the padded rows' entries, and this factor, ``counted(all rows) /
    counted(real rows)``, replaces it by the real rows' count. Without padding
    (``mask`` all ones) it is 1; when no real entry counts the loss is 0 already
    and the factor is 1.

    Args:
      loss: the loss object (``loss.call``, optional ``loss.compute_mask``, ``loss.dtype``).
      y_true: labels of the padded batch.
      y_pred: model output of the padded batch.
      mask: ``[batch]``, 1.0 for real rows and 0.0 for padding.

    Returns:
      A float32 scalar.

    >>> import jax.numpy as jnp
    >>> from jaxloss import losses
    >>> loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    >>> labels, probs = jnp.array([0, -1, 1, 0]), jnp.full((4, 2), 0.5)
    >>> float(padding_rescale(loss, labels, probs, jnp.array([1.0, 1.0, 1.0, 0.0])))  # 3 / 2
    1.5
    """
    rows = mask.astype(jnp.float32)
    counted = _counted_entries(loss, y_true, y_pred)
    if counted is None or counted.ndim == 0:
        return rows.shape[0] / jnp.sum(rows)
    per_row = jnp.sum(jnp.reshape(counted.astype(jnp.float32), (counted.shape[0], -1)), axis=1)
    real = jnp.sum(per_row * rows)
    return jnp.where(real > 0, jnp.sum(per_row) / jnp.where(real > 0, real, 1.0), 1.0)


def _counted_entries(loss: Any, y_true: jax.Array, y_pred: jax.Array) -> jax.Array | None:
    """The loss's own boolean mask of counted entries (as ``Loss.__call__`` computes it), or None."""
    compute_mask = getattr(loss, "compute_mask", None)
    if compute_mask is None:
        return None
    dtype = getattr(loss, "dtype", None) or jnp.float32
    y_true, y_pred = jnp.asarray(y_true).astype(dtype), jnp.asarray(y_pred).astype(dtype)
    return compute_mask(y_true, y_pred, loss.call(y_true, y_pred))
