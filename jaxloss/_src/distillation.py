"""Knowledge distillation from logits: forward KL, reverse KL, generalised Jensen-Shannon.

Each loss compares the temperature-softened distributions ``softmax(teacher_logits / T)``
and ``softmax(student_logits / T)`` along ``axis``, in log space from the softmax row
statistics (:mod:`jaxloss._src.softmax_rows`), and returns one value per example scaled by
``T**2`` (Hinton et al.), so that the gradients keep their size as ``T`` changes. Gradients
flow to both inputs: wrap the teacher's logits in ``jax.lax.stop_gradient`` when the
teacher is not trained. Half-precision inputs are computed in float32 and returned in
float32.

A ``-inf`` logit is a class of probability 0 in that distribution, the same rule in every
form: it adds nothing where its distribution weighs the other (``0 log 0 = 0``), and a
class that one distribution gives mass and the divergence's reference gives none makes the
divergence ``inf``, its exact value. A ``where`` mask removes classes from both
distributions, as if sliced away; a row with every class masked gives 0.

Input rules (``ValueError`` at trace time, naming the argument): non-floating logits;
student and teacher logits of different shapes (no broadcasting); ``axis`` out of range;
a ``where`` that is not boolean or does not broadcast to the logits; ``temperature <= 0``;
``beta`` outside ``(0, 1)``. Under ``jit``: a row whose student or teacher logits are all
``-inf`` (over the unmasked classes: no distribution) gives NaN, as does NaN in a row.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import softmax_rows, validation


def _checked(student_logits, teacher_logits, temperature, axis, where):
    """Check the arguments; return the logits in the compute dtype, the axis and the mask."""
    validation.check_floating("student_logits", student_logits)
    validation.check_floating("teacher_logits", teacher_logits)
    validation.check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    axis = validation.check_class_axis("student_logits", student_logits, axis)
    mask = validation.broadcast_where(where, jnp.shape(student_logits))
    validation.check_positive("temperature", temperature)
    dtype = validation.compute_dtype(student_logits, teacher_logits)
    student = jnp.asarray(student_logits).astype(dtype)
    teacher = jnp.asarray(teacher_logits).astype(dtype)
    return student, teacher, axis, mask


def _log_softmax(logits, temperature, mask, axis):
    """``(log p, p, support)`` of ``p = softmax(logits / T)`` over the classes of ``support``:
    unmasked, logit not ``-inf``.

    The row's maximum is subtracted before the division by ``T``, so that the gap of the
    class at the maximum is exactly 0: ``logits / T - max(logits / T)`` compiled with a fused
    multiply-add can leave it an ulp away (0.008 at ``1e3 / 0.01``), an error of about 1%
    in ``p``. Outside the support ``log p`` and ``p`` are 0 (safe values, no gradient), so
    that no ``-inf`` reaches a product; the row statistics are those of the support alone.
    """
    support = ~jnp.isneginf(logits)
    if mask is not None:
        support = support & mask
    maximum = softmax_rows.row_max(logits, support, axis)
    zero = jnp.zeros((), logits.dtype)
    gaps = (jnp.where(support, logits, maximum) - maximum) / temperature
    gap_max, log_sum_exp = softmax_rows.row_max_and_log_sum_exp(gaps, support, axis)
    log_probs = jnp.where(support, gaps - gap_max - log_sum_exp, zero)
    probs = jnp.where(support, jnp.exp(log_probs), zero)
    return log_probs, probs, support


def _kl_divergence(log_p, p, support_p, log_q, support_q, axis):
    """``sum p (log p - log q)`` over ``support_p``; ``inf`` where ``p > 0`` meets ``q = 0``.

    ``log q`` is set to ``-inf`` only there, never under a class outside ``support_p``,
    where ``0 * inf`` would make the gradient NaN.
    """
    zero = jnp.zeros((), log_p.dtype)
    minus_inf = jnp.asarray(-jnp.inf, log_p.dtype)
    log_q = jnp.where(support_q, log_q, jnp.where(support_p, minus_inf, zero))
    return jnp.sum(jnp.where(support_p, p * (log_p - log_q), zero), axis=axis)


def _nan_without_distribution(loss, supports, mask, axis):
    """NaN for the rows (not entirely masked) where one of the distributions has no class."""
    active = True if mask is None else jnp.any(mask, axis=axis)
    empty = jnp.zeros(loss.shape, jnp.bool_)
    for support in supports:
        empty = empty | ~jnp.any(support, axis=axis)
    return validation.nan_where(active & empty, loss)


def distillation_loss(
    student_logits: jax.typing.ArrayLike,
    teacher_logits: jax.typing.ArrayLike,
    *,
    temperature: float = 1.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Knowledge-distillation loss: the forward KL from the teacher to the student.

    With ``p = softmax(teacher_logits / T)`` and ``q = softmax(student_logits / T)``:

    .. math::
        \ell = T^2 \, \mathrm{KL}(p \,\|\, q) = T^2 \sum_c p_c (\log p_c - \log q_c)

    over the classes ``c`` along ``axis``,
    computed from ``log p`` and ``log q`` (the logits less each row's maximum and
    log-sum-exp), never from a ``log`` of a probability, so that a probability that
    underflows does not make the loss infinite. The gradient with respect to the student's
    logits is ``T * (q - p)``, finite for every finite input; the teacher's logits get
    their gradient too. Finite for every finite input whose rows span less than float32's
    largest number times ``T``.

    Args:
      student_logits: floating array with a class axis.
      teacher_logits: floating array of the same shape.
      temperature: ``T > 0``; above 1 it softens both distributions.
      axis: the class axis.
      where: optional boolean mask broadcastable to the logits: masked classes are treated
        as if sliced away; a ``[..., 1]`` mask drops whole examples (loss 0, gradient 0).

    Returns:
      The loss per example, the logits' shape without ``axis``; float32 for half inputs.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from jaxloss import distillation_loss
      >>> student = jnp.array([[1.0, 0.0, -1.0]])
      >>> teacher = jnp.array([[2.0, 0.5, -3.0]])
      >>> distillation_loss(student, jax.lax.stop_gradient(teacher), temperature=2.0)
      Array([0.33586922], dtype=float32)

    References:
      Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", NIPS 2014
      Deep Learning Workshop (arXiv:1503.02531).
    """
    student, teacher, axis, mask = _checked(
        student_logits, teacher_logits, temperature, axis, where
    )
    log_q, _, support_q = _log_softmax(student, temperature, mask, axis)
    log_p, p, support_p = _log_softmax(teacher, temperature, mask, axis)
    loss = temperature**2 * _kl_divergence(log_p, p, support_p, log_q, support_q, axis)
    return _nan_without_distribution(loss, (support_p, support_q), mask, axis)


def reverse_distillation_loss(
    student_logits: jax.typing.ArrayLike,
    teacher_logits: jax.typing.ArrayLike,
    *,
    temperature: float = 1.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Distillation with the reverse KL, from the student to the teacher (mode seeking).

    With ``p = softmax(teacher_logits / T)`` and ``q = softmax(student_logits / T)``:

    .. math::
        \ell = T^2 \, \mathrm{KL}(q \,\|\, p) = T^2 \sum_c q_c (\log q_c - \log p_c)

    over the classes ``c`` along ``axis``, in log space as :func:`distillation_loss`. The student is pushed onto the teacher's
    modes rather than spread over its whole support (Gu et al.'s MiniLLM; GKD's reverse KL).
    TRL's ``GKDTrainer`` (``beta=1``) gives these numbers divided by ``T**2``.

    Args:
      student_logits: floating array with a class axis.
      teacher_logits: floating array of the same shape.
      temperature: ``T > 0``.
      axis: the class axis.
      where: optional boolean mask broadcastable to the logits (as in
        :func:`distillation_loss`).

    Returns:
      The loss per example, the logits' shape without ``axis``; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import reverse_distillation_loss
      >>> reverse_distillation_loss(jnp.array([[1.0, 0.0, -1.0]]), jnp.array([[2.0, 0.5, -3.0]]))
      Array([0.19175702], dtype=float32)

    References:
      Gu et al., "MiniLLM: Knowledge Distillation of Large Language Models", ICLR 2024
      (arXiv:2306.08543). Agarwal et al., "On-Policy Distillation of Language Models:
      Learning from Self-Generated Mistakes", ICLR 2024 (arXiv:2306.13649).
    """
    student, teacher, axis, mask = _checked(
        student_logits, teacher_logits, temperature, axis, where
    )
    log_q, q, support_q = _log_softmax(student, temperature, mask, axis)
    log_p, _, support_p = _log_softmax(teacher, temperature, mask, axis)
    loss = temperature**2 * _kl_divergence(log_q, q, support_q, log_p, support_p, axis)
    return _nan_without_distribution(loss, (support_p, support_q), mask, axis)


def jensen_shannon_distillation_loss(
    student_logits: jax.typing.ArrayLike,
    teacher_logits: jax.typing.ArrayLike,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Distillation with the generalised Jensen-Shannon divergence of GKD.

    With ``p = softmax(teacher_logits / T)``, ``q = softmax(student_logits / T)``,
    ``beta`` written :math:`\beta` and the mixture ``m = beta p + (1 - beta) q``:

    .. math::
        \ell = T^2 \big(\beta \, \mathrm{KL}(p \,\|\, m)
            + (1 - \beta) \, \mathrm{KL}(q \,\|\, m)\big)

    ``log m`` is ``logaddexp(log beta + log p, log(1 - beta) + log q)``, so the loss is
    finite for every finite input, ``-inf`` logits included (the mixture covers both
    supports); ``beta = 0.5`` is the Jensen-Shannon divergence, at most ``T**2 log 2``.
    The divergence tends to 0 at both ends of ``beta``; TRL's ``GKDTrainer`` uses the
    forward KL at ``beta = 0`` and the reverse KL at ``beta = 1``
    (:func:`distillation_loss`, :func:`reverse_distillation_loss`), and otherwise gives
    these numbers divided by ``T**2``.

    Args:
      student_logits: floating array with a class axis.
      teacher_logits: floating array of the same shape.
      beta: the teacher's weight in the mixture, in ``(0, 1)``.
      temperature: ``T > 0``.
      axis: the class axis.
      where: optional boolean mask broadcastable to the logits (as in
        :func:`distillation_loss`).

    Returns:
      The loss per example, the logits' shape without ``axis``; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import jensen_shannon_distillation_loss
      >>> jensen_shannon_distillation_loss(
      ...     jnp.array([[1.0, 0.0, -1.0]]), jnp.array([[2.0, 0.5, -3.0]])
      ... )
      Array([0.02867436], dtype=float32)

    References:
      Agarwal et al., "On-Policy Distillation of Language Models: Learning from
      Self-Generated Mistakes", ICLR 2024 (arXiv:2306.13649), section 3 (JSD(beta)).
      Lin, "Divergence measures based on the Shannon entropy", IEEE Transactions on
      Information Theory 37(1), 1991.
    """
    validation.check_in_interval("beta", beta, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    student, teacher, axis, mask = _checked(
        student_logits, teacher_logits, temperature, axis, where
    )
    log_q, q, support_q = _log_softmax(student, temperature, mask, axis)
    log_p, p, support_p = _log_softmax(teacher, temperature, mask, axis)
    dtype = log_p.dtype
    zero = jnp.zeros((), dtype)
    teacher_part = jnp.log(jnp.asarray(beta, dtype)) + log_p
    student_part = jnp.log1p(-jnp.asarray(beta, dtype)) + log_q
    both = support_p & support_q
    # logaddexp only where both parts exist: its gradient at (-inf, -inf) is NaN.
    mixed = jnp.logaddexp(jnp.where(both, teacher_part, zero), jnp.where(both, student_part, zero))
    log_m = jnp.where(both, mixed, jnp.where(support_p, teacher_part, student_part))
    support_m = support_p | support_q
    loss = beta * _kl_divergence(log_p, p, support_p, log_m, support_m, axis) + (
        1 - beta
    ) * _kl_divergence(log_q, q, support_q, log_m, support_m, axis)
    loss = temperature**2 * loss
    return _nan_without_distribution(loss, (support_p, support_q), mask, axis)
