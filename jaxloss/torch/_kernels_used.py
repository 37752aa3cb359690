"""Which kernel of :mod:`jaxloss` computes each name of :mod:`jaxloss.torch`.

The porting guide's table is generated from ``KERNELS``; ``tests/test_porting_tables.py``
checks that it names every public function of the layer, that each kernel exists, and that
each function's code reaches those kernels and no others. ``NOTES`` says what a name
computes when it reaches no public kernel.
"""

KERNELS: dict[str, tuple[str, ...]] = {
    "binary_cross_entropy": ("binary_cross_entropy",),
    "binary_cross_entropy_with_logits": ("sigmoid_binary_cross_entropy",),
    "cosine_embedding_loss": ("cosine_embedding_loss",),
    "cross_entropy": ("softmax_cross_entropy", "sparse_softmax_cross_entropy"),
    "ctc_loss": ("ctc_loss",),
    "gaussian_nll_loss": ("gaussian_nll_loss",),
    "hinge_embedding_loss": ("hinge_embedding_loss",),
    "huber_loss": ("huber_loss",),
    "kl_div": ("log_space_kl_divergence",),
    "l1_loss": ("absolute_error",),
    "margin_ranking_loss": ("margin_ranking_loss",),
    "mse_loss": ("squared_error",),
    "multi_margin_loss": ("multi_margin_loss",),
    "multilabel_margin_loss": ("multilabel_margin_loss",),
    "multilabel_soft_margin_loss": ("multilabel_soft_margin_loss",),
    "nll_loss": ("nll_loss",),
    "poisson_nll_loss": ("poisson_nll_loss",),
    "smooth_l1_loss": ("smooth_l1_loss",),
    "soft_margin_loss": ("soft_margin_loss",),
    "triplet_margin_loss": ("triplet_margin_loss",),
    "triplet_margin_with_distance_loss": ("triplet_margin_with_distance_loss",),
}

NOTES: dict[str, str] = {
    "binary_cross_entropy": (
        "the kernel module's log-floored form: each log clamped at -100, PyTorch's rule, "
        "where the public kernel clips probabilities as Keras does"
    ),
}
