"""``torch.nn.functional.kl_div`` over jaxloss's log-space KL divergence."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import divergence
from jaxloss._src.reduction import (
    TORCH_REDUCTIONS,
    check_reduction,
    check_torch_reduction,
    divide_no_nan,
    reduce_torch,
)

Array = jax.Array
ArrayLike = jax.typing.ArrayLike

#: ``kl_div``'s reductions: PyTorch's three and its ``"batchmean"``.
KL_REDUCTIONS = (*TORCH_REDUCTIONS, "batchmean")


def kl_div(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Array:
    r"""``torch.nn.functional.kl_div``: the terms of ``KL(target || exp(input))``, reduced.

    .. math:: \ell = t\,(\log t - x),\qquad 0 \log 0 = 0

    elementwise, with ``x`` the ``input`` (log-probabilities) and ``t`` the ``target``
    (``exp(target)`` if ``log_target``): :func:`jaxloss.log_space_kl_divergence` with
    ``elementwise=True``. ``"mean"`` divides the sum by the number of *elements* (not the
    divergence's mean; PyTorch's definition), ``"batchmean"`` by the batch size
    ``input.shape[0]`` (the divergence per example when the last axes are the
    distribution). A target of 0 contributes 0, with gradient 0 in the target for a
    finite input, where PyTorch's gradient there is NaN (``xlogy``'s ``log 0``); a target
    of 0 on an input of ``-inf`` gives 0 where PyTorch gives NaN. A negative target gives
    NaN.

    Args:
      input: log-probabilities, any shape.
      target: probabilities (log-probabilities if ``log_target``), ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"batchmean"``, ``"sum"`` or ``"none"``.
      log_target: read ``target`` as log-probabilities.

    Returns:
      A scalar, or the terms of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> log_q = jnp.log(jnp.array([[0.5, 0.5], [0.75, 0.25]]))
      >>> F.kl_div(log_q, jnp.array([[1.0, 0.0], [0.5, 0.5]]), reduction="batchmean")
      Array(0.4184941, dtype=float32)

    References:
      PyTorch ``torch.nn.KLDivLoss``; Kullback and Leibler, "On information and
      sufficiency", Annals of Mathematical Statistics 22(1), 1951.
    """
    check_torch_reduction("mean", size_average, reduce)
    reduction = check_reduction(reduction, KL_REDUCTIONS)
    terms = divergence.log_space_kl_divergence(
        input, target, log_targets=log_target, elementwise=True
    )
    if reduction != "batchmean":
        return reduce_torch(terms, reduction)
    total = jnp.sum(terms)
    if terms.ndim == 0:  # PyTorch divides only a batch
        return total
    return divide_no_nan(total, jnp.asarray(terms.shape[0], total.dtype))
