"""The bad inputs users really make, fed to every public entry point (docs/guides/input_rules.md).

Each rule gives a clear ``ValueError`` naming the argument and the shapes at trace time,
or a documented value: NaN where the problem depends on the values (under ``jit`` nothing
can raise), never a plausible finite loss and never an error from deep inside XLA.
"""

import inspect
import itertools
import re

import jax
import jax.numpy as jnp
import losses_cases
import numpy as np
import pytest
from small_inputs import LABELS, LOGITS, ONE_HOT, POSITIVE, PROBS

import jaxloss
from jaxloss import losses

# Kernel families: what the two arguments are and which rules apply.
# name -> (family, first argument, second argument)
KERNELS = {
    "sigmoid_binary_cross_entropy": ("binary_logits", LOGITS, ONE_HOT),
    "sigmoid_focal_loss": ("binary_logits", LOGITS, ONE_HOT),
    "sparsemax_loss": ("binary_logits", LOGITS, ONE_HOT),
    "binary_cross_entropy": ("binary_probs", PROBS, ONE_HOT),
    "binary_focal_cross_entropy": ("binary_probs", PROBS, ONE_HOT),
    "softmax_cross_entropy": ("dense_logits", LOGITS, ONE_HOT),
    "softmax_focal_loss": ("dense_logits", LOGITS, ONE_HOT),
    "poly_loss_cross_entropy": ("dense_logits", LOGITS, ONE_HOT),
    "categorical_cross_entropy": ("dense_probs", PROBS, ONE_HOT),
    "categorical_focal_cross_entropy": ("dense_probs", PROBS, ONE_HOT),
    "sparse_softmax_cross_entropy": ("sparse_logits", LOGITS, LABELS),
    "sparse_softmax_focal_loss": ("sparse_logits", LOGITS, LABELS),
    "nll_loss": ("sparse_logits", LOGITS, LABELS),  # log-probabilities: the logits' rules
    "multiclass_sparsemax_loss": ("sparse_logits", LOGITS, LABELS),
    "sparse_categorical_cross_entropy": ("sparse_probs", PROBS, LABELS),
    "generalized_cross_entropy": ("sparse_probs", PROBS, LABELS),
    "squared_error": ("elementwise", LOGITS, ONE_HOT),
    "l2_loss": ("elementwise", LOGITS, ONE_HOT),
    "absolute_error": ("elementwise", LOGITS, ONE_HOT),
    "huber_loss": ("elementwise", LOGITS, ONE_HOT),
    "smooth_l1_loss": ("elementwise", LOGITS, ONE_HOT),
    "log_cosh": ("elementwise", LOGITS, ONE_HOT),
    "quantile_loss": ("elementwise", LOGITS, ONE_HOT),
    "absolute_percentage_error": ("elementwise", LOGITS, POSITIVE),
    "squared_logarithmic_error": ("elementwise", POSITIVE, POSITIVE),
    "poisson_loss": ("elementwise", POSITIVE, ONE_HOT),
    "poisson_nll_loss": ("elementwise", LOGITS, POSITIVE),
    "hinge_loss": ("elementwise", LOGITS, ONE_HOT),
    "squared_hinge_loss": ("elementwise", LOGITS, ONE_HOT),
    "perceptron_loss": ("elementwise", LOGITS, 2.0 * ONE_HOT - 1.0),
    "soft_margin_loss": ("elementwise", LOGITS, 2.0 * ONE_HOT - 1.0),
    "hinge_embedding_loss": ("elementwise", POSITIVE, 2.0 * ONE_HOT - 1.0),
    "kl_divergence": ("rowwise", PROBS, PROBS[::-1]),
    "distillation_loss": ("rowwise", LOGITS, LOGITS[::-1]),
    "reverse_distillation_loss": ("rowwise", LOGITS, LOGITS[::-1]),
    "jensen_shannon_distillation_loss": ("rowwise", LOGITS, LOGITS[::-1]),
    "log_space_kl_divergence": ("rowwise", LOGITS, PROBS[::-1]),
    "generalized_kl_divergence": ("rowwise", LOGITS, PROBS[::-1]),
    "categorical_hinge_loss": ("rowwise", LOGITS, ONE_HOT),
    "multilabel_soft_margin_loss": ("rowwise", LOGITS, ONE_HOT),
    "multi_margin_loss": ("sparse_logits", LOGITS, LABELS),
    "multiclass_hinge_loss": ("sparse_logits", LOGITS, LABELS),
    "multiclass_perceptron_loss": ("sparse_logits", LOGITS, LABELS),
    "negative_cosine_similarity": ("rowwise", LOGITS, ONE_HOT),
    "cosine_distance": ("rowwise", LOGITS, ONE_HOT),
    "cosine_similarity": ("rowwise", LOGITS, ONE_HOT),
    "ranking_softmax_loss": ("rowwise", LOGITS, ONE_HOT),
    "dice_loss": ("batch", PROBS, ONE_HOT),
    "tversky_loss": ("batch", PROBS, ONE_HOT),
    "focal_tversky_loss": ("batch", PROBS, ONE_HOT),
    "generalized_dice_loss": ("rowwise", PROBS, ONE_HOT),
    "multiclass_dice_loss": ("rowwise", PROBS, ONE_HOT),
    "lovasz_hinge_loss": ("rowwise", LOGITS, ONE_HOT),
    "lovasz_softmax_loss": ("sparse_probs", PROBS, LABELS),
}
# Public callables with their own argument structure, tested one by one below.
SPECIAL = {
    "ctc_loss",
    "circle_loss",
    "fused_linear_cross_entropy",
    "gaussian_nll_loss",
    "margin_ranking_loss",
    "multilabel_margin_loss",
    "dpo_loss",
    "dpo_rewards",
    "ipo_loss",
    "simpo_loss",
    "sequence_log_probs",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "ctc_loss_with_forward_probs",
    "sparsemax",
    "make_fenchel_young_loss",
    "contrastive_loss",
    "chunked_contrastive_loss",
    "sigmoid_contrastive_loss",
    "supervised_contrastive_loss",
    "ntxent_loss",
}
# Not losses (checked mode; see tests/test_checks.py), or multi-device only (tests/test_fused.py).
NOT_LOSSES = {"checks", "raised_check_error", "CheckError", "fused_linear_cross_entropy_sharded"}
NOT_LOSSES |= {"chunked_contrastive_loss_sharded"}  # tests/test_contrastive.py
NOT_LOSSES |= {"fused_linear_token_statistics", "TokenStatistics"}  # statistics, not a loss: tests/test_fused_statistics.py


def _family(*families):
    return [name for name, (family, _, _) in KERNELS.items() if family in families]


def _call(name, first, second, **kwargs):
    loss = getattr(jaxloss, name)
    return jax.jit(lambda a, b: loss(a, b, **kwargs))(first, second)


def test_every_public_kernel_is_in_the_table():
    public = {
        name
        for name, value in vars(jaxloss).items()
        if callable(value) and not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(KERNELS) | SPECIAL | NOT_LOSSES


# ----------------------------------------------------------------- trace-time errors


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_integer_predictions_raise_naming_the_argument(name):
    _, first, second = KERNELS[name]
    with pytest.raises(ValueError, match=r"must have a floating-point dtype, got int32 \(shape"):
        _call(name, jnp.round(first * 3).astype(jnp.int32), second)


@pytest.mark.parametrize(
    "name",
    _family(
        "binary_logits",
        "binary_probs",
        "dense_logits",
        "dense_probs",
        "elementwise",
        "rowwise",
        "batch",
    ),
)
def test_labels_without_the_class_axis_raise_naming_both_shapes(name):
    """Wrong rank: integer-style [N] labels where [N, C] targets are expected."""
    _, first, _ = KERNELS[name]
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(2,)")):
        _call(name, first, LABELS.astype(jnp.float32))


@pytest.mark.parametrize("name", _family("sparse_logits", "sparse_probs"))
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (
            ONE_HOT,
            r"`labels` must hold integer class indices, got dtype float32 \(shape \(2, 3\)\)",
        ),
        (
            LABELS.astype(jnp.float32),
            r"`labels` must hold integer class indices, got dtype float32",
        ),
        (ONE_HOT.astype(jnp.int32), r"`labels` must have .*shape.*\(2,\).*\(2, 3\)"),
    ],
    ids=["one_hot", "float_labels", "int_labels_with_class_axis"],
)
def test_sparse_labels_of_the_wrong_kind_raise(name, labels, match):
    _, first, _ = KERNELS[name]
    with pytest.raises(ValueError, match=match):
        _call(name, first, labels)


@pytest.mark.parametrize("name", _family("sparse_logits", "sparse_probs"))
def test_swapped_labels_and_predictions_raise(name):
    """y_true and y_pred swapped: integer labels arrive as the scores."""
    _, first, _ = KERNELS[name]
    with pytest.raises(ValueError, match="must (have a floating-point dtype|hold integer)"):
        _call(name, LABELS, first)


@pytest.mark.parametrize(
    ("name", "argument", "match"),
    [
        (
            "sparse_softmax_cross_entropy",
            "class_weights",
            r"`class_weights` must have shape \(3,\)",
        ),
        ("sparse_softmax_focal_loss", "alpha", r"`alpha` must be a scalar or have shape \(3,\)"),
        ("softmax_focal_loss", "alpha", r"`alpha` must be a scalar or have shape \(3,\)"),
        ("multi_margin_loss", "class_weights", r"`class_weights` must have shape \(3,\)"),
        (
            "multilabel_soft_margin_loss",
            "class_weights",
            r"`class_weights` must have shape \(3,\)",
        ),
        (
            "categorical_focal_cross_entropy",
            "alpha",
            r"`alpha` must be a scalar or have shape \(3,\)",
        ),
    ],
)
def test_class_weights_of_the_wrong_length_raise(name, argument, match):
    _, first, second = KERNELS[name]
    with pytest.raises(ValueError, match=match):
        _call(name, first, second, **{argument: jnp.full((4,), 0.25)})


@pytest.mark.parametrize("name", _family("binary_logits", "binary_probs", "elementwise"))
def test_a_where_mask_of_the_wrong_shape_raises(name):
    _, first, second = KERNELS[name]
    with pytest.raises(ValueError, match=r"`where` of shape \(3, 1\) does not broadcast"):
        _call(name, first, second, where=jnp.ones((3, 1), bool))


# ------------------------------------------------------------- values: NaN, never finite


def _assert_nan_only_at(loss, bad_example):
    loss = np.asarray(loss)
    assert np.isnan(loss[bad_example]).all(), loss
    others = np.delete(loss.reshape(loss.shape[0], -1), bad_example[0], axis=0)
    assert np.isfinite(others).all(), loss


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("argument", [0, 1])
def test_nan_inputs_give_nan_for_that_example(name, argument):
    family, first, second = KERNELS[name]
    arguments = [first, second]
    if not jnp.issubdtype(arguments[argument].dtype, jnp.floating):
        pytest.skip("integer labels cannot hold NaN")
    arguments[argument] = arguments[argument].at[1, 1].set(jnp.nan)
    loss = _call(name, *arguments)
    if family == "batch":
        assert np.isnan(loss)
    elif loss.ndim == 2:
        _assert_nan_only_at(loss, (1, 1))
    else:
        _assert_nan_only_at(loss, (1,))


# Keras's MSLE clips negative predictions to 0 (and so -inf): excluded.
@pytest.mark.parametrize(
    "name", [n for n in _family("elementwise", "binary_probs") if n != "squared_logarithmic_error"]
)
def test_infinite_predictions_never_give_a_finite_loss(name):
    _, first, second = KERNELS[name]
    for value in (jnp.inf, -jnp.inf):
        loss = _call(name, first.at[1, 1].set(value), second)
        confident = ("hinge_loss", "squared_hinge_loss", "perceptron_loss", "soft_margin_loss")
        if name in confident and value == jnp.inf:
            continue  # margin loss of an infinitely confident right answer: its exact limit 0
        assert not np.isfinite(loss[1, 1]), (value, loss)


def test_minus_infinity_logits_on_other_classes():
    """A -inf logit on a class that is not the label has probability 0: the exact limit, the
    same as masking the class with `where` (tests/test_infinite_logits.py has the rest)."""
    logits = LOGITS.at[0, 2].set(-jnp.inf)
    for name, labels, sliced in (
        ("sparse_softmax_cross_entropy", LABELS, LABELS),
        ("sparse_softmax_focal_loss", LABELS, LABELS),
        ("softmax_focal_loss", ONE_HOT, ONE_HOT[:, :2]),
        ("softmax_cross_entropy", ONE_HOT, ONE_HOT[:, :2]),
    ):
        expected = _call(name, LOGITS[:, :2], sliced)[0]
        np.testing.assert_allclose(_call(name, logits, labels)[0], expected, rtol=1e-6)
    mask = jnp.isfinite(logits)
    masked = _call("softmax_cross_entropy", jnp.where(mask, logits, 0.0), ONE_HOT, where=mask)
    expected = _call("softmax_cross_entropy", LOGITS[:, :2], ONE_HOT[:, :2])[0]
    np.testing.assert_allclose(masked[0], expected, rtol=1e-6)


@pytest.mark.parametrize("name", _family("binary_logits", "binary_probs"))
@pytest.mark.parametrize("label", [2.0, -1.0, 1.0001])
def test_binary_labels_outside_0_1_give_nan(name, label):
    _, first, second = KERNELS[name]
    _assert_nan_only_at(_call(name, first, second.at[1, 1].set(label)), (1, 1))


@pytest.mark.parametrize("name", _family("binary_logits"))
def test_swapped_binary_arguments_give_nan_not_a_loss(name):
    """Logits passed as the labels lie outside [0, 1]."""
    loss = _call(name, ONE_HOT, LOGITS)
    assert np.isnan(loss[0, 0]) and np.isnan(loss[0, 2])


@pytest.mark.parametrize("name", _family("binary_probs"))
@pytest.mark.parametrize("prob", [1.5, -0.5, 1.0000001, jnp.inf])
def test_probabilities_outside_0_1_give_nan(name, prob):
    """Logits passed where probabilities are expected (from_logits=False) are caught."""
    _, first, second = KERNELS[name]
    _assert_nan_only_at(_call(name, first.at[1, 1].set(prob), second), (1, 1))


@pytest.mark.parametrize("name", _family("dense_probs", "sparse_probs"))
@pytest.mark.parametrize("score", [-0.5, jnp.inf, -jnp.inf])
def test_negative_or_infinite_class_scores_give_nan_for_the_row(name, score):
    _, first, second = KERNELS[name]
    _assert_nan_only_at(_call(name, first.at[1, 2].set(score), second), (1,))


@pytest.mark.parametrize("name", _family("dense_probs"))
def test_unnormalised_scores_are_divided_by_their_row_sum_as_keras_does(name):
    _, first, second = KERNELS[name]
    np.testing.assert_allclose(
        _call(name, first * 3.0, second), _call(name, first, second), rtol=1e-5
    )


def test_generalized_cross_entropy_reads_probabilities_not_scores():
    """It does not normalise: a probability above 1 would give a negative loss, so NaN."""
    _assert_nan_only_at(_call("generalized_cross_entropy", PROBS.at[1, 0].set(1.5), LABELS), (1,))


@pytest.mark.parametrize("name", _family("dense_probs"))
def test_negative_soft_labels_give_nan_for_the_row(name):
    _, first, second = KERNELS[name]
    _assert_nan_only_at(_call(name, first, second.at[1, 2].set(-0.5)), (1,))


@pytest.mark.parametrize("name", _family("sparse_logits", "sparse_probs"))
@pytest.mark.parametrize("label", [3, -1, 1000])
def test_labels_out_of_range_give_nan_for_that_example(name, label):
    _, first, _ = KERNELS[name]
    _assert_nan_only_at(_call(name, first, LABELS.at[1].set(label)), (1,))


# ----------------------------------------------------------------------- empty batches


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_an_empty_batch_gives_an_empty_per_example_loss(name):
    family, first, second = KERNELS[name]
    loss = _call(name, first[:0], second[:0])
    if family == "batch":
        # One number for the whole batch; with no elements there is no overlap at all.
        assert loss.shape == () and float(loss) == 1.0
        return
    expected = (0, 3) if family in ("binary_logits", "binary_probs", "elementwise") else (0,)
    assert loss.shape == expected
    grad = jax.grad(lambda a: jnp.sum(getattr(jaxloss, name)(a, second[:0])))(first[:0])
    assert grad.shape == first[:0].shape


# ------------------------------------------------------------- the special signatures


def test_ctc_loss_rules():
    logits = jnp.zeros((2, 4, 3))
    labels = jnp.array([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="floating-point dtype"):
        jaxloss.ctc_loss(logits.astype(jnp.int32), labels)
    with pytest.raises(ValueError, match="integer"):
        jaxloss.ctc_loss(logits, labels.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("got shape (4, 3)")):
        jaxloss.ctc_loss(logits[0], labels)
    loss = jax.jit(jaxloss.ctc_loss)(logits.at[1, 0, 0].set(jnp.nan), labels)
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


def test_ctc_loss_with_forward_probs_rules():
    logits = jnp.zeros((2, 4, 3))
    labels = jnp.array([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="floating-point dtype"):
        jaxloss.ctc_loss_with_forward_probs(logits.astype(jnp.int32), labels)
    with pytest.raises(ValueError, match=re.escape("`label_paddings` must have shape (2, 2)")):
        jaxloss.ctc_loss_with_forward_probs(logits, labels, label_paddings=jnp.zeros((2, 3)))
    loss, _, _ = jax.jit(jaxloss.ctc_loss_with_forward_probs)(logits, labels.at[1, 0].set(7))
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


def test_sparsemax_and_fenchel_young_rules():
    with pytest.raises(ValueError, match="`scores` must have a floating-point dtype"):
        jaxloss.sparsemax(LABELS)
    with pytest.raises(ValueError, match=re.escape("at least one (class) axis, got shape ()")):
        jaxloss.sparsemax(jnp.float32(1.0))
    probs = jax.jit(jaxloss.sparsemax)(LOGITS.at[1, 1].set(jnp.nan))
    assert np.isnan(probs[1]).all() and np.isfinite(probs[0]).all()
    loss = jaxloss.make_fenchel_young_loss(jax.nn.logsumexp)
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(2,)")):
        loss(LOGITS, LABELS.astype(jnp.float32))
    with pytest.raises(ValueError, match="`scores` must have a floating-point dtype"):
        loss(LABELS, LABELS)


def test_circle_loss_rules():
    embeddings = jnp.eye(4, 3)
    labels = jnp.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="floating-point dtype"):
        jaxloss.circle_loss(embeddings.astype(jnp.int32), labels)
    with pytest.raises(ValueError, match="integer"):
        jaxloss.circle_loss(embeddings, labels.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("(3,)")):
        jaxloss.circle_loss(embeddings, labels[:3])
    loss = jax.jit(jaxloss.circle_loss)(embeddings.at[0, 0].set(jnp.nan), labels)
    assert np.isnan(loss[0])


def test_fused_linear_cross_entropy_rules():
    hidden = jnp.ones((2, 4))
    weight = jnp.ones((4, 5))
    labels = jnp.array([0, 4])
    with pytest.raises(ValueError, match="floating"):
        jaxloss.fused_linear_cross_entropy(hidden.astype(jnp.int32), weight, labels)
    with pytest.raises(ValueError, match="integer"):
        jaxloss.fused_linear_cross_entropy(hidden, weight, labels.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("(3, 5)")):
        jaxloss.fused_linear_cross_entropy(hidden, jnp.ones((3, 5)), labels)
    loss = jax.jit(lambda h, w, y: jaxloss.fused_linear_cross_entropy(h, w, y, reduction="none"))(
        hidden, weight, labels.at[1].set(5)
    )
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


@pytest.mark.parametrize(
    "name", ["contrastive_loss", "chunked_contrastive_loss", "sigmoid_contrastive_loss"]
)
def test_paired_embedding_rules(name):
    """Two floating [batch, features] arrays of one shape; NaN spoils the batch, not more."""
    queries, keys = LOGITS, LOGITS[::-1]
    with pytest.raises(ValueError, match=r"`queries` must have a floating-point dtype"):
        _call(name, queries.astype(jnp.int32), keys)
    with pytest.raises(ValueError, match=re.escape("`keys` must have shape [batch, features]")):
        _call(name, queries, LABELS.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("queries.shape=(2, 3) and keys.shape=(3, 3)")):
        _call(name, queries, jnp.ones((3, 3)))
    with pytest.raises(ValueError, match=re.escape("`queries` must have shape [batch, features]")):
        _call(name, queries[0], keys[0])
    with pytest.raises(ValueError, match=r"`where` of shape \(3,\) does not broadcast"):
        _call(name, queries, keys, where=jnp.ones(3, bool))
    loss = _call(name, queries.at[1, 1].set(jnp.nan), keys)
    assert np.isnan(loss[1])
    # A masked example's NaN reaches no other example.
    masked = _call(name, queries.at[1, 1].set(jnp.nan), keys, where=jnp.array([True, False]))
    assert np.isfinite(masked).all() and masked[1] == 0
    assert _call(name, queries[:0], keys[:0]).shape == (0,)


@pytest.mark.parametrize("name", ["supervised_contrastive_loss", "ntxent_loss"])
def test_labelled_embedding_rules(name):
    """Floating [batch, features] embeddings and integer [batch] labels."""
    with pytest.raises(ValueError, match=r"`embeddings` must have a floating-point dtype"):
        _call(name, LOGITS.astype(jnp.int32), LABELS)
    with pytest.raises(ValueError, match="`labels` must hold integer class indices"):
        _call(name, LOGITS, LABELS.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("got labels.shape=(2, 3)")):
        _call(name, LOGITS, ONE_HOT.astype(jnp.int32))
    with pytest.raises(ValueError, match=re.escape("`temperature` must lie in (0.0, inf]")):
        _call(name, LOGITS, LABELS, temperature=-1.0)
    assert np.isnan(_call(name, LOGITS.at[1, 1].set(jnp.nan), jnp.array([0, 0]))).all()
    assert _call(name, LOGITS[:0], LABELS[:0]).shape == (0,)


def _gaussian_nll(predictions, targets, variances, **kwargs):
    return _call("gaussian_nll_loss", predictions, targets, variances=variances, **kwargs)


def test_gaussian_nll_loss_rules():
    """The elementwise rules with a third argument, and the variances' own."""
    variances = POSITIVE[:, :1]
    with pytest.raises(ValueError, match=r"floating-point dtype, got int32 \(shape"):
        _gaussian_nll(LOGITS.astype(jnp.int32), ONE_HOT, variances)
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(2,)")):
        _gaussian_nll(LOGITS, LABELS.astype(jnp.float32), variances)
    with pytest.raises(ValueError, match=re.escape("variances.shape=(3,) for predictions.shape")):
        _gaussian_nll(LOGITS, ONE_HOT, POSITIVE[0])
    with pytest.raises(ValueError, match=r"`where` of shape \(3, 1\) does not broadcast"):
        _gaussian_nll(LOGITS, ONE_HOT, variances, where=jnp.ones((3, 1), bool))
    assert _gaussian_nll(LOGITS[:0], ONE_HOT[:0], variances[:0]).shape == (0, 3)


@pytest.mark.parametrize(
    ("argument", "value"),
    [(0, jnp.nan), (1, jnp.nan), (2, jnp.nan), (2, -1.0), (0, jnp.inf), (0, -jnp.inf)],
    ids=["nan_predictions", "nan_targets", "nan_variances", "negative_variance", "inf", "-inf"],
)
def test_gaussian_nll_loss_bad_values_spoil_only_their_element(argument, value):
    """Never a finite loss; a negative variance is NaN where PyTorch raises (jit cannot)."""
    arguments = [LOGITS, ONE_HOT, POSITIVE]
    arguments[argument] = arguments[argument].at[1, 1].set(value)
    loss = np.asarray(_gaussian_nll(*arguments))
    assert not np.isfinite(loss[1, 1])
    assert np.isfinite(np.delete(loss.ravel(), 1 * 3 + 1)).all()


SIGNS = 2.0 * ONE_HOT - 1.0


def test_margin_ranking_loss_rules():
    """The elementwise rules with two score arguments, each checked and NaN-propagating."""
    rank = jaxloss.margin_ranking_loss
    with pytest.raises(ValueError, match=r"`second` must have a floating-point dtype, got int32"):
        rank(LOGITS, LOGITS.astype(jnp.int32), SIGNS)
    with pytest.raises(ValueError, match=re.escape("first.shape=(2, 3) and second.shape=(2,)")):
        rank(LOGITS, LOGITS[:, 0], SIGNS)
    with pytest.raises(ValueError, match=re.escape("first.shape=(2, 3) and targets.shape=(2,)")):
        rank(LOGITS, PROBS, LABELS.astype(jnp.float32))
    with pytest.raises(ValueError, match=r"`where` of shape \(3, 1\) does not broadcast"):
        rank(LOGITS, PROBS, SIGNS, where=jnp.ones((3, 1), bool))
    run = jax.jit(lambda *a: [rank(*a[:3]), rank(*a[3:])])
    for argument in range(3):
        arguments = [LOGITS, PROBS, SIGNS]
        arguments[argument] = arguments[argument].at[1, 1].set(jnp.nan)
        loss, empty = run(*arguments, LOGITS[:0], PROBS[:0], SIGNS[:0])
        assert np.isnan(loss[1, 1]) and np.isfinite(np.delete(np.asarray(loss).ravel(), 4)).all()
        assert empty.shape == (0, 3)


def test_multilabel_margin_loss_rules():
    """Integer class-index targets of the scores' shape, padded with -1."""
    targets = jnp.array([[0, -1, 0], [2, 1, -1]])
    loss_fn = jaxloss.multilabel_margin_loss
    with pytest.raises(ValueError, match=r"`scores` must have a floating-point dtype, got int32"):
        loss_fn(LOGITS.astype(jnp.int32), targets)
    with pytest.raises(ValueError, match=r"`targets` must hold integer class indices, got dtype"):
        loss_fn(LOGITS, ONE_HOT)
    with pytest.raises(ValueError, match=re.escape("scores.shape=(2, 3) and targets.shape=(2,)")):
        loss_fn(LOGITS, LABELS)
    run = jax.jit(lambda s, t, e: [loss_fn(s, t), loss_fn(e, t[:0])])
    spoiled = ((LOGITS.at[1, 1].set(jnp.nan), targets), (LOGITS, targets.at[1, 2].set(3)))
    for scores, bad_targets in spoiled:
        loss, empty = run(scores, bad_targets, LOGITS[:0])
        assert np.isfinite(loss[0]) and np.isnan(loss[1]) and empty.shape == (0,)


# Per-pair log-probabilities: policy chosen, policy rejected, reference chosen, reference rejected.
LOG_PROBS = tuple(
    -jnp.array(pair) for pair in ([1.0, 2.0], [3.0, 1.5], [2.0, 2.0], [2.5, 1.0])
)


def _preference(name, *log_probs, **kwargs):
    loss = getattr(jaxloss, name)
    result = jax.jit(lambda *a: loss(*a, **kwargs))(*log_probs)
    return jnp.stack(result, -1) if name == "dpo_rewards" else result


@pytest.mark.parametrize("name", ["dpo_loss", "dpo_rewards", "ipo_loss", "simpo_loss"])
def test_preference_loss_rules(name):
    """One value per pair; log-probabilities of one shape, floating; NaN spoils only its pair;
    an empty batch gives an empty loss."""
    arity = 2 if name == "simpo_loss" else 4
    log_probs = list(LOG_PROBS[:arity])
    with pytest.raises(ValueError, match=r"floating-point dtype, got int32 \(shape"):
        _preference(name, log_probs[0].astype(jnp.int32), *log_probs[1:])
    with pytest.raises(ValueError, match=re.escape("policy_rejected_logps.shape=(1,)")):
        _preference(name, log_probs[0], log_probs[1][:1], *log_probs[2:])
    with pytest.raises(ValueError, match="`beta` must lie in"):
        _preference(name, *log_probs, beta=0.0)
    spoiled = _preference(name, log_probs[0].at[1].set(jnp.nan), *log_probs[1:])
    if name == "dpo_rewards":
        np.testing.assert_array_equal(spoiled[:, 1], _preference(name, *log_probs)[:, 1])
        spoiled = spoiled[:, 0]  # the chosen rewards hold the NaN policy log-probability
    _assert_nan_only_at(spoiled, (1,))
    assert _preference(name, *(a[:0] for a in log_probs)).shape[0] == 0


def test_sequence_log_probs_rules():
    logits = jnp.stack([LOGITS, LOGITS[::-1]])  # [2 sequences, 2 tokens, 3 classes]
    labels = jnp.stack([LABELS, LABELS[::-1]])
    with pytest.raises(ValueError, match="floating-point dtype"):
        jaxloss.sequence_log_probs(logits.astype(jnp.int32), labels)
    with pytest.raises(ValueError, match="integer"):
        jaxloss.sequence_log_probs(logits, labels.astype(jnp.float32))
    with pytest.raises(ValueError, match=re.escape("labels.shape=(2,)")):
        jaxloss.sequence_log_probs(logits, labels[0])
    with pytest.raises(ValueError, match=re.escape("`where` of shape (2, 3)")):
        jaxloss.sequence_log_probs(logits, labels, where=jnp.ones((2, 3), bool))
    compiled = jax.jit(jaxloss.sequence_log_probs)
    _assert_nan_only_at(compiled(logits.at[1, 0, 0].set(jnp.nan), labels), (1,))
    _assert_nan_only_at(compiled(logits, labels.at[1, 1].set(3)), (1,))
    assert compiled(logits[:0], labels[:0]).shape == (0,)


BOX_LOSSES = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")


@pytest.mark.parametrize("name", BOX_LOSSES)
def test_box_iou_loss_rules(name):
    """Boxes [..., 4]: trace-time errors naming the argument; an unordered or NaN box gives
    NaN for its pair only (torchvision returns a finite number for x2 < x1)."""
    boxes = jnp.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]])
    with pytest.raises(ValueError, match=r"`boxes1` must have a floating-point dtype"):
        _call(name, boxes.astype(jnp.int32), boxes)
    with pytest.raises(ValueError, match=re.escape("boxes1.shape=(2, 4) and boxes2.shape=(2,)")):
        _call(name, boxes, boxes[:, 0])
    with pytest.raises(ValueError, match=re.escape("last axis of 4 corners")):
        _call(name, boxes.T, boxes.T)
    with pytest.raises(ValueError, match=r"`where` of shape \(3,\) does not broadcast"):
        _call(name, boxes, boxes, where=jnp.ones((3,), bool))
    for bad in (boxes.at[1, 2].set(0.0), boxes.at[1, 3].set(jnp.nan), boxes.at[1, 0].set(jnp.inf)):
        for first, second in ((bad, boxes[::-1]), (boxes[::-1], bad)):
            loss = np.asarray(_call(name, first, second))
            assert np.isfinite(loss[0]) and np.isnan(loss[1]), (bad, loss)
    assert _call(name, boxes[:0], boxes[:0]).shape == (0,)


def test_cosine_embedding_loss_rules():
    """The pair's rules, the targets' shape, and NaN for a NaN input or a target not +-1."""
    targets = jnp.array([1.0, -1.0])
    with pytest.raises(ValueError, match=r"`first` must have a floating-point dtype, got int32"):
        _call("cosine_embedding_loss", LOGITS.astype(jnp.int32), ONE_HOT, targets=targets)
    with pytest.raises(ValueError, match=re.escape("second.shape=(3, 3)")):
        _call("cosine_embedding_loss", LOGITS, jnp.ones((3, 3)), targets=targets)
    with pytest.raises(ValueError, match=re.escape("(2,), got targets.shape=(3,)")):
        _call("cosine_embedding_loss", LOGITS, ONE_HOT, targets=jnp.ones(3))
    with pytest.raises(ValueError, match=r"`where` of shape \(3, 1\) does not broadcast"):
        _call(
            "cosine_embedding_loss", LOGITS, ONE_HOT, targets=targets, where=jnp.ones((3, 1), bool)
        )
    for first, second, bad in (
        (LOGITS.at[1, 1].set(jnp.nan), ONE_HOT, targets),
        (LOGITS, ONE_HOT.at[1, 1].set(jnp.inf), targets),
        (LOGITS, ONE_HOT, targets.at[1].set(0.0)),
    ):
        loss = _call("cosine_embedding_loss", first, second, targets=bad)
        assert np.isfinite(loss[0]) and np.isnan(loss[1])
    empty = _call("cosine_embedding_loss", LOGITS[:0], ONE_HOT[:0], targets=targets[:0])
    assert empty.shape == (0,)


def test_triplet_margin_loss_rules():
    """The triplet's rules, and NaN for a NaN or infinite entry of any of its vectors."""
    with pytest.raises(ValueError, match=r"`negatives` must have a floating-point dtype"):
        jaxloss.triplet_margin_loss(LOGITS, ONE_HOT, LABELS)
    with pytest.raises(ValueError, match=re.escape("negatives.shape=(3, 3)")):
        jaxloss.triplet_margin_loss(LOGITS, ONE_HOT, jnp.ones((3, 3)))
    with pytest.raises(ValueError, match=r"`where` of shape \(3, 1\) does not broadcast"):
        jaxloss.triplet_margin_loss(LOGITS, ONE_HOT, PROBS, where=jnp.ones((3, 1), bool))
    triplet = jax.jit(jaxloss.triplet_margin_loss)
    for argument, value in itertools.product(range(3), (jnp.nan, jnp.inf)):
        arguments = [LOGITS, ONE_HOT, PROBS]
        arguments[argument] = arguments[argument].at[1, 1].set(value)
        loss = triplet(*arguments)
        assert np.isfinite(loss[0]) and np.isnan(loss[1]), (argument, value, loss)
    assert triplet(LOGITS[:0], ONE_HOT[:0], PROBS[:0]).shape == (0,)


def test_triplet_margin_with_distance_loss_rules():
    """The triplet's shapes and dtypes, a callable distance, and NaN from a NaN input."""
    with pytest.raises(ValueError, match=r"`negatives` must have a floating-point dtype"):
        jaxloss.triplet_margin_with_distance_loss(LOGITS, ONE_HOT, LABELS)
    with pytest.raises(ValueError, match=re.escape("positives.shape=(3, 3)")):
        jaxloss.triplet_margin_with_distance_loss(LOGITS, jnp.ones((3, 3)), PROBS)
    with pytest.raises(ValueError, match="`distance_function` must be callable"):
        jaxloss.triplet_margin_with_distance_loss(LOGITS, ONE_HOT, PROBS, distance_function=1)
    triplet = jax.jit(jaxloss.triplet_margin_with_distance_loss)
    for argument in range(3):
        arguments = [LOGITS, ONE_HOT, PROBS]
        arguments[argument] = arguments[argument].at[1, 1].set(jnp.nan)
        loss = triplet(*arguments)
        assert np.isfinite(loss[0]) and np.isnan(loss[1]), (argument, loss)


# --------------------------------------------------------------- the Keras-style layer

KERAS_CASES = (
    losses_cases.REGRESSION_CASES
    + losses_cases.CROSSENTROPY_CASES
    + losses_cases.FOCAL_CASES
    + losses_cases.EXTENSION_CASES
)
# One case per class: the first listed.
FIRST_CASES = list({case.name: case for case in reversed(KERAS_CASES)}.values())


def _keras_inputs(case):
    rng = np.random.default_rng(0)
    shape = case.layouts[0][0]
    y_true, y_pred = case.make(rng, *shape)
    return jnp.asarray(y_true), jnp.asarray(y_pred)


def test_every_keras_loss_class_has_a_case():
    classes = {
        name
        for name, value in vars(losses).items()
        if inspect.isclass(value)
        and issubclass(value, losses.Loss)
        and value not in (losses.Loss, losses.LossFunctionWrapper)
    }
    assert classes == {case.name for case in FIRST_CASES}


# Dice and Tversky (axis=None) reduce the whole batch to one number: as in Keras, a
# sample_weight then only scales it and has no length to check.
@pytest.mark.parametrize(
    "case", [c for c in FIRST_CASES if c.name not in ("Dice", "Tversky")], ids=lambda c: c.name
)
def test_keras_sample_weight_of_the_wrong_length_raises(case):
    y_true, y_pred = _keras_inputs(case)
    loss = getattr(losses, case.name)(**case.kwargs)
    weight = jnp.ones((y_pred.shape[0] + 1,))
    with pytest.raises(ValueError, match=r"`sample_weight` of shape \(\d+,\) cannot be matched"):
        jax.jit(loss)(y_true, y_pred, weight)


@pytest.mark.parametrize("case", FIRST_CASES, ids=lambda case: case.name)
def test_keras_nan_predictions_give_a_nan_loss(case):
    y_true, y_pred = _keras_inputs(case)
    loss = getattr(losses, case.name)(**case.kwargs)
    assert np.isnan(jax.jit(loss)(y_true, y_pred.at[0].set(jnp.nan)))


NOT_FUNCTION_FORMS = {
    "get", "serialize", "deserialize", "register", "reduce_weighted_values",
    "squeeze_or_expand_to_same_rank",
}  # fmt: skip


def test_every_keras_function_form_is_the_function_of_a_tested_class():
    forms = {
        value
        for name, value in vars(losses).items()
        if inspect.isfunction(value) and value.__name__ not in NOT_FUNCTION_FORMS
    }
    tested = {getattr(losses, case.name)(**case.kwargs).fn for case in FIRST_CASES}
    assert forms == tested


@pytest.mark.parametrize("case", FIRST_CASES, ids=lambda case: case.name)
def test_keras_function_forms_give_nan_for_nan_predictions(case):
    y_true, y_pred = _keras_inputs(case)
    function = getattr(losses, case.name)(**case.kwargs).fn
    values = jax.jit(function)(y_true, y_pred.at[0].set(jnp.nan))
    assert np.isnan(values).any()


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred"),
    [
        (losses.BinaryCrossentropy(), ONE_HOT, LOGITS),
        (losses.BinaryFocalCrossentropy(), ONE_HOT, LOGITS),
        (losses.WeightedBinaryCrossentropy(pos_weight=2.0), ONE_HOT, LOGITS),
        (losses.CategoricalCrossentropy(), ONE_HOT, LOGITS),
        (losses.CategoricalFocalCrossentropy(), ONE_HOT, LOGITS),
        (losses.SparseCategoricalCrossentropy(), LABELS, LOGITS),
        (losses.CategoricalGeneralizedCrossEntropy(), LABELS, LOGITS),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, losses.Loss) else "",
)
def test_keras_logits_passed_as_probabilities_give_nan(loss, y_true, y_pred):
    """from_logits=False with logits (negative values) is never a finite loss."""
    assert np.isnan(jax.jit(loss)(y_true, y_pred))


@pytest.mark.parametrize(
    "loss",
    [
        losses.SparseCategoricalCrossentropy(),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        losses.SparseCategoricalFocalCrossentropy(from_logits=True),
        losses.CategoricalGeneralizedCrossEntropy(),
    ],
    ids=lambda loss: f"{type(loss).__name__}({loss.get_config().get('from_logits', '')})",
)
def test_keras_float_labels_that_are_not_whole_numbers_give_nan(loss):
    """Keras truncates 1.7 to class 1; a fractional class index is a bug: NaN."""
    y_pred = PROBS if not loss.get_config().get("from_logits") else LOGITS
    per_example = type(loss)(**{**loss.get_config(), "reduction": "none"})
    values = jax.jit(per_example)(jnp.array([0.0, 1.7]), y_pred)
    assert np.isfinite(values[0]) and np.isnan(values[1])


@pytest.mark.parametrize(
    ("loss", "y_true"),
    [
        (losses.CategoricalCrossentropy(class_weights=[1.0, 2.0]), ONE_HOT),
        (losses.CategoricalCrossentropy(from_logits=True, class_weights=[1.0, 2.0]), ONE_HOT),
        (losses.SparseCategoricalCrossentropy(class_weights=[1.0, 2.0]), LABELS),
        (
            losses.SparseCategoricalCrossentropy(from_logits=True, class_weights=[1, 2, 3, 4]),
            LABELS,
        ),
    ],
)
def test_keras_class_weights_of_the_wrong_length_raise(loss, y_true):
    with pytest.raises(ValueError, match=r"`class_weights` must have shape \(3,\)"):
        loss(y_true, PROBS)


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "match"),
    [
        (losses.SparseCategoricalCrossentropy(), PROBS, LABELS, r"Sparse `y_true` must have shape"),
        (
            losses.CategoricalCrossentropy(),
            LABELS,
            PROBS,
            r"y_true.shape=\(2,\) and y_pred.shape=\(2, 3\)",
        ),
        (losses.MeanSquaredError(), ONE_HOT, PROBS[:, :2], r"same shape"),
        (losses.BinaryCrossentropy(), ONE_HOT[None], PROBS, r"same shape"),
    ],
    ids=["sparse_swapped", "labels_for_one_hot", "mse_shapes", "wrong_rank"],
)
def test_keras_swapped_or_misshapen_arguments_raise(loss, y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        jax.jit(loss)(y_true, y_pred)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_keras_empty_batch_gives_the_empty_array_as_keras_3_does(reduction):
    """Keras 3 returns the per-example array itself, shape (0,), for every reduction (not 0):
    matched, and compared with Keras in test_losses_base.py (values_shape (0,))."""
    empty = jnp.zeros((0, 3))
    loss = jax.jit(losses.CategoricalCrossentropy(reduction=reduction))(empty, empty)
    assert loss.shape == (0,)


# ------------------------------------------------------------ training: compile and fit


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 20)).astype(np.float32)
    y = (rng.random((8, 1)) > 0.5).astype(np.float32)
    return x, y


def _trainer(loss="binary_crossentropy", metrics=None):
    from flax import nnx

    from jaxloss import train, zoo

    return train.compile(
        zoo.BinaryMLP(rngs=nnx.Rngs(0)), optimizer="sgd", loss=loss, metrics=metrics
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "binary_crossentropyy"}, r"Unknown loss identifier 'binary_crossentropyy'"),
        ({"metrics": ["acuracy"]}, r"Unknown metric 'acuracy'"),
        ({"loss": None}, r"`loss` is required"),
    ],
)
def test_compile_rejects_unknown_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _trainer(**{"loss": "binary_crossentropy", **kwargs})


@pytest.mark.parametrize(
    ("method", "arguments", "match"),
    [
        (
            "fit",
            lambda x, y: ((x, y[:5]), {}),
            r"`x` and `y` must have the same number of samples, got 8 and 5",
        ),
        (
            "fit",
            lambda x, y: ((x, y), {"sample_weight": np.ones(3)}),
            r"`sample_weight` must have shape \(8,\)",
        ),
        (
            "fit",
            lambda x, y: ((x, x), {}),
            r"labels of shape \(8, 20\) and model output of shape \(8, 1\)",
        ),
        ("fit", lambda x, y: ((x[:, :5], y), {}), r"cannot be applied to `x` with shapes \(8, 5\)"),
        ("fit", lambda x, y: ((x[:0], y[:0]), {}), r"`x` has 0 samples"),
        ("evaluate", lambda x, y: ((x, y[:3]), {}), r"same number of samples, got 8 and 3"),
        (
            "predict",
            lambda x, y: ((x[:, :3],), {}),
            r"cannot be applied to `x` with shapes \(8, 3\)",
        ),
        ("predict", lambda x, y: ((x[:0],), {}), r"`x` has 0 samples"),
    ],
    ids=[
        "x_y_length",
        "sample_weight_length",
        "y_swapped_with_x",
        "x_features",
        "empty_fit",
        "evaluate_length",
        "predict_features",
        "empty_predict",
    ],
)
def test_fit_evaluate_predict_reject_bad_arrays_before_any_step(data, method, arguments, match):
    x, y = data
    trainer = _trainer()
    args, kwargs = arguments(x, y)
    if method == "fit":
        kwargs = {"epochs": 1, "verbose": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        getattr(trainer, method)(*args, **kwargs)


def test_fit_with_labels_outside_0_1_reports_a_nan_loss(data):
    """Binary cross-entropy labels of 0/2 (a label-encoding bug) cannot train silently."""
    x, y = data
    history = _trainer().fit(x, y * 2, epochs=1, verbose=0, shuffle=False)
    assert np.isnan(history.history["loss"][0])
