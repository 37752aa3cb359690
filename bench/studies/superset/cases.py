"""The cases: a jaxloss kernel, through the drop-in layer that gives it its peer's name and
signature, against that peer. Each row names the inputs (:mod:`.inputs`) and the function."""

from __future__ import annotations

OPTAX_CASES = (
    # (case, inputs, name in optax.losses and jaxloss.optax)
    ("kl_divergence", "kl_divergence", "kl_divergence"),
    ("kl_divergence_with_log_targets", "kl_divergence_with_log_targets",
     "kl_divergence_with_log_targets"),
    ("poly_loss_cross_entropy", "poly_loss_cross_entropy", "poly_loss_cross_entropy"),
    ("multiclass_hinge_loss", "multiclass_hinge_loss", "multiclass_hinge_loss"),
    ("multiclass_perceptron_loss", "multiclass_perceptron_loss", "multiclass_perceptron_loss"),
    ("sparsemax_loss", "sparsemax_loss", "sparsemax_loss"),
    ("multiclass_sparsemax_loss", "multiclass_sparsemax_loss", "multiclass_sparsemax_loss"),
    ("ranking_softmax_loss", "ranking_softmax_loss", "ranking_softmax_loss"),
    ("ntxent", "ntxent", "ntxent"),
    ("triplet_margin_loss", "triplet_margin_loss", "triplet_margin_loss"),
    ("cosine_distance", "cosine_distance", "cosine_distance"),
    ("l2_loss", "l2_loss", "l2_loss"),
    ("squared_error", "squared_error", "squared_error"),
    ("huber_loss", "huber_loss", "huber_loss"),
    ("smooth_labels", "smooth_labels", "smooth_labels"),
    ("ctc_loss", "ctc_loss", "ctc_loss"),
    ("dice_loss", "dice_loss", "dice_loss"),
)

TORCH_CASES = (
    # (case, inputs, name in torch.nn.functional and jaxloss.torch)
    ("kl_div", "kl_div", "kl_div"),
    ("kl_div(log_target)", "kl_div_log_target", "kl_div"),
    ("nll_loss", "nll_loss", "nll_loss"),
    ("gaussian_nll_loss", "gaussian_nll_loss", "gaussian_nll_loss"),
    ("poisson_nll_loss", "poisson_nll_loss", "poisson_nll_loss"),
    ("smooth_l1_loss", "smooth_l1_loss", "smooth_l1_loss"),
    ("mse_loss", "mse_loss", "mse_loss"),
    ("margin_ranking_loss", "margin_ranking_loss", "margin_ranking_loss"),
    ("hinge_embedding_loss", "hinge_embedding_loss", "hinge_embedding_loss"),
    ("soft_margin_loss", "soft_margin_loss", "soft_margin_loss"),
    ("multi_margin_loss", "multi_margin_loss", "multi_margin_loss"),
    ("multilabel_margin_loss", "multilabel_margin_loss", "multilabel_margin_loss"),
    ("multilabel_soft_margin_loss", "multilabel_soft_margin_loss",
     "multilabel_soft_margin_loss"),
    ("cosine_embedding_loss", "cosine_embedding_loss", "cosine_embedding_loss"),
    ("triplet_margin_loss", "triplet_margin_loss", "triplet_margin_loss"),
    ("ctc_loss", "torch_ctc_loss", "ctc_loss"),
)
