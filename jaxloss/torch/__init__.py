"""PyTorch's losses: ``torch.nn.functional``'s names, arguments and reductions over jaxloss.

``F.cross_entropy(logits, target, weight=w, label_smoothing=0.1)`` ports as
``jaxloss.torch.cross_entropy(logits, target, weight=w, label_smoothing=0.1)``: each function
has PyTorch 2.x's name, positional order, argument names and defaults, and its numbers
(checked against numbers PyTorch computed, stored in ``tests/data/torch_parity.json``),
under ``jax.jit``, ``jax.grad`` and ``jax.vmap``. The losses are computed by jaxloss's
kernels, so they keep those kernels' stability (finite losses and gradients for every
finite logit).

Reductions
    ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"`` (``kl_div`` also takes
    ``"batchmean"``, the sum divided by the batch size). ``"mean"`` divides by the number
    of loss entries (of examples for ``multilabel_soft_margin_loss``, ``multi_margin_loss``
    and ``multilabel_margin_loss``, which give one value per example), except where PyTorch
    divides by a sum of weights: class-weighted ``nll_loss`` and ``cross_entropy`` with
    class-index targets (the weights of the targets that are not ``ignore_index``), and
    weighted ``l1_loss`` and ``mse_loss``; ``ctc_loss`` divides each loss by its target
    length, then averages over the batch. PyTorch's
    deprecated ``size_average`` and ``reduce`` raise ``ValueError`` naming the
    ``reduction`` to pass instead.

Layout
    Class scores are ``[N, C]``, ``[N, C, d1, ...]`` (the class axis is 1) or one example
    ``[C]``; targets are class indices (integers, the scores' shape without axis 1) or, for
    ``cross_entropy``, probabilities of the scores' shape. The multi-class margin losses
    take ``[N, C]`` or ``[C]``, as PyTorch does.
    ``ctc_loss`` takes PyTorch's time-first ``log_probs`` ``[T, N, C]``, ``targets``
    padded ``[N, S]`` or 1-D concatenated, and lengths per sample (arrays under ``jit``).

Where the numbers differ from PyTorch's, by design
    * A value PyTorch rejects at run time (a class index out of range, a negative variance
      in an array, a probability outside ``[0, 1]``) gives NaN for its example: under
      ``jit`` nothing can raise (``jaxloss.checks()`` raises instead).
    * A ``"mean"`` with a zero divisor (every target ignored, an empty batch) gives 0 where
      PyTorch gives NaN.
    * ``binary_cross_entropy``'s gradient in ``target`` at a probability of 0 or 1 is the
      slope of the clamped loss, ``±100``, where PyTorch's (``-logit(p)``) is infinite; its
      values and its gradient in ``input`` are PyTorch's (each log clamped at -100).
    * ``poisson_nll_loss(full=True)``'s gradient in the counts is finite at a count of 0,
      where PyTorch's is NaN (its Stirling term's ``log(0)`` behind a mask).
    * ``soft_margin_loss`` is finite, with a finite gradient, for a wrong score beyond 88.7,
      where PyTorch's float32 ``log1p(exp(.))`` is ``inf`` with a NaN gradient.
    * A NaN ``hinge_embedding_loss`` target, and a ``multilabel_soft_margin_loss`` target
      outside ``[0, 1]``, give NaN where PyTorch computes a number.
    * ``input`` and ``target`` (``margin_ranking_loss``'s three arrays) must have one shape
      where PyTorch broadcasts them.
    * ``cosine_embedding_loss``: a target other than 1 or -1 gives NaN where PyTorch
      gives 0.
    * ``triplet_margin_loss``: a norm degree ``p`` below 1 raises; PyTorch takes it.
      ``triplet_margin_with_distance_loss`` takes any ``margin``; PyTorch raises for
      ``margin <= 0``.
    * ``kl_div``: a target of 0 has gradient 0 in the target (for a finite input) where
      PyTorch's is NaN, and contributes 0 on an input of ``-inf`` where PyTorch gives NaN.
    * ``ctc_loss`` normalises ``log_probs`` (a ``log_softmax`` over the classes) before
      use: rows that are not log-probabilities give another value than PyTorch's. A
      sample no alignment can produce gives ``inf``, as in PyTorch, with gradient 0
      where PyTorch's is NaN.

Shape and dtype errors are the kernels' ``ValueError``\\ s, raised at trace time; they name
the kernels' arguments (``logits``, ``labels``, ``predictions``, ``targets``).
"""

from jaxloss.torch._classification import binary_cross_entropy as binary_cross_entropy
from jaxloss.torch._classification import (
    binary_cross_entropy_with_logits as binary_cross_entropy_with_logits,
)
from jaxloss.torch._classification import cross_entropy as cross_entropy
from jaxloss.torch._classification import nll_loss as nll_loss
from jaxloss.torch._margin import hinge_embedding_loss as hinge_embedding_loss
from jaxloss.torch._margin import margin_ranking_loss as margin_ranking_loss
from jaxloss.torch._margin import multi_margin_loss as multi_margin_loss
from jaxloss.torch._margin import multilabel_margin_loss as multilabel_margin_loss
from jaxloss.torch._margin import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from jaxloss.torch._margin import soft_margin_loss as soft_margin_loss
from jaxloss.torch._divergence import kl_div as kl_div
from jaxloss.torch._embedding import cosine_embedding_loss as cosine_embedding_loss
from jaxloss.torch._embedding import triplet_margin_loss as triplet_margin_loss
from jaxloss.torch._embedding import (
    triplet_margin_with_distance_loss as triplet_margin_with_distance_loss,
)
from jaxloss.torch._regression import gaussian_nll_loss as gaussian_nll_loss
from jaxloss.torch._regression import huber_loss as huber_loss
from jaxloss.torch._regression import l1_loss as l1_loss
from jaxloss.torch._regression import mse_loss as mse_loss
from jaxloss.torch._regression import poisson_nll_loss as poisson_nll_loss
from jaxloss.torch._regression import smooth_l1_loss as smooth_l1_loss
from jaxloss.torch._sequence import ctc_loss as ctc_loss
