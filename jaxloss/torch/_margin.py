"""``torch.nn.functional``'s margin losses over jaxloss's margin kernels.

The elementwise ones (``soft_margin_loss``, ``margin_ranking_loss``,
``hinge_embedding_loss``) average over every element for ``"mean"``; the per-example ones
(``multilabel_soft_margin_loss``, ``multi_margin_loss``, ``multilabel_margin_loss``, whose
class axis is the last) average their per-example values over the batch, as PyTorch does.
"""

from __future__ import annotations

import jax

from jaxloss._src import margin as _kernels
from jaxloss._src.reduction import check_torch_reduction, reduce_torch

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.soft_margin_loss``: the two-class logistic loss.

    .. math:: \ell = \log(1 + e^{-y x})

    elementwise, ``"mean"`` over every element; computed by :func:`jaxloss.soft_margin_loss`
    as a softplus, so that a wrong score beyond 88.7 costs about ``|x|`` with a finite
    gradient where PyTorch's float32 ``log1p(exp(.))`` is ``inf`` with a NaN gradient.

    Args:
      input: scores, any shape.
      target: ``-1`` or ``+1``, ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.soft_margin_loss(jnp.array([2.0, -1.0]), jnp.array([1.0, 1.0]))
      Array(0.72009486, dtype=float32)

    References:
      PyTorch ``torch.nn.SoftMarginLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return reduce_torch(_kernels.soft_margin_loss(input, target), reduction)


def multilabel_soft_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.multilabel_soft_margin_loss``: multi-label logistic loss.

    .. math:: \ell_n = \frac{1}{C} \sum_c w_c \big(y_c\, \mathrm{softplus}(-x_c)
              + (1 - y_c)\, \mathrm{softplus}(x_c)\big)

    per example (the class axis is the last), ``"mean"`` over the examples; computed by
    :func:`jaxloss.multilabel_soft_margin_loss` (finite for every finite score). A target
    outside ``[0, 1]`` gives NaN for its example, where PyTorch computes a number.

    Args:
      input: scores ``[N, C]`` (or ``[C]``).
      target: ``1`` for the classes present, ``0`` for the others, ``input``'s shape.
      weight: optional ``[C]`` class weights.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the per-example loss (``input``'s shape without the last axis) for
      ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.multilabel_soft_margin_loss(jnp.array([[2.0, -1.0], [0.0, 0.0]]),
      ...                               jnp.array([[1.0, 0.0], [1.0, 1.0]]))
      Array(0.45662102, dtype=float32)

    References:
      PyTorch ``torch.nn.MultiLabelSoftMarginLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = _kernels.multilabel_soft_margin_loss(input, target, class_weights=weight)
    return reduce_torch(loss, reduction)


def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.multi_margin_loss``: the multi-class hinge (Weston and Watkins).

    .. math:: \ell_n = \frac{w_{y_n}}{C} \sum_{i \ne y_n}
              \max(0, \text{margin} - x_{n, y_n} + x_{n, i})^p

    per example (the class axis is the last), ``"mean"`` over the examples (not divided by
    the weights); computed by :func:`jaxloss.multi_margin_loss`. ``margin`` may be
    negative, as in PyTorch. A class index outside ``[0, C)`` gives NaN for its example,
    where PyTorch raises.

    Args:
      input: scores ``[N, C]`` (or ``[C]``).
      target: integer class indices ``[N]`` (or a scalar).
      p: 1 or 2.
      margin: the required gap, any real number.
      weight: optional ``[C]`` class weights; an example's loss is multiplied by its
        target's weight.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the per-example loss (``target``'s shape) for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))
      Array(0.325, dtype=float32)

    References:
      PyTorch ``torch.nn.MultiMarginLoss``; Weston and Watkins, "Support vector machines
      for multi-class pattern recognition", ESANN 1999.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = _kernels.multi_margin_loss(input, target, p=p, margin=margin, class_weights=weight)
    return reduce_torch(loss, reduction)


def multilabel_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.multilabel_margin_loss``: the multi-label hinge.

    .. math:: \ell_n = \frac{1}{C} \sum_{j \in J_n} \sum_{i \notin J_n}
              \max(0, 1 - (x_{n, j} - x_{n, i}))

    with ``J_n`` the classes ``target`` lists up to its first ``-1``; per example (the
    class axis is the last), ``"mean"`` over the examples; computed by
    :func:`jaxloss.multilabel_margin_loss`. An entry outside ``[-1, C)`` gives NaN for
    its example, where PyTorch raises.

    Args:
      input: scores ``[N, C]`` (or ``[C]``).
      target: integer class indices padded with ``-1``, ``input``'s shape.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the per-example loss (``input``'s shape without the last axis) for
      ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.multilabel_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]),
      ...                          jnp.array([[3, 0, -1, 1]]))
      Array(0.85, dtype=float32)

    References:
      PyTorch ``torch.nn.MultiLabelMarginLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    return reduce_torch(_kernels.multilabel_margin_loss(input, target), reduction)


def margin_ranking_loss(
    input1: ArrayLike,
    input2: ArrayLike,
    target: ArrayLike,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.margin_ranking_loss``: the ranking hinge of a pair of scores.

    .. math:: \ell = \max(0, -y (x_1 - x_2) + \text{margin})

    elementwise, ``"mean"`` over every element; computed by
    :func:`jaxloss.margin_ranking_loss`. ``margin`` may be negative, as in PyTorch. The
    three arrays must have one shape (PyTorch also broadcasts arrays of one rank).

    Args:
      input1: scores, any shape.
      input2: scores, ``input1``'s shape.
      target: ``1`` where ``input1`` should rank higher, ``-1`` where ``input2`` should.
      margin: the required gap, any real number.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input1``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.margin_ranking_loss(jnp.array([2.0, 0.0]), jnp.array([1.0, 1.0]),
      ...                       jnp.array([1.0, 1.0]), margin=0.5)
      Array(0.75, dtype=float32)

    References:
      PyTorch ``torch.nn.MarginRankingLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = _kernels.margin_ranking_loss(input1, input2, target, margin=margin)
    return reduce_torch(loss, reduction)


def hinge_embedding_loss(
    input: ArrayLike,
    target: ArrayLike,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Array:
    r"""``torch.nn.functional.hinge_embedding_loss``: the hinge of pair distances.

    .. math:: \ell = x \text{ where } y = 1, \qquad \max(0, \text{margin} - x)
              \text{ where } y = -1

    elementwise, ``"mean"`` over every element; computed by
    :func:`jaxloss.hinge_embedding_loss`. ``margin`` may be negative, as in PyTorch. A NaN
    target gives NaN where PyTorch gives a finite number.

    Args:
      input: distances (any scores), any shape.
      target: ``1`` for similar pairs, ``-1`` for dissimilar ones, ``input``'s shape.
      margin: any real number.
      size_average: deprecated in PyTorch; giving it raises ``ValueError``.
      reduce: deprecated in PyTorch; giving it raises ``ValueError``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or the loss of ``input``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import torch as F
      >>> F.hinge_embedding_loss(jnp.array([0.3, 0.3, 2.0]), jnp.array([1.0, -1.0, -1.0]))
      Array(0.33333334, dtype=float32)

    References:
      PyTorch ``torch.nn.HingeEmbeddingLoss``.
    """
    reduction = check_torch_reduction(reduction, size_average, reduce)
    loss = _kernels.hinge_embedding_loss(input, target, margin=margin)
    return reduce_torch(loss, reduction)
