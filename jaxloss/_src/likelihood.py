"""Negative log-likelihoods of a predicted distribution: Gaussian and Poisson.

PyTorch's ``gaussian_nll_loss`` and ``poisson_nll_loss`` (``torch.nn.functional`` 2.x),
elementwise: one value per element, no reduction. Half-precision inputs are computed
in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``; ``targets`` of another shape; ``variances`` of a shape PyTorch does
not accept (the shape of ``predictions``, that shape without its last axis, or with a
last axis of size 1); a ``where`` mask that is not boolean or does not broadcast to
``predictions``; a negative ``epsilon``. A negative variance gives NaN for its elements.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def _variances_shape(predictions_shape: tuple, variances_shape: tuple) -> tuple:
    """The shape ``variances`` broadcast from, by PyTorch's rule, or raise naming both shapes."""
    if variances_shape == predictions_shape:
        return variances_shape
    if variances_shape == predictions_shape[:-1]:  # one variance per row: a last axis of 1
        return variances_shape + (1,)
    if (
        len(variances_shape) == len(predictions_shape) >= 1
        and variances_shape[:-1] == predictions_shape[:-1]
        and variances_shape[-1] == 1
    ):
        return variances_shape
    raise ValueError(
        f"`variances` must have the shape of `predictions`, {predictions_shape}, that shape "
        f"without its last axis, {predictions_shape[:-1]}, or with a last axis of size 1, "
        f"{predictions_shape[:-1] + (1,)}; got variances.shape={variances_shape} for "
        f"predictions.shape={predictions_shape}."
    )


@jax.custom_jvp
def _clamped_variances(variances, epsilon):
    """``max(variances, epsilon)``, NaN where a variance is negative."""
    return validation.nan_where(variances < 0, jnp.maximum(variances, epsilon))


@_clamped_variances.defjvp
def _clamped_variances_jvp(primals, tangents):
    # PyTorch clamps the variance in place under no_grad: the tangent passes through the
    # clamp unchanged, also below epsilon (and epsilon gets none).
    return _clamped_variances(*primals), tangents[0]


def gaussian_nll_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    variances: jax.typing.ArrayLike,
    *,
    full: bool = False,
    epsilon: float = 1e-6,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise Gaussian negative log-likelihood of ``targets`` given a mean and a variance.

    With predictions ``p``, targets ``t`` and the clamped variance
    ``c = max(variances, epsilon)``:

    .. math::
        \ell = \tfrac{1}{2} \Big(\log c + \frac{(p - t)^2}{c}\Big)
            \;\big[+ \tfrac{1}{2} \log 2\pi \text{ if } \texttt{full}\big]

    the likelihood of a heteroscedastic regression (Nix and Weigend, 1994). ``variances``
    has the shape of ``predictions`` (one variance per element), or that shape without
    its last axis, or with a last axis of size 1 (one variance per row, homoscedastic),
    as in PyTorch. As in PyTorch, the clamp is outside the gradient: the derivative with
    respect to ``variances`` is ``0.5 * (1 / c - (predictions - targets)**2 / c**2)``
    everywhere, below ``epsilon`` too (PyTorch clamps under ``no_grad``). The error
    term ``e**2 / (2 c)`` is formed as ``(e / 2) * (e / c)``, so that it overflows only where
    the loss does.

    A negative variance gives NaN for its elements (loss and gradients), where PyTorch
    raises: a value cannot raise under ``jax.jit`` (checked mode, ``jaxloss.checks()``,
    raises instead).

    Args:
      predictions: floating array, the means of the predicted distributions.
      targets: array of the same shape, the observed values.
      variances: the predicted variances (non-negative), of the shape of
        ``predictions``, or that shape without its last axis, or with a last axis of 1.
      full: add the constant ``0.5 * log(2 pi)``, making the loss the exact negative
        log-density.
      epsilon: lower clamp on the variances (non-negative).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import gaussian_nll_loss
    >>> gaussian_nll_loss(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]), jnp.array([1.0]))
    Array([[0.5, 0. ]], dtype=float32)

    References:
      Nix and Weigend, "Estimating the mean and variance of the target probability
      distribution", IEEE International Conference on Neural Networks (ICNN'94), 1994.
      PyTorch, ``torch.nn.GaussianNLLLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.GaussianNLLLoss.html).
    """
    validation.check_floating("predictions", predictions)
    validation.check_same_shape("predictions", predictions, "targets", targets)
    shape = jnp.shape(predictions)
    variances_shape = _variances_shape(shape, jnp.shape(variances))
    where = validation.broadcast_where(where, shape)
    validation.check_non_negative("epsilon", epsilon)
    dtype = validation.compute_dtype(predictions)
    predictions = jnp.asarray(predictions).astype(dtype)
    targets = jnp.asarray(targets).astype(dtype)
    variances = jnp.asarray(variances).astype(dtype)
    checks.check_finite("gaussian_nll_loss", "predictions", predictions, where=where)
    checks.check_finite("gaussian_nll_loss", "targets", targets, where=where)
    checks.check_non_negative("gaussian_nll_loss", "variances", variances, where=where)
    variances = jnp.broadcast_to(jnp.reshape(variances, variances_shape), shape)
    errors = predictions - targets
    if where is not None:
        # Neutral values at the masked elements before the loss, so that their gradient is
        # 0 and not 0 * inf or 0 * NaN (an overflowing error, a negative variance).
        errors = jnp.where(where, errors, jnp.zeros((), dtype))
        variances = jnp.where(where, variances, jnp.ones((), dtype))
    variances = _clamped_variances(variances, epsilon)
    loss = 0.5 * jnp.log(variances) + (0.5 * errors) * (errors / variances)
    if full:
        loss = loss + _HALF_LOG_TWO_PI
    return validation.apply_where(loss, where)


def _stirling_term(targets: jax.Array) -> jax.Array:
    """Stirling's ``log(targets!)``, ``t log t - t + 0.5 log(2 pi t)``, where ``t > 1``, else 0.

    PyTorch's rule. The masked branch is computed at ``t = 1`` (double ``where``), so
    that its ``log(0)`` at ``t = 0`` gives no NaN gradient with respect to ``targets``.
    """
    counted = targets > 1
    safe = jnp.where(counted, targets, jnp.ones((), targets.dtype))
    term = safe * jnp.log(safe) - safe + 0.5 * jnp.log(2.0 * math.pi * safe)
    return jnp.where(counted, term, jnp.zeros((), targets.dtype))


def poisson_nll_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    log_input: bool = True,
    full: bool = False,
    epsilon: float = 1e-8,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise Poisson negative log-likelihood of counts ``targets`` given a rate.

    With predictions ``p``, targets ``t`` and ``epsilon`` written :math:`\epsilon`:

    .. math::
        \ell = \begin{cases}
            e^{p} - t p & \text{if } \texttt{log\_input}, \\
            p - t \log(p + \epsilon) & \text{otherwise,}
        \end{cases}

    plus, if ``full``, Stirling's approximation of :math:`\log t!`,

    .. math::
        t \log t - t + \tfrac{1}{2} \log(2 \pi t),

    where ``targets > 1`` (0 elsewhere), as in PyTorch. With ``log_input`` the predictions are
    log-rates, and loss and gradient ``exp(predictions) - targets`` are finite for every
    log-rate up to 88 (``exp`` overflows float32 beyond). The gradient with respect to
    ``targets`` is finite too, at ``targets <= 1`` included.

    Args:
      predictions: floating array of log-rates (``log_input``) or of rates (non-negative).
      targets: array of the same shape with the observed counts (non-negative).
      log_input: read ``predictions`` as log-rates.
      full: add the Stirling term.
      epsilon: added to the rate inside the logarithm when not ``log_input``.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import poisson_nll_loss
    >>> poisson_nll_loss(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))
    Array([1.       , 0.7182817], dtype=float32)
    >>> poisson_nll_loss(jnp.array([1.0, 2.0]), jnp.array([1.0, 2.0]), log_input=False)
    Array([1.        , 0.61370564], dtype=float32)

    References:
      PyTorch, ``torch.nn.PoissonNLLLoss`` (pytorch.org/docs/stable/generated/
      torch.nn.PoissonNLLLoss.html).
    """
    validation.check_floating("predictions", predictions)
    validation.check_same_shape("predictions", predictions, "targets", targets)
    where = validation.broadcast_where(where, jnp.shape(predictions))
    validation.check_non_negative("epsilon", epsilon)
    dtype = validation.compute_dtype(predictions)
    predictions = jnp.asarray(predictions).astype(dtype)
    targets = jnp.asarray(targets).astype(dtype)
    if log_input:
        checks.check_finite("poisson_nll_loss", "predictions", predictions, where=where)
    else:
        checks.check_non_negative("poisson_nll_loss", "predictions", predictions, where=where)
    checks.check_non_negative("poisson_nll_loss", "targets", targets, where=where)
    if where is not None:
        # Zero the masked inputs before the loss: an overflowing exp or a NaN count there
        # would otherwise give the masked element a 0 * inf = NaN gradient.
        predictions = jnp.where(where, predictions, jnp.zeros((), dtype))
        targets = jnp.where(where, targets, jnp.zeros((), dtype))
    if log_input:
        loss = jnp.exp(predictions) - targets * predictions
    else:
        loss = predictions - targets * jnp.log(predictions + epsilon)
    if full:
        loss = loss + _stirling_term(targets)
    return validation.apply_where(loss, where)
