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
from jaxloss._src.cross_entropy.log_probability import nll_loss as nll_loss
from jaxloss._src.cross_entropy.poly import poly_loss_cross_entropy as poly_loss_cross_entropy
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
from jaxloss._src.distillation import distillation_loss as distillation_loss
from jaxloss._src.distillation import (
    jensen_shannon_distillation_loss as jensen_shannon_distillation_loss,
)
from jaxloss._src.distillation import reverse_distillation_loss as reverse_distillation_loss
from jaxloss._src.detection import complete_box_iou_loss as complete_box_iou_loss
from jaxloss._src.detection import distance_box_iou_loss as distance_box_iou_loss
from jaxloss._src.detection import generalized_box_iou_loss as generalized_box_iou_loss
from jaxloss._src.ctc import ctc_loss_with_forward_probs as ctc_loss_with_forward_probs
from jaxloss._src.divergence import generalized_kl_divergence as generalized_kl_divergence
from jaxloss._src.divergence import kl_divergence as kl_divergence
from jaxloss._src.divergence import log_space_kl_divergence as log_space_kl_divergence
from jaxloss._src.divergence import poisson_loss as poisson_loss
from jaxloss._src.embedding import cosine_distance as cosine_distance
from jaxloss._src.embedding import cosine_embedding_loss as cosine_embedding_loss
from jaxloss._src.embedding import cosine_similarity as cosine_similarity
from jaxloss._src.embedding import triplet_margin_loss as triplet_margin_loss
from jaxloss._src.embedding import (
    triplet_margin_with_distance_loss as triplet_margin_with_distance_loss,
)
from jaxloss._src.fenchel_young import make_fenchel_young_loss as make_fenchel_young_loss
from jaxloss._src.fenchel_young import multiclass_sparsemax_loss as multiclass_sparsemax_loss
from jaxloss._src.fenchel_young import sparsemax as sparsemax
from jaxloss._src.fenchel_young import sparsemax_loss as sparsemax_loss
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
from jaxloss._src.fused_sharded import (
    fused_linear_cross_entropy_sharded as fused_linear_cross_entropy_sharded,
)
from jaxloss._src.fused_statistics import TokenStatistics as TokenStatistics
from jaxloss._src.fused_statistics import (
    fused_linear_token_statistics as fused_linear_token_statistics,
)
from jaxloss._src.hinge import categorical_hinge_loss as categorical_hinge_loss
from jaxloss._src.hinge import hinge_loss as hinge_loss
from jaxloss._src.hinge import multiclass_hinge_loss as multiclass_hinge_loss
from jaxloss._src.hinge import multiclass_perceptron_loss as multiclass_perceptron_loss
from jaxloss._src.hinge import perceptron_loss as perceptron_loss
from jaxloss._src.hinge import squared_hinge_loss as squared_hinge_loss
from jaxloss._src.likelihood import gaussian_nll_loss as gaussian_nll_loss
from jaxloss._src.likelihood import poisson_nll_loss as poisson_nll_loss
from jaxloss._src.margin import hinge_embedding_loss as hinge_embedding_loss
from jaxloss._src.margin import margin_ranking_loss as margin_ranking_loss
from jaxloss._src.margin import multi_margin_loss as multi_margin_loss
from jaxloss._src.margin import multilabel_margin_loss as multilabel_margin_loss
from jaxloss._src.margin import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from jaxloss._src.margin import soft_margin_loss as soft_margin_loss
from jaxloss._src.metric_learning import circle_loss as circle_loss
from jaxloss._src.metric_learning import negative_cosine_similarity as negative_cosine_similarity
from jaxloss._src.preference import dpo_loss as dpo_loss
from jaxloss._src.preference import dpo_rewards as dpo_rewards
from jaxloss._src.preference import ipo_loss as ipo_loss
from jaxloss._src.preference import sequence_log_probs as sequence_log_probs
from jaxloss._src.preference import simpo_loss as simpo_loss
from jaxloss._src.ranking import ranking_softmax_loss as ranking_softmax_loss
from jaxloss._src.regression import absolute_error as absolute_error
from jaxloss._src.regression import huber_loss as huber_loss
from jaxloss._src.regression import l2_loss as l2_loss
from jaxloss._src.regression import log_cosh as log_cosh
from jaxloss._src.regression import smooth_l1_loss as smooth_l1_loss
from jaxloss._src.regression import quantile_loss as quantile_loss
from jaxloss._src.regression import squared_error as squared_error
from jaxloss._src.relative_error import absolute_percentage_error as absolute_percentage_error
from jaxloss._src.relative_error import squared_logarithmic_error as squared_logarithmic_error
from jaxloss._src.robust import generalized_cross_entropy as generalized_cross_entropy
from jaxloss._src.segmentation.lovasz import lovasz_hinge_loss as lovasz_hinge_loss
from jaxloss._src.segmentation.lovasz import lovasz_softmax_loss as lovasz_softmax_loss
from jaxloss._src.segmentation.overlap import dice_loss as dice_loss
from jaxloss._src.segmentation.overlap import focal_tversky_loss as focal_tversky_loss
from jaxloss._src.segmentation.overlap import generalized_dice_loss as generalized_dice_loss
from jaxloss._src.segmentation.overlap import multiclass_dice_loss as multiclass_dice_loss
from jaxloss._src.segmentation.overlap import tversky_loss as tversky_loss
