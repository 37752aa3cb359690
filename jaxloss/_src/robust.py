"""Classification losses that are robust to noisy labels: generalized cross-entropy.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
``probs``; non-integer ``labels`` or labels whose shape is not ``probs``'s without
``axis``; ``q`` outside ``(0, 1]``; a ``where`` mask that is not boolean or does not
broadcast to the per-example loss. A label outside ``[0, num_classes)`` cannot be
checked under ``jit``: that example's loss is NaN, as is the loss of an example
whose row of ``probs`` holds a value outside ``[0, 1]`` or NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def generalized_cross_entropy(
    probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    q: float = 0.5,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Generalized cross-entropy of Zhang and Sabuncu, one value per example.

    With ``p`` the probability given to the true class ``labels``:

    .. math::
        \ell = \frac{1 - p^q}{q}

    It tends to the cross-entropy ``-log p`` as ``q -> 0`` and equals the mean
    absolute error ``1 - p`` at ``q = 1``. The gradient ``-p ** (q - 1)`` is finite
    for ``p > 0`` and infinite at ``p = 0``.

    Args:
      probs: floating array of class probabilities (not logits).
      labels: integer class indices, the shape of ``probs`` without ``axis``.
      q: the noise parameter in ``(0, 1]``.
      axis: the class axis of ``probs``.
      where: optional boolean mask broadcastable to the per-example loss; masked
        examples give loss 0.

    Returns:
      The loss, shape of ``labels``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import generalized_cross_entropy
    >>> generalized_cross_entropy(jnp.array([[0.7, 0.3], [0.2, 0.8]]), jnp.array([0, 1]))
    Array([0.32667994, 0.21114564], dtype=float32)

    References:
      Zhang and Sabuncu, "Generalized cross entropy loss for training deep neural
      networks with noisy labels", NeurIPS 2018.
    """
    validation.check_floating("probs", probs)
    validation.check_in_interval("q", q, 0.0, 1.0, low_inclusive=False)
    axis = validation.canonical_axis(axis, jnp.ndim(probs))
    validation.check_sparse_labels("probs", probs, labels, axis)
    validation.check_where("where", where, jnp.shape(labels))
    dtype = validation.compute_dtype(probs)
    probs = jnp.asarray(probs).astype(dtype)
    num_classes = probs.shape[axis]
    labels = jnp.asarray(labels)
    checks.check_unit_interval("generalized_cross_entropy", "probs", probs)
    checks.check_class_labels("generalized_cross_entropy", labels, num_classes)
    out_of_range = (labels < 0) | (labels >= num_classes)
    out_of_range = out_of_range | jnp.any(validation.outside_unit_interval(probs), axis=axis)
    safe_labels = jnp.expand_dims(jnp.where(out_of_range, 0, labels), axis)
    true_probs = jnp.squeeze(jnp.take_along_axis(probs, safe_labels, axis=axis), axis)
    if where is not None:
        # A masked example's probability may be 0, where p ** q has an infinite derivative:
        # replace it so that its gradient is 0 rather than 0 * inf = NaN.
        keep = jnp.broadcast_to(jnp.asarray(where), true_probs.shape)
        true_probs = jnp.where(keep, true_probs, jnp.ones((), dtype))
    loss = (1.0 - jnp.power(true_probs, q)) / q
    return validation.apply_where(validation.nan_where(out_of_range, loss), where)
