"""Losses on pairs and triplets of embedding vectors: PyTorch's cosine embedding and
triplet margin losses, and optax's cosine similarity, cosine distance and triplet loss.

Each loss reads vectors along ``axis`` and returns one value per vector (pair or
triplet), the input's shape without ``axis``. Half-precision inputs are computed in
float32 and returned in float32. Norms and unit vectors come from
:mod:`jaxloss._src.vectors`: exact for tiny and huge vectors, 0 for a zero vector, with
finite gradients everywhere.

Input rules (``ValueError`` at trace time, naming the argument): non-floating
embeddings; a second (or third) embedding of another shape; targets whose shape is not
the embeddings' shape without ``axis``; a ``where`` mask that is not boolean or does not
broadcast to the embeddings; an ``axis`` out of range; a negative ``epsilon``; a norm
degree ``p`` below 1; a ``swap`` that is not a bool; an unknown ``epsilon_at``; a
``distance_function`` that is not callable. A NaN or infinite entry gives NaN for its
vector's loss, and so does a target other than 1 or -1 (PyTorch gives 0 there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src import checks, validation
from jaxloss._src.vectors import cosine, euclidean_distances, p_norm


def _norm_epsilon(epsilon):
    """The norm epsilon ``sqrt(epsilon)`` of an epsilon on the squared norm."""
    return math.sqrt(epsilon) if validation.is_static_number(epsilon) else jnp.sqrt(epsilon)


def _check_embeddings(
    names: tuple[str, ...], arrays: tuple, where, axis: int
) -> tuple[int, jax.Array | None]:
    """Check embeddings of one floating shape and their ``where`` mask; return the axis as
    a non-negative index and the mask broadcast to the embeddings' shape."""
    for name, array in zip(names, arrays):
        validation.check_floating(name, array)
    for name, array in zip(names[1:], arrays[1:]):
        validation.check_same_shape(names[0], arrays[0], name, array)
    where = validation.broadcast_where(where, jnp.shape(arrays[0]))
    return validation.canonical_axis(axis, jnp.ndim(arrays[0])), where


def _clamp_min_zero(values: jax.Array) -> jax.Array:
    """``max(values, 0)`` with gradient 1 at 0 (PyTorch's ``clamp_min``; ``jnp.maximum``
    splits it in halves there); NaN stays NaN."""
    return jnp.where(values < 0, jnp.zeros((), values.dtype), values)


def _cast(where, *arrays: jax.typing.ArrayLike) -> list[jax.Array]:
    """The arrays in the compute dtype, with the entries outside ``where`` set to 0."""
    dtype = validation.compute_dtype(*arrays)
    return [validation.apply_where(jnp.asarray(a).astype(dtype), where) for a in arrays]


def cosine_embedding_loss(
    first: jax.typing.ArrayLike,
    second: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    margin: float = 0.0,
    epsilon: float = 1e-12,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""PyTorch's cosine embedding loss, one value per pair of vectors.

    With the vectors ``x1 = first`` and ``x2 = second`` along ``axis``, ``t = targets``,
    ``m = margin`` and ``epsilon`` written :math:`\epsilon`:

    .. math::
        \cos = \frac{\langle x_1, x_2 \rangle}
            {\sqrt{(\|x_1\|^2 + \epsilon)(\|x_2\|^2 + \epsilon)}},
        \qquad
        \ell = \begin{cases}
            1 - \cos & \text{if } t = 1, \\
            \max(0, \cos - m) & \text{if } t = -1.
        \end{cases}

    A zero vector has ``cos = 0``, with a finite gradient (also for ``epsilon=0``). Tiny
    and huge vectors keep their cosine (PyTorch's squared norms underflow below about
    1e-19 and overflow above about 1e19 in float32).

    Args:
      first: floating array of vectors along ``axis``.
      second: floating array of the same shape.
      targets: 1 (similar pair) or -1 (dissimilar pair), of ``first``'s shape without
        ``axis``; any other value gives NaN for that pair, where PyTorch gives 0.
      margin: the cosine below which a dissimilar pair costs nothing.
      epsilon: added to each squared norm; PyTorch fixes it at 1e-12.
      axis: the vector axis.
      where: optional boolean mask broadcastable to ``first``; masked entries are left
        out as if sliced away.

    Returns:
      The loss, of ``targets``'s shape; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import cosine_embedding_loss
    >>> cosine_embedding_loss(jnp.array([[1.0, 1.0], [1.0, 0.0]]),
    ...                       jnp.array([[1.0, 0.0], [1.0, 1.0]]),
    ...                       jnp.array([1, -1]), margin=0.5)
    Array([0.29289323, 0.20710677], dtype=float32)

    References:
      PyTorch 2.x, ``torch.nn.functional.cosine_embedding_loss``
      (``aten/src/ATen/native/Loss.cpp``).
    """
    axis, where = _check_embeddings(("first", "second"), (first, second), where, axis)
    _check_per_vector("targets", targets, jnp.shape(first), axis)
    validation.check_non_negative("epsilon", epsilon)
    checks.check_finite("cosine_embedding_loss", "first", first, where=where)
    checks.check_finite("cosine_embedding_loss", "second", second, where=where)
    first, second = _cast(where, first, second)
    targets = jnp.asarray(targets).astype(first.dtype)
    norm_epsilon = jnp.asarray(_norm_epsilon(epsilon), first.dtype)
    cos = jnp.squeeze(cosine(first, second, axis, norm_epsilon, True), axis=axis)
    loss = jnp.where(targets == 1, 1.0 - cos, _clamp_min_zero(cos - margin))
    return validation.nan_where((targets != 1) & (targets != -1), loss)


def _check_per_vector(name: str, array: jax.typing.ArrayLike, shape: tuple, axis: int) -> None:
    """Raise unless ``array`` has the embeddings' ``shape`` without the vector ``axis``."""
    expected = shape[:axis] + shape[axis + 1 :]
    if jnp.shape(array) != expected:
        raise ValueError(
            f"`{name}` must have the shape of `first` without the vector axis {axis}, "
            f"{expected}, got {name}.shape={jnp.shape(array)} for first.shape={shape}."
        )


_EPSILON_AT = ("difference", "power_sum")


def _triplet(distance: Callable, anchors, positives, negatives, margin, swap: bool):
    """``max(d(a, p) - d(a, n) + margin, 0)``, ``d(a, n)`` replaced by the smaller of it
    and ``d(p, n)`` with ``swap``."""
    negative_distance = distance(anchors, negatives)
    if swap:
        negative_distance = jnp.minimum(negative_distance, distance(positives, negatives))
    return _clamp_min_zero(distance(anchors, positives) - negative_distance + margin)


def _check_swap(swap) -> None:
    if not isinstance(swap, (bool, np.bool_)):
        raise ValueError(f"`swap` must be True or False (a Python bool), got {swap!r}.")


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    epsilon: float = 1e-6,
    swap: bool = False,
    epsilon_at: str = "difference",
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""The triplet margin loss of PyTorch or of optax, one value per triplet of vectors.

    With a distance ``d`` along ``axis``, anchors ``a``, positives ``p``, negatives ``n``
    and ``m = margin``:

    .. math::
        \ell = \max\big(d(a, p) - d(a, n) + m, 0\big)

    and, with ``swap``, ``d(a, n)`` replaced by ``min(d(a, n), d(p, n))`` (so ``swap``
    never lowers the loss). The distance puts ``epsilon`` (:math:`\epsilon`) where
    ``epsilon_at`` says, with the norm degree ``p`` written :math:`q` below:

    - ``"difference"`` (PyTorch's ``pairwise_distance``), ``epsilon`` added to every entry:

      .. math::
          d(x, y) = \|x - y + \epsilon\|_q

    - ``"power_sum"`` (optax's):

      .. math::
          d(x, y) = \Big(\sum_i |x_i - y_i|^q + \epsilon\Big)^{1/q}

    A distance of 0 has gradient 0 (PyTorch's choice), where optax's gradient is NaN
    (with ``epsilon=0``). optax takes no absolute value, ``(x - y)**p``: for an odd or
    fractional degree its distance is not a norm and can be NaN; here it is always the
    norm of ``|x - y|``. Tiny and huge vectors keep their distances.

    Args:
      anchors: floating array of vectors along ``axis``.
      positives: floating array of the same shape, similar to the anchors.
      negatives: floating array of the same shape, dissimilar to the anchors.
      margin: the distance by which a negative should lie beyond the positive.
      p: the norm degree, at least 1, or ``inf`` (the largest entry; with
        ``epsilon_at="difference"`` only). PyTorch also takes degrees below 1.
      epsilon: non-negative; where it goes, ``epsilon_at`` says.
      swap: use the positive-negative distance where it is the smaller (PyTorch's
        distance swap).
      epsilon_at: ``"difference"`` (PyTorch) or ``"power_sum"`` (optax).
      axis: the vector axis.
      where: optional boolean mask broadcastable to ``anchors``; masked entries are left
        out as if sliced away.

    Returns:
      The loss, of ``anchors``'s shape without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import triplet_margin_loss
    >>> triplet_margin_loss(jnp.array([[0.0, 0.0], [1.0, 1.0]]),
    ...                     jnp.array([[0.0, 1.0], [1.0, 1.0]]),
    ...                     jnp.array([[1.0, 1.0], [1.0, 3.0]]), epsilon=0.0)
    Array([0.58578646, 0.        ], dtype=float32)

    References:
      PyTorch 2.x, ``torch.nn.functional.triplet_margin_loss`` and ``pairwise_distance``;
      optax 0.2.8, ``optax.losses.triplet_margin_loss``; Balntas et al., "Learning local
      feature descriptors with triplets and shallow convolutional neural networks",
      BMVC 2016.
    """
    names = ("anchors", "positives", "negatives")
    axis, where = _check_embeddings(names, (anchors, positives, negatives), where, axis)
    validation.check_non_negative("epsilon", epsilon)
    if not validation.is_static_number(p):
        raise ValueError(f"`p` must be a Python number (it picks the computation), got {p!r}.")
    validation.check_in_interval("p", p, 1.0, float("inf"))
    _check_swap(swap)
    if epsilon_at not in _EPSILON_AT:
        raise ValueError(f"`epsilon_at` must be one of {_EPSILON_AT}, got {epsilon_at!r}.")
    if epsilon_at == "power_sum" and p == float("inf"):
        raise ValueError("`p`=inf needs epsilon_at='difference' (a power sum has no p=inf).")
    for name, array in zip(names, (anchors, positives, negatives)):
        checks.check_finite("triplet_margin_loss", name, array, where=where)
    anchors, positives, negatives = _cast(where, anchors, positives, negatives)

    if epsilon_at == "power_sum" and p == 2:
        return _euclidean_triplet(anchors, positives, negatives, margin, epsilon, swap, axis)

    def distance(x, y):
        if epsilon_at == "power_sum":
            return p_norm(x - y, axis, p, offset=epsilon)
        return p_norm(validation.apply_where(x - y + epsilon, where), axis, p)

    loss = _triplet(distance, anchors, positives, negatives, margin, swap)
    return validation.nan_where(~_finite_triplets(anchors, positives, negatives, axis), loss)


def _finite_triplets(anchors, positives, negatives, axis: int) -> jax.Array:
    """Whether every entry of each triplet is finite: an infinite entry could give
    ``max(-inf, 0) = 0``, so the whole triplet is NaN instead."""
    finite = jnp.isfinite(anchors) & jnp.isfinite(positives) & jnp.isfinite(negatives)
    return jnp.all(finite, axis=axis)


def _euclidean_triplet(anchors, positives, negatives, margin, epsilon, swap: bool, axis: int):
    """The triplet loss with optax's Euclidean distance ``sqrt(||x - y||**2 + epsilon)``: both
    anchor distances in one pass; the entries are checked for infinities only where the
    distances left the plain range (inside it every entry is finite)."""
    offset = jnp.asarray(epsilon, anchors.dtype)
    (positive, negative), plain = euclidean_distances(anchors, (positives, negatives), axis, offset)
    if swap:
        (swapped,), plain_swapped = euclidean_distances(positives, (negatives,), axis, offset)
        negative, plain = jnp.minimum(negative, swapped), plain & plain_swapped
    loss = _clamp_min_zero(positive - negative + margin)
    finite = jax.lax.cond(plain, lambda: jnp.ones(loss.shape, bool),
                          lambda: _finite_triplets(anchors, positives, negatives, axis))
    return validation.nan_where(~finite, loss)


def _pairwise_distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """PyTorch's default ``pairwise_distance(x, y)``: ``||x - y + 1e-6||_2`` along the
    last axis, gradient 0 where it is 0."""
    return p_norm(x - y + 1e-6, -1, 2.0)


def triplet_margin_with_distance_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
) -> jax.Array:
    r"""PyTorch's triplet margin loss with a distance function, one value per triplet.

    .. math::
        \ell = \max\big(d(a, p) - d(a, n) + m, 0\big)

    for anchors ``a``, positives ``p``, negatives ``n`` and ``m = margin``, with ``swap``
    replacing ``d(a, n)``
    by ``min(d(a, n), d(p, n))``. ``d`` defaults to PyTorch's ``pairwise_distance``,
    ``||x - y + 1e-6||_2`` along the last axis (the default of
    :func:`triplet_margin_loss`). PyTorch raises for ``margin <= 0``; any margin is
    taken here.

    Args:
      anchors: floating array of embeddings.
      positives: floating array of the same shape, similar to the anchors.
      negatives: floating array of the same shape, dissimilar to the anchors.
      distance_function: ``d(x, y)``, a non-negative distance per pair of embeddings;
        its gradients are its own.
      margin: the distance by which a negative should lie beyond the positive.
      swap: use the positive-negative distance where it is the smaller.

    Returns:
      The loss, of the distances' shape; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import triplet_margin_with_distance_loss
    >>> l1 = lambda x, y: jnp.sum(jnp.abs(x - y), axis=-1)
    >>> triplet_margin_with_distance_loss(jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]),
    ...                                   jnp.array([[1.0, 1.0]]), distance_function=l1)
    Array([0.], dtype=float32)

    References:
      PyTorch 2.x, ``torch.nn.functional.triplet_margin_with_distance_loss``.
    """
    names = ("anchors", "positives", "negatives")
    _check_embeddings(names, (anchors, positives, negatives), None, -1)
    if distance_function is None:
        distance_function = _pairwise_distance
    elif not callable(distance_function):
        raise ValueError(f"`distance_function` must be callable, got {distance_function!r}.")
    _check_swap(swap)
    anchors, positives, negatives = _cast(None, anchors, positives, negatives)
    return _triplet(distance_function, anchors, positives, negatives, margin, swap)


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: float = 0.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""optax's cosine similarity, one value per pair of vectors.

    .. math::
        \cos = \Big\langle \frac{p}{\sqrt{\max(\|p\|^2, \epsilon)}},
            \frac{t}{\sqrt{\max(\|t\|^2, \epsilon)}} \Big\rangle

    for ``p = predictions`` and ``t = targets`` along ``axis`` and ``epsilon`` written
    :math:`\epsilon`: 1 for parallel vectors, 0 for orthogonal ones, -1 for opposite ones.
    A zero vector has ``cos = 0`` with a finite gradient, where optax gives NaN (with its
    default ``epsilon=0``). Tiny and huge vectors keep their cosine (optax's squared
    norms underflow below about 1e-19 and overflow above about 1e19 in float32).

    Args:
      predictions: floating array of vectors along ``axis``.
      targets: floating array of the same shape.
      epsilon: lower bound on each squared norm (optax's meaning).
      axis: the vector axis (one axis; optax also takes several).
      where: optional boolean mask broadcastable to ``predictions``; masked entries are
        left out as if sliced away.

    Returns:
      The cosine, of ``predictions``'s shape without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import cosine_similarity
    >>> cosine_similarity(jnp.array([[1.0, 1.0], [0.0, 0.0]]),
    ...                   jnp.array([[1.0, 0.0], [-1.0, 0.0]]))
    Array([0.70710677, 0.        ], dtype=float32)

    References:
      optax 0.2.8, ``optax.losses.cosine_similarity``.
    """
    return _optax_cosine("cosine_similarity", predictions, targets, epsilon, axis, where)


def _optax_cosine(loss: str, predictions, targets, epsilon, axis: int, where) -> jax.Array:
    """optax's cosine along ``axis``, its checks naming the public ``loss``."""
    axis, where = _check_embeddings(("predictions", "targets"), (predictions, targets), where, axis)
    validation.check_non_negative("epsilon", epsilon)
    checks.check_finite(loss, "predictions", predictions, where=where)
    checks.check_finite(loss, "targets", targets, where=where)
    predictions, targets = _cast(where, predictions, targets)
    norm_epsilon = jnp.asarray(_norm_epsilon(epsilon), predictions.dtype)
    return jnp.squeeze(cosine(predictions, targets, axis, norm_epsilon, False), axis=axis)


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: float = 0.0,
    axis: int = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""optax's cosine distance, ``1 - cos``, one value per pair of vectors.

    .. math::
        \ell = 1 - \cos(p, t)

    for ``p = predictions`` and ``t = targets``; ``cos`` is :func:`cosine_similarity`'s: the distance is 0 for parallel vectors, 1 for
    orthogonal ones and for a zero vector (with a finite gradient; optax gives NaN), 2 for
    opposite ones.

    Args:
      predictions: floating array of vectors along ``axis``.
      targets: floating array of the same shape.
      epsilon: lower bound on each squared norm (optax's meaning).
      axis: the vector axis.
      where: optional boolean mask broadcastable to ``predictions``; masked entries are
        left out as if sliced away.

    Returns:
      The distance, of ``predictions``'s shape without ``axis``; float32 for half inputs.

    >>> import jax.numpy as jnp
    >>> from jaxloss import cosine_distance
    >>> cosine_distance(jnp.array([[1.0, 1.0], [2.0, 0.0]]),
    ...                 jnp.array([[1.0, 0.0], [-1.0, 0.0]]))
    Array([0.29289323, 2.        ], dtype=float32)

    References:
      optax 0.2.8, ``optax.losses.cosine_distance``.
    """
    return 1.0 - _optax_cosine("cosine_distance", predictions, targets, epsilon, axis, where)
