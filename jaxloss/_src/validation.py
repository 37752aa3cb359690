"""Input checks shared by every loss: written once, called everywhere.

Shape, dtype and hyperparameter problems are found from static information at
trace time and raised as ``ValueError`` naming the argument, what was expected
and what was given. Problems that depend on values (an integer label outside
``[0, num_classes)``) cannot raise under ``jax.jit``; the kernels turn the
affected example's loss into NaN with :func:`nan_where` instead, so that a bad
value is never reported as a plausible finite number.
"""

from __future__ import annotations

import numbers
from typing import Any, TypeGuard, overload

import jax
import jax.core
import jax.numpy as jnp
import numpy as np

HALF_FLOAT_DTYPES = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def is_traced(value: Any) -> bool:
    """True when ``value`` is an abstract tracer whose number is unknown at trace time."""
    return isinstance(value, jax.core.Tracer)


def is_static_number(value: Any) -> TypeGuard[float]:
    """True for a Python (or NumPy) real number that is not a bool: a hyperparameter that is
    compiled in as a constant rather than traced.

    Example:
      >>> import jax.numpy as jnp
      >>> is_static_number(2.0), is_static_number(True), is_static_number(jnp.asarray(2.0))
      (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_floating(name: str, array: jax.typing.ArrayLike) -> None:
    """Raise unless ``array`` has a floating-point dtype."""
    dtype = jnp.result_type(array)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"`{name}` must have a floating-point dtype, got {dtype} "
            f"(shape {jnp.shape(array)}). Cast it, e.g. `{name}.astype(jnp.float32)`."
        )


def check_integer(name: str, array: jax.typing.ArrayLike) -> None:
    """Raise unless ``array`` has an integer dtype (class indices)."""
    dtype = jnp.result_type(array)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(
            f"`{name}` must hold integer class indices, got dtype {dtype} "
            f"(shape {jnp.shape(array)}). For one-hot or soft labels use the dense "
            "(non-sparse) form of this loss."
        )


def check_same_shape(
    name_a: str, a: jax.typing.ArrayLike, name_b: str, b: jax.typing.ArrayLike
) -> None:
    """Raise unless ``a`` and ``b`` have exactly the same shape (no broadcasting)."""
    shape_a, shape_b = jnp.shape(a), jnp.shape(b)
    if shape_a != shape_b:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same shape, "
            f"got {name_a}.shape={shape_a} and {name_b}.shape={shape_b}."
        )


def canonical_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Return ``axis`` as a non-negative index, or raise if it is out of range."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ValueError(f"`{name}` must be an int, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"`{name}`={axis} is out of range for an input of rank {ndim} "
            f"(valid: {-ndim} to {ndim - 1})."
        )
    return int(axis) % ndim


def check_in_interval(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise if a concrete hyperparameter lies outside an interval.

    Traced values (a hyperparameter passed through ``jit`` as an array) cannot be
    checked at trace time and are let through; array values are checked element-wise.
    """
    if value is None or is_traced(value):
        return
    values = np.asarray(value, dtype=np.float64)
    below = values < low if low_inclusive else values <= low
    above = values > high if high_inclusive else values >= high
    if np.any(below | above) or np.any(np.isnan(values)):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(f"`{name}` must lie in {left}{low}, {high}{right}, got {value!r}.")


def check_non_negative(name: str, value: Any) -> None:
    """Raise if a concrete hyperparameter is negative (or NaN)."""
    check_in_interval(name, value, 0.0, float("inf"))


def check_positive(name: str, value: Any) -> None:
    """Raise if a concrete hyperparameter is zero, negative (or NaN)."""
    check_in_interval(name, value, 0.0, float("inf"), low_inclusive=False)


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """True when an array of ``shape`` broadcasts to ``target`` without changing it.

    Example:
      >>> broadcasts_to((3, 1), (2, 3, 4)), broadcasts_to((2, 4), (2, 3, 4))
      (True, False)
    """
    try:
        return jnp.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def check_broadcasts(name: str, value: jax.typing.ArrayLike, shape: tuple, target: str) -> None:
    """Raise unless ``value`` broadcasts to ``shape``, the shape of the argument ``target``."""
    if not broadcasts_to(jnp.shape(value), shape):
        raise ValueError(
            f"`{name}` of shape {jnp.shape(value)} does not broadcast to "
            f"{target}.shape={tuple(shape)}."
        )


def check_where(name: str, where: jax.typing.ArrayLike | None, loss_shape: tuple) -> None:
    """Raise unless a ``where`` mask is boolean and broadcasts to the per-example loss shape."""
    if where is None:
        return
    dtype = jnp.result_type(where)
    if dtype != jnp.bool_:
        raise ValueError(f"`{name}` must be a boolean mask, got dtype {dtype}.")
    if not broadcasts_to(jnp.shape(where), loss_shape):
        raise ValueError(
            f"`{name}` of shape {jnp.shape(where)} does not broadcast to the per-example "
            f"loss shape {tuple(loss_shape)}."
        )


def broadcast_where(where: jax.typing.ArrayLike | None, shape: tuple) -> jax.Array | None:
    """Check a ``where`` mask against the first argument's ``shape`` and broadcast it there."""
    check_where("where", where, shape)
    if where is None:
        return None
    return jnp.broadcast_to(jnp.asarray(where), shape)


def check_class_axis(name: str, array: jax.typing.ArrayLike, axis: int) -> int:
    """Return the class ``axis`` of ``array`` as a non-negative index, or raise.

    ``array`` needs at least one axis; ``axis`` must be an int in range.
    """
    ndim = jnp.ndim(array)
    if ndim < 1:
        raise ValueError(
            f"`{name}` must have at least one (class) axis, got shape {jnp.shape(array)}."
        )
    return canonical_axis(axis, ndim)


def check_sparse_labels(
    name: str, scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike, axis: int
) -> None:
    """Raise unless ``labels`` are integers of ``scores``'s shape without the class ``axis``.

    ``name`` is the scores' argument name (``logits`` or ``probs``); ``axis`` is canonical.
    """
    check_integer("labels", labels)
    shape = jnp.shape(scores)
    expected = shape[:axis] + shape[axis + 1 :]
    if jnp.shape(labels) != expected:
        raise ValueError(
            f"`labels` must have the shape of `{name}` without the class axis {axis}: "
            f"expected {expected}, got labels.shape={jnp.shape(labels)} for "
            f"{name}.shape={shape}."
        )


def check_labels_without_class_axis(
    labels: jax.typing.ArrayLike, logits_shape: tuple, axis: int
) -> None:
    """Raise unless ``labels`` have the logits' shape without the class ``axis`` (the focal
    losses' wording of :func:`check_sparse_labels`'s shape rule; the dtype is checked apart).

    Example:
      >>> import jax.numpy as jnp
      >>> check_labels_without_class_axis(jnp.zeros(3, jnp.int32), (2, 3), 1)
      Traceback (most recent call last):
      ...
      ValueError: `labels` must have the logits' shape without the class axis 1, (2,), got labels.shape=(3,) for logits.shape=(2, 3).
    """
    expected = logits_shape[:axis] + logits_shape[axis + 1 :]
    if jnp.shape(labels) != expected:
        raise ValueError(
            f"`labels` must have the logits' shape without the class axis {axis}, "
            f"{expected}, got labels.shape={jnp.shape(labels)} for logits.shape={logits_shape}."
        )


@overload
def check_ignore_index(ignore_index: int) -> int: ...
@overload
def check_ignore_index(ignore_index: Any) -> int | None: ...
def check_ignore_index(ignore_index: Any) -> int | None:
    """Return ``ignore_index`` as a Python int (or None), or raise if it is not an int."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ValueError(f"`ignore_index` must be an int or None, got {ignore_index!r}.")
    return int(ignore_index)


def check_label_smoothing(label_smoothing: Any) -> None:
    """Raise unless a concrete ``label_smoothing`` lies in ``[0, 1]``."""
    check_in_interval("label_smoothing", label_smoothing, 0.0, 1.0)


def check_dense_labels(
    name: str,
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int,
    label_smoothing: Any,
) -> int:
    """Raise unless class ``scores`` (argument ``name``) and dense ``labels`` are floating
    arrays of one shape with a class ``axis``, and ``label_smoothing`` lies in ``[0, 1]``.

    Returns:
      ``axis`` as a non-negative index.

    Example:
      >>> import jax.numpy as jnp
      >>> check_dense_labels("logits", jnp.zeros((2, 3)), jnp.zeros((2, 3)), -1, 0.1)
      1
    """
    check_floating(name, scores)
    check_floating("labels", labels)
    check_same_shape(name, scores, "labels", labels)
    axis = check_class_axis(name, scores, axis)
    check_label_smoothing(label_smoothing)
    return axis


def check_clip_epsilon(epsilon: Any) -> None:
    """Raise unless the probability forms' clipping constant ``epsilon`` lies in ``[0, 0.5)``."""
    check_in_interval("epsilon", epsilon, 0.0, 0.5, high_inclusive=False)


def check_precise(precise: Any) -> None:
    """Raise unless ``precise`` is a Python (or NumPy) bool: it picks a form at trace time."""
    if not isinstance(precise, (bool, np.bool_)):
        raise ValueError(f"precise must be True or False (a Python bool), got {precise!r}.")


def check_gamma(gamma: Any) -> None:
    """Raise unless the focusing parameter ``gamma`` is a scalar and, when concrete, >= 0.

    Example:
      >>> check_gamma(-1.0)
      Traceback (most recent call last):
      ...
      ValueError: `gamma` must lie in [0.0, inf], got -1.0.
    """
    if not is_static_number(gamma) and jnp.shape(gamma) != ():
        raise ValueError(f"`gamma` must be a scalar, got shape {jnp.shape(gamma)}.")
    check_non_negative("gamma", gamma)


def check_alpha(alpha: Any, shape: tuple, target: str) -> None:
    """Raise unless an elementwise weight ``alpha`` is None, or lies in [0, 1] and broadcasts
    to ``shape`` (``target`` names that shape in the message).

    Example:
      >>> import jax.numpy as jnp
      >>> check_alpha(jnp.full(3, 0.5), (2, 2), "the logits' shape")
      Traceback (most recent call last):
      ...
      ValueError: `alpha` of shape (3,) does not broadcast to the logits' shape (2, 2).
    """
    if alpha is None:
        return
    if not is_static_number(alpha) and not broadcasts_to(jnp.shape(alpha), shape):
        raise ValueError(
            f"`alpha` of shape {jnp.shape(alpha)} does not broadcast to {target} {tuple(shape)}."
        )
    check_in_interval("alpha", alpha, 0.0, 1.0)


def check_class_alpha(alpha: Any, num_classes: int) -> None:
    """Raise unless a per-class weight ``alpha`` is None, or a scalar or ``[num_classes]``
    array with values in [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> check_class_alpha(jnp.full(2, 0.5), 3)
      Traceback (most recent call last):
      ...
      ValueError: `alpha` must be a scalar or have shape (3,) (one weight per class), got shape (2,).
    """
    if alpha is not None and not is_static_number(alpha) and jnp.ndim(alpha) not in (0, 1):
        raise ValueError(
            f"`alpha` must be a scalar or have shape ({num_classes},), got {jnp.shape(alpha)}."
        )
    if alpha is not None and jnp.ndim(alpha) == 1 and jnp.shape(alpha) != (num_classes,):
        raise ValueError(
            f"`alpha` must be a scalar or have shape ({num_classes},) (one weight per class), "
            f"got shape {jnp.shape(alpha)}."
        )
    check_in_interval("alpha", alpha, 0.0, 1.0)


def check_class_weights(
    class_weights: jax.typing.ArrayLike | None, num_classes: int, name: str = "class_weights"
) -> None:
    """Raise unless ``class_weights`` is None or a floating vector of ``num_classes`` weights.

    Args:
      class_weights: the weights to check, or None.
      num_classes: the size of the class axis.
      name: the argument's name, for the message.

    Example:
      >>> import jax.numpy as jnp
      >>> check_class_weights(jnp.ones(2), 3)
      Traceback (most recent call last):
      ...
      ValueError: `class_weights` must have shape (3,), one weight per class, got class_weights.shape=(2,).
    """
    if class_weights is None:
        return
    check_floating(name, class_weights)
    if jnp.shape(class_weights) != (num_classes,):
        raise ValueError(
            f"`{name}` must have shape ({num_classes},), one weight per class, "
            f"got {name}.shape={jnp.shape(class_weights)}."
        )


def compute_dtype(*arrays: jax.typing.ArrayLike) -> jnp.dtype:
    """The dtype a kernel computes in: float32 for float16/bfloat16 inputs, else the input's.

    Half-precision inputs are read as they are and upcast inside the kernel, so
    exponentials and sums never overflow float16's 65504 or lose bfloat16's
    8-bit mantissa. Float64 stays float64 (with ``jax_enable_x64``).
    """
    floating = [jnp.result_type(a) for a in arrays if jnp.issubdtype(jnp.result_type(a), jnp.floating)]
    if not floating:
        return jnp.dtype(jnp.float32)
    dtype = jnp.dtype(floating[0])
    for other in floating[1:]:
        dtype = jnp.promote_types(dtype, other)
    if dtype in HALF_FLOAT_DTYPES:
        return jnp.dtype(jnp.float32)
    return dtype


def check_and_cast_pair(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    where: jax.typing.ArrayLike | None,
    name: str = "predictions",
    epsilon: Any = None,
) -> tuple[jax.Array, jax.Array]:
    """Check a loss's ``predictions`` (argument ``name``), ``targets``, ``where`` and
    ``epsilon``; return the pair in the compute dtype.

    ``predictions`` must be floating, ``targets`` of the same shape, ``where`` None or a
    boolean mask broadcasting to ``predictions``, ``epsilon`` None or non-negative.

    Example:
      >>> import jax.numpy as jnp
      >>> predictions, targets = check_and_cast_pair(
      ...     jnp.zeros(2, jnp.float16), jnp.ones(2, jnp.int32), None
      ... )
      >>> predictions.dtype, targets.dtype
      (dtype('float32'), dtype('float32'))
    """
    check_floating(name, predictions)
    check_same_shape(name, predictions, "targets", targets)
    check_where("where", where, jnp.shape(predictions))
    check_non_negative("epsilon", epsilon)
    dtype = compute_dtype(predictions)
    return jnp.asarray(predictions).astype(dtype), jnp.asarray(targets).astype(dtype)


def nan_where(condition: jax.Array, values: jax.Array) -> jax.Array:
    """Replace ``values`` by NaN where ``condition`` holds: the under-``jit`` error signal."""
    return jnp.where(condition, jnp.asarray(jnp.nan, values.dtype), values)


def outside_unit_interval(values: jax.Array) -> jax.Array:
    """True where ``values`` lie outside ``[0, 1]`` or are NaN (not probabilities or binary labels).

    Args:
      values: probabilities or binary labels.

    Returns:
      A boolean array of ``values``'s shape.

    Example:
      >>> import jax.numpy as jnp
      >>> outside_unit_interval(jnp.array([0.0, 1.0, 1.5, -0.1, jnp.nan]))
      Array([False, False,  True,  True,  True], dtype=bool)
    """
    return ~((values >= 0) & (values <= 1))


def invalid_scores(probs: jax.Array) -> jax.Array:
    """True where class scores cannot be normalised into probabilities: negative, inf or NaN.

    Args:
      probs: non-negative class scores (probabilities, or scores divided by their sum).

    Returns:
      A boolean array of ``probs``'s shape.

    Example:
      >>> import jax.numpy as jnp
      >>> invalid_scores(jnp.array([0.0, 3.0, -0.5, jnp.inf]))
      Array([False, False,  True,  True], dtype=bool)
    """
    return ~((probs >= 0) & (probs < jnp.inf))


def any_along(
    condition: jax.Array, axis: int, mask: jax.Array | None = None
) -> jax.Array:
    """``condition`` reduced with ``any`` over ``axis`` (elements outside ``mask`` ignored).

    Args:
      condition: a boolean array.
      axis: the axis to reduce.
      mask: optional boolean array broadcastable to ``condition``; False entries are ignored.

    Returns:
      ``condition``'s shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> any_along(jnp.array([[True, False], [False, False]]), axis=-1)
      Array([ True, False], dtype=bool)
    """
    if mask is not None:
        condition = condition & mask
    return jnp.any(condition, axis=axis)


def apply_where(loss: jax.Array, where: jax.typing.ArrayLike | None) -> jax.Array:
    """Zero the per-example loss outside the ``where`` mask (gradients there are zero too)."""
    if where is None:
        return loss
    return jnp.where(where, loss, jnp.zeros((), loss.dtype))
