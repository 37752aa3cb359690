"""Negative log-likelihoods: the Poisson likelihood of counts, with PyTorch's options.

The numbers come from :mod:`jaxloss._src.likelihood`. The Gaussian likelihood takes a
third input (the variances), so it has no ``(y_true, y_pred)`` form here.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> losses.poisson_negative_log_likelihood(jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 1.0]]))
Array([0.8591409], dtype=float32)
>>> losses.PoissonNegativeLogLikelihood(log_input=False)(jnp.array([[1.0]]), jnp.array([[1.0]]))
Array(1., dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import likelihood
from jaxloss.losses._base import LossFunctionWrapper, constructor_arguments, match_pair
from jaxloss.losses._registry import register


@register
def poisson_negative_log_likelihood(
    y_true: jax.typing.ArrayLike,
    y_pred: jax.typing.ArrayLike,
    log_input: bool = True,
    full: bool = False,
    epsilon: float = 1e-8,
) -> jax.Array:
    """Mean over the last axis of ``exp(y_pred) - y_true * y_pred`` (``log_input``), or of
    ``y_pred - y_true * log(y_pred + epsilon)``; ``full`` adds Stirling's ``log(y_true!)``."""
    y_true, y_pred = match_pair(y_true, y_pred)
    losses = likelihood.poisson_nll_loss(
        y_pred, y_true, log_input=log_input, full=full, epsilon=epsilon
    )
    return jnp.mean(losses, axis=-1)


@register
class PoissonNegativeLogLikelihood(LossFunctionWrapper):
    """Poisson negative log-likelihood of counts, PyTorch's ``PoissonNLLLoss`` options:
    :func:`poisson_negative_log_likelihood` per example."""

    def __init__(
        self,
        log_input=True,
        full=False,
        epsilon=1e-8,
        reduction="sum_over_batch_size",
        name="poisson_negative_log_likelihood",
        dtype=None,
    ):
        super().__init__(poisson_negative_log_likelihood, **constructor_arguments(locals()))
