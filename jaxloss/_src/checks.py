"""Opt-in checked mode: value-dependent input errors raised even under ``jax.jit``.

Shapes and dtypes are checked at trace time by :mod:`jaxloss._src.validation`.
What depends on the values (a label outside ``[0, num_classes)``, a probability
outside ``[0, 1]``, a NaN) cannot raise in compiled code, so by default the kernels
turn the affected loss into NaN. Inside ``with jaxloss.checks():`` the kernels
also add a check to the traced computation: one min/max reduction per checked
input decides whether anything is wrong, and only then (a ``lax.cond`` branch)
the first offending element is searched and a host callback raises
:class:`CheckError` naming the loss, the argument, the element's index (a
multi-dimensional index into that argument) and its value.

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
    * On a device mesh the callback is partitioned: every device raises the same
      error (the reduced flag and index are replicated), so none is left waiting
      in a collective for a device that stopped.
    * Off (the default) nothing is added: the compiled code is the same as without
      this module (tested: no callback in the lowered text). On, it costs the extra
      reductions; ``bench/studies/checks_overhead/`` measures it (the docs' input-rules guide).

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
import jax.core
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src import config as jax_config

from jaxloss._src import validation

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
        jax.debug.callback(
            functools.partial(_raise, message), found, index, value, partitioned=True
        )
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


def _report_first(loss: str, argument: str, array, found, offending, problem: str) -> None:
    """Add a check that raises naming the first element of ``array`` that is ``offending``.

    ``found`` (a traced bool) says whether there is one; ``offending(array)`` gives the
    elementwise mask. The search for the first offender (an argmax, slow on XLA:CPU) and
    the host callback run in a ``lax.cond`` branch taken only when ``found``: a valid
    input costs the reductions behind ``found``. (Under ``vmap`` the branch runs for every
    element and the callback sees each element's own ``found``.)
    """
    message = (
        f"{_MESSAGE_PREFIX}{loss}: `{argument}` holds {{value}} at index {{index}}, {problem} "
        f"(index into {argument} of shape {tuple(array.shape)}; under vmap the leading entries "
        "index the mapped axes)."
    )

    def report(found, array):
        flat = jnp.argmax(jnp.ravel(offending(array)))
        index = [jnp.asarray(i, jnp.int32) for i in jnp.unravel_index(flat, array.shape)]
        index = jnp.stack(index) if index else jnp.zeros((0,), jnp.int32)
        _make_reporter(message)(found, index, jnp.ravel(array)[flat])

    if isinstance(found, jax.core.Tracer):
        lax.cond(found, report, lambda *_: None, found, array)
    elif bool(found):  # called eagerly: raise here, as a plain CheckError
        flat = int(jnp.argmax(jnp.ravel(offending(array))))
        _raise(message, True, np.unravel_index(flat, array.shape), jnp.ravel(array)[flat])


def _prepared(array, where):
    """``array`` as a stop-gradient JAX array, its mask broadcast to it (or None), or None."""
    if not _ENABLED.value or array is None:
        return None, None
    array = lax.stop_gradient(jnp.asarray(array))
    if array.size == 0:
        return None, None
    if where is not None:
        where = jnp.asarray(where)
        fits = validation.broadcasts_to(where.shape, array.shape)
        where = jnp.broadcast_to(where, array.shape) if fits else None
    return array, where


def _kept(array, where, neutral):
    """``array`` with the elements outside ``where`` replaced by a harmless ``neutral``."""
    if where is None:
        return array
    return jnp.where(where, array, jnp.asarray(neutral, array.dtype))


def _masked(condition, where):
    return condition if where is None else condition & where


# -------------------------------------------------------------- checks the kernels call


def check_finite(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if a floating ``array`` holds NaN or an infinity (else nothing).

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: the input; non-floating arrays are not checked.
      where: optional mask; elements it masks out are not checked.

    Example:
      >>> import jax.numpy as jnp
      >>> check_finite("my_loss", "x", jnp.array([1.0, jnp.inf]))  # off: nothing happens
      >>> with checks():
      ...     check_finite("my_loss", "x", jnp.array([1.0, jnp.inf]))
      Traceback (most recent call last):
      ...
      jaxloss._src.checks.CheckError: jaxloss.checks: my_loss: `x` holds inf at index (1,), not a finite number ...
    """
    array, where = _prepared(array, where)
    if array is None or not jnp.issubdtype(array.dtype, jnp.floating):
        return
    # One max over |x| is NaN or inf exactly when some element is (vectorises on CPU).
    found = ~jnp.isfinite(jnp.max(jnp.abs(_kept(array, where, 0))))
    _report_first(
        loss,
        argument,
        array,
        found,
        lambda a: _masked(~jnp.isfinite(a), where),
        "not a finite number",
    )


def _check_range(loss, argument, array, where, high, problem) -> None:
    """Raise for values outside ``[0, high]`` (``high=None``: ``[0, inf)``), NaN included."""
    array, where = _prepared(array, where)
    if array is None:
        return
    kept = _kept(array, where, 0)
    # min/max propagate NaN, which fails every comparison: one pass finds all three.
    largest = jnp.max(kept)
    upper_ok = (largest < jnp.inf) if high is None else (largest <= high)
    found = ~((jnp.min(kept) >= 0) & upper_ok)

    def offending(a):
        inside = (a >= 0) & ((a < jnp.inf) if high is None else (a <= high))
        return _masked(~inside, where)

    _report_first(loss, argument, array, found, offending, problem)


def check_unit_interval(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if ``array`` holds a value outside ``[0, 1]`` (or NaN).

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: probabilities or binary labels.
      where: optional mask; elements it masks out are not checked.

    Example:
      >>> import jax.numpy as jnp
      >>> with checks():
      ...     check_unit_interval("my_loss", "probs", jnp.array([[0.5, 1.5]]))
      Traceback (most recent call last):
      ...
      jaxloss._src.checks.CheckError: jaxloss.checks: my_loss: `probs` holds 1.5 at index (0, 1), outside [0, 1] ...
    """
    _check_range(loss, argument, array, where, 1, "outside [0, 1]")


def check_non_negative(loss: str, argument: str, array, *, where=None) -> None:
    """In checked mode, raise if ``array`` holds a negative value or NaN/inf.

    For the categorical probability-space losses, whose class scores are divided by
    their row sum (as Keras does) and so may exceed 1, and for dense soft labels.

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      array: non-negative class scores or soft labels.
      where: optional mask; elements it masks out are not checked.

    Example:
      >>> import jax.numpy as jnp
      >>> with checks():
      ...     check_non_negative("my_loss", "scores", jnp.array([2.0, -1.0]))
      Traceback (most recent call last):
      ...
      jaxloss._src.checks.CheckError: jaxloss.checks: my_loss: `scores` holds -1.0 at index (1,), negative ...
    """
    _check_range(loss, argument, array, where, None, "negative or not finite (must be >= 0)")


def check_class_labels(
    loss: str, labels, num_classes: int, *, ignore_index: int | None = None, where=None
) -> None:
    """In checked mode, raise if an integer label lies outside ``[0, num_classes)``.

    Labels equal to ``ignore_index``, and labels outside ``where``, are allowed.

    Args:
      loss: the public name of the loss, for the message.
      labels: integer class indices.
      num_classes: the size of the class axis.
      ignore_index: a label value that is skipped, or None.
      where: optional boolean mask broadcastable to ``labels``: only its True entries
        are checked (e.g. the non-padding positions of a label sequence).

    Example:
      >>> import jax.numpy as jnp
      >>> with checks():
      ...     check_class_labels("my_loss", jnp.array([0, -100, 2]), 3, ignore_index=-100)
      ...     check_class_labels("my_loss", jnp.array([0, 7]), 3)
      Traceback (most recent call last):
      ...
      jaxloss._src.checks.CheckError: jaxloss.checks: my_loss: `labels` holds 7 at index (1,), outside [0, 3) ...
    """
    labels, where = _prepared(labels, where)
    if labels is None:
        return
    checked = where if ignore_index is None else _masked(labels != ignore_index, where)
    kept = _kept(labels, checked, 0)
    found = (jnp.min(kept) < 0) | (jnp.max(kept) >= num_classes)

    def offending(a):
        bad = (a < 0) | (a >= num_classes)
        if ignore_index is not None:
            bad = bad & (a != ignore_index)
        return _masked(bad, where)

    ignored = "" if ignore_index is None else f" and not ignore_index={ignore_index}"
    problem = f"outside [0, {num_classes}){ignored} (the class axis has {num_classes} classes)"
    _report_first(loss, "labels", labels, found, offending, problem)


def check_whole_numbers(loss: str, argument: str, labels) -> None:
    """In checked mode, raise if float class labels hold a value that is not a whole number.

    Args:
      loss: the public name of the loss, for the message.
      argument: the argument's name, for the message.
      labels: class indices given as floats (as Keras's ``y_true``).

    Example:
      >>> import jax.numpy as jnp
      >>> with checks():
      ...     check_whole_numbers("my_loss", "y_true", jnp.array([1.0, 1.7]))
      Traceback (most recent call last):
      ...
      jaxloss._src.checks.CheckError: jaxloss.checks: my_loss: `y_true` holds 1.7... at index (1,), not a whole number ...
    """
    labels, _ = _prepared(labels, None)
    if labels is None:
        return
    found = ~(jnp.max(jnp.abs(labels - jnp.round(labels))) == 0)  # NaN counts
    _report_first(
        loss,
        argument,
        labels,
        found,
        lambda a: ~(a == jnp.round(a)),
        "not a whole number (an integer class index)",
    )
