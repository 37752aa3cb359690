"""Reductions: how per-example losses, weighted and masked, become what a loss returns.

Every layer of jaxloss names its reductions from the lists here and reduces with
:func:`reduce_losses`. The names are Keras 3's:

* ``"sum"``: the sum of the (weighted) losses.
* ``"sum_over_batch_size"``: the sum divided by the number of loss entries that
  count: every entry, or those a mask keeps (``ignore_class``, ignored tokens).
* ``"mean"``: the same as ``"sum_over_batch_size"`` (Keras's synonym, and PyTorch's name).
* ``"mean_with_sample_weight"``: the sum divided by the sum of the sample weights.
* ``"none"`` and ``None``: no reduction, the losses are returned as they are.

A division whose divisor is 0 (every entry masked, weights summing to 0) gives 0, with
gradient 0, rather than NaN.

Which callers take which names, and why:

* :mod:`jaxloss.losses`, the Keras layer: all of :data:`REDUCTIONS`, Keras 3's list.
* :func:`jaxloss.fused_linear_cross_entropy`: :data:`TORCH_REDUCTIONS` (``"mean"``,
  ``"sum"``, ``"none"``), the names of PyTorch's ``cross_entropy`` and of the fused
  kernels it stands in for; it has no sample weights, and its ``"mean"`` counts the
  tokens that are not ignored.
* :mod:`jaxloss.torch`: :data:`TORCH_REDUCTIONS`, checked by :func:`check_torch_reduction`
  (which refuses PyTorch's deprecated ``size_average`` and ``reduce``), and reduced by
  :func:`reduce_torch`: ``"mean"`` divides by the number of entries, or by the sum of the
  weights of the counted entries where PyTorch does (class-weighted ``nll_loss`` and
  ``cross_entropy``, weighted ``l1_loss`` and ``mse_loss``).
* :mod:`jaxloss.train`: the reductions that give one number per batch,
  :data:`SCALAR_REDUCTIONS`, and :data:`AUTO`, Keras 2's default, which Keras 3 reads
  as ``"sum_over_batch_size"``, so that a loss object written for Keras 2 trains as it
  is. Of those, :data:`ENTRY_MEANS` and ``AUTO`` divide by the number of entries, which
  a batch padded to a fixed size must correct.

The sample-weight and mask rules follow Keras 3 (``keras/src/losses/loss.py``) step
for step, with one deliberate extension: a ``sample_weight`` of lower rank than the
per-example loss is aligned with the loss's *leading* axes (per-sample weights
``[batch]`` on a ``[batch, time]`` loss scale whole sequences), where Keras 3
broadcasts trailing axes and raises.
"""

from __future__ import annotations

from typing import overload

import jax
import jax.numpy as jnp

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
NO_REDUCTION = ("none", None)
SCALAR_REDUCTIONS = tuple(name for name in REDUCTIONS if name not in NO_REDUCTION)
# The reductions that divide the sum by the number of entries that count.
ENTRY_MEANS = ("sum_over_batch_size", "mean")
TORCH_REDUCTIONS = ("mean", "sum", "none")
AUTO = "auto"


@overload
def check_reduction(reduction: str, accepted: tuple = REDUCTIONS) -> str: ...
@overload
def check_reduction(reduction: str | None, accepted: tuple = REDUCTIONS) -> str | None: ...
def check_reduction(reduction: str | None, accepted: tuple = REDUCTIONS) -> str | None:
    """Return ``reduction`` if it is one of ``accepted``, else raise ``ValueError``."""
    if not (reduction is None or isinstance(reduction, str)) or reduction not in accepted:
        raise ValueError(
            f"Invalid `reduction`={reduction!r}. Expected one of "
            f"{', '.join(repr(name) for name in accepted)}."
        )
    return reduction


def _legacy_torch_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """The ``reduction`` PyTorch reads from its deprecated flags (None counts as True)."""
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def check_torch_reduction(
    reduction: str, size_average: bool | None = None, reduce: bool | None = None
) -> str:
    """Return PyTorch's ``reduction`` if it is one of :data:`TORCH_REDUCTIONS`, else raise.

    PyTorch's deprecated ``size_average`` and ``reduce`` raise ``ValueError`` when given,
    naming the ``reduction`` they stand for.

    >>> check_torch_reduction("sum")
    'sum'
    >>> check_torch_reduction("mean", reduce=False)
    Traceback (most recent call last):
    ...
    ValueError: `size_average` and `reduce` are deprecated in PyTorch and not accepted: pass `reduction='none'` instead (got size_average=None, reduce=False).
    """
    if size_average is not None or reduce is not None:
        raise ValueError(
            "`size_average` and `reduce` are deprecated in PyTorch and not accepted: pass "
            f"`reduction={_legacy_torch_reduction(size_average, reduce)!r}` instead "
            f"(got size_average={size_average!r}, reduce={reduce!r})."
        )
    return check_reduction(reduction, TORCH_REDUCTIONS)


def reduce_torch(
    values: jax.Array, reduction: str, weights: jax.Array | None = None
) -> jax.Array:
    """Reduce per-entry losses as PyTorch does: ``"none"``, ``"sum"`` or ``"mean"``.

    ``"mean"`` divides the sum by ``sum(weights)`` when ``weights`` are given (the
    weights of the counted entries: 0 for an ignored one), else by the number of
    entries. A zero divisor (every entry ignored, an empty batch) gives 0, where
    PyTorch gives NaN.

    >>> import jax.numpy as jnp
    >>> reduce_torch(jnp.array([2.0, 4.0, 0.0]), "mean", weights=jnp.array([1.0, 2.0, 0.0]))
    Array(2., dtype=float32)
    """
    if reduction == "mean" and weights is not None:
        return reduce_losses(values, "mean_with_sample_weight", sample_weight=weights)
    return reduce_losses(values, reduction)


def divide_no_nan(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 where the denominator is 0 (gradient 0 there)."""
    zero = denominator == 0
    return jnp.where(
        zero, jnp.zeros((), numerator.dtype), numerator / jnp.where(zero, 1, denominator)
    )


def reduce_losses(
    values: jax.Array,
    reduction: str | None,
    *,
    sample_weight: jax.Array | None = None,
    counted: jax.Array | None = None,
) -> jax.Array:
    """Reduce (already weighted) per-example losses by the name ``reduction``.

    Args:
      values: the losses, any shape.
      reduction: one of :data:`REDUCTIONS`.
      sample_weight: the weights ``values`` were multiplied by (as given, not
        broadcast); the divisor of ``"mean_with_sample_weight"`` is their sum.
      counted: a boolean array of the entries that count (those that do not must be
        zero in ``values``); the divisor of :data:`ENTRY_MEANS` is their number, or 1
        when none counts (every entry of ``values`` without it).

    Returns:
      ``values`` itself for ``"none"``/``None``, else a scalar.

    >>> import jax.numpy as jnp
    >>> losses = jnp.array([1.0, 2.0, 0.0])
    >>> reduce_losses(losses, "sum_over_batch_size", counted=jnp.array([True, True, False]))
    Array(1.5, dtype=float32)
    >>> reduce_losses(losses, "mean_with_sample_weight", sample_weight=jnp.array([0.0, 0.0, 0.0]))
    Array(0., dtype=float32)
    """
    check_reduction(reduction)
    if reduction in NO_REDUCTION:
        return values
    total = jnp.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(sample_weight).astype(total.dtype)
    elif counted is not None:
        # A whole count, and the entries that do not count are zero: dividing by at least
        # one gives divide_no_nan's 0 when none counts, in fewer operations.
        count = jnp.sum(counted.astype(total.dtype))
        return total / jnp.maximum(count, jnp.ones((), total.dtype))
    else:
        divisor = jnp.asarray(values.size, total.dtype)
    return divide_no_nan(total, divisor)


def squeeze_or_expand_to_same_rank(
    x1: jax.Array, x2: jax.Array, expand_rank_1: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Match the ranks of two arrays whose ranks differ by one, as Keras 3 does.

    When one array has one more axis than the other and that last axis has size 1,
    it is squeezed, except that a rank-1 partner is expanded instead (with
    ``expand_rank_1``): ``[batch]`` against ``[batch, 1]`` gives two ``[batch, 1]``
    arrays. Anything else is returned unchanged.
    """
    rank1, rank2 = jnp.ndim(x1), jnp.ndim(x2)
    if rank1 == rank2 + 1 and jnp.shape(x1)[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    elif rank2 == rank1 + 1 and jnp.shape(x2)[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def align_weights(
    values: jax.Array, weights: jax.Array, name: str = "sample_weight"
) -> tuple[jax.Array, jax.Array]:
    """Match ``weights`` to ``values`` (Keras's rank rule, then leading-axis alignment).

    Returns ``(values, weights)``: ``values`` may lose a trailing axis of size 1
    (Keras's rule), ``weights`` has the rank of ``values`` and broadcasts to it; a
    scalar ``values`` is spread over the weights' shape (Keras's broadcasting).
    Raises ``ValueError`` naming both shapes when they cannot be matched.
    """
    values, weights = squeeze_or_expand_to_same_rank(values, weights)
    if values.ndim == 0:
        # One loss for the whole batch (Dice with axis=None): Keras spreads it over the
        # weights' shape, so that the mean reduction gives loss * mean(weights).
        return jnp.broadcast_to(values, weights.shape), weights
    if weights.ndim < values.ndim:
        weights = jnp.reshape(weights, weights.shape + (1,) * (values.ndim - weights.ndim))
    matches = weights.ndim == values.ndim and all(
        w in (1, v) for w, v in zip(weights.shape, values.shape, strict=True)
    )
    if not matches:
        raise ValueError(
            f"`{name}` of shape {weights.shape} cannot be matched to the per-example loss "
            f"of shape {values.shape}: it must broadcast to it after aligning leading axes "
            "(e.g. per-sample weights [batch] or per-timestep weights [batch, time])."
        )
    return values, weights


def mask_to_weights(
    mask: jax.typing.ArrayLike, sample_weight: jax.Array | None, reduction: str | None, dtype
) -> jax.Array:
    """Fold a boolean ``mask`` of valid loss entries into the sample weights.

    For :data:`ENTRY_MEANS` valid entries get weight ``total / valid`` so that the
    later division by the number of entries becomes a division by the number of
    *valid* entries (Keras's way); otherwise the weight is 1 or 0.
    """
    mask = jnp.asarray(mask).astype(bool)
    if reduction in ENTRY_MEANS:
        valid = jnp.sum(mask.astype(dtype))
        scale = divide_no_nan(jnp.asarray(mask.size, dtype), valid)
        float_mask = jnp.where(mask, scale, jnp.zeros((), dtype))
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = align_weights(float_mask, sample_weight)
    return sample_weight * float_mask


def reduce_weighted_values(
    values: jax.typing.ArrayLike,
    sample_weight: jax.typing.ArrayLike | None = None,
    mask: jax.typing.ArrayLike | None = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: jax.typing.DTypeLike = jnp.float32,
) -> jax.Array:
    """Weight per-example losses by ``sample_weight`` and ``mask``, then reduce them.

    Args:
      values: per-example losses.
      sample_weight: optional weights, per sample ``[batch]``, per entry, or a
        scalar; matched to ``values`` by ``align_weights``.
      mask: optional boolean array marking the valid loss entries.
      reduction: one of :data:`REDUCTIONS`.
      dtype: the dtype of the computation and of the result.

    Returns:
      The reduced loss (a scalar), or the weighted losses for ``"none"``/``None``;
      scalar or empty ``values`` are returned weighted but not reduced, as in Keras.
    """
    reduction = check_reduction(reduction)
    values = jnp.asarray(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight).astype(dtype)
    if mask is not None:
        sample_weight = mask_to_weights(mask, sample_weight, reduction, dtype)
    if sample_weight is not None:
        values, sample_weight = align_weights(values, sample_weight)
        values = values * sample_weight
    if values.shape in ((), (0,)):
        return values
    return reduce_losses(values, reduction, sample_weight=sample_weight)
