"""Which kernels of :mod:`jaxloss` compute each loss class of :mod:`jaxloss.losses`, and
which classes Keras 3 does not have.

The porting guide's table is generated from ``KERNELS`` and ``BEYOND_KERAS``;
``tests/test_porting_tables.py`` checks that ``KERNELS`` names every registered class, that
each kernel exists, that each class's function reaches those kernels and no others, and
that the classes compared with Keras by the parity tests are exactly the others.
"""

KERNELS: dict[str, tuple[str, ...]] = {
    "BinaryCrossentropy": ("binary_cross_entropy", "sigmoid_binary_cross_entropy"),
    "BinaryFocalCrossentropy": ("binary_focal_cross_entropy", "sigmoid_focal_loss"),
    "CTC": ("ctc_loss",),
    "CategoricalCrossentropy": ("categorical_cross_entropy", "softmax_cross_entropy"),
    "CategoricalFocalCrossentropy": ("categorical_focal_cross_entropy", "softmax_focal_loss"),
    "CategoricalGeneralizedCrossEntropy": ("generalized_cross_entropy",),
    "CategoricalHinge": ("categorical_hinge_loss",),
    "Circle": ("circle_loss",),
    "CompleteBoxIoU": ("complete_box_iou_loss",),
    "Contrastive": ("contrastive_loss",),
    "CosineSimilarity": ("negative_cosine_similarity",),
    "Dice": ("dice_loss",),
    "DistanceBoxIoU": ("distance_box_iou_loss",),
    "Distillation": ("distillation_loss",),
    "FocalTversky": ("focal_tversky_loss",),
    "GeneralizedBoxIoU": ("generalized_box_iou_loss",),
    "GeneralizedDice": ("generalized_dice_loss",),
    "Hinge": ("hinge_loss",),
    "Huber": ("huber_loss",),
    "KLDivergence": ("kl_divergence",),
    "LogCosh": ("log_cosh",),
    "LovaszHinge": ("lovasz_hinge_loss",),
    "LovaszSoftmax": ("lovasz_softmax_loss",),
    "MeanAbsoluteError": ("absolute_error",),
    "MeanAbsolutePercentageError": ("absolute_percentage_error",),
    "MeanSquaredError": ("squared_error",),
    "MeanSquaredLogarithmicError": ("squared_logarithmic_error",),
    "Poisson": ("poisson_loss",),
    "PoissonNegativeLogLikelihood": ("poisson_nll_loss",),
    "Quantile": ("quantile_loss",),
    "SigmoidContrastive": ("sigmoid_contrastive_loss",),
    "SparseCategoricalCrossentropy": (
        "sparse_categorical_cross_entropy",
        "sparse_softmax_cross_entropy",
    ),
    "SparseCategoricalFocalCrossentropy": (
        "categorical_focal_cross_entropy",
        "sparse_softmax_focal_loss",
    ),
    "SquaredHinge": ("squared_hinge_loss",),
    "Tversky": ("tversky_loss",),
    "WeightedBinaryCrossentropy": ("sigmoid_binary_cross_entropy",),
}

# Classes jaxloss adds: keras.losses has no class of these names.
BEYOND_KERAS: frozenset[str] = frozenset(
    {
        "CompleteBoxIoU",
        "Contrastive",
        "DistanceBoxIoU",
        "Distillation",
        "FocalTversky",
        "GeneralizedBoxIoU",
        "GeneralizedDice",
        "LovaszHinge",
        "LovaszSoftmax",
        "PoissonNegativeLogLikelihood",
        "Quantile",
        "SigmoidContrastive",
        "SparseCategoricalFocalCrossentropy",
        "WeightedBinaryCrossentropy",
    }
)
