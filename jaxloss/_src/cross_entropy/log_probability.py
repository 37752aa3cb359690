"""Negative log-likelihood of integer labels given log-probabilities (PyTorch's ``nll_loss``).

The loss of an example is minus its label's log-probability, times the label's class
weight: no softmax is taken, so ``nll_loss(log_softmax(x), y)`` is the softmax
cross-entropy of ``x``, and any other normalised log-scores (a log-sigmoid, a mixture's
log-density) can be read the same way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.cross_entropy import class_labels

__all__ = ["nll_loss"]


def nll_loss(
    log_probs: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
    class_weights: jax.typing.ArrayLike | None = None,
    ignore_index: int | None = None,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of integer class labels, one value per example.

    .. math::
        \ell = -w_y \log p_y

    read from ``log_probs`` at the label along ``axis``; ``w_y = 1`` without
    ``class_weights``. The gradient is ``-w_y`` at the label and 0 elsewhere. A
    log-probability of ``-inf`` at the label gives ``inf``; at another class it is
    not read (a class of probability 0 is allowed).

    Args:
      log_probs: floating array of log-probabilities with a class axis of size ``C``
        (e.g. ``jax.nn.log_softmax(logits)``); values are not checked for normalisation.
      labels: integer class indices, the shape of ``log_probs`` without ``axis``.
      axis: the class axis.
      class_weights: optional ``[C]`` weights; each example's loss is multiplied by the
        weight of its label (PyTorch's ``weight``, without its normalisation).
      ignore_index: examples with this label give loss 0 and gradient 0 (PyTorch).
      where: optional boolean mask broadcastable to ``labels``'s shape; masked examples
        give loss 0 and gradient 0.

    Returns:
      The loss per example, ``labels``'s shape; float32 for half inputs. A label outside
      ``[0, C)`` that is not ``ignore_index``, or a NaN anywhere in the example's
      log-probabilities, gives NaN for that example and its gradient (PyTorch raises for
      the label and reads only the label's entry): it cannot raise under ``jit``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import jaxloss
      >>> log_probs = jax.nn.log_softmax(jnp.array([[2.0, 0.0, -1.0]]))
      >>> jaxloss.nll_loss(log_probs, jnp.array([0]))
      Array([0.16984604], dtype=float32)
      >>> jaxloss.nll_loss(log_probs, jnp.array([-100]), ignore_index=-100)
      Array([0.], dtype=float32)

    References:
      PyTorch ``torch.nn.NLLLoss`` (``weight``, ``ignore_index``).
    """
    validation.check_floating("log_probs", log_probs)
    axis = validation.check_class_axis("log_probs", log_probs, axis)
    validation.check_sparse_labels("log_probs", log_probs, labels, axis)
    num_classes = jnp.shape(log_probs)[axis]
    validation.check_class_weights(class_weights, num_classes)
    ignore_index = validation.check_ignore_index(ignore_index)
    validation.check_where("where", where, jnp.shape(labels))
    dtype = validation.compute_dtype(log_probs)
    log_probs = jnp.asarray(log_probs).astype(dtype)
    labels = jnp.asarray(labels)
    checks.check_class_labels("nll_loss", labels, num_classes, ignore_index=ignore_index)
    safe_labels, active, valid = class_labels.label_status(
        labels, None, num_classes, axis, ignore_index, log_probs.shape
    )
    # The row maximum is NaN exactly when the row holds one: a plain row reduction, where
    # any(isnan) materialised a boolean copy of the log-probabilities on XLA:CPU.
    valid = valid & ~jnp.isnan(jnp.max(log_probs, axis=axis, keepdims=True))
    if where is not None:
        # A masked example is inactive, as an ignored one: loss 0, gradient 0 (not 0 * NaN).
        active = active & jnp.expand_dims(jnp.broadcast_to(jnp.asarray(where), labels.shape), axis)
    loss = -class_labels.label_entries(log_probs, safe_labels, axis)
    if class_weights is not None:
        weights = jnp.asarray(class_weights).astype(dtype)
        loss = loss * jnp.take(weights, safe_labels)
    # An invalid active row is multiplied by NaN, so that its gradient is NaN too; an ignored
    # row is selected away rather than multiplied by 0 (its label entry may be -inf).
    loss = loss * class_labels.row_factor(True, valid | ~active, dtype)
    return jnp.squeeze(jnp.where(active, loss, jnp.zeros((), dtype)), axis)
