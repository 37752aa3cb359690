"""Connectionist temporal classification (CTC) loss for unsegmented sequences.

The forward recursion is optax's ``ctc_loss`` (log-space, stable for any finite
logits); this module adds the shape checks and the defaults the Keras layer
uses. Half-precision logits are computed in float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): ``logits`` not a
floating ``[batch, time, classes]`` array; ``labels`` not an integer
``[batch, label_length]`` array; paddings of the wrong shape; ``blank_id`` out of
range. A label value outside ``[0, classes)`` cannot be checked under ``jit``:
that sequence's loss is NaN; inside ``jaxloss.checks()`` it raises, naming its index
(padded label positions may hold anything).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxloss._src import checks, validation

# Compiled once per shape: an eager call would otherwise retrace and recompile the scan.
_ctc_forward = jax.jit(optax.ctc_loss, static_argnames=("blank_id",))


def _log_epsilon(logits: jax.Array) -> jax.Array:
    """The stand-in for ``log 0`` in the recursion: -1e5 (optax's), or lower when needed.

    It must lie far below the log-probability of every possible alignment, else a
    sequence whose true loss exceeds 1e5 comes back capped near 1e5 (a plausible,
    wrong number). ``2 * sum_t min_c log_softmax(logits)[t, c] - 100``, per sequence
    (shape ``[batch, 1]``), is such a bound; it is kept finite so that the recursion's
    ``log_epsilon * 0`` stays 0.
    """
    log_probs = jax.nn.log_softmax(jax.lax.stop_gradient(logits), axis=-1)
    lowest = jnp.sum(jnp.min(log_probs, axis=-1), axis=-1, keepdims=True)
    bound = jnp.maximum(2.0 * lowest - 100.0, jnp.asarray(-1e35, logits.dtype))
    return jnp.minimum(bound, jnp.asarray(-1e5, logits.dtype))


def ctc_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    logit_paddings: jax.typing.ArrayLike | None = None,
    label_paddings: jax.typing.ArrayLike | None = None,
    blank_id: int = 0,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """CTC negative log-likelihood of each label sequence, one value per sequence.

    ``loss = -log sum_{paths a : collapse(a) = labels} prod_t softmax(logits_t)[a_t]``,
    where ``collapse`` merges repeated symbols and then drops blanks.

    Args:
      logits: floating array ``[batch, time, classes]`` of unnormalised scores.
      labels: integer array ``[batch, label_length]`` of label sequences.
      logit_paddings: ``[batch, time]`` array, 1 at padded frames and 0 at real
        ones; ``None`` means no padding.
      label_paddings: ``[batch, label_length]`` array, 1 at padded label positions;
        ``None`` means no padding.
      blank_id: the class index of the blank symbol.
      where: optional boolean mask broadcastable to ``[batch]``; masked sequences
        give loss 0.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs. An impossible
      alignment (more labels than frames allow) gives a loss of about ``1e5``, or
      more when the sequence's logits allow possible alignments a loss above that.

    >>> import jax.numpy as jnp
    >>> from jaxloss import ctc_loss
    >>> ctc_loss(jnp.zeros((1, 3, 3)), jnp.array([[1, 2]]))
    Array([1.686399], dtype=float32)
    >>> float(jnp.log(27 / 5))  # 5 of the 27 equally likely paths give [1, 2]
    1.686399...

    References:
      Graves et al., "Connectionist temporal classification: labelling
      unsegmented sequence data with recurrent neural networks", ICML 2006.
    """
    validation.check_floating("logits", logits)
    validation.check_integer("labels", labels)
    if jnp.ndim(logits) != 3:
        raise ValueError(
            f"`logits` must have shape [batch, time, classes], got shape {jnp.shape(logits)}."
        )
    batch, time, classes = jnp.shape(logits)
    if jnp.ndim(labels) != 2 or jnp.shape(labels)[0] != batch:
        raise ValueError(
            f"`labels` must have shape [{batch}, label_length], got shape {jnp.shape(labels)}."
        )
    if not 0 <= blank_id < classes:
        raise ValueError(f"`blank_id`={blank_id} is out of range for {classes} classes.")
    validation.check_where("where", where, (batch,))
    dtype = validation.compute_dtype(logits)
    logits = jnp.asarray(logits).astype(dtype)
    labels = jnp.asarray(labels)
    checks.check_finite("ctc_loss", "logits", logits)
    paddings = {}
    for name, value, shape in (
        ("logit_paddings", logit_paddings, (batch, time)),
        ("label_paddings", label_paddings, jnp.shape(labels)),
    ):
        if value is None:
            value = jnp.zeros(shape, dtype)
        elif jnp.shape(value) != shape:
            raise ValueError(f"`{name}` must have shape {shape}, got shape {jnp.shape(value)}.")
        paddings[name] = jnp.asarray(value).astype(dtype)
    checks.check_class_labels(
        "ctc_loss", labels, classes, where=paddings["label_paddings"] == 0
    )
    loss = _ctc_forward(
        logits,
        paddings["logit_paddings"],
        labels,
        paddings["label_paddings"],
        blank_id=blank_id,
        log_epsilon=_log_epsilon(logits),
    )
    out_of_range = jnp.any(
        ((labels < 0) | (labels >= classes)) & (paddings["label_paddings"] == 0), axis=1
    )
    return validation.apply_where(validation.nan_where(out_of_range, loss), where)
