"""``torch.nn.functional.ctc_loss`` over jaxloss's CTC kernel: PyTorch's time-first layout
and lengths turned into the kernel's batch-first arrays and paddings."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import ctc, validation
from jaxloss._src.ctc import needs_more_frames
from jaxloss._src.reduction import check_torch_reduction, reduce_torch

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def _lengths(name: str, lengths: ArrayLike, batch: int) -> Array:
    """PyTorch's per-sample lengths (an array, list or tuple) as an integer ``[batch]`` array."""
    lengths = jnp.asarray(lengths)
    validation.check_integer(name, lengths)
    if lengths.shape != (batch,):
        raise ValueError(
            f"`{name}` must have one length per sample, shape ({batch},), "
            f"got {name}.shape={lengths.shape}."
        )
    return lengths


def _padded_targets(targets: Array, target_lengths: Array, batch: int) -> Array:
    """``[N, S]`` targets as they are; 1-D concatenated targets cut into ``[N, len(targets)]``
    rows (each sample's labels first, the rest padding): the row width must be static, and
    the total length bounds every sample's."""
    if targets.ndim == 2:
        if targets.shape[0] != batch:
            raise ValueError(
                f"`targets` must have shape [{batch}, max_target_length] or be 1-D "
                f"(concatenated), got targets.shape={targets.shape}."
            )
        return targets
    if targets.ndim != 1:
        raise ValueError(
            f"`targets` must have shape [{batch}, max_target_length] or be 1-D "
            f"(concatenated), got targets.shape={targets.shape}."
        )
    total = targets.shape[0]
    if total == 0:  # every target empty: nothing to gather
        return jnp.zeros((batch, 0), targets.dtype)
    starts = jnp.cumsum(target_lengths) - target_lengths
    positions = starts[:, None] + jnp.arange(total)[None, :]
    return jnp.take(targets, jnp.clip(positions, 0, total - 1), axis=0)


def ctc_loss(
    log_probs: ArrayLike,
    targets: ArrayLike,
    input_lengths: ArrayLike,
    target_lengths: ArrayLike,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Array:
    r"""``torch.nn.functional.ctc_loss``: CTC negative log-likelihood, PyTorch's layout.

    Per sample ``n``, with ``p_t`` the probabilities of frame ``t`` and ``y_n`` its targets:

    .. math::
        \ell_n = -\log \sum_{a \,:\, \mathrm{collapse}(a) = y_n} \; \prod_t p_t(a_t)

    over the first ``input_lengths[n]`` frames and ``target_lengths[n]`` labels, computed by
    :func:`jaxloss.ctc_loss`. ``"mean"`` divides each loss by its target length (at least
    1), then averages over the batch; ``"sum"`` adds the losses.

    Layout: ``log_probs`` is time first, ``[T, N, C]`` (or ``[T, C]`` for one sample);
    ``targets`` is either padded, ``[N, S]`` (the first ``target_lengths[n]`` entries of
    row ``n`` count, the rest may hold anything), or 1-D, every sample's labels
    concatenated (``sum(target_lengths)`` entries; internally cut into rows of width
    ``len(targets)``). Lengths are integer arrays, lists or tuples, one per sample;
    under ``jax.jit`` pass them as arrays (they may then be traced).

    Where the numbers differ from PyTorch's:

    * ``log_probs`` is normalised (a ``log_softmax`` along ``C``) before use, so rows that
      are not log-probabilities give another value than PyTorch's. For log-probabilities
      the values are PyTorch's, and so is the gradient: PyTorch's gradient is the one
      through that ``log_softmax`` (it sums to 0 over ``C``).
    * A sample no alignment can produce (fewer frames than labels plus a blank between
      repeats) gives ``inf`` as in PyTorch, but gradient 0 where PyTorch's is NaN.
    * A label outside ``[0, C)`` gives NaN for its sample where PyTorch raises.

    Args:
      log_probs: log-probabilities ``[T, N, C]`` or ``[T, C]``.
      targets: integer labels, ``[N, S]`` padded or 1-D concatenated (``[S]`` for one
        sample); no label may be ``blank``.
      input_lengths: the number of frames of each sample, ``[N]`` (a scalar for one).
      target_lengths: the number of labels of each sample, ``[N]`` (a scalar for one).
      blank: the class index of the blank.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      zero_infinity: give loss 0 and gradient 0 to a sample no alignment can produce.

    Returns:
      A scalar, or the loss ``[N]`` (a scalar for one sample) for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> log_probs = jnp.full((3, 1, 3), -jnp.log(3.0))  # uniform over 3 classes
      >>> F.ctc_loss(log_probs, jnp.array([[1, 2]]), jnp.array([3]), jnp.array([2]),
      ...            reduction="sum")
      Array(1.686399, dtype=float32)
      >>> float(jnp.log(27 / 5))  # 5 of the 27 equally likely paths give [1, 2]
      1.686399...

    References:
      PyTorch ``torch.nn.CTCLoss``; Graves et al., "Connectionist temporal
      classification: labelling unsegmented sequence data with recurrent neural
      networks", ICML 2006.
    """
    reduction = check_torch_reduction(reduction)
    validation.check_floating("log_probs", log_probs)
    validation.check_integer("targets", targets)
    log_probs, targets = jnp.asarray(log_probs), jnp.asarray(targets)
    unbatched = log_probs.ndim == 2
    if unbatched:
        if targets.ndim != 1:
            raise ValueError(
                "`targets` must be 1-D for one sample's `log_probs` [T, C], got "
                f"targets.shape={targets.shape}."
            )
        log_probs, targets = log_probs[:, None, :], targets[None, :]
        input_lengths = jnp.reshape(jnp.asarray(input_lengths), (1,))
        target_lengths = jnp.reshape(jnp.asarray(target_lengths), (1,))
    if log_probs.ndim != 3:
        raise ValueError(
            f"`log_probs` must have shape [T, N, C] or [T, C], got shape {log_probs.shape}."
        )
    time, batch, _ = log_probs.shape
    input_lengths = _lengths("input_lengths", input_lengths, batch)
    target_lengths = _lengths("target_lengths", target_lengths, batch)
    labels = _padded_targets(targets, target_lengths, batch)
    logit_paddings = jnp.arange(time)[None, :] >= input_lengths[:, None]
    label_paddings = jnp.arange(labels.shape[1])[None, :] >= target_lengths[:, None]
    loss = ctc.ctc_loss(
        jnp.swapaxes(log_probs, 0, 1), labels, logit_paddings=logit_paddings,
        label_paddings=label_paddings, blank_id=blank, zero_infinity=True,
    )
    if not zero_infinity:
        infeasible = needs_more_frames(
            labels, logit_paddings.astype(loss.dtype), label_paddings.astype(loss.dtype)
        )
        loss = jnp.where(infeasible, jnp.asarray(jnp.inf, loss.dtype), loss)
    if reduction == "mean":
        loss = loss / jnp.maximum(target_lengths, 1).astype(loss.dtype)
    if unbatched and reduction == "none":
        return loss[0]
    return reduce_torch(loss, reduction)
