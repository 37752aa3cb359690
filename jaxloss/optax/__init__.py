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
- ``binary_dice_loss``, ``dice_loss``, ``multiclass_generalized_dice_loss``, probabilities
  (no ``apply_sigmoid``/``apply_softmax``) not summing to 1 over the classes, every binary
  map among them: ``ValueError`` (outside ``jit``; inside, a tracer error) -> the formula's
  loss.
- ``cosine_similarity``, ``cosine_distance``, a zero vector (``epsilon=0``): NaN -> a
  cosine of 0 with a finite gradient.
- ``ctc_loss``, ``ctc_loss_with_forward_probs``, a loss above ``1e5``: capped near
  ``-log_epsilon`` -> the loss (the stand-in for ``log 0`` is lowered where needed).
- ``multiclass_hinge_loss``, ``multiclass_perceptron_loss``, an infinite score of the
  label's class: ``inf - inf = NaN`` -> 0; a label outside ``[0, C)``: a finite number ->
  NaN.
- ``ntxent``, a batch without a positive pair: ``0 / 0 = NaN`` -> 0.
- ``poly_loss_cross_entropy``, a ``where`` of lower rank than the logits: ``ValueError`` (its
  two terms read the mask differently) -> an example mask in both terms, optax's rule for
  the cross-entropies.
- ``sigmoid_binary_cross_entropy``, ``sigmoid_focal_loss``, a label outside ``[0, 1]``: a
  finite number -> NaN, the error signal under ``jit``.
- ``sparsemax_loss``, a soft label in ``(0, 1)``: read as 1 -> the binary sparsemax loss of
  the soft label.
- ``softmax_cross_entropy_with_integer_labels``, the label's class masked by ``where``:
  ``logsumexp - x_y`` over the other classes -> NaN.
- ``triplet_margin_loss``, an odd ``norm_degree``: ``sum (x - y)**p``, not a norm (a loss
  of 1 for a positive at L1 distance 2 and a negative at 4, margin 1) -> the norm of
  ``|x - y|``; a distance of 0 with ``eps=0``: a NaN gradient -> 0.

Half-precision inputs are computed in float32 and the losses returned in float32, as
everywhere in jaxloss (optax returns the inputs' dtype).

Every public loss of ``optax.losses`` is here; the test that guards this layer
(``tests/test_optax.py``) fails when optax has one that is not.
"""

from jaxloss.optax._classification import hinge_loss as hinge_loss
from jaxloss.optax._classification import make_fenchel_young_loss as make_fenchel_young_loss
from jaxloss.optax._classification import multiclass_hinge_loss as multiclass_hinge_loss
from jaxloss.optax._classification import multiclass_perceptron_loss as multiclass_perceptron_loss
from jaxloss.optax._classification import multiclass_sparsemax_loss as multiclass_sparsemax_loss
from jaxloss.optax._classification import perceptron_loss as perceptron_loss
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
from jaxloss.optax._ranking import ranking_softmax_loss as ranking_softmax_loss
from jaxloss.optax._regression import cosine_distance as cosine_distance
from jaxloss.optax._regression import cosine_similarity as cosine_similarity
from jaxloss.optax._regression import huber_loss as huber_loss
from jaxloss.optax._regression import l2_loss as l2_loss
from jaxloss.optax._regression import log_cosh as log_cosh
from jaxloss.optax._regression import squared_error as squared_error
from jaxloss.optax._segmentation import binary_dice_loss as binary_dice_loss
from jaxloss.optax._segmentation import dice_loss as dice_loss
from jaxloss.optax._segmentation import (
    multiclass_generalized_dice_loss as multiclass_generalized_dice_loss,
)
from jaxloss.optax._self_supervised import ntxent as ntxent
from jaxloss.optax._self_supervised import triplet_margin_loss as triplet_margin_loss
