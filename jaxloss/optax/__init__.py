"""``optax.losses``'s names, signatures and defaults, computed by jaxloss's kernels.

Replace ``optax.losses.X(...)`` by ``jaxloss.optax.X(...)``: the arguments, their order,
their defaults and the shapes they accept are optax 0.2.8's (broadcast targets, class axes
given as a tuple or ``None``, a ``where`` of lower rank selecting examples), and on inputs
where optax is accurate the values and gradients agree with it to 1e-5 relative / 1e-6
absolute in float32 (``tests/test_optax.py`` compares them live).

Where optax's value is wrong, jaxloss's is right (optax 0.2.8 -> jaxloss.optax); each
difference is pinned by a test in ``tests/test_optax.py``:

- ``kl_divergence``, a target of 0 on a log-prediction of ``-inf``: ``0 * inf = NaN`` -> 0
  (``0 log 0 = 0``).
- ``kl_divergence_with_log_targets``, a log-target of ``-inf``: NaN (``exp(-inf) * -inf``)
  -> 0.
- ``generalized_kl_divergence``, ``convex_kl_divergence``, ``p`` near ``t``: the KL sum and
  ``sum(p - t)`` cancel, 5% off at ``t = 1``, ``log p = 1e-3`` -> each term
  ``t (e^r - 1 - r)`` with ``r = log p - log t``, to float32's precision.
- ``ctc_loss``, ``ctc_loss_with_forward_probs``, a loss above ``1e5``: capped near
  ``-log_epsilon`` -> the loss (the stand-in for ``log 0`` is lowered where needed).
- ``poly_loss_cross_entropy``, a ``where`` of lower rank than the logits: ``ValueError`` (its
  two terms read the mask differently) -> an example mask in both terms, optax's rule for
  the cross-entropies.
- ``sigmoid_binary_cross_entropy``, ``sigmoid_focal_loss``, a label outside ``[0, 1]``: a
  finite number -> NaN, the error signal under ``jit``.
- ``sparsemax_loss``, a soft label in ``(0, 1)``: read as 1 -> the binary sparsemax loss of
  the soft label.
- ``softmax_cross_entropy_with_integer_labels``, the label's class masked by ``where``:
  ``logsumexp - x_y`` over the other classes -> NaN.

Half-precision inputs are computed in float32 and the losses returned in float32, as
everywhere in jaxloss (optax returns the inputs' dtype).

The names whose kernels are not in jaxloss yet are listed in :data:`PENDING`; the test
that guards this layer (``tests/test_optax.py``) fails when optax has a public loss that is
neither here nor there.
"""

from jaxloss.optax._classification import make_fenchel_young_loss as make_fenchel_young_loss
from jaxloss.optax._classification import multiclass_sparsemax_loss as multiclass_sparsemax_loss
from jaxloss.optax._classification import poly_loss_cross_entropy as poly_loss_cross_entropy
from jaxloss.optax._classification import (
    safe_softmax_cross_entropy as safe_softmax_cross_entropy,
)
from jaxloss.optax._classification import (
    sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy,
)
from jaxloss.optax._classification import sigmoid_focal_loss as sigmoid_focal_loss
from jaxloss.optax._classification import smooth_labels as smooth_labels
from jaxloss.optax._classification import softmax_cross_entropy as softmax_cross_entropy
from jaxloss.optax._classification import (
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)
from jaxloss.optax._classification import sparsemax_loss as sparsemax_loss
from jaxloss.optax._ctc import ctc_loss as ctc_loss
from jaxloss.optax._ctc import ctc_loss_with_forward_probs as ctc_loss_with_forward_probs
from jaxloss.optax._divergence import convex_kl_divergence as convex_kl_divergence
from jaxloss.optax._divergence import generalized_kl_divergence as generalized_kl_divergence
from jaxloss.optax._divergence import kl_divergence as kl_divergence
from jaxloss.optax._divergence import (
    kl_divergence_with_log_targets as kl_divergence_with_log_targets,
)
from jaxloss.optax._regression import huber_loss as huber_loss
from jaxloss.optax._regression import l2_loss as l2_loss
from jaxloss.optax._regression import log_cosh as log_cosh
from jaxloss.optax._regression import squared_error as squared_error

# optax.losses names whose jaxloss kernels (the margin, embedding, contrastive and
# segmentation families) are added separately: each is wired in here, and removed from
# this set, once its kernel is in jaxloss.
PENDING = frozenset(
    {
        "binary_dice_loss",
        "cosine_distance",
        "cosine_similarity",
        "dice_loss",
        "hinge_loss",
        "multiclass_generalized_dice_loss",
        "multiclass_hinge_loss",
        "multiclass_perceptron_loss",
        "ntxent",
        "perceptron_loss",
        "ranking_softmax_loss",
        "triplet_margin_loss",
    }
)
