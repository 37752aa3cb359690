"""Connectionist temporal classification (CTC) loss for unsegmented sequences.

The forward recursion is optax's ``ctc_loss`` (log-space, stable for any finite
logits); this module adds the shape checks, the defaults the Keras layer uses, a
stand-in for ``log 0`` low enough that no loss is capped near 1e5, PyTorch's
``zero_infinity`` and the forward variables (``ctc_loss_with_forward_probs``).
Half-precision logits are computed in float32 and returned in float32.

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
_ctc_forward_probs = jax.jit(optax.ctc_loss_with_forward_probs, static_argnames=("blank_id",))


def _log_epsilon(logits: jax.Array, upper: float | jax.Array = -1e5) -> jax.Array:
    """The stand-in for ``log 0`` in the recursion: ``upper`` (optax's -1e5), or lower when
    needed.

    It must lie far below the log-probability of every possible alignment, else a
    sequence whose true loss exceeds 1e5 comes back capped near 1e5 (a plausible,
    wrong number). ``2 * sum_t min_c log_softmax(logits)[t, c] - 100``, per sequence
    (shape ``[batch, 1]``), is such a bound; it is kept finite so that the recursion's
    ``log_epsilon * 0`` stays 0.
    """
    log_probs = jax.nn.log_softmax(jax.lax.stop_gradient(logits), axis=-1)
    lowest = jnp.sum(jnp.min(log_probs, axis=-1), axis=-1, keepdims=True)
    bound = jnp.maximum(2.0 * lowest - 100.0, jnp.asarray(-1e35, logits.dtype))
    return jnp.minimum(bound, jnp.asarray(upper, logits.dtype))


def _prepare(logits, labels, logit_paddings, label_paddings, blank_id, where, loss):
    """Check the arguments; return logits, labels and both paddings in the compute dtype."""
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
    checks.check_finite(loss, "logits", logits)
    paddings = []
    for name, value, shape in (
        ("logit_paddings", logit_paddings, (batch, time)),
        ("label_paddings", label_paddings, jnp.shape(labels)),
    ):
        if value is None:
            value = jnp.zeros(shape, dtype)
        elif jnp.shape(value) != shape:
            raise ValueError(f"`{name}` must have shape {shape}, got shape {jnp.shape(value)}.")
        paddings.append(jnp.asarray(value).astype(dtype))
    logit_paddings, label_paddings = paddings
    checks.check_class_labels(loss, labels, classes, where=label_paddings == 0)
    return logits, labels, logit_paddings, label_paddings


def _out_of_range(labels, label_paddings, classes):
    """Per sequence: a real (unpadded) label outside ``[0, classes)``."""
    return jnp.any(((labels < 0) | (labels >= classes)) & (label_paddings == 0), axis=1)


def needs_more_frames(labels, logit_paddings, label_paddings):
    """Per sequence, whether no alignment exists: the labels need more frames than are given.

    A label sequence of length ``L`` with ``R`` adjacent repeats needs ``L + R`` frames (a
    blank must separate repeated symbols). Such a sequence has loss ``+inf``, which
    ``zero_infinity`` replaces by 0.
    """
    real = label_paddings == 0
    repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & real[:, 1:], axis=1)
    needed = jnp.sum(real, axis=1) + repeats
    return needed > jnp.sum(logit_paddings == 0, axis=1)


def ctc_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    logit_paddings: jax.typing.ArrayLike | None = None,
    label_paddings: jax.typing.ArrayLike | None = None,
    blank_id: int = 0,
    zero_infinity: bool = False,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""CTC negative log-likelihood of each label sequence, one value per sequence.

    .. math::
        \ell = -\log \sum_{a \,:\, \mathrm{collapse}(a) = y} \; \prod_t
            \mathrm{softmax}(x_t)_{a_t}

    over the paths ``a`` of one symbol per real frame, for logits ``x`` and labels ``y``,
    where ``collapse`` merges repeated symbols and then drops blanks.

    Args:
      logits: floating array ``[batch, time, classes]`` of unnormalised scores.
      labels: integer array ``[batch, label_length]`` of label sequences.
      logit_paddings: ``[batch, time]`` array, 1 at padded frames and 0 at real
        ones; ``None`` means no padding.
      label_paddings: ``[batch, label_length]`` array, 1 at padded label positions
        (right-padded); ``None`` means no padding.
      blank_id: the class index of the blank symbol.
      zero_infinity: give loss 0 and gradient 0 to a sequence that no alignment can
        produce (more labels, plus one blank between each pair of repeats, than real
        frames), whose true loss is infinite: PyTorch's ``zero_infinity=True``.
      where: optional boolean mask broadcastable to ``[batch]``; masked sequences
        give loss 0.

    Returns:
      The loss, shape ``[batch]``; float32 for half inputs. An impossible
      alignment (more labels than frames allow) gives a loss of about ``1e5``, or
      more when the sequence's logits allow possible alignments a loss above that
      (0 with ``zero_infinity``).

    >>> import jax.numpy as jnp
    >>> from jaxloss import ctc_loss
    >>> ctc_loss(jnp.zeros((1, 3, 3)), jnp.array([[1, 2]]))
    Array([1.686399], dtype=float32)
    >>> float(jnp.log(27 / 5))  # 5 of the 27 equally likely paths give [1, 2]
    1.686399...
    >>> ctc_loss(jnp.zeros((1, 3, 3)), jnp.array([[1, 1, 2]]), zero_infinity=True)
    Array([0.], dtype=float32)

    References:
      Graves et al., "Connectionist temporal classification: labelling
      unsegmented sequence data with recurrent neural networks", ICML 2006.
    """
    logits, labels, logit_paddings, label_paddings = _prepare(
        logits, labels, logit_paddings, label_paddings, blank_id, where, "ctc_loss"
    )
    loss = _ctc_forward(
        logits,
        logit_paddings,
        labels,
        label_paddings,
        blank_id=blank_id,
        log_epsilon=_log_epsilon(logits),
    )
    if zero_infinity:
        infeasible = needs_more_frames(labels, logit_paddings, label_paddings)
        loss = jnp.where(infeasible, jnp.zeros((), loss.dtype), loss)
    loss = validation.nan_where(_out_of_range(labels, label_paddings, logits.shape[-1]), loss)
    return validation.apply_where(loss, where)


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    logit_paddings: jax.typing.ArrayLike | None = None,
    label_paddings: jax.typing.ArrayLike | None = None,
    blank_id: int = 0,
    log_epsilon: float = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""The CTC loss with the forward variables of its recursion.

    The loss is :func:`ctc_loss`'s; the forward variables are the log-probabilities
    :math:`\log \alpha_{blank}(t, n)`, of the prefixes of alignments that have emitted
    the first ``n`` labels and are on a blank at frame ``t``, and
    :math:`\log \alpha_{label}(t, n)`, on the ``n``-th label (optax's
    ``ctc_loss_with_forward_probs``).

    Args:
      logits: floating array ``[batch, time, classes]`` of unnormalised scores.
      labels: integer array ``[batch, label_length]`` of label sequences.
      logit_paddings: ``[batch, time]`` array, 1 at padded frames; ``None``: none.
      label_paddings: ``[batch, label_length]`` array, 1 at padded (right-padded)
        label positions; ``None``: none.
      blank_id: the class index of the blank symbol.
      log_epsilon: the stand-in for ``log 0``; lowered for a sequence whose loss could
        exceed ``-log_epsilon`` (see :func:`ctc_loss`), so that no loss is capped near it.

    Returns:
      ``(loss, log_alpha_blank, log_alpha_label)``: ``[batch]``, ``[time, batch,
      label_length + 1]`` and ``[time, batch, label_length]``; float32 for half inputs.
      A real label outside ``[0, classes)`` makes its sequence's loss NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import ctc_loss_with_forward_probs
      >>> logits, labels = jnp.zeros((1, 3, 3)), jnp.array([[1, 2]])
      >>> loss, blank, label = ctc_loss_with_forward_probs(logits, labels)
      >>> loss, blank.shape, label.shape
      (Array([1.686399], dtype=float32), (3, 1, 3), (3, 1, 2))

    References:
      Graves et al., "Connectionist temporal classification", ICML 2006.
    """
    logits, labels, logit_paddings, label_paddings = _prepare(
        logits, labels, logit_paddings, label_paddings, blank_id, None,
        "ctc_loss_with_forward_probs",
    )
    loss, log_alpha_blank, log_alpha_label = _ctc_forward_probs(
        logits,
        logit_paddings,
        labels,
        label_paddings,
        blank_id=blank_id,
        log_epsilon=_log_epsilon(logits, log_epsilon),
    )
    loss = validation.nan_where(_out_of_range(labels, label_paddings, logits.shape[-1]), loss)
    return loss, log_alpha_blank, log_alpha_label
