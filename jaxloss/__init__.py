"""jaxloss: JAX-accelerated, numerically stable loss functions.

The functional kernels follow optax's conventions: ``loss(logits_or_predictions,
labels_or_targets, *, hyperparameters)``, one value per example, no hidden
reduction, and a ``where=`` mask. The Keras-compatible classes live in
:mod:`jaxloss.losses`, the training loop in :mod:`jaxloss.train`.
"""

__version__ = "0.1.0"

from jaxloss._src.checks import CheckError as CheckError
from jaxloss._src.checks import checks as checks
from jaxloss._src.checks import raised_check_error as raised_check_error
from jaxloss._src.cross_entropy.probability import binary_cross_entropy as binary_cross_entropy
from jaxloss._src.cross_entropy.probability import (
    categorical_cross_entropy as categorical_cross_entropy,
)
from jaxloss._src.cross_entropy.probability import (
    sparse_categorical_cross_entropy as sparse_categorical_cross_entropy,
)
from jaxloss._src.cross_entropy.sigmoid import (
    sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy,
)
from jaxloss._src.cross_entropy.softmax import softmax_cross_entropy as softmax_cross_entropy
from jaxloss._src.cross_entropy.sparse_softmax import (
    sparse_softmax_cross_entropy as sparse_softmax_cross_entropy,
)
from jaxloss._src.contrastive.chunked import chunked_contrastive_loss as chunked_contrastive_loss
from jaxloss._src.contrastive.chunked import (
    chunked_contrastive_loss_sharded as chunked_contrastive_loss_sharded,
)
from jaxloss._src.contrastive.infonce import contrastive_loss as contrastive_loss
from jaxloss._src.contrastive.sigmoid import sigmoid_contrastive_loss as sigmoid_contrastive_loss
from jaxloss._src.contrastive.supervised import ntxent_loss as ntxent_loss
from jaxloss._src.contrastive.supervised import (
    supervised_contrastive_loss as supervised_contrastive_loss,
)
from jaxloss._src.ctc import ctc_loss as ctc_loss
from jaxloss._src.divergence import kl_divergence as kl_divergence
from jaxloss._src.divergence import poisson_loss as poisson_loss
from jaxloss._src.focal.probability import binary_focal_cross_entropy as binary_focal_cross_entropy
from jaxloss._src.focal.probability import (
    categorical_focal_cross_entropy as categorical_focal_cross_entropy,
)
from jaxloss._src.focal.sigmoid import sigmoid_focal_loss as sigmoid_focal_loss
from jaxloss._src.focal.softmax import softmax_focal_loss as softmax_focal_loss
from jaxloss._src.focal.sparse_softmax import (
    sparse_softmax_focal_loss as sparse_softmax_focal_loss,
)
from jaxloss._src.fused import fused_linear_cross_entropy as fused_linear_cross_entropy
from jaxloss._src.fused import (
    fused_linear_cross_entropy_sharded as fused_linear_cross_entropy_sharded,
)
from jaxloss._src.hinge import categorical_hinge_loss as categorical_hinge_loss
from jaxloss._src.hinge import hinge_loss as hinge_loss
from jaxloss._src.hinge import squared_hinge_loss as squared_hinge_loss
from jaxloss._src.likelihood import gaussian_nll_loss as gaussian_nll_loss
from jaxloss._src.likelihood import poisson_nll_loss as poisson_nll_loss
from jaxloss._src.metric_learning import circle_loss as circle_loss
from jaxloss._src.metric_learning import negative_cosine_similarity as negative_cosine_similarity
from jaxloss._src.regression import absolute_error as absolute_error
from jaxloss._src.regression import huber_loss as huber_loss
from jaxloss._src.regression import log_cosh as log_cosh
from jaxloss._src.regression import squared_error as squared_error
from jaxloss._src.relative_error import absolute_percentage_error as absolute_percentage_error
from jaxloss._src.relative_error import squared_logarithmic_error as squared_logarithmic_error
from jaxloss._src.robust import generalized_cross_entropy as generalized_cross_entropy
from jaxloss._src.segmentation import dice_loss as dice_loss
from jaxloss._src.segmentation import tversky_loss as tversky_loss
