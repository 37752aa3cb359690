"""optax's CTC losses, with optax's positional paddings."""

from __future__ import annotations

import jax

import jaxloss


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """optax's ``ctc_loss_with_forward_probs``, by :func:`jaxloss.ctc_loss_with_forward_probs`."""
    return jaxloss.ctc_loss_with_forward_probs(
        logits,
        labels,
        logit_paddings=logit_paddings,
        label_paddings=label_paddings,
        blank_id=blank_id,
        log_epsilon=log_epsilon,
    )


def ctc_loss(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> jax.Array:
    """optax's ``ctc_loss``: the loss of :func:`ctc_loss_with_forward_probs`.

    >>> import jax.numpy as jnp
    >>> from jaxloss import optax
    >>> logits, labels = jnp.zeros((1, 3, 3)), jnp.array([[1, 2]])
    >>> optax.ctc_loss(logits, jnp.zeros((1, 3)), labels, jnp.zeros((1, 2)))
    Array([1.686399], dtype=float32)
    """
    return ctc_loss_with_forward_probs(
        logits, logit_paddings, labels, label_paddings, blank_id=blank_id, log_epsilon=log_epsilon
    )[0]
