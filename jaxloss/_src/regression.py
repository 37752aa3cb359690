"""Elementwise regression losses: squared (l2), absolute, Huber, smooth L1, log-cosh, quantile.

Each function takes ``predictions`` and ``targets`` of the same shape and returns
one loss per element (no reduction). ``targets=None`` means all-zero targets, so
the functions also serve as penalties on residuals. Half-precision inputs are
computed in float32 and the loss is returned in float32; otherwise the loss has
the inputs' floating dtype. These losses are plain ``jax.numpy`` expressions
differentiated by autodiff, except two ``jax.custom_jvp`` rules: log-cosh, whose
derivative ``tanh`` shares the forward pass's one exponential, and the half square error of
``l2_loss``, whose derivative is the error itself; each is written so
that its gradient is finite for every finite input (Huber at ``|e| = delta``,
log-cosh at huge errors).

Input rules (``ValueError`` at trace time, naming the argument):
non-floating ``predictions``; ``targets`` of another shape; a non-boolean
``where`` or one that does not broadcast to ``predictions``; ``delta <= 0``; ``beta < 0``;
``quantile`` outside ``[0, 1]`` or not broadcasting to ``predictions``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import checks, validation


def _checked_inputs(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None,
    where: jax.typing.ArrayLike | None,
    loss: str,
) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
    """Check the inputs; return them in the compute dtype (masked elements zeroed) and the mask.

    Zeroing the masked inputs before the loss keeps an overflowing masked error
    (|e| > 3.4e38) from giving the masked element a 0 * inf = NaN gradient.
    """
    validation.check_floating("predictions", predictions)
    if targets is not None:
        validation.check_same_shape("predictions", predictions, "targets", targets)
    where = validation.broadcast_where(where, jnp.shape(predictions))
    dtype = validation.compute_dtype(predictions)
    predictions = jnp.asarray(predictions).astype(dtype)
    checks.check_finite(loss, "predictions", predictions, where=where)
    checks.check_finite(loss, "targets", targets, where=where)
    if targets is not None:
        targets = jnp.asarray(targets).astype(dtype)
    if where is not None:
        zero = jnp.zeros((), dtype)
        predictions = jnp.where(where, predictions, zero)
        if targets is not None:
            targets = jnp.where(where, targets, zero)
    return predictions, targets, where


def _errors(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None,
    where: jax.typing.ArrayLike | None,
    loss: str,
) -> tuple[jax.Array, jax.Array | None]:
    """Check the inputs; return ``predictions - targets`` in the compute dtype and the mask
    (masked errors are 0)."""
    predictions, targets, where = _checked_inputs(predictions, targets, where, loss)
    errors = predictions if targets is None else predictions - targets
    return errors, where


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise squared error.

    .. math::
        \ell = (p - t)^2

    for predictions ``p`` and targets ``t`` (no factor 1/2; the mean of this over the
    last axis is Keras's ``mean_squared_error``).

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import squared_error
    >>> squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array([1., 4.], dtype=float32)

    References:
      Gauss, "Theoria motus corporum coelestium", 1809 (least squares).
    """
    errors, where = _errors(predictions, targets, where, "squared_error")
    return validation.apply_where(jnp.square(errors), where)


def l2_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise half squared error (optax's ``l2_loss``).

    .. math::
        \ell = \tfrac{1}{2} (p - t)^2

    for predictions ``p`` and targets ``t``, whose gradient is the error ``e = p - t``
    itself; formed as ``h * h * 2`` with ``h = p / 2 - t / 2``, so it is finite wherever its
    exact value fits float32, and the gradient is ``h + h``: ``e`` exactly, but below
    ``2**-125``, where ``h`` is subnormal (0 where subnormals are flushed, as on CPU).

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import l2_loss
    >>> l2_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array([0.5, 2. ], dtype=float32)

    References:
      Bishop, "Pattern Recognition and Machine Learning", 2006, eq. 1.2.
    """
    predictions, targets, where = _checked_inputs(predictions, targets, where, "l2_loss")
    if targets is None:
        targets = jnp.zeros((), predictions.dtype)
    return validation.apply_where(_half_square_error(predictions, targets), where)


@jax.custom_jvp
def _half_square_error(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """``e ** 2 / 2`` for ``e = predictions - targets``, as ``h * h * 2`` with ``h = e / 2``
    formed as ``predictions / 2 - targets / 2`` (the same rounding as ``(p - t) / 2`` above
    the subnormals): it overflows only where ``e^2 / 2`` does (not from ``e^2``'s 3.4e38),
    and the doubling is exact. Its derivative is ``h + h``, which is ``e`` wherever ``h`` is
    normal.

    ``h`` is the one value of the inputs' size that XLA:CPU materialises: the loss's
    reduction reads it with two multiplies (as optax's ``0.5 * e ** 2`` reads ``e``), and
    the gradient, the error ``h + h`` times the cotangent, then overwrites its buffer (no
    temporary). Scaling ``e`` inside the reduction instead costs it a third multiply."""
    half = predictions / 2 - targets / 2
    return half * half * 2


@_half_square_error.defjvp
def _half_square_error_jvp(primals, tangents):
    (predictions, targets), (predictions_tangent, targets_tangent) = primals, tangents
    half = predictions / 2 - targets / 2
    errors = half + half
    return half * half * 2, errors * (predictions_tangent - targets_tangent)


def absolute_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise absolute error.

    .. math::
        \ell = |p - t|

    for predictions ``p`` and targets ``t``; the gradient at a zero error is 0.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import absolute_error
    >>> absolute_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
    Array([1., 2.], dtype=float32)

    References:
      Laplace, "Memoire sur la probabilite des causes par les evenements", 1774.
    """
    errors, where = _errors(predictions, targets, where, "absolute_error")
    # sign(e) * e is |e| with the derivative sign(e), 0 at e = 0 (jnp.abs's is 1 there).
    return validation.apply_where(jnp.sign(errors) * errors, where)


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise Huber loss: quadratic near zero, linear beyond ``delta``.

    With ``e = predictions - targets`` and ``delta`` written :math:`\delta`:

    .. math::
        \ell = \begin{cases}
            \tfrac{1}{2} e^2 & \text{if } |e| \le \delta, \\
            \delta \big(|e| - \tfrac{1}{2} \delta\big) & \text{otherwise,}
        \end{cases}

    with the gradient ``clip(e, -delta, delta)`` given directly (a ``jax.custom_jvp``):
    continuous and finite at ``|e| = delta``, and differentiable again.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      delta: positive threshold between the quadratic and the linear part (scalar or
        broadcastable to ``predictions``). ``delta <= 0`` raises ``ValueError``
        (traced values are not checked).
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import huber_loss
    >>> huber_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]), delta=1.0)
    Array([0.125, 2.5  ], dtype=float32)

    References:
      Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical
      Statistics 35(1), 1964.
    """
    validation.check_positive("delta", delta)
    errors, where = _errors(predictions, targets, where, "huber_loss")
    delta = jnp.asarray(delta).astype(errors.dtype)
    return validation.apply_where(_huber_kernel(errors, delta), where)


@jax.custom_jvp
def _huber_kernel(errors, delta):
    # Not differentiated: q = min(|e|, delta), 0.5 q^2 + delta (|e| - q), arithmetic that
    # XLA:CPU fuses into a following reduction (no array written).
    abs_errors = jnp.abs(errors)
    quadratic = jnp.minimum(abs_errors, delta)
    return 0.5 * jnp.square(quadratic) + delta * (abs_errors - quadratic)


@_huber_kernel.defjvp
def _huber_jvp(primals, tangents):
    # Differentiated: the value as one select, and d/de = clip(e, -delta, delta) given
    # directly, so that the loss and its gradient are one elementwise pass each;
    # d/d delta = |e| - min(|e|, delta).
    errors, delta = primals
    errors_dot, delta_dot = tangents
    abs_errors = jnp.abs(errors)
    value = jnp.where(
        abs_errors <= delta, 0.5 * jnp.square(errors), delta * (abs_errors - 0.5 * delta)
    )
    clipped = jnp.clip(errors, -delta, delta)
    tangent = clipped * errors_dot + (abs_errors - jnp.minimum(abs_errors, delta)) * delta_dot
    return value, tangent


def smooth_l1_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    beta: jax.typing.ArrayLike = 1.0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise smooth L1 loss (PyTorch's): quadratic below ``beta``, then ``|e|`` shifted.

    With ``e = predictions - targets`` and ``beta`` written :math:`\beta`:

    .. math::
        \ell = \begin{cases}
            \tfrac{1}{2} e^2 / \beta & \text{if } |e| < \beta, \\
            |e| - \tfrac{1}{2} \beta & \text{otherwise,}
        \end{cases}

    that is ``huber_loss(e, delta=beta) / beta``, computed so (its gradient
    ``clip(e / beta, -1, 1)`` is continuous and finite), and ``|e|`` for ``beta = 0``
    (the absolute error, gradient ``sign(e)``), as in PyTorch.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      beta: non-negative threshold (scalar or broadcastable to ``predictions``). A
        concrete 0 gives the absolute error; a traced ``beta`` must be positive.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import smooth_l1_loss
    >>> smooth_l1_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]), beta=2.0)
    Array([0.0625, 2.    ], dtype=float32)

    References:
      Girshick, "Fast R-CNN", ICCV 2015; PyTorch ``torch.nn.SmoothL1Loss``.
    """
    validation.check_non_negative("beta", beta)
    errors, where = _errors(predictions, targets, where, "smooth_l1_loss")
    if not validation.is_traced(beta) and not np.all(np.asarray(beta) > 0):
        # Zero somewhere (negative raised above): the absolute error there.
        beta = jnp.asarray(beta).astype(errors.dtype)
        zero = beta == 0
        safe_beta = jnp.where(zero, jnp.ones((), errors.dtype), beta)
        smooth = _huber_kernel(errors, safe_beta) / safe_beta
        loss = jnp.where(zero, jnp.sign(errors) * errors, smooth)
    else:
        beta = jnp.asarray(beta).astype(errors.dtype)
        loss = _huber_kernel(errors, beta) / beta
    return validation.apply_where(loss, where)


def log_cosh(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise logarithm of the hyperbolic cosine of the error.

    .. math::
        \ell = \log \cosh e

    with ``e = predictions - targets``, evaluated from one
    ``v = expm1(|e|)`` as ``log1p(v**2 / (2 (1 + v)))`` (``cosh(e) - 1`` without
    cancellation, so small errors keep their relative precision) and as
    ``|e| - log(2)`` for ``|e| >= 20``, where that is exact and ``cosh`` would
    overflow. The loss is about ``e**2 / 2`` for small errors and ``|e| - log 2``
    for large ones. The gradient ``tanh(e) = sign(e) w / (w + 2)``, ``w = v (v + 2)``,
    comes from the same ``v`` (a ``jax.custom_jvp``) and is finite everywhere; it
    is differentiable again.

    Args:
      predictions: floating array of any shape.
      targets: array of the same shape (cast to the compute dtype), or ``None`` for zeros.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import log_cosh
    >>> log_cosh(jnp.array([0.0, 1000.0]))
    Array([  0.    , 999.3068], dtype=float32)

    References:
      Keras 3, ``keras.losses.log_cosh``.
    """
    errors, where = _errors(predictions, targets, where, "log_cosh")
    return validation.apply_where(_log_cosh_kernel(errors), where)


# Beyond this |e|, log(cosh e) = |e| - log 2 + log1p(exp(-2|e|)) and the last term
# (< 4.3e-18 relative) is below float64's resolution: the loss is |e| - log 2 exactly.
_LOG_COSH_LINEAR_FROM = 20.0


def _log_cosh_expm1(errors):
    """``|e|`` and ``v = expm1(min(|e|, 20))``, finite for every finite error."""
    abs_errors = jnp.abs(errors)
    return abs_errors, jnp.expm1(jnp.minimum(abs_errors, _LOG_COSH_LINEAR_FROM))


def _log_cosh_value(abs_errors, v):
    # cosh(a) - 1 = (e^a - 1)^2 / (2 e^a) = v^2 / (2 (1 + v)): no cancellation at any a.
    near = jnp.log1p(v * (v / (2.0 + 2.0 * v)))
    return jnp.where(abs_errors < _LOG_COSH_LINEAR_FROM, near, abs_errors - math.log(2.0))


@jax.custom_jvp
def _log_cosh_kernel(errors):
    return _log_cosh_value(*_log_cosh_expm1(errors))


@_log_cosh_kernel.defjvp
def _log_cosh_jvp(primals, tangents):
    (errors,), (tangent,) = primals, tangents
    # tanh(a) = (e^{2a} - 1) / (e^{2a} + 1) = v (v + 2) / (v (v + 2) + 2), which rounds to
    # exactly 1 at the clamp (a = 20); differentiable again for second derivatives.
    abs_errors, v = _log_cosh_expm1(errors)
    w = v * (v + 2.0)
    return _log_cosh_value(abs_errors, v), jnp.sign(errors) * (w / (w + 2.0)) * tangent


def _check_quantile(quantile: jax.typing.ArrayLike, shape: tuple) -> None:
    """Raise unless ``quantile`` lies in ``[0, 1]`` and broadcasts to the predictions."""
    validation.check_in_interval("quantile", quantile, 0.0, 1.0)
    validation.check_broadcasts("quantile", quantile, shape, "predictions")


def quantile_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    quantile: jax.typing.ArrayLike | list[float] | tuple[float, ...] = 0.5,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Elementwise quantile (pinball) loss.

    With the error ``e = targets - predictions`` and ``q = quantile``:

    .. math::
        \ell = \max\big(q e, (q - 1) e\big)

    minimised in expectation by the ``q``-quantile of the targets' distribution:
    under-predictions cost ``q`` per unit, over-predictions ``1 - q``. ``q = 0.5`` is half
    the absolute error. ``quantile`` may be an array broadcasting against
    ``predictions``, e.g. ``[Q]`` levels against ``predictions`` of shape ``[..., Q]``,
    one predicted quantile per level. The gradient with respect to ``predictions`` is
    ``-q`` where ``e > 0``, ``1 - q`` where ``e < 0`` and ``0.5 - q`` at ``e = 0``.

    Args:
      predictions: floating array of any shape, the predicted quantiles.
      targets: array of the same shape (cast to the compute dtype).
      quantile: the quantile level(s) in ``[0, 1]``: a number or an array broadcasting
        to ``predictions``.
      where: optional boolean mask broadcastable to ``predictions``; masked elements
        give loss 0 and gradient 0.

    Returns:
      The loss, shape of ``predictions``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import quantile_loss
    >>> quantile_loss(jnp.array([1.0, 1.0]), jnp.array([3.0, 0.0]), quantile=0.75)
    Array([1.5 , 0.25], dtype=float32)
    >>> quantile_loss(jnp.zeros((1, 3)), jnp.ones((1, 3)), quantile=jnp.array([0.1, 0.5, 0.9]))
    Array([[0.1, 0.5, 0.9]], dtype=float32)

    References:
      Koenker and Bassett, "Regression Quantiles", Econometrica 46(1), 1978.
    """
    if isinstance(quantile, (list, tuple)):
        quantile = np.asarray(quantile, np.float64)
    _check_quantile(quantile, jnp.shape(predictions))
    errors, where = _errors(predictions, targets, where, "quantile_loss")
    q = jnp.broadcast_to(jnp.asarray(quantile).astype(errors.dtype), errors.shape)
    # e = targets - predictions = -errors.
    loss = jnp.maximum(-q * errors, (1 - q) * errors)
    return validation.apply_where(loss, where)
