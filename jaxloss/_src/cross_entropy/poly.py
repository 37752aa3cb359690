"""Poly-1 loss: softmax cross-entropy plus ``epsilon`` times ``1 - p`` of the labels' classes.

The cross-entropy is :func:`~jaxloss._src.cross_entropy.softmax.softmax_cross_entropy`; the
polynomial term reads the same softmax row statistics (:mod:`jaxloss._src.softmax_rows`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, softmax_rows, validation
from jaxloss._src.cross_entropy.softmax import softmax_cross_entropy
from jaxloss._src.label_smoothing import cast_and_smooth

__all__ = ["poly_loss_cross_entropy"]


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
    precise: bool = False,
) -> jax.Array:
    r"""Poly-1 loss: the softmax cross-entropy plus ``epsilon`` times ``sum(y (1 - p))``.

    .. math::
        \ell = \sum_c y_c \big(-\log p_c\big) + \epsilon \sum_c y_c (1 - p_c),
        \qquad p = \mathrm{softmax}(x)

    the first term of the loss's expansion in powers of ``1 - p`` reweighted; with
    ``epsilon = 0`` it is the cross-entropy. ``1 - p_c`` is formed as
    ``-expm1(log p_c)`` from the row statistics, so with ``precise=True`` it keeps
    float32's relative precision also when ``p_c`` is within 1e-7 of 1 (where ``1 - p``
    rounds to 0, as in optax).

    Args:
      logits: floating array with a class axis.
      labels: floating array of the same shape (one-hot or soft labels).
      epsilon: the coefficient of the first polynomial term (2 for ImageNet
        classification, -1 for detection, in the reference).
      axis: the class axis.
      where: optional boolean mask broadcastable to ``logits``: masked classes are
        treated as if sliced away; a ``[..., 1]`` mask drops whole examples.
      precise: the precise row statistics, for both terms (see
        :func:`~jaxloss.softmax_cross_entropy`).

    Returns:
      The loss per example: ``logits``'s shape without ``axis``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> logits, labels = jnp.array([[2.0, 0.0, -1.0]]), jnp.array([[1.0, 0.0, 0.0]])
      >>> jaxloss.poly_loss_cross_entropy(logits, labels, epsilon=1.0)
      Array([0.32605], dtype=float32)
      >>> jaxloss.poly_loss_cross_entropy(logits, labels, epsilon=0.0)
      Array([0.169846], dtype=float32)

    References:
      Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
      Functions", ICLR 2022; optax ``poly_loss_cross_entropy``.
    """
    cross_entropy = softmax_cross_entropy(logits, labels, axis=axis, where=where, precise=precise)
    axis = validation.canonical_axis(axis, jnp.ndim(logits))
    logits, labels, mask = cast_and_smooth(logits, labels, 0.0, axis, where)
    checks.check_finite("poly_loss_cross_entropy", "logits", logits, where=mask)
    row_max, log_sum_exp = softmax_rows.row_statistics(logits, mask, axis, bool(precise))
    log_probs = softmax_rows.masked_logits(logits, mask) - row_max - log_sum_exp
    # Masked classes (log p = -inf, 1 - p = 1) carry labels 0 after cast_and_smooth.
    one_minus_p = -jnp.expm1(log_probs)
    polynomial = jnp.sum(labels * one_minus_p, axis=axis)
    return cross_entropy + jnp.asarray(epsilon, polynomial.dtype) * polynomial
