"""``torch.nn.functional``'s embedding losses over jaxloss's kernels: cosine and triplet."""

from __future__ import annotations

from collections.abc import Callable

import jax

from jaxloss._src import embedding
from jaxloss._src.reduction import check_torch_reduction, reduce_torch

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def cosine_embedding_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.cosine_embedding_loss``: pull similar pairs, push others apart.

    .. math::
        \ell = \begin{cases}
            1 - \cos(x_1, x_2) & \text{for a target of } 1, \\
            \max\big(0, \cos(x_1, x_2) - m\big) & \text{for } -1,
        \end{cases}
        \qquad
        \cos(x_1, x_2) = \frac{\langle x_1, x_2 \rangle}
            {\sqrt{(\|x_1\|^2 + 10^{-12})(\|x_2\|^2 + 10^{-12})}}

    along the last axis, with ``m = margin``: :func:`jaxloss.cosine_embedding_loss`; ``"mean"`` is over the pairs. A target other
    than 1 or -1 gives NaN for its pair, where PyTorch gives 0.

    Args:
      input1: vectors ``[N, D]``, or one vector ``[D]``.
      input2: vectors of ``input1``'s shape.
      target: 1 or -1 per pair, ``[N]`` (or a scalar for one pair).
      margin: the cosine below which a dissimilar pair costs nothing.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``target``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.cosine_embedding_loss(jnp.array([[1.0, 0.0], [1.0, 1.0]]),
      ...                         jnp.array([[1.0, 1.0], [1.0, 0.0]]), jnp.array([1, -1]),
      ...                         reduction="none")
      Array([0.29289323, 0.70710677], dtype=float32)

    References:
      PyTorch ``torch.nn.CosineEmbeddingLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = embedding.cosine_embedding_loss(input1, input2, target, margin=margin)
    return reduce_torch(loss, reduction)


def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-06,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.triplet_margin_loss``: a negative beyond the positive.

    .. math:: \ell = \max\big(d(a, p) - d(a, n) + \text{margin},\ 0\big),\qquad
              d(x, y) = \lVert x - y + \varepsilon \rVert_p

    along the last axis (PyTorch's ``pairwise_distance``), with ``d(a, n)`` replaced by
    ``min(d(a, n), d(p, n))`` if ``swap``: :func:`jaxloss.triplet_margin_loss` with
    ``epsilon_at="difference"``; ``"mean"`` is over the triplets. A distance of 0 has
    gradient 0, as in PyTorch. A norm degree ``p`` below 1 raises ``ValueError`` (PyTorch
    takes it; it is not a norm).

    Args:
      anchor: vectors ``[N, D]``, or one vector ``[D]``.
      positive: vectors of ``anchor``'s shape, similar to the anchors.
      negative: vectors of ``anchor``'s shape, dissimilar to the anchors.
      margin: the distance by which a negative should lie beyond the positive.
      p: the norm degree, at least 1, or ``inf``.
      eps: added to every entry of each difference.
      swap: use the positive-negative distance where it is the smaller.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss ``[N]`` (a scalar for one triplet) for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.triplet_margin_loss(jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]),
      ...                       jnp.array([[1.0, 1.0]]), eps=0.0)
      Array(0.58578646, dtype=float32)

    References:
      PyTorch ``torch.nn.TripletMarginLoss``; Balntas et al., "Learning local feature
      descriptors with triplets and shallow convolutional neural networks", BMVC 2016.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = embedding.triplet_margin_loss(
        anchor, positive, negative, margin=margin, p=p, epsilon=eps, swap=swap,
        epsilon_at="difference",
    )
    return reduce_torch(loss, reduction)


def triplet_margin_with_distance_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    *,
    distance_function: Callable[[Array, Array], Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.triplet_margin_with_distance_loss``: any distance.

    .. math::
        \ell = \max\big(d(a, p) - d(a, n) + m, 0\big)

    with ``m = margin``, ``d(a, n)`` replaced by ``min(d(a, n), d(p, n))`` if ``swap``, with ``d`` the ``distance_function`` (default
    PyTorch's ``pairwise_distance``, ``||x - y + 1e-6||_2`` along the last axis):
    :func:`jaxloss.triplet_margin_with_distance_loss`; ``"mean"`` is over the distances'
    entries. PyTorch raises for ``margin <= 0``; any margin is taken here.

    Args:
      anchor: floating embeddings.
      positive: embeddings of ``anchor``'s shape, similar to the anchors.
      negative: embeddings of ``anchor``'s shape, dissimilar to the anchors.
      distance_function: ``d(x, y)``, a non-negative distance per pair of embeddings,
        written with ``jax.numpy``.
      margin: the distance by which a negative should lie beyond the positive.
      swap: use the positive-negative distance where it is the smaller.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of the distances' shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> l1 = lambda x, y: jnp.sum(jnp.abs(x - y), axis=-1)
      >>> F.triplet_margin_with_distance_loss(
      ...     jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([[0.0, 1.5]]),
      ...     distance_function=l1)
      Array(0.5, dtype=float32)

    References:
      PyTorch ``torch.nn.TripletMarginWithDistanceLoss``.
    """
    reduction = check_torch_reduction(reduction)
    loss = embedding.triplet_margin_with_distance_loss(
        anchor, positive, negative, distance_function=distance_function, margin=margin,
        swap=swap,
    )
    return reduce_torch(loss, reduction)
