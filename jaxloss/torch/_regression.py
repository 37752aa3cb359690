"""``torch.nn.functional``'s regression and likelihood losses over jaxloss's kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import likelihood, regression, validation
from jaxloss._src.reduction import check_torch_reduction, reduce_torch

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _elementwise_weight(loss: Array, weight: ArrayLike | None) -> Array | None:
    """PyTorch's elementwise ``weight``: ``input``'s shape exactly, in the loss's dtype."""
    if weight is None:
        return None
    if jnp.shape(weight) != loss.shape:
        raise ValueError(
            f"`weight` must have the shape of `input`, {loss.shape}, got weight.shape="
            f"{jnp.shape(weight)}."
        )
    return jnp.asarray(weight).astype(loss.dtype)


def _weighted_mean_of_weights(loss, weight, reduction):
    """``l1_loss`` and ``mse_loss``: the weighted ``"mean"`` divides by ``sum(weight)``."""
    weight = _elementwise_weight(loss, weight)
    if weight is None:
        return reduce_torch(loss, reduction)
    return reduce_torch(loss * weight, reduction, weight)


def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> Array:
    r"""``torch.nn.functional.l1_loss``: the absolute error ``w |x - y|``, reduced.

    ``"mean"`` divides by the number of elements, or by ``sum(weight)`` with a
    ``weight`` (PyTorch's rule). Computed by :func:`jaxloss.absolute_error` (gradient
    ``sign(x - y)``, 0 at a zero error). ``input`` and ``target`` must have one shape
    (PyTorch broadcasts them, with a warning).

    Args:
      input: floating array of any shape.
      target: array of ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      weight: optional weights of ``input``'s shape.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.l1_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
      Array(1.5, dtype=float32)

    References:
      PyTorch ``torch.nn.L1Loss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return _weighted_mean_of_weights(regression.absolute_error(input, target), weight, reduction)


def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: ArrayLike | None = None,
) -> Array:
    r"""``torch.nn.functional.mse_loss``: the squared error ``w (x - y)^2``, reduced.

    ``"mean"`` divides by the number of elements, or by ``sum(weight)`` with a
    ``weight`` (PyTorch's rule). Computed by :func:`jaxloss.squared_error`. ``input`` and
    ``target`` must have one shape (PyTorch broadcasts them, with a warning).

    Args:
      input: floating array of any shape.
      target: array of ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      weight: optional weights of ``input``'s shape.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.mse_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]))
      Array(2.5, dtype=float32)

    References:
      PyTorch ``torch.nn.MSELoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return _weighted_mean_of_weights(regression.squared_error(input, target), weight, reduction)


def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: ArrayLike | None = None,
) -> Array:
    r"""``torch.nn.functional.huber_loss``: quadratic below ``delta``, linear beyond.

    .. math::
        \ell = w \begin{cases}
            \tfrac{1}{2} e^2 & \text{if } |e| < \delta, \\
            \delta \big(|e| - \tfrac{1}{2} \delta\big) & \text{otherwise,}
        \end{cases}
        \qquad e = x - y,

    with ``delta`` written :math:`\delta`, computed by :func:`jaxloss.huber_loss`. ``"mean"`` divides by the number of elements, with a
    ``weight`` too (PyTorch's rule here, unlike ``l1_loss`` and ``mse_loss``).

    Args:
      input: floating array of any shape.
      target: array of ``input``'s shape.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      delta: the positive threshold.
      weight: optional weights of ``input``'s shape.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.huber_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]))
      Array(1.3125, dtype=float32)

    References:
      PyTorch ``torch.nn.HuberLoss``; Huber, "Robust Estimation of a Location
      Parameter", Annals of Mathematical Statistics 35(1), 1964.
    """
    reduction = check_torch_reduction(reduction)
    loss = regression.huber_loss(input, target, delta=delta)
    weight = _elementwise_weight(loss, weight)
    return reduce_torch(loss if weight is None else loss * weight, reduction)


def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Array:
    r"""``torch.nn.functional.smooth_l1_loss``: quadratic below ``beta``, then linear.

    .. math::
        \ell = \begin{cases}
            \tfrac{1}{2} e^2 / \beta & \text{if } |e| < \beta, \\
            |e| - \tfrac{1}{2} \beta & \text{otherwise,}
        \end{cases}
        \qquad e = x - y,

    with ``beta`` written :math:`\beta`. Computed by :func:`jaxloss.smooth_l1_loss` (``huber_loss(delta=beta) / beta``; the
    absolute error at ``beta = 0``); ``"mean"`` is over every element.

    Args:
      input: floating array of any shape.
      target: array of ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      beta: the non-negative threshold.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.smooth_l1_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]), reduction="none")
      Array([0.125, 2.5  ], dtype=float32)

    References:
      PyTorch ``torch.nn.SmoothL1Loss``; Girshick, "Fast R-CNN", ICCV 2015.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return reduce_torch(regression.smooth_l1_loss(input, target, beta=beta), reduction)


def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.poisson_nll_loss``: Poisson NLL of counts, reduced.

    :math:`e^x - y x` (``log_input``) or :math:`x - y \log(x + \epsilon)`, with ``eps``
    written :math:`\epsilon`, plus Stirling's term for ``y > 1`` if ``full``: :func:`jaxloss.poisson_nll_loss`; ``"mean"`` is over every
    element.

    Args:
      input: log-rates (``log_input``) or rates, any shape.
      target: counts, ``input``'s shape.
      log_input: read ``input`` as log-rates.
      full: add Stirling's approximation of ``log(y!)``.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      eps: added to the rate inside the logarithm when not ``log_input``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.poisson_nll_loss(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))
      Array(0.8591409, dtype=float32)

    References:
      PyTorch ``torch.nn.PoissonNLLLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = likelihood.poisson_nll_loss(input, target, log_input=log_input, full=full, epsilon=eps)
    return reduce_torch(loss, reduction)


def _torch_variances(var: ArrayLike | float, shape: tuple, dtype) -> ArrayLike:
    """``var`` in a shape the kernel reads: PyTorch's float, and one-axis broadcasts, spread."""
    if validation.is_static_number(var):
        if var < 0:
            raise ValueError(f"`var` must be non-negative, got {var!r}.")
        return jnp.full(shape, var, dtype)
    var_shape = jnp.shape(var)
    if var_shape in (shape, shape[:-1]):
        return var
    mismatched = [i for i, (a, b) in enumerate(zip(shape, var_shape)) if a != b]
    if len(var_shape) == len(shape) and len(mismatched) == 1 and var_shape[mismatched[0]] == 1:
        return jnp.broadcast_to(jnp.asarray(var), shape)
    raise ValueError(
        f"`var` must have the shape of `input`, {shape}, that shape without its last axis, "
        f"or with one axis of size 1; got var.shape={var_shape} for input.shape={shape}."
    )


def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.gaussian_nll_loss``: Gaussian NLL given a mean and a variance.

    :math:`\tfrac{1}{2} \big(\log v + (x - y)^2 / v\big)` with ``v = max(var, eps)`` (the
    clamp outside the gradient, as in PyTorch), plus :math:`\tfrac{1}{2} \log 2\pi` if
    ``full``:
    :func:`jaxloss.gaussian_nll_loss`; ``"mean"`` is over every element. A negative
    variance in an array gives NaN where PyTorch raises (a negative float raises).

    Args:
      input: the predicted means, any shape.
      target: the observed values, ``input``'s shape.
      var: the predicted variances: ``input``'s shape, that shape without its last axis,
        that shape with one axis of size 1, or a float.
      full: add the constant.
      eps: the lower clamp of the variances.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.gaussian_nll_loss(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]), 1.0)
      Array(0.25, dtype=float32)

    References:
      PyTorch ``torch.nn.GaussianNLLLoss``; Nix and Weigend, "Estimating the mean and
      variance of the target probability distribution", ICNN 1994.
    """
    reduction = check_torch_reduction(reduction)
    validation.check_floating("input", input)
    dtype = validation.compute_dtype(input)
    variances = _torch_variances(var, jnp.shape(input), dtype)
    loss = likelihood.gaussian_nll_loss(input, target, variances, full=full, epsilon=eps)
    return reduce_torch(loss, reduction)
