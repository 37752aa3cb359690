"""Which kernel of :mod:`jaxloss` computes each name of :mod:`jaxloss.optax`.

The porting guide's table is generated from ``KERNELS``; ``tests/test_porting_tables.py``
checks that it names every public function of the layer, that each kernel exists, and that
each function's code reaches those kernels and no others. ``NOTES`` says what a name
computes when it reaches no loss kernel.
"""

KERNELS: dict[str, tuple[str, ...]] = {
    "binary_dice_loss": ("multiclass_dice_loss",),
    "convex_kl_divergence": ("generalized_kl_divergence",),
    "cosine_distance": ("cosine_distance",),
    "cosine_similarity": ("cosine_similarity",),
    "ctc_loss": ("ctc_loss_with_forward_probs",),
    "ctc_loss_with_forward_probs": ("ctc_loss_with_forward_probs",),
    "dice_loss": ("multiclass_dice_loss",),
    "generalized_kl_divergence": ("generalized_kl_divergence",),
    "hinge_loss": ("hinge_loss",),
    "huber_loss": ("huber_loss",),
    "kl_divergence": ("log_space_kl_divergence",),
    "kl_divergence_with_log_targets": ("log_space_kl_divergence",),
    "l2_loss": ("l2_loss",),
    "log_cosh": ("log_cosh",),
    "make_fenchel_young_loss": ("make_fenchel_young_loss",),
    "multiclass_generalized_dice_loss": ("multiclass_dice_loss",),
    "multiclass_hinge_loss": ("multiclass_hinge_loss",),
    "multiclass_perceptron_loss": ("multiclass_perceptron_loss",),
    "multiclass_sparsemax_loss": ("multiclass_sparsemax_loss",),
    "ntxent": ("ntxent_loss",),
    "perceptron_loss": ("perceptron_loss",),
    "poly_loss_cross_entropy": ("poly_loss_cross_entropy",),
    "ranking_softmax_loss": ("ranking_softmax_loss",),
    "safe_softmax_cross_entropy": ("softmax_cross_entropy",),
    "sigmoid_binary_cross_entropy": ("sigmoid_binary_cross_entropy",),
    "sigmoid_focal_loss": ("sigmoid_focal_loss",),
    "smooth_labels": (),
    "softmax_cross_entropy": ("softmax_cross_entropy",),
    "softmax_cross_entropy_with_integer_labels": ("sparse_softmax_cross_entropy",),
    "sparsemax_loss": ("sparsemax_loss",),
    "squared_error": ("squared_error",),
    "triplet_margin_loss": ("triplet_margin_loss",),
}

NOTES: dict[str, str] = {
    "smooth_labels": "not a loss: the label-smoothing rule every kernel's `label_smoothing=` applies",
}
