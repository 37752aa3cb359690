"""Opt-in checked mode: value-dependent input errors raised even under ``jax.jit``.

Shapes and dtypes are checked at trace time by :mod:`jaxloss._src.validation`.
What depends on the values (a label outside ``[0, num_classes)``, a probability
outside ``[0, 1]``, a NaN) cannot raise in compiled code, so by default the kernels
turn the affected loss into NaN. Inside ``with jaxloss.checks():`` the kernels
also add a check to the traced computation: a few reductions find the first
offending element, and a host callback raises :class:`CheckError` naming the
loss, the argument, the element's index and its value.

How it behaves
    * The flag is a JAX configuration state that is part of ``jax.jit``'s cache
      key (like ``jax.numpy_rank_promotion``): a function jitted before entering
      ``checks()`` is traced again, checked, on its first call inside the block,
      and finds its unchecked compiled code again after the block. Its initial
      value comes from the environment variable ``JAXLOSS_CHECKS`` (``1`` turns
      checked mode on for the whole process).
    * Eagerly the error is a :class:`CheckError` (a ``ValueError``). Under ``jit``
      the host callback's error reaches the caller wrapped by XLA as a
      ``jax.errors.JaxRuntimeError`` (a ``RuntimeError``) whose message contains
      ours; :func:`raised_check_error` tells the two apart from other errors.
    * Works under ``jit``, ``grad`` (the check runs in the forward pass) and
      ``vmap``: a mapped call reports the first offending element of the whole
      batch once, its index starting with the mapped axes.
    * Off (the default) nothing is added: the compiled code is the same as without
      this module (tested: no callback in the lowered text).

Example:
  >>> import jax.numpy as jnp
  >>> import jaxloss
  >>> with jaxloss.checks():
  ...     jaxloss.sparse_softmax_cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 3]))
  Traceback (most recent call last):
  ...
  jaxloss._src.checks.CheckError: jaxloss.checks: sparse_softmax_cross_entropy: `labels` holds 3 at index (1,), outside [0, 3) ...
"""

from __future__ import annotations

import contextlib
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src import config as jax_config

__all__ = ["CheckError", "checks", "checks_enabled", "raised_check_error"]

# A JAX configuration state (thread-local, like `jax.numpy_rank_promotion`) so that the
# flag is part of the jit cache key: toggling it retraces instead of reusing stale code.
_ENABLED = jax_config.bool_state(
    "jaxloss_checks",
    False,
    help="jaxloss checked mode: value-dependent input checks in every loss (jaxloss.checks()).",
    include_in_jit_key=True,
    include_in_trace_context=True,
)
_MESSAGE_PREFIX = "jaxloss.checks: "


class CheckError(ValueError):
    """A value-dependent input error found in checked mode (see :func:`checks`)."""


class _SkipCheckErrors(logging.Filter):
    """JAX logs every failing debug callback with its traceback; ours are raised anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], CheckError))


logging.getLogger("jax._src.debugging").addFilter(_SkipCheckErrors())


class checks(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns on checked mode while it is active.

    Inside the block every jaxloss kernel traced or called eagerly checks the
    values of its inputs and raises for integer labels outside ``[0, C)`` (other
    than ``ignore_index``), probabilities outside ``[0, 1]`` (probability-space
    losses), labels outside ``[0, 1]`` (binary losses), and NaN or infinite
    inputs, naming the loss, the argument, the first offending index and the
    value. Under ``jax.jit`` the error surfaces as a ``jax.errors.JaxRuntimeError``
    carrying the same message. The flag is part of ``jax.jit``'s cache key, so a
    function jitted before the block is retraced (checked) inside it.

    Args:
      enabled: ``False`` turns checked mode off inside an enclosing ``checks()``.

    Returns:
      A context manager; used as ``@jaxloss.checks()`` it wraps a function so that
      its calls (and traces) run in checked mode.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> probs = jnp.array([[0.5, 1.5]])
      >>> labels = jnp.array([[0.0, 1.0]])
      >>> with jaxloss.checks():
      ...     jax.jit(jaxloss.binary_cross_entropy)(probs, labels)
      Traceback (most recent call last):
      ...
      jax.errors.JaxRuntimeError: ... binary_cross_entropy: `probs` holds 1.5 at index (0, 1), outside [0, 1] ...
    """

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)
        self._contexts: list = []

    def __enter__(self):
        context = _ENABLED(self.enabled)
        context.__enter__()
        self._contexts.append(context)
        return self

    def __exit__(self, *exc_info) -> None:
        self._contexts.pop().__exit__(*exc_info)


def checks_enabled() -> bool:
    """True inside :func:`checks` (read while tracing: this is what the kernels consult).

    Returns:
      Whether checked mode is on in the current context.

    Example:
      >>> import jaxloss
      >>> from jaxloss._src.checks import checks_enabled
      >>> with jaxloss.checks():
      ...     checks_enabled()
      True
      >>> checks_enabled()
      False
    """
    return bool(_ENABLED.value)


def raised_check_error(error: BaseException) -> bool:
    """True when ``error`` is a checked-mode error, raised eagerly or wrapped by XLA under ``jit``.

    Args:
      error: an exception caught around a jaxloss call.

    Returns:
      Whether it carries a :class:`CheckError` message.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> try:
      ...     with jaxloss.checks():
      ...         jaxloss.squared_error(jnp.array([jnp.nan]), jnp.array([0.0]))
      ... except Exception as error:
      ...     print(jaxloss.raised_check_error(error))
      True
    """
    return isinstance(error, CheckError) or _MESSAGE_PREFIX in str(error)


# ------------------------------------------------------------------------- reporting


def _raise(message: str, found, index, value) -> None:
    """Host side: raise :class:`CheckError` if ``found``."""
    if not bool(np.asarray(found)):
        return
    index = tuple(int(i) for i in np.asarray(index).reshape(-1))
    value = np.asarray(value).item()
    raise CheckError(message.format(index=index, value=value))


def _make_reporter(message: str):
    """A function ``report(found, index, value)`` that raises on the host when ``found``.

    Under ``vmap`` JAX would repeat a host callback once per mapped element; the
    custom batching rule instead picks the first mapped element that failed and
    reports it once, its position prepended to the index.
    """

    @jax.custom_batching.custom_vmap
    def report(found, index, value):
        jax.debug.callback(functools.partial(_raise, message), found, index, value)
        return found

    @report.def_vmap
    def _report_vmap(axis_size, in_batched, found, index, value):
        found, index, value = (
            x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))
            for x, batched in zip((found, index, value), in_batched, strict=True)
        )
        first = jnp.argmax(found)
        position = jnp.concatenate([first[None].astype(index.dtype), index[first]])
        return report(jnp.any(found), position, value[first]), False

    return report


def _report_first(loss: str, argument: str, array, bad, problem: str) -> None:
    """Add a check that raises naming the first element of ``array`` where ``bad`` holds."""
    if array.size == 0:
        return
    array = lax.stop_gradient(array)
    flat_bad = jnp.ravel(jnp.broadcast_to(bad, array.shape))
    flat = jnp.argmax(flat_bad)
    index = jnp.stack([jnp.asarray(i, jnp.int32) for i in jnp.unravel_index(flat, array.shape)])
    if array.ndim == 0:
        index = jnp.zeros((0,), jnp.int32)
    message = (
        f"{_MESSAGE_PREFIX}{loss}: `{argument}` holds {{value}} at index {{index}}, {problem} "
        f"(index into {argument} of shape {tuple(array.shape)}; under vmap the leading entries "
        "index the mapped axes)."
    )
    _make_reporter(message)(jnp.any(flat_bad), index, jnp.ravel(array)[flat])


def _unmasked(bad, where, shape):
    """``bad`` restricted to the elements a ``where`` mask keeps (when it fits ``shape``)."""
    if where is None:
        return bad
    where = jnp.asarray(where)
    try:
        if jnp.broadcast_shapes(where.shape, shape) != tuple(shape):
            return bad
    except ValueError:
        return bad
    return bad & where


# -------------------------------------------------------------- checks the kernels call


def check_finite(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if a floating ``array`` holds NaN or an infinity (else nothing).

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: the input; non-floating arrays are not checked.
      where: optional mask; elements it masks out are not checked.
    """
    if not _ENABLED.value or array is None:
        return
    array = jnp.asarray(array)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        return
    bad = _unmasked(~jnp.isfinite(array), where, array.shape)
    _report_first(loss, argument, array, bad, "not a finite number")


def _check_range(loss, argument, array, where, high, problem) -> None:
    if not _ENABLED.value or array is None:
        return
    array = jnp.asarray(array)
    check_finite(loss, argument, array, where=where)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.float32)
    bad = array < 0 if high is None else (array < 0) | (array > high)
    _report_first(loss, argument, array, _unmasked(bad, where, array.shape), problem)


def check_unit_interval(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if ``array`` holds a value outside ``[0, 1]`` or NaN/inf.

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: probabilities or binary labels.
      where: optional mask; elements it masks out are not checked.
    """
    _check_range(loss, argument, array, where, 1.0, "outside [0, 1]")


def check_non_negative(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if ``array`` holds a negative value or NaN/inf.

    For the categorical probability-space losses, whose class scores are divided by
    their row sum (as Keras does) and so may exceed 1.

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: non-negative class scores.
      where: optional mask; elements it masks out are not checked.
    """
    _check_range(loss, argument, array, where, None, "negative (class probabilities must be >= 0)")


def check_class_labels(
    loss: str, labels, num_classes: int, *, ignore_index: int | None = None
) -> None:
    """In checked mode, raise if an integer label lies outside ``[0, num_classes)``.

    Labels equal to ``ignore_index`` are allowed.

    Args:
      loss: the public name of the loss, for the message.
      labels: integer class indices.
      num_classes: the size of the class axis.
      ignore_index: a label value that is skipped, or None.
    """
    if not _ENABLED.value:
        return
    labels = jnp.asarray(labels)
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad = bad & (labels != ignore_index)
    ignored = "" if ignore_index is None else f" and not ignore_index={ignore_index}"
    problem = f"outside [0, {num_classes}){ignored} (the class axis has {num_classes} classes)"
    _report_first(loss, "labels", labels, bad, problem)


def check_whole_numbers(loss: str, argument: str, labels) -> None:
    """In checked mode, raise if float class labels hold a value that is not a whole number.

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      labels: class indices given as floats (as Keras's ``y_true``).
    """
    if not _ENABLED.value:
        return
    labels = jnp.asarray(labels)
    bad = labels != jnp.round(labels)
    _report_first(loss, argument, labels, bad, "not a whole number (an integer class index)")
