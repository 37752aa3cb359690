"""Losses between distributions and counts: Kullback-Leibler divergence and Poisson.

Both read probabilities or rates (not logits) and clip them with ``epsilon`` as
Keras does, so that ``log`` never sees 0. ``kl_divergence`` gives one value per
example (it sums ``axis``); ``poisson_loss`` is elementwise. Half-precision inputs
are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``predictions``/``probs``; ``targets`` of another shape; a ``where`` mask that is
not boolean or does not broadcast to the first argument; an ``axis`` out of range;
a negative ``epsilon``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def kl_divergence(
    probs: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    epsilon: float = 1e-7,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Kullback-Leibler divergence ``KL(targets || probs)``, one value per example.

    Both distributions are clipped to ``[epsilon, 1]`` first (as Keras does)::

        t = clip(targets, epsilon, 1);  p = clip(probs, epsilon, 1)
        loss = sum(t * log(t / p), axis)

    so a target of 0 contributes ``epsilon * log(epsilon / p)``, about 0, and the
    gradient with respect to ``probs`` is ``-t / p`` inside the clip range and 0
    outside it (always finite).

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
    """Elementwise Poisson negative log-likelihood, up to a constant in ``targets``.

    ``loss = predictions - targets * log(predictions + epsilon)`` for predicted rates
    ``predictions >= 0`` and observed counts ``targets``; ``epsilon`` keeps the log
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
