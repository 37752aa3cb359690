"""Fenchel-Young losses: the sparsemax projection, the sparsemax losses and the generic form.

A Fenchel-Young loss of a regulariser ``Omega`` is ``Omega*(theta) + Omega(y) - <theta, y>``:
non-negative, zero exactly when ``y`` is the regularised prediction, and with gradient
``prediction - y``. With ``Omega`` the negative entropy it is the softmax cross-entropy; with
half the squared norm (the Gini entropy) it is the sparsemax loss, whose prediction
``sparsemax(theta)``, the Euclidean projection onto the simplex, puts exactly zero
probability on low scores.

- :func:`sparsemax`: the projection, its threshold found exactly without a sort (Newton's
  method on the simplex constraint), with a ``jax.custom_jvp`` (the Jacobian of the
  projection, ``diag(s) - s s^T / |s|`` on the support ``s``) rather than autodiff through
  that iteration;
- :func:`multiclass_sparsemax_loss`: integer labels, a ``jax.custom_vjp`` whose gradient
  is ``sparsemax(theta) - onehot(y)`` exactly;
- :func:`sparsemax_loss`: the binary form on one logit, soft labels allowed;
- :func:`make_fenchel_young_loss`: the loss of any ``max_fun`` (``Omega*``) over the last
  axis.

Input rules (``ValueError`` at trace time, naming the argument): non-floating scores or
logits; labels of the wrong dtype or shape; an ``axis`` out of range. A label outside
``[0, num_classes)`` (multiclass) or outside ``[0, 1]`` (binary) gives NaN for its example,
and raises in checked mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxloss._src import checks, validation


def _threshold(shifted: jax.Array) -> jax.Array:
    """The threshold ``tau`` of ``sum_c max(z_c - tau, 0) = 1`` over the last axis, by Newton's
    method on that piecewise-linear sum (Michelot's iteration), without a sort.

    Each step ``tau <- (sum_{z_c > tau} z_c - 1) / #{z_c > tau}`` is a Newton step; started
    below the root (at ``max z - 1``, where the sum is at least 1) it rises monotonically and
    lands on the root exactly once the support ``{z_c > tau}`` stops shrinking: at most one
    step per class, a handful on typical scores.

    Args:
      shifted: scores with their row's maximum 0 (``-inf`` allowed).

    Returns:
      ``tau``, ``shifted``'s shape with the last axis kept as 1.
    """

    def step(tau):
        support = shifted > tau
        size = jnp.sum(support, axis=-1, keepdims=True, dtype=jnp.int32)
        # -inf scores (never in the support) must not reach the sum: 0 * -inf is NaN.
        support_sum = jnp.sum(jnp.where(support, shifted, 0.0), axis=-1, keepdims=True)
        return (support_sum - 1) / size.astype(shifted.dtype), size

    def shrinking(state):
        _, size, previous_size = state
        return jnp.any(size < previous_size)

    def body(state):
        tau, size, _ = state
        next_tau, next_size = step(tau)
        return next_tau, next_size, size

    rows = shifted.shape[:-1] + (1,)
    start = jnp.full(rows, -1, shifted.dtype)
    # Sizes above the row's length: the first step always runs, the second compares.
    classes = shifted.shape[-1]
    sizes = jnp.full(rows, classes + 1, jnp.int32), jnp.full(rows, classes + 2, jnp.int32)
    return jax.lax.while_loop(shrinking, body, (start, *sizes))[0]


def _projection(scores: jax.Array, axis: int) -> jax.Array:
    """``sparsemax(scores)`` along ``axis``."""
    moved = jnp.moveaxis(scores, axis, -1)
    # Shift-invariant: the row's maximum at 0 keeps the support sums small.
    shifted = moved - jnp.max(moved, axis=-1, keepdims=True)
    probs = jnp.maximum(shifted - _threshold(shifted), 0.0)
    return jnp.moveaxis(probs, -1, axis)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _sparsemax(scores: jax.Array, axis: int) -> jax.Array:
    return _projection(scores, axis)


@_sparsemax.defjvp
def _sparsemax_jvp(axis, primals, tangents):
    (scores,), (scores_dot,) = primals, tangents
    # The projection by its own rule: higher derivatives never reach the threshold's loop.
    probs = _sparsemax(scores, axis)
    support = (probs > 0).astype(scores.dtype)
    size = jnp.sum(support, axis=axis, keepdims=True)
    mean_on_support = jnp.sum(support * scores_dot, axis=axis, keepdims=True) / size
    return probs, support * (scores_dot - mean_on_support)


def sparsemax(scores: jax.typing.ArrayLike, *, axis: int = -1) -> jax.Array:
    r"""The sparsemax: the Euclidean projection of ``scores`` onto the probability simplex.

    .. math::
        \mathrm{sparsemax}(\theta) = \arg\min_{p \in \Delta} \|p - \theta\|^2
        = \max(\theta - \tau, 0), \qquad \textstyle\sum_c \max(\theta_c - \tau, 0) = 1

    Unlike the softmax, scores more than ``1`` below the support's threshold get exactly
    zero probability. Differentiable in forward and reverse mode (a ``jax.custom_jvp``):
    the Jacobian on the support ``s`` is ``diag(s) - s s^T / |s|``.

    Args:
      scores: floating array with a class axis.
      axis: the class axis.

    Returns:
      The probabilities, ``scores``'s shape; float32 for half inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import sparsemax
      >>> sparsemax(jnp.array([[1.5, 1.0, -2.0], [0.0, 0.0, 0.0]]))
      Array([[0.75      , 0.25      , 0.        ],
             [0.33333334, 0.33333334, 0.33333334]], dtype=float32)

    References:
      Martins and Astudillo, "From Softmax to Sparsemax: A Sparse Model of Attention
      and Multi-Label Classification", ICML 2016.
    """
    validation.check_floating("scores", scores)
    axis = validation.check_class_axis("scores", scores, axis)
    scores = jnp.asarray(scores).astype(validation.compute_dtype(scores))
    return _sparsemax(scores, axis)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _multiclass_sparsemax_loss(scores, labels, axis):
    return _multiclass_sparsemax_fwd(scores, labels, axis)[0]


def _multiclass_sparsemax_fwd(scores, labels, axis):
    probs = _sparsemax(scores, axis)
    label_scores = jnp.take_along_axis(scores, labels, axis)
    # <p, theta - theta_y> + (1 - |p|^2) / 2: 0 exactly when p is the label's one-hot.
    gaps = jnp.where(probs > 0, scores - label_scores, 0.0)
    loss = jnp.sum(probs * gaps, axis=axis) + 0.5 * (1 - jnp.sum(probs * probs, axis=axis))
    return loss, (probs, labels)


def _multiclass_sparsemax_bwd(axis, residuals, cotangent):
    probs, labels = residuals
    classes = jax.lax.broadcasted_iota(labels.dtype, probs.shape, axis)
    one_hot = (classes == labels).astype(probs.dtype)
    return jnp.expand_dims(cotangent, axis) * (probs - one_hot), None


_multiclass_sparsemax_loss.defvjp(_multiclass_sparsemax_fwd, _multiclass_sparsemax_bwd)


def multiclass_sparsemax_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    axis: int = -1,
) -> jax.Array:
    r"""Multiclass sparsemax loss with integer labels, one value per example.

    .. math::
        \ell = \langle p, \theta - \theta_y \rangle + \tfrac12 \big(1 - \|p\|^2\big),
        \qquad p = \mathrm{sparsemax}(\theta)

    the Fenchel-Young loss of the Gini entropy: 0 when the label's score leads the others
    by at least 1 (``p`` is its one-hot), and with gradient ``p - onehot(y)`` (a
    ``jax.custom_vjp``, exact where autodiff through the projection would round).

    Args:
      scores: floating array with a class axis.
      labels: integer class indices, ``scores``'s shape without ``axis``.
      axis: the class axis.

    Returns:
      The loss per example; float32 for half inputs. A label outside
      ``[0, num_classes)`` gives NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import multiclass_sparsemax_loss
      >>> scores = jnp.array([[1.5, 1.0, -2.0], [3.0, 0.0, 0.0]])
      >>> multiclass_sparsemax_loss(scores, jnp.array([1, 0]))
      Array([0.5625, 0.    ], dtype=float32)

    References:
      Martins and Astudillo, "From Softmax to Sparsemax", ICML 2016; Blondel et al.,
      "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    validation.check_floating("scores", scores)
    axis = validation.check_class_axis("scores", scores, axis)
    validation.check_sparse_labels("scores", scores, labels, axis)
    scores = jnp.asarray(scores).astype(validation.compute_dtype(scores))
    num_classes = scores.shape[axis]
    labels = jnp.asarray(labels)
    checks.check_class_labels("multiclass_sparsemax_loss", labels, num_classes)
    valid = (labels >= 0) & (labels < num_classes)
    safe_labels = jnp.expand_dims(jnp.where(valid, labels, 0).astype(jnp.int32), axis)
    loss: jax.Array = _multiclass_sparsemax_loss(scores, safe_labels, axis)
    return validation.nan_where(~valid, loss)


def sparsemax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Binary sparsemax loss, elementwise; soft labels in ``[0, 1]`` allowed.

    .. math::
        \ell = y\,\mathrm{sparseplus}(-x) + (1 - y)\,\mathrm{sparseplus}(x) - y (1 - y),
        \qquad \mathrm{sparseplus}(x) = \begin{cases} 0 & x \le -1 \\
        (x + 1)^2 / 4 & |x| < 1 \\ x & x \ge 1 \end{cases}

    the Fenchel-Young loss of the two-class sparsemax ``p = clip((x + 1) / 2, 0, 1)``:
    0 exactly when ``y = p``, gradient ``p - y``. For ``y`` in ``{0, 1}`` it is optax's
    ``sparsemax_loss``; optax reads any non-zero label as 1. An infinite logit costs exactly
    0 where the label lies on its side (``y = 1`` at ``+inf``, ``y = 0`` at ``-inf``) and
    ``+inf`` otherwise, its gradient still ``p - y``.

    Args:
      logits: floating array of any shape.
      labels: array of the same shape, in ``[0, 1]``.
      where: optional boolean mask broadcastable to ``logits``; masked elements give
        loss 0 and gradient 0.

    Returns:
      The loss, ``logits``'s shape; float32 for half inputs. A label outside
      ``[0, 1]`` gives NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import sparsemax_loss
      >>> sparsemax_loss(jnp.array([0.0, 2.0, 0.0]), jnp.array([1.0, 1.0, 0.5]))
      Array([0.25, 0.  , 0.  ], dtype=float32)

    References:
      Blondel et al., "Learning with Fenchel-Young Losses", JMLR 2020.
    """
    logits, labels = validation.check_and_cast_pair(logits, labels, where, "logits")
    checks.check_unit_interval("sparsemax_loss", "labels", labels, where=where)
    # sparseplus(x) = sparseplus(-x) + x turns the two parts into one on a = |x|:
    # sparseplus(-a) + w a with w the weight of the part on the far side of 0.
    distance = jnp.abs(logits)
    far_weight = jnp.where(logits >= 0, 1 - labels, labels)
    near = jax.nn.relu(1 - distance)
    zero = jnp.zeros((), logits.dtype)
    # Only where its weight is non-zero: 0 * inf would be NaN.
    far = jnp.where(far_weight == 0, zero, far_weight * distance)
    loss = near * near / 4 + far - labels * (1 - labels)
    loss = validation.nan_where(validation.outside_unit_interval(labels), loss)
    return validation.apply_where(loss, where)


def make_fenchel_young_loss(max_fun: Callable[..., jax.typing.ArrayLike]) -> Callable:
    r"""The Fenchel-Young loss of ``max_fun`` (a regularised maximum), over the last axis.

    .. math::
        \ell(\theta, y) = \mathrm{max\_fun}(\theta) - \langle y, \theta \rangle

    ``max_fun`` maps one score vector ``[n]`` to a number (``logsumexp`` gives the
    softmax cross-entropy up to the labels' entropy); the loss maps ``scores`` and
    ``targets`` of one shape ``[..., n]`` to ``[...]``, calling ``max_fun`` once per row
    (``jax.vmap``). Extra arguments are passed to ``max_fun`` unchanged.

    Args:
      max_fun: ``max_fun(scores, *args, **kwargs)`` for one row of scores.

    Returns:
      ``fenchel_young_loss(scores, targets, *args, **kwargs)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jax.scipy.special import logsumexp
      >>> from jaxloss import make_fenchel_young_loss
      >>> loss = make_fenchel_young_loss(logsumexp)
      >>> loss(jnp.array([[2.0, 0.0, -1.0]]), jnp.array([[1.0, 0.0, 0.0]]))
      Array([0.16984606], dtype=float32)

    References:
      Blondel et al., "Learning with Fenchel-Young Losses", JMLR 2020.
    """

    def fenchel_young_loss(scores, targets, *args, **kwargs):
        validation.check_floating("scores", scores)
        validation.check_same_shape("scores", scores, "targets", targets)
        validation.check_class_axis("scores", scores, -1)
        scores = jnp.asarray(scores)
        targets = jnp.asarray(targets).astype(scores.dtype)
        rows = scores.reshape((-1, scores.shape[-1]))
        maxima = jax.vmap(lambda row: max_fun(row, *args, **kwargs))(rows)
        maxima = jnp.reshape(maxima, scores.shape[:-1])
        return maxima - jnp.sum(targets * scores, axis=-1)

    return fenchel_young_loss
