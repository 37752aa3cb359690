"""The array rules optax's losses apply before the mathematics: broadcasting, class axes
given as a tuple (or ``None``, all axes), and a ``where`` of lower rank."""

from __future__ import annotations

from typing import overload

import jax
import jax.numpy as jnp

from jaxloss._src import validation


@overload
def broadcast_pair(
    first: jax.typing.ArrayLike, second: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]: ...
@overload
def broadcast_pair(first: jax.typing.ArrayLike, second: None) -> tuple[jax.Array, None]: ...
@overload
def broadcast_pair(
    first: jax.typing.ArrayLike, second: jax.typing.ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]: ...
def broadcast_pair(
    first: jax.typing.ArrayLike, second: jax.typing.ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """Both arrays broadcast to their common shape (optax's arithmetic broadcasts them)."""
    first = jnp.asarray(first)
    if second is None:
        return first, None
    first, second = jnp.broadcast_arrays(first, jnp.asarray(second))
    return first, second


def expand_where(where: jax.typing.ArrayLike | None, ndim: int, axis) -> jax.Array | None:
    """optax's rule: a ``where`` of another rank than the logits gets the class ``axis``
    (size 1) inserted, so that it selects whole examples."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.ndim != ndim:
        where = jnp.expand_dims(where, tuple(range(ndim)) if axis is None else axis)
    return where


def class_axes(axis, ndim: int) -> tuple[int, ...] | None:
    """The class axes of a tuple (or ``None``: all) ``axis``, sorted; None for an int axis."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return tuple(sorted(validation.canonical_axis(a, ndim) for a in axis))
    return None


@overload
def classes_last(array: jax.Array, axes: tuple[int, ...]) -> jax.Array: ...
@overload
def classes_last(array: None, axes: tuple[int, ...]) -> None: ...
@overload
def classes_last(array: jax.Array | None, axes: tuple[int, ...]) -> jax.Array | None: ...
def classes_last(array: jax.Array | None, axes: tuple[int, ...]) -> jax.Array | None:
    """``array`` with the class ``axes`` moved to the end and merged into one axis."""
    if array is None:
        return None
    batch = tuple(a for a in range(array.ndim) if a not in axes)
    moved = jnp.transpose(array, batch + axes)
    return moved.reshape(moved.shape[: len(batch)] + (-1,))
