"""Keras 3 compatible losses on JAX: ``jaxloss.losses`` replaces ``keras.losses``.

Same class names, arguments, defaults, reductions and ``sample_weight`` rules as
Keras 3, computed by the numerically stable kernels of :mod:`jaxloss`; each class
works under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.

>>> import jax.numpy as jnp
>>> from jaxloss import losses
>>> y_true = jnp.array([[0.0, 1.0], [0.0, 0.0]])
>>> y_pred = jnp.array([[1.0, 1.0], [1.0, 0.0]])
>>> losses.MeanSquaredError()(y_true, y_pred)
Array(0.5, dtype=float32)
>>> losses.MeanSquaredError(reduction="none")(y_true, y_pred, sample_weight=jnp.array([1.0, 0.0]))
Array([0.5, 0. ], dtype=float32)
>>> losses.get("mae")(y_true, y_pred)
Array([0.5, 0.5], dtype=float32)

Each class and function joins :func:`get` with ``@register`` where it is defined;
Keras's short names, its aliases there, are attributes here too:

>>> losses.mae is losses.get("mae") is losses.mean_absolute_error
True
"""

from jaxloss._src.reduction import REDUCTIONS as REDUCTIONS
from jaxloss._src.reduction import reduce_weighted_values as reduce_weighted_values
from jaxloss._src.reduction import (
    squeeze_or_expand_to_same_rank as squeeze_or_expand_to_same_rank,
)
from jaxloss.losses import _registry
from jaxloss.losses._base import Loss as Loss
from jaxloss.losses._base import LossFunctionWrapper as LossFunctionWrapper
from jaxloss.losses._cross_entropy import BinaryCrossentropy as BinaryCrossentropy
from jaxloss.losses._cross_entropy import CategoricalCrossentropy as CategoricalCrossentropy
from jaxloss.losses._cross_entropy import (
    SparseCategoricalCrossentropy as SparseCategoricalCrossentropy,
)
from jaxloss.losses._cross_entropy import WeightedBinaryCrossentropy as WeightedBinaryCrossentropy
from jaxloss.losses._cross_entropy import binary_crossentropy as binary_crossentropy
from jaxloss.losses._cross_entropy import categorical_crossentropy as categorical_crossentropy
from jaxloss.losses._cross_entropy import (
    sparse_categorical_crossentropy as sparse_categorical_crossentropy,
)
from jaxloss.losses._cross_entropy import (
    weighted_binary_crossentropy as weighted_binary_crossentropy,
)
from jaxloss.losses._contrastive import Contrastive as Contrastive
from jaxloss.losses._contrastive import SigmoidContrastive as SigmoidContrastive
from jaxloss.losses._contrastive import contrastive as contrastive
from jaxloss.losses._contrastive import sigmoid_contrastive as sigmoid_contrastive
from jaxloss.losses._ctc import CTC as CTC
from jaxloss.losses._ctc import ctc as ctc
from jaxloss.losses._distillation import Distillation as Distillation
from jaxloss.losses._distillation import distillation as distillation
from jaxloss.losses._detection import CompleteBoxIoU as CompleteBoxIoU
from jaxloss.losses._detection import DistanceBoxIoU as DistanceBoxIoU
from jaxloss.losses._detection import GeneralizedBoxIoU as GeneralizedBoxIoU
from jaxloss.losses._detection import complete_box_iou as complete_box_iou
from jaxloss.losses._detection import distance_box_iou as distance_box_iou
from jaxloss.losses._detection import generalized_box_iou as generalized_box_iou
from jaxloss.losses._divergence import KLDivergence as KLDivergence
from jaxloss.losses._divergence import Poisson as Poisson
from jaxloss.losses._divergence import kl_divergence as kl_divergence
from jaxloss.losses._divergence import poisson as poisson
from jaxloss.losses._focal import BinaryFocalCrossentropy as BinaryFocalCrossentropy
from jaxloss.losses._focal import CategoricalFocalCrossentropy as CategoricalFocalCrossentropy
from jaxloss.losses._focal import (
    SparseCategoricalFocalCrossentropy as SparseCategoricalFocalCrossentropy,
)
from jaxloss.losses._focal import binary_focal_crossentropy as binary_focal_crossentropy
from jaxloss.losses._focal import categorical_focal_crossentropy as categorical_focal_crossentropy
from jaxloss.losses._focal import (
    sparse_categorical_focal_crossentropy as sparse_categorical_focal_crossentropy,
)
from jaxloss.losses._hinge import CategoricalHinge as CategoricalHinge
from jaxloss.losses._hinge import Hinge as Hinge
from jaxloss.losses._hinge import SquaredHinge as SquaredHinge
from jaxloss.losses._hinge import categorical_hinge as categorical_hinge
from jaxloss.losses._hinge import hinge as hinge
from jaxloss.losses._hinge import squared_hinge as squared_hinge
from jaxloss.losses._likelihood import (
    PoissonNegativeLogLikelihood as PoissonNegativeLogLikelihood,
)
from jaxloss.losses._likelihood import (
    poisson_negative_log_likelihood as poisson_negative_log_likelihood,
)
from jaxloss.losses._metric_learning import Circle as Circle
from jaxloss.losses._metric_learning import CosineSimilarity as CosineSimilarity
from jaxloss.losses._metric_learning import circle as circle
from jaxloss.losses._metric_learning import cosine_similarity as cosine_similarity
from jaxloss.losses._registry import register as register
from jaxloss.losses._regression import Huber as Huber
from jaxloss.losses._regression import LogCosh as LogCosh
from jaxloss.losses._regression import MeanAbsoluteError as MeanAbsoluteError
from jaxloss.losses._regression import MeanSquaredError as MeanSquaredError
from jaxloss.losses._regression import Quantile as Quantile
from jaxloss.losses._regression import huber as huber
from jaxloss.losses._regression import log_cosh as log_cosh
from jaxloss.losses._regression import mean_absolute_error as mean_absolute_error
from jaxloss.losses._regression import mean_squared_error as mean_squared_error
from jaxloss.losses._regression import quantile_loss as quantile_loss
from jaxloss.losses._relative_error import (
    MeanAbsolutePercentageError as MeanAbsolutePercentageError,
)
from jaxloss.losses._relative_error import (
    MeanSquaredLogarithmicError as MeanSquaredLogarithmicError,
)
from jaxloss.losses._relative_error import (
    mean_absolute_percentage_error as mean_absolute_percentage_error,
)
from jaxloss.losses._relative_error import (
    mean_squared_logarithmic_error as mean_squared_logarithmic_error,
)
from jaxloss.losses._robust import (
    CategoricalGeneralizedCrossEntropy as CategoricalGeneralizedCrossEntropy,
)
from jaxloss.losses._robust import (
    categorical_generalized_cross_entropy as categorical_generalized_cross_entropy,
)
from jaxloss.losses._segmentation import Dice as Dice
from jaxloss.losses._segmentation import FocalTversky as FocalTversky
from jaxloss.losses._segmentation import GeneralizedDice as GeneralizedDice
from jaxloss.losses._segmentation import LovaszHinge as LovaszHinge
from jaxloss.losses._segmentation import LovaszSoftmax as LovaszSoftmax
from jaxloss.losses._segmentation import Tversky as Tversky
from jaxloss.losses._segmentation import dice as dice
from jaxloss.losses._segmentation import focal_tversky as focal_tversky
from jaxloss.losses._segmentation import generalized_dice as generalized_dice
from jaxloss.losses._segmentation import lovasz_hinge as lovasz_hinge
from jaxloss.losses._segmentation import lovasz_softmax as lovasz_softmax
from jaxloss.losses._segmentation import tversky as tversky
from jaxloss.losses._serialization import deserialize as deserialize
from jaxloss.losses._serialization import get as get
from jaxloss.losses._serialization import serialize as serialize

# Keras's short and legacy names (``mse``, ``kld``, ...): the aliases registered above.
globals().update(
    {alias: globals()[name] for alias, name in _registry.ALIASES.items() if name in globals()}
)
