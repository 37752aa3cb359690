"""Losses between distributions and counts: Kullback-Leibler divergences and Poisson.

Two forms of the divergence:

- ``kl_divergence`` and ``poisson_loss`` read probabilities or rates (not logits) and clip
  them with ``epsilon`` as Keras does, so that ``log`` never sees 0. ``kl_divergence``
  gives one value per example (it sums ``axis``); ``poisson_loss`` is elementwise.
- ``log_space_kl_divergence`` and ``generalized_kl_divergence`` read log-predictions (the
  output of a ``log_softmax``) and targets as probabilities or, with ``log_targets=True``,
  log-probabilities: optax's ``kl_divergence``, ``kl_divergence_with_log_targets`` and
  ``generalized_kl_divergence``, and with ``elementwise=True`` PyTorch's ``F.kl_div``
  before its reduction. Nothing is clipped: a target of 0 (or a log-target of ``-inf``)
  contributes exactly 0 whatever the prediction, where the plain formula gives
  ``0 * inf = NaN``.

Half-precision inputs are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``/``probs``/``log_predictions``; ``targets`` of another shape; a ``where``
mask that is not boolean or does not broadcast to the first argument; an ``axis`` out of
range (an int, or for the log-space forms also a tuple of ints or ``None``); a negative
``epsilon``. A negative (or NaN) target gives NaN for its example, and raises in checked
mode.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import checks, validation


def kl_divergence(
    probs: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence ``KL(targets || probs)``, one value per example.

    Both distributions are clipped to ``[epsilon, 1]`` first (as Keras does), with
    ``epsilon`` written :math:`\epsilon`:

    .. math::
        t = \operatorname{clip}(\texttt{targets}, \epsilon, 1), \quad
        p = \operatorname{clip}(\texttt{probs}, \epsilon, 1), \quad
        \ell = \sum_c t_c \log \frac{t_c}{p_c}

    with ``c`` running along ``axis``; so a target of 0 contributes
    ``epsilon * log(epsilon / p)``, about 0, and the gradient with respect to ``probs``
    is ``-t / p`` inside the clip range and 0 outside it (always finite).

    Args:
      probs: floating array of predicted probabilities.
      targets: array of the same shape with the target probabilities.
      axis: the axis holding each distribution.
      epsilon: lower clipping bound for both distributions.
      where: optional boolean mask broadcastable to ``probs``; masked entries
        contribute 0 to the sum.

    Returns:
      The divergence, shape of ``probs`` without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import kl_divergence
    >>> kl_divergence(jnp.array([[0.5, 0.5]]), jnp.array([[1.0, 0.0]]))
    Array([0.69314563], dtype=float32)

    References:
      Kullback and Leibler, "On information and sufficiency", Annals of
      Mathematical Statistics 22(1), 1951.
    """
    probs, targets = validation.check_and_cast_pair(probs, targets, where, "probs", epsilon)
    checks.check_unit_interval("kl_divergence", "probs", probs, where=where)
    checks.check_unit_interval("kl_divergence", "targets", targets, where=where)
    axis = validation.canonical_axis(axis, probs.ndim)
    targets = jnp.clip(targets, epsilon, 1.0)
    # Not jnp.clip, whose derivative is 1/2 at the ends: a probability of exactly 1 (a
    # saturated softmax) must get the gradient -t / p of the docstring's closed range.
    probs = jnp.where(probs < epsilon, epsilon, jnp.where(probs > 1.0, 1.0, probs))
    terms = validation.apply_where(targets * jnp.log(targets / probs), where)
    return jnp.sum(terms, axis=axis)


def poisson_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise Poisson negative log-likelihood, up to a constant in ``targets``.

    .. math::
        \ell = p - t \log(p + \epsilon)

    for predicted rates ``p = predictions >= 0``, observed counts ``t = targets`` and
    ``epsilon`` written :math:`\epsilon`; ``epsilon`` keeps the log
    finite at a rate of exactly 0. A negative rate below ``-epsilon`` gives NaN (the
    log of a negative number), never a finite value.

    Args:
      predictions: floating array of predicted rates (non-negative).
      targets: array of the same shape with the observed counts.
      epsilon: added to the rate inside the logarithm.
      where: optional boolean mask broadcastable to ``predictions``; masked
        elements give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import poisson_loss
    >>> poisson_loss(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]))
    Array([0.9999999, 2.       ], dtype=float32)

    References:
      Keras 3, ``keras.losses.poisson``.
    """
    predictions, targets = validation.check_and_cast_pair(
        predictions, targets, where, epsilon=epsilon
    )
    checks.check_non_negative("poisson_loss", "predictions", predictions, where=where)
    checks.check_non_negative("poisson_loss", "targets", targets, where=where)
    loss = predictions - targets * jnp.log(predictions + epsilon)
    return validation.apply_where(loss, where)


def _canonical_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int, a tuple of ints or ``None`` for all) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) or not isinstance(axis, Sequence):
        # An int, or a value that is neither an int nor a sequence (``True``, ``1.0``):
        # canonical_axis returns the one or names the bad value in a ValueError.
        return (validation.canonical_axis(axis, ndim),)
    axes = tuple(validation.canonical_axis(a, ndim) for a in axis)
    if len(set(axes)) != len(axes):
        raise ValueError(f"`axis`={axis!r} repeats an axis.")
    return tuple(sorted(axes))


def _prepare_log_space(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    where: jax.typing.ArrayLike | None,
) -> tuple[jax.Array, jax.Array]:
    """Check both arrays (floating, one shape) and ``where``; cast to the compute dtype."""
    validation.check_floating("targets", targets)
    return validation.check_and_cast_pair(log_predictions, targets, where, "log_predictions")


def _reduce(terms: jax.Array, axis, where, elementwise: bool) -> jax.Array:
    if elementwise:
        if where is not None:
            where = jnp.broadcast_to(jnp.asarray(where), terms.shape)
        return validation.apply_where(terms, where)
    axes = _canonical_axes(axis, terms.ndim)
    if where is not None:
        terms = jnp.where(where, terms, jnp.zeros((), terms.dtype))
    return jnp.sum(terms, axis=axes)


def _safe_targets(targets: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(t > 0, log t)`` with ``log 1 = 0`` standing in where ``t <= 0``, so that no
    branch of a ``where`` (nor its gradient) ever sees ``log 0``."""
    positive = targets > 0
    return positive, jnp.log(jnp.where(positive, targets, jnp.ones((), targets.dtype)))


def _invalid_terms(terms: jax.Array, log_predictions: jax.Array, bad_targets: jax.Array):
    """NaN where a target is invalid or a log-prediction is NaN, even at a target of 0."""
    return validation.nan_where(bad_targets | jnp.isnan(log_predictions), terms)


def log_space_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    log_targets: bool = False,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
    elementwise: bool = False,
) -> jax.Array:
    r"""Kullback-Leibler divergence ``KL(targets || predictions)`` from log-predictions.

    .. math::
        \ell = \sum_{axis} t\,(\log t - \log p), \qquad 0 \log 0 = 0

    with ``t = targets`` or, for ``log_targets=True``, ``t = exp(targets)``. A target of 0
    (log-target ``-inf``) contributes exactly 0, also where ``log p = -inf`` (optax and
    PyTorch give ``0 * inf = NaN`` there); a positive target on ``log p = -inf`` gives
    ``inf``. The gradient with respect to ``log_predictions`` is ``-t``, always finite.

    Args:
      log_predictions: floating array of predicted log-probabilities.
      targets: array of the same shape: target probabilities (non-negative), or
        log-probabilities with ``log_targets=True``.
      log_targets: read ``targets`` as log-probabilities.
      axis: the axis, axes (a tuple) or all axes (``None``) summed over.
      where: optional boolean mask broadcastable to ``log_predictions``; masked entries
        contribute 0.
      elementwise: return the terms ``t (log t - log p)`` unsummed (PyTorch's
        ``F.kl_div(..., reduction="none")``); ``axis`` is then ignored.

    Returns:
      The divergence, ``log_predictions``'s shape without ``axis`` (or its whole shape
      when ``elementwise``); float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import log_space_kl_divergence
      >>> log_p = jnp.log(jnp.array([[0.5, 0.5], [0.75, 0.25]]))
      >>> log_space_kl_divergence(log_p, jnp.array([[1.0, 0.0], [0.5, 0.5]]))
      Array([0.6931472 , 0.14384104], dtype=float32)
      >>> log_space_kl_divergence(jnp.array([[0.0, -jnp.inf]]), jnp.array([[1.0, 0.0]]))
      Array([0.], dtype=float32)

    References:
      Kullback and Leibler, "On information and sufficiency", Annals of
      Mathematical Statistics 22(1), 1951; optax ``kl_divergence``,
      ``kl_divergence_with_log_targets``; PyTorch ``torch.nn.functional.kl_div``.
    """
    log_predictions, targets = _prepare_log_space(
        log_predictions, targets, where
    )
    if log_targets:
        if where is None and not elementwise:
            axes = _canonical_axes(axis, log_predictions.ndim)
            return _log_target_kl(log_predictions, targets, axes)
        terms = _log_target_terms(log_predictions, targets)
    else:
        checks.check_non_negative("log_space_kl_divergence", "targets", targets, where=where)
        positive, log_targets_ = _safe_targets(targets)
        terms = jnp.where(positive, targets * (log_targets_ - log_predictions), 0.0)
        terms = _invalid_terms(terms.astype(targets.dtype), log_predictions, ~(targets >= 0))
    return _reduce(terms, axis, where, elementwise)


def _log_target_terms(log_predictions: jax.Array, log_targets: jax.Array) -> jax.Array:
    """``exp(t) (t - log p)``, exactly 0 where ``t = -inf``, NaN where either is NaN."""
    present = log_targets > -jnp.inf
    safe_log_targets = jnp.where(present, log_targets, jnp.zeros((), log_targets.dtype))
    terms = jnp.exp(safe_log_targets) * (safe_log_targets - log_predictions)
    terms = jnp.where(present, terms, jnp.zeros((), terms.dtype))
    return _invalid_terms(terms, log_predictions, jnp.isnan(log_targets))


# Below it exp underflows to exactly 0 in every floating dtype, and t - log p stays finite
# for every finite log p.
_LOG_TARGET_FLOOR = -1e30


def _floored(log_targets: jax.Array) -> jax.Array:
    return jnp.maximum(log_targets, jnp.asarray(_LOG_TARGET_FLOOR, log_targets.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _log_target_kl(log_predictions: jax.Array, log_targets: jax.Array, axes) -> jax.Array:
    """The sum over ``axes`` of :func:`_log_target_terms`, without an elementwise select.

    ``t`` floored at -1e30 gives the term ``0 * finite = 0`` at ``t = -inf`` by arithmetic
    alone, so the sum fuses into one reduction. A sum that is not finite (an infinite or
    NaN entry, or ``log p = -inf``) means the floor did not stand in for the selects; then
    both passes take the selects."""
    return _log_target_kl_forward(log_predictions, log_targets, axes)[0]


def _log_target_kl_forward(log_predictions, log_targets, axes):
    floored = _floored(log_targets)
    plain_sum = jnp.sum(jnp.exp(floored) * (floored - log_predictions), axis=axes)
    plain = jnp.all(jnp.isfinite(plain_sum))
    total = jax.lax.cond(plain, lambda: plain_sum,
                         lambda: jnp.sum(_log_target_terms(log_predictions, log_targets), axes))
    return total, (log_predictions, log_targets, plain)


def _log_target_kl_backward(axes, residuals, cotangent):
    log_predictions, log_targets, plain = residuals
    cotangent = jnp.expand_dims(cotangent, axes)

    def plain_gradients():
        floored = _floored(log_targets)
        weights = jnp.exp(floored) * cotangent
        return -weights, weights * (floored - log_predictions + 1)

    def select_gradients():
        return jax.vjp(lambda a, b: jnp.sum(_log_target_terms(a, b), axes),
                       log_predictions, log_targets)[1](jnp.squeeze(cotangent, axes))

    return jax.lax.cond(plain, plain_gradients, select_gradients)


_log_target_kl.defvjp(_log_target_kl_forward, _log_target_kl_backward)


def _exp_excess(ratio: jax.Array) -> jax.Array:
    """``exp(r) - 1 - r`` for ``|r| <= 1``, from its series (no cancellation near 0)."""
    total = jnp.ones((), ratio.dtype)
    for order in range(12, 2, -1):
        total = 1 + total * ratio / order
    return ratio * ratio * 0.5 * total


def generalized_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
    elementwise: bool = False,
) -> jax.Array:
    r"""Generalized Kullback-Leibler divergence between unnormalised measures.

    .. math::
        \ell = \sum_{axis} t \log\frac{t}{p} - t + p
              = \sum_{axis} t\,\big(e^{r} - 1 - r\big),\quad r = \log p - \log t

    which is ``p`` where ``t = 0``. Each term is formed from ``r`` (by its series for
    ``|r| <= 1``), so that it keeps float32's relative precision near its minimum
    ``p = t``, where optax's form (the KL sum plus ``sum(p - t)``) cancels: at ``t = 1``,
    ``log p = 1e-3`` optax's term is off by 5%. The gradient with respect to
    ``log_predictions`` is ``p - t``.

    Args:
      log_predictions: floating array of the logarithms of the predicted measure.
      targets: array of the same shape with the target measure (non-negative).
      axis: the axis, axes (a tuple) or all axes (``None``) summed over.
      where: optional boolean mask broadcastable to ``log_predictions``; masked entries
        contribute 0.
      elementwise: return the terms unsummed; ``axis`` is then ignored.

    Returns:
      The divergence, ``log_predictions``'s shape without ``axis`` (or its whole shape
      when ``elementwise``); float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import generalized_kl_divergence
      >>> generalized_kl_divergence(jnp.log(jnp.array([[2.0, 1.0]])), jnp.array([[1.0, 0.0]]))
      Array([1.3068528], dtype=float32)

    References:
      Lee and Seung, "Algorithms for non-negative matrix factorization", NIPS 2000;
      optax ``generalized_kl_divergence``.
    """
    log_predictions, targets = _prepare_log_space(
        log_predictions, targets, where
    )
    checks.check_non_negative("generalized_kl_divergence", "targets", targets, where=where)
    positive, log_t = _safe_targets(targets)
    safe_t = jnp.where(positive, targets, jnp.ones((), targets.dtype))
    ratio = log_predictions - log_t
    one = jnp.ones((), ratio.dtype)
    # Each branch reads its argument clamped into its own range, so that the branches
    # not taken stay finite and pass no NaN into the gradient.
    near = safe_t * _exp_excess(jnp.clip(ratio, -one, one))
    below_ratio = jnp.minimum(ratio, -one)
    below = safe_t * (jnp.expm1(below_ratio) - below_ratio)
    above_log_p = jnp.where(ratio > 1, log_predictions, log_t + 1)
    above = jnp.exp(above_log_p) - safe_t * (1 + jnp.maximum(ratio, one))
    terms = jnp.where(ratio < -1, below, jnp.where(ratio > 1, above, near))
    at_zero = jnp.exp(jnp.where(positive, jnp.zeros((), log_predictions.dtype), log_predictions))
    terms = jnp.where(positive, terms, at_zero)
    terms = _invalid_terms(terms, log_predictions, ~(targets >= 0))
    return _reduce(terms, axis, where, elementwise)
