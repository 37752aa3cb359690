"""Preference optimisation from per-sequence log-probabilities: DPO, IPO and SimPO.

The losses read the log-probability of each chosen and rejected response under the
policy (and, for DPO and IPO, under a frozen reference model), one value per preference
pair, and return one loss per pair; :func:`sequence_log_probs` forms those
log-probabilities from a language model's logits. Half-precision inputs are computed in
float32 and returned in float32.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
log-probabilities; log-probabilities of different shapes (no broadcasting); ``beta <= 0``;
``label_smoothing`` outside ``[0, 0.5]``; ``gamma < 0``. ``sequence_log_probs``: logits
without a token and a class axis, labels that are not integers of the logits' shape
without the class axis, a ``where`` that is not boolean or does not broadcast to the
labels. NaN in an input gives NaN for its pair; a label outside ``[0, V)`` on a counted
token gives NaN for its sequence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation
from jaxloss._src.cross_entropy.sparse_softmax import sparse_softmax_cross_entropy


def _cast_log_probs(loss: str, **log_probs: jax.typing.ArrayLike) -> list[jax.Array]:
    """Check that the named log-probabilities are floating and of one shape; cast them."""
    names = list(log_probs)
    for name in names:
        validation.check_floating(name, log_probs[name])
    for name in names[1:]:
        validation.check_same_shape(names[0], log_probs[names[0]], name, log_probs[name])
    dtype = validation.compute_dtype(*log_probs.values())
    cast = [jnp.asarray(value).astype(dtype) for value in log_probs.values()]
    for name, value in zip(names, cast):
        checks.check_finite(loss, name, value)
    return cast


def _preference_margin(loss, pc, pr, rc, rr):
    """``h = (pc - rc) - (pr - rr)``, the policy's log-ratio margin over the reference's."""
    pc, pr, rc, rr = _cast_log_probs(
        loss,
        policy_chosen_logps=pc,
        policy_rejected_logps=pr,
        reference_chosen_logps=rc,
        reference_rejected_logps=rr,
    )
    return (pc - rc) - (pr - rr)


def dpo_loss(
    policy_chosen_logps: jax.typing.ArrayLike,
    policy_rejected_logps: jax.typing.ArrayLike,
    reference_chosen_logps: jax.typing.ArrayLike,
    reference_rejected_logps: jax.typing.ArrayLike,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Direct preference optimisation loss, one value per preference pair.

    With the margin ``h = (pc - rc) - (pr - rr)`` of the policy's log-ratios
    (``pc``, ``pr``: the policy's log-probabilities of the chosen and rejected responses;
    ``rc``, ``rr``: the reference model's), ``beta`` written :math:`\beta` and
    ``eps = label_smoothing`` written :math:`\varepsilon`:

    .. math::
        \ell &= -(1 - \varepsilon) \log \sigma(\beta h) - \varepsilon \log \sigma(-\beta h) \\
              &= (1 - \varepsilon) \operatorname{softplus}(-\beta h)
                 + \varepsilon \operatorname{softplus}(\beta h)

    ``eps > 0`` is conservative DPO: each label is taken as flipped with probability
    ``eps``. Both parts are softplus of ``+-beta h``, so the loss is finite wherever its
    exact value is, and its gradient, ``beta (sigmoid(beta h) - (1 - eps))`` with respect
    to ``h``, is finite for every finite input (log-probabilities of -1e4 included). These
    are TRL's numbers for ``loss_type="sigmoid"`` (``DPOTrainer``, per pair, before its
    mean over the batch). The implicit rewards are :func:`dpo_rewards`.

    Args:
      policy_chosen_logps: floating array, the policy's log-probability of each chosen
        response (summed over its tokens, e.g. by :func:`sequence_log_probs`).
      policy_rejected_logps: the same for the rejected responses, of the same shape.
      reference_chosen_logps: the reference model's, for the chosen responses.
      reference_rejected_logps: the reference model's, for the rejected responses.
      beta: the inverse temperature, > 0 (the strength of the KL penalty to the reference).
      label_smoothing: the probability ``eps`` that a preference is flipped, in ``[0, 0.5]``.

    Returns:
      The loss per pair, the inputs' shape; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import dpo_loss
      >>> dpo_loss(jnp.array([-10.0]), jnp.array([-12.0]), jnp.array([-11.0]), jnp.array([-11.0]))
      Array([0.5981389], dtype=float32)

      In training the reference log-probabilities are constants; computed from a model in
      the same function, wrap them in ``jax.lax.stop_gradient``.

    References:
      Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a
      Reward Model", NeurIPS 2023 (arXiv:2305.18290), eq. 7. Mitchell, "A note on DPO with
      noisy preferences and relationship to IPO", 2023 (conservative DPO). TRL,
      ``trl.DPOTrainer.dpo_loss``.
    """
    validation.check_positive("beta", beta)
    validation.check_in_interval("label_smoothing", label_smoothing, 0.0, 0.5)
    margin = _preference_margin(
        "dpo_loss",
        policy_chosen_logps,
        policy_rejected_logps,
        reference_chosen_logps,
        reference_rejected_logps,
    )
    scaled = beta * margin
    return (1 - label_smoothing) * jax.nn.softplus(-scaled) + label_smoothing * jax.nn.softplus(
        scaled
    )


def dpo_rewards(
    policy_chosen_logps: jax.typing.ArrayLike,
    policy_rejected_logps: jax.typing.ArrayLike,
    reference_chosen_logps: jax.typing.ArrayLike,
    reference_rejected_logps: jax.typing.ArrayLike,
    *,
    beta: float = 0.1,
) -> tuple[jax.Array, jax.Array]:
    r"""DPO's implicit rewards of the chosen and rejected responses.

    .. math::
        \texttt{chosen\_rewards} = \beta (pc - rc), \qquad
        \texttt{rejected\_rewards} = \beta (pr - rr)

    with the log-probabilities named as in :func:`dpo_loss`, so that :func:`dpo_loss` (without label smoothing) is
    ``softplus(rejected_rewards - chosen_rewards)``. Their difference is the reward margin
    and ``chosen_rewards > rejected_rewards`` the preference accuracy that DPO training
    usually reports. Gradients flow; TRL detaches them (metrics only): wrap the result in
    ``jax.lax.stop_gradient`` for the same.

    Args:
      policy_chosen_logps: floating array, the policy's log-probabilities of the chosen
        responses.
      policy_rejected_logps: the same for the rejected responses, of the same shape.
      reference_chosen_logps: the reference model's, for the chosen responses.
      reference_rejected_logps: the reference model's, for the rejected responses.
      beta: the inverse temperature of :func:`dpo_loss`, > 0.

    Returns:
      ``(chosen_rewards, rejected_rewards)``, each of the inputs' shape; float32 for half
      inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import dpo_rewards
      >>> reference = jnp.array([-11.0])
      >>> dpo_rewards(jnp.array([-10.0]), jnp.array([-12.0]), reference, reference)
      (Array([0.1], dtype=float32), Array([-0.1], dtype=float32))

    References:
      Rafailov et al., "Direct Preference Optimization", NeurIPS 2023, section 5.
    """
    validation.check_positive("beta", beta)
    pc, pr, rc, rr = _cast_log_probs(
        "dpo_rewards",
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    return beta * (pc - rc), beta * (pr - rr)


def ipo_loss(
    policy_chosen_logps: jax.typing.ArrayLike,
    policy_rejected_logps: jax.typing.ArrayLike,
    reference_chosen_logps: jax.typing.ArrayLike,
    reference_rejected_logps: jax.typing.ArrayLike,
    *,
    beta: float = 0.1,
) -> jax.Array:
    r"""Identity preference optimisation loss, one value per preference pair.

    With the margin ``h = (pc - rc) - (pr - rr)`` of :func:`dpo_loss` and ``beta``
    written :math:`\beta`:

    .. math::
        \ell = \Big(h - \frac{1}{2 \beta}\Big)^2

    a regression of the margin onto ``1 / (2 beta)`` (``beta`` is the paper's ``tau``),
    which keeps the policy near the reference even for deterministic preferences, where
    DPO's loss keeps decreasing as ``h`` grows. The gradient is ``2 (h - 1 / (2 beta))``.

    The formula is TRL's ``loss_type="ipo"``, but TRL feeds it log-probabilities averaged
    over each response's tokens, not summed: to match TRL, pass
    ``sequence_log_probs(..., average=True)``.

    Args:
      policy_chosen_logps: floating array, the policy's log-probabilities of the chosen
        responses.
      policy_rejected_logps: the same for the rejected responses, of the same shape.
      reference_chosen_logps: the reference model's, for the chosen responses.
      reference_rejected_logps: the reference model's, for the rejected responses.
      beta: the regularisation strength, > 0; the target margin is ``1 / (2 beta)``.

    Returns:
      The loss per pair, the inputs' shape; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import ipo_loss
      >>> ipo_loss(jnp.array([-10.0]), jnp.array([-12.0]), jnp.array([-11.0]), jnp.array([-11.0]))
      Array([9.], dtype=float32)

    References:
      Azar et al., "A General Theoretical Paradigm to Understand Learning from Human
      Preferences", AISTATS 2024 (arXiv:2310.12036), eq. 17. TRL, ``trl.DPOTrainer``.
    """
    validation.check_positive("beta", beta)
    margin = _preference_margin(
        "ipo_loss",
        policy_chosen_logps,
        policy_rejected_logps,
        reference_chosen_logps,
        reference_rejected_logps,
    )
    return (margin - 1 / (2 * beta)) ** 2


def simpo_loss(
    policy_chosen_logps: jax.typing.ArrayLike,
    policy_rejected_logps: jax.typing.ArrayLike,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
) -> jax.Array:
    r"""Simple preference optimisation loss (reference-free), one value per preference pair.

    With ``c`` and ``r`` the policy's log-probabilities of the chosen and rejected
    responses, each averaged over its tokens, and ``beta``, ``gamma`` written
    :math:`\beta`, :math:`\gamma`:

    .. math::
        \ell = -\log \sigma\big(\beta (c - r) - \gamma\big)
              = \operatorname{softplus}\big(\gamma - \beta (c - r)\big)

    ``beta (c - r)`` is the length-normalised reward margin and ``gamma`` the target margin
    it must exceed. Finite wherever the exact value is; gradient
    ``-beta sigmoid(gamma - beta (c - r))`` with respect to ``c``, finite for every finite
    input. TRL's ``CPOTrainer`` with ``loss_type="simpo"`` gives these numbers for
    ``simpo_gamma = gamma`` (the SimPO repository's ``gamma_beta_ratio`` is
    ``gamma / beta``).

    Args:
      policy_chosen_logps: floating array, the policy's length-averaged log-probabilities
        of the chosen responses (``sequence_log_probs(..., average=True)``).
      policy_rejected_logps: the same for the rejected responses, of the same shape.
      beta: the reward scale, > 0.
      gamma: the target reward margin, >= 0.

    Returns:
      The loss per pair, the inputs' shape; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import simpo_loss
      >>> simpo_loss(jnp.array([-1.0]), jnp.array([-1.5]))
      Array([0.474077], dtype=float32)

    References:
      Meng, Xia and Chen, "SimPO: Simple Preference Optimization with a Reference-Free
      Reward", NeurIPS 2024 (arXiv:2405.14734), eq. 6.
    """
    validation.check_positive("beta", beta)
    validation.check_non_negative("gamma", gamma)
    chosen, rejected = _cast_log_probs(
        "simpo_loss",
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
    )
    return jax.nn.softplus(gamma - beta * (chosen - rejected))


def sequence_log_probs(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
    average: bool = False,
) -> jax.Array:
    r"""Log-probability of each label sequence under a language model's logits.

    With logits ``x``, labels ``y`` and the mask ``w = where`` (1 without it):

    .. math::
        \log p_b = \sum_t w_{bt} \log \mathrm{softmax}(x_{bt})_{y_{bt}}

    and, with ``average``, that sum divided by the number of counted tokens
    ``sum_t where[b, t]`` (0 for a sequence with none). Each token's term is
    ``-sparse_softmax_cross_entropy(logits, labels)``: the per-token row maximum and
    log-sum-exp are all the backward pass keeps besides the logits, no ``[B, T, V]``
    log-softmax; finite for every finite float32 logit, with the gradient
    ``where * (onehot(labels) - softmax(logits))``. Masked tokens give 0 and gradient 0
    (for finite logits), whatever their label (padding labels such as -100 included).

    Args:
      logits: floating array ``[..., T, V]``: one row of ``V`` vocabulary logits per token.
      labels: integer array ``[..., T]``, the tokens whose probability is taken.
      where: optional boolean mask broadcastable to ``labels``: the tokens counted (the
        response, not the prompt or the padding).
      average: divide each sum by its number of counted tokens (SimPO, TRL's IPO).

    Returns:
      The log-probabilities, ``labels``'s shape without the token axis; float32 for half
      inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import sequence_log_probs
      >>> logits = jnp.log(jnp.array([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]]))
      >>> labels = jnp.array([[0, 1, 1]])
      >>> sequence_log_probs(logits, labels)  # log(0.5 * 0.1 * 0.8)
      Array([-3.218876], dtype=float32)
      >>> sequence_log_probs(logits, labels, where=jnp.array([[False, True, True]]), average=True)
      Array([-1.2628644], dtype=float32)

    References:
      Rafailov et al., "Direct Preference Optimization", NeurIPS 2023; Meng et al.,
      "SimPO", NeurIPS 2024 (length-averaged log-probabilities).
    """
    validation.check_floating("logits", logits)
    if jnp.ndim(logits) < 2:
        raise ValueError(
            "`logits` must have a token and a class axis, [..., T, V], "
            f"got shape {jnp.shape(logits)}."
        )
    class_axis = jnp.ndim(logits) - 1
    validation.check_sparse_labels("logits", logits, labels, class_axis)
    validation.check_where("where", where, jnp.shape(labels))
    if not isinstance(average, bool):
        raise ValueError(f"`average` must be a bool, got {average!r}.")
    if where is None:
        token_losses = sparse_softmax_cross_entropy(logits, labels)
        counts = jnp.full(token_losses.shape[:-1], token_losses.shape[-1], token_losses.dtype)
    else:
        tokens = jnp.broadcast_to(jnp.asarray(where), jnp.shape(labels))
        # Masked tokens read class 0 (a padding label is never gathered, nor reported by
        # checked mode) and their losses are zeroed after the kernel, so that no
        # [..., T, V] mask joins the backward pass's residuals.
        labels = jnp.where(tokens, jnp.asarray(labels), jnp.zeros((), jnp.result_type(labels)))
        token_losses = sparse_softmax_cross_entropy(logits, labels)
        token_losses = jnp.where(tokens, token_losses, jnp.zeros((), token_losses.dtype))
        counts = jnp.sum(tokens, axis=-1, dtype=token_losses.dtype)
    log_probs = -jnp.sum(token_losses, axis=-1)
    if average:
        log_probs = log_probs / jnp.maximum(counts, 1)
    return log_probs
