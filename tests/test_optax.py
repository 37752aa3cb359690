"""jaxloss.optax against the installed optax.losses, live: names, signatures, values and
gradients to 1e-5 relative / 1e-6 absolute in float32, and the deliberate differences."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp

import jaxloss.optax as jo

RNG = np.random.default_rng(0)


def _normal(*shape, scale=1.0):
    return jnp.asarray(RNG.normal(size=shape) * scale, jnp.float32)


def _distribution(*shape, axis=-1):
    return jax.nn.softmax(_normal(*shape, scale=1.5), axis=axis)


LOGITS = _normal(4, 5, scale=3.0)
LOGITS_3D = _normal(2, 3, 4, scale=2.0)
DISTRIBUTIONS = _distribution(4, 5)
HARD = jax.nn.one_hot(jnp.array([0, 3, 1, 4]), 5)
INTEGER = jnp.array([0, 3, 1, 4])
CLASS_MASK = jnp.asarray(RNG.uniform(size=(4, 5)) > 0.3).at[:, 0].set(True)
ROW_MASK = jnp.array([True, False, True, True])
MASKED_DISTRIBUTIONS = jnp.where(CLASS_MASK, DISTRIBUTIONS, 0.0)
SAFE_LOGITS, SAFE_LABELS = LOGITS.at[:, 2].set(-jnp.inf), HARD.at[:, 2].set(0.0)
LOG_P = jnp.log(DISTRIBUTIONS)
PREDICTIONS, TARGETS = _normal(4, 3, scale=2.0), _normal(4, 3, scale=2.0)
BINARY = jnp.asarray(RNG.uniform(size=(4, 5)) > 0.5, jnp.float32)
CTC_LOGITS = _normal(3, 6, 4, scale=1.5)
CTC_LABELS = jnp.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]])
CTC_LABEL_PADDINGS = jnp.array([[0, 0, 0], [0, 0, 1], [0, 1, 1]], jnp.float32)
CTC_LOGIT_PADDINGS = jnp.array([[0] * 6, [0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]], jnp.float32)
SIGNS = jnp.where(RNG.uniform(size=(4, 3)) > 0.5, 1.0, -1.0).astype(jnp.float32)
VECTORS_3D = _normal(2, 3, 4)
VECTOR_MASK = jnp.asarray(RNG.uniform(size=(4, 3)) > 0.3).at[:, 0].set(True)
TRIPLET = (_normal(4, 3), _normal(4, 3, scale=0.5), _normal(4, 3, scale=2.0))
EMBEDDINGS, EMBEDDING_LABELS = _normal(6, 4), jnp.array([0, 0, 1, 1, 2, 0])
RELEVANCE = jnp.asarray(RNG.integers(0, 3, size=(4, 5)), jnp.float32).at[:, 0].set(2.0)
ITEM_MASK = CLASS_MASK.at[2].set(False)
ITEM_WEIGHTS = jnp.asarray(RNG.uniform(0.5, 2.0, size=(4, 5)), jnp.float32)
SEGMENTATION_LOGITS = _normal(2, 4, 4, 3, scale=2.0)
SEGMENTATION_TARGETS = jax.nn.one_hot(jnp.asarray(RNG.integers(0, 3, size=(2, 4, 4))), 3)
BINARY_MAP = jnp.asarray(RNG.uniform(size=(2, 4, 4)) > 0.5, jnp.float32)

# name -> [(positional arguments, keyword arguments, argnums of the differentiated
# arguments or None for values only), ...]
CASES = {
    "squared_error": [((PREDICTIONS, TARGETS), {}, (0, 1)), ((PREDICTIONS, None), {}, (0,)),
                      ],
    "l2_loss": [((PREDICTIONS, TARGETS), {}, (0, 1)), ((PREDICTIONS,), {}, (0,))],
    "huber_loss": [((PREDICTIONS, TARGETS[:1]), {}, (0,)),
                   ((PREDICTIONS, TARGETS), {"delta": 0.5}, (0,))],
    "log_cosh": [((PREDICTIONS, TARGETS), {}, (0, 1)), ((PREDICTIONS,), {}, (0,))],
    "sigmoid_binary_cross_entropy": [((LOGITS, BINARY), {}, (0,)),
                                     ((LOGITS, DISTRIBUTIONS), {}, (0, 1))],
    "sigmoid_focal_loss": [((LOGITS, BINARY), {}, (0,)),
                           ((LOGITS, DISTRIBUTIONS), {"gamma": 0.0, "alpha": 0.5}, (0,))],
    "softmax_cross_entropy": [((LOGITS, DISTRIBUTIONS), {}, (0, 1)),
                              ((LOGITS_3D, _distribution(2, 3, 4)), {"axis": (1, 2)}, (0,)),
                              ((LOGITS_3D, _distribution(2, 3, 4)), {"axis": None}, (0,)),
                              ((LOGITS, MASKED_DISTRIBUTIONS), {"where": CLASS_MASK}, (0,)),
                              ((LOGITS, DISTRIBUTIONS), {"where": ROW_MASK}, (0,))],
    "safe_softmax_cross_entropy": [((LOGITS, DISTRIBUTIONS), {}, (0,)),
                                   ((SAFE_LOGITS, SAFE_LABELS), {}, (0,))],
    "softmax_cross_entropy_with_integer_labels": [
        ((LOGITS, INTEGER), {}, (0,)),
        ((LOGITS_3D, jnp.array([3, 11])), {"axis": (1, 2)}, (0,)),
        ((LOGITS, INTEGER), {"where": CLASS_MASK.at[jnp.arange(4), INTEGER].set(True)}, (0,)),
        ((LOGITS, INTEGER), {"where": ROW_MASK}, (0,))],
    "poly_loss_cross_entropy": [((LOGITS, DISTRIBUTIONS), {}, (0, 1)),
                                ((LOGITS, HARD), {"epsilon": -1.0}, (0,)),
                                ((LOGITS_3D, _distribution(2, 3, 4)), {"axis": (1, 2)}, (0,)),
                                ((LOGITS, MASKED_DISTRIBUTIONS), {"where": CLASS_MASK}, (0,))],
    "smooth_labels": [((HARD, 0.1), {}, (0,)), ((HARD, 0.3), {"axis": 0}, (0,)),
                      ((HARD, 0.2), {"where": CLASS_MASK}, (0,)),
                      ((_distribution(2, 3, 4), 0.2), {"axis": (0, 2)}, (0,))],
    "kl_divergence": [((LOG_P, DISTRIBUTIONS[::-1]), {}, (0, 1)),
                      ((LOG_P, HARD), {}, (0,)),
                      ((LOG_P, DISTRIBUTIONS[::-1]), {"axis": None}, (0,)),
                      ((jax.nn.log_softmax(LOGITS_3D, (0, 2)), _distribution(2, 3, 4)),
                       {"axis": (0, 2)}, (0,)),
                      ((LOG_P, DISTRIBUTIONS[::-1]), {"where": CLASS_MASK}, (0, 1))],
    "kl_divergence_with_log_targets": [
        ((LOG_P, jnp.log(DISTRIBUTIONS[::-1])), {}, (0, 1)),
        ((LOG_P, jnp.log(DISTRIBUTIONS[::-1])), {"axis": 0, "where": CLASS_MASK},
         (0, 1))],
    "generalized_kl_divergence": [((LOGITS, jnp.exp(LOGITS[::-1])), {}, (0, 1)),
                                  ((LOGITS, HARD), {"axis": None}, (0,)),
                                  ((LOGITS, jnp.exp(LOGITS[::-1])), {"where": CLASS_MASK}, (0,))],
    "convex_kl_divergence": [((LOGITS, jnp.exp(LOGITS[::-1])), {}, (0, 1))],
    "ctc_loss": [((CTC_LOGITS, CTC_LOGIT_PADDINGS, CTC_LABELS % 3, CTC_LABEL_PADDINGS),
                  {"blank_id": 3}, (0,))],
    # The gradient is ctc_loss's (the same recursion): values only.
    "ctc_loss_with_forward_probs": [
        ((CTC_LOGITS, CTC_LOGIT_PADDINGS, CTC_LABELS, CTC_LABEL_PADDINGS), {}, None)],
    "sparsemax_loss": [((LOGITS, BINARY), {}, (0,)), ((LOGITS / 4, BINARY > 0), {}, (0,))],
    "multiclass_sparsemax_loss": [((LOGITS, INTEGER), {}, (0,)), ((LOGITS / 5, INTEGER), {}, (0,))],
    "hinge_loss": [((PREDICTIONS, SIGNS), {}, (0, 1)), ((PREDICTIONS, SIGNS[0]), {}, (0,))],
    "perceptron_loss": [((PREDICTIONS, SIGNS), {}, (0, 1))],
    "multiclass_hinge_loss": [((LOGITS, INTEGER), {}, (0,)), ((LOGITS / 4, INTEGER), {}, (0,))],
    "multiclass_perceptron_loss": [((LOGITS, INTEGER), {}, (0,))],
    "cosine_similarity": [((PREDICTIONS, TARGETS), {}, (0, 1)),
                          ((PREDICTIONS / 4, TARGETS), {"epsilon": 0.5, "axis": 0}, (0, 1)),
                          ((VECTORS_3D, VECTORS_3D[::-1]), {"axis": (0, 2)}, (0,)),
                          ((PREDICTIONS, TARGETS), {"where": VECTOR_MASK}, (0, 1))],
    "cosine_distance": [((PREDICTIONS, TARGETS), {}, (0, 1)),
                        ((VECTORS_3D, VECTORS_3D[::-1]), {"axis": None, "epsilon": 0.1}, (0,))],
    "triplet_margin_loss": [(TRIPLET, {}, (0, 1, 2)),
                            (TRIPLET, {"norm_degree": 4, "margin": 3.0, "eps": 1e-3}, (0, 1, 2)),
                            (TRIPLET, {"axis": 0, "margin": 2.0}, (0,))],
    "ntxent": [((EMBEDDINGS, EMBEDDING_LABELS), {}, (0,)),
               ((EMBEDDINGS, EMBEDDING_LABELS), {"temperature": 0.5}, (0,))],
    "ranking_softmax_loss": [((LOGITS, RELEVANCE), {}, (0, 1)),
                             ((LOGITS, RELEVANCE), {"where": ITEM_MASK}, (0,)),
                             ((LOGITS, RELEVANCE), {"weights": ITEM_WEIGHTS}, (0,)),
                             ((LOGITS, RELEVANCE), {"reduce_fn": jnp.sum, "where": ITEM_MASK},
                              (0,)),
                             ((LOGITS, RELEVANCE), {"reduce_fn": None, "where": ITEM_MASK}, (0,))],
    "dice_loss": [
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS), {}, (0, 1)),
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS),
         {"alpha": 0.3, "beta": 0.7, "smooth": 0.5, "reduction": "sum"}, (0,)),
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS),
         {"class_weights": jnp.array([0.5, 1.0, 2.0]), "ignore_background": True,
          "reduction": "none"}, (0,)),
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS), {"axis": (1,)}, (0,)),
        ((SEGMENTATION_LOGITS[..., :1], BINARY_MAP), {}, (0,))],
    "binary_dice_loss": [((SEGMENTATION_LOGITS[..., 0], BINARY_MAP), {}, (0, 1)),
                         ((SEGMENTATION_LOGITS[..., :1], BINARY_MAP[..., None]), {"smooth": 0.1},
                          (0,))],
    "multiclass_generalized_dice_loss": [
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS), {}, (0,)),
        ((SEGMENTATION_LOGITS, SEGMENTATION_TARGETS), {"ignore_background": True, "smooth": 0.5},
         (0,))],
}


def _optax_names():
    return {
        name for name, value in vars(optax.losses).items()
        if not name.startswith("_") and callable(value) and not inspect.ismodule(value)
    }


IMPLEMENTED = sorted(_optax_names())


def test_every_optax_loss_is_implemented():
    missing = _optax_names() - set(dir(jo))
    assert missing == set(), "add these optax.losses names to jaxloss.optax"


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_signature_is_optax_s(name):
    def parameters(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert parameters(getattr(jo, name)) == parameters(getattr(optax.losses, name))


def test_every_implemented_name_has_parity_cases():
    assert set(CASES) | {"make_fenchel_young_loss"} == set(IMPLEMENTED)


def _first_output(fn):
    def first(*args, **kwargs):
        out = fn(*args, **kwargs)
        return out[0] if isinstance(out, tuple) else out

    return first


def _values_and_grads(fn, cases, all_args):
    """Per case: the value and the gradient of a weighted sum of the (finite) losses."""
    results = []
    for (_, kwargs, argnums), args in zip(cases, all_args):

        def weighted_sum(*args, kwargs=kwargs):
            value = _first_output(fn)(*args, **kwargs)
            weights = jnp.linspace(0.5, 1.5, value.size).reshape(value.shape)
            return jnp.sum(jnp.where(jnp.isfinite(value), value, 0.0) * weights)

        grads = None if argnums is None else jax.grad(weighted_sum, argnums)(*args)
        results.append((fn(*args, **kwargs), grads))
    return results


def _both(ours, theirs, cases):
    """Every case of both libraries in one compilation (optax is not written for strict
    dtype and rank promotion: its calls run under the standard rules)."""

    def run(all_args):
        got = _values_and_grads(ours, cases, all_args)
        with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            want = _values_and_grads(theirs, cases, all_args)
        return got, want

    return jax.jit(run)([args for args, _, _ in cases])


def _assert_close(got, want):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_optax(name):
    got, want = _both(getattr(jo, name), getattr(optax.losses, name), CASES[name])
    for case, got_case, want_case in zip(CASES[name], got, want):
        try:
            jax.tree.map(_assert_close, got_case, want_case)
        except AssertionError as error:
            raise AssertionError(f"case kwargs={case[1]}") from error


def test_fenchel_young_loss_of_logsumexp_matches_optax():
    ours, theirs = (module.make_fenchel_young_loss(logsumexp) for module in (jo, optax.losses))
    cases = [((LOGITS, DISTRIBUTIONS), {}, (0, 1)), ((LOGITS_3D, _distribution(2, 3, 4)), {}, (0,))]
    got, want = _both(ours, theirs, cases)
    jax.tree.map(_assert_close, got, want)
    assert got[1][0].shape == (2, 3)


# ------------------------------------------------------------- deliberate differences


def test_kl_divergence_of_a_zero_target_on_a_zero_prediction_is_zero():
    log_predictions = jnp.array([[0.0, -jnp.inf]])
    targets = jnp.array([[1.0, 0.0]])
    assert np.isnan(optax.losses.kl_divergence(log_predictions, targets)[0])
    assert jo.kl_divergence(log_predictions, targets)[0] == 0.0
    grad = jax.grad(lambda x: jo.kl_divergence(x, targets)[0])(log_predictions)
    np.testing.assert_array_equal(grad, [[-1.0, 0.0]])


def test_kl_divergence_with_a_log_target_of_minus_infinity_is_exact():
    log_predictions = jnp.log(jnp.array([[0.5, 0.5]]))
    log_targets = jnp.array([[0.0, -jnp.inf]])
    assert np.isnan(optax.losses.kl_divergence_with_log_targets(log_predictions, log_targets)[0])
    np.testing.assert_allclose(
        jo.kl_divergence_with_log_targets(log_predictions, log_targets), [np.log(2.0)], rtol=1e-6
    )


@pytest.mark.parametrize("name", ["generalized_kl_divergence", "convex_kl_divergence"])
def test_generalized_kl_divergence_keeps_its_precision_near_its_minimum(name):
    log_predictions, targets = jnp.array([1e-3]), jnp.array([1.0])
    want = np.expm1(1e-3) - 1e-3  # float64
    theirs = getattr(optax.losses, name)(log_predictions, targets)
    ours = getattr(jo, name)(log_predictions, targets)
    assert abs(float(theirs) - want) > 1e-2 * want
    np.testing.assert_allclose(ours, want, rtol=1e-5)


def test_ctc_loss_above_1e5_is_not_capped():
    # Every frame puts log-probability about -4e4 on the labels' classes and the blank.
    logits = jnp.zeros((1, 4, 3)).at[:, :, 0].set(4e4)
    labels = jnp.array([[1, 2, 1, 2]])
    paddings = (jnp.zeros((1, 4)), jnp.zeros((1, 4)))
    want = 4 * 4e4  # each frame emits its label against the blank's 4e4
    theirs, ours = jax.jit(lambda *args: (optax.losses.ctc_loss(*args), jo.ctc_loss(*args)))(
        logits, paddings[0], labels, paddings[1]
    )
    assert float(theirs[0]) < 1.1e5
    np.testing.assert_allclose(ours, [want], rtol=1e-5)


def test_poly_loss_with_a_lower_rank_where_selects_examples_in_both_terms():
    ours = jo.poly_loss_cross_entropy(LOGITS, DISTRIBUTIONS, where=ROW_MASK)
    full = jo.poly_loss_cross_entropy(LOGITS, DISTRIBUTIONS)
    np.testing.assert_allclose(ours, jnp.where(ROW_MASK, full, 0.0), rtol=1e-6)
    with pytest.raises(ValueError, match="Incompatible shapes"):
        optax.losses.poly_loss_cross_entropy(LOGITS, DISTRIBUTIONS, where=ROW_MASK)


@pytest.mark.parametrize("name", ["sigmoid_binary_cross_entropy", "sigmoid_focal_loss"])
def test_binary_labels_outside_0_1_give_nan(name):
    labels = BINARY.at[0, 0].set(2.0)
    assert np.isfinite(getattr(optax.losses, name)(LOGITS, labels)[0, 0])
    loss = getattr(jo, name)(LOGITS, labels)
    assert np.isnan(loss[0, 0]) and np.isfinite(loss[1:]).all()


def test_sparsemax_loss_of_a_soft_label_is_its_fenchel_young_loss():
    logits, labels = jnp.array([0.0, 0.0]), jnp.array([0.5, 1.0])
    np.testing.assert_allclose(optax.losses.sparsemax_loss(logits, labels), [0.25, 0.25])
    # The binary sparsemax of 0 is 1/2: the loss of label 1/2 is 0.
    np.testing.assert_allclose(jo.sparsemax_loss(logits, labels), [0.0, 0.25], atol=1e-7)


def test_integer_labels_on_masked_or_missing_classes_give_nan():
    mask = jnp.ones((4, 5), bool).at[1, 3].set(False)

    def both(labels, where):
        return [module.softmax_cross_entropy_with_integer_labels(LOGITS, labels, where=where)
                for module in (optax.losses, jo)]

    theirs, ours = jax.jit(both)(INTEGER, mask)
    assert np.isfinite(theirs[1])
    assert np.isnan(ours[1]) and np.isfinite(ours[jnp.array([0, 2, 3])]).all()
    _, out_of_range = jax.jit(both)(INTEGER.at[0].set(5), jnp.ones((4, 5), bool))
    assert np.isnan(out_of_range[0]) and np.isfinite(out_of_range[1:]).all()


def test_dice_losses_of_probabilities_match_optax_where_it_takes_them():
    # optax checks the probabilities eagerly (no jit): here the rows sum to 1.
    names = ("dice_loss", "multiclass_generalized_dice_loss")
    probabilities = jax.nn.softmax(SEGMENTATION_LOGITS)

    def values_and_grads(module, p):
        def loss(p, name):
            return getattr(module, name)(p, SEGMENTATION_TARGETS, apply_softmax=False)

        return [(loss(p, name), jax.grad(lambda p, n=name: jnp.sum(loss(p, n)))(p))
                for name in names]

    with jax.numpy_rank_promotion("allow"):
        want = values_and_grads(optax.losses, probabilities)
    got = jax.jit(lambda p: values_and_grads(jo, p))(probabilities)
    jax.tree.map(_assert_close, got, want)


def test_dice_of_probabilities_not_summing_to_1_is_the_formula_s():
    probabilities = jnp.array([[0.6, 0.3, 0.9]])  # one class: a binary probability map
    targets = jnp.array([[1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="sum to 1"):
        optax.losses.binary_dice_loss(probabilities, targets, apply_sigmoid=False)
    intersection, total = 1.5, 1.8 + 2.0
    want = 1 - (intersection + 1) / (0.5 * total + 1)
    np.testing.assert_allclose(
        jo.binary_dice_loss(probabilities, targets, apply_sigmoid=False), [want], rtol=1e-6
    )


@pytest.mark.parametrize("name", ["cosine_similarity", "cosine_distance"])
def test_cosine_of_a_zero_vector_is_zero(name):
    def both(predictions, targets):
        ours = getattr(jo, name)
        grad = jax.grad(lambda p: jnp.sum(ours(p, targets)))(predictions)
        return getattr(optax.losses, name)(predictions, targets), ours(predictions, targets), grad

    predictions = jnp.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    theirs, ours, grad = jax.jit(both)(predictions, PREDICTIONS[:2])
    assert np.isnan(theirs[0])
    np.testing.assert_allclose(ours[0], 0.0 if name == "cosine_similarity" else 1.0)
    assert np.isfinite(grad).all()


def test_triplet_margin_loss_of_an_odd_degree_is_a_norm_s():
    # L1 distances 2 and 4 with margin 1: the loss is 0; optax's sum(x - y) is 0 for both.
    def both(anchors, positives, negatives):
        def results(module):
            def loss(a):  # the positive is the anchor: a distance of 0
                return jnp.sum(module.triplet_margin_loss(a, anchors, negatives, eps=0.0))

            odd = module.triplet_margin_loss(anchors, positives, negatives, norm_degree=1, eps=0.0)
            return odd, jax.grad(loss)(anchors)

        return results(optax.losses), results(jo)

    (theirs, their_grad), (ours, our_grad) = jax.jit(both)(
        jnp.zeros((1, 2)), jnp.array([[1.0, -1.0]]), jnp.array([[2.0, -2.0]])
    )
    np.testing.assert_allclose(theirs, [1.0])
    np.testing.assert_allclose(ours, [0.0])
    assert np.isnan(their_grad).all()
    np.testing.assert_array_equal(our_grad, [[0.0, 0.0]])


def test_ntxent_without_positive_pairs_is_zero():
    def both(embeddings, labels):
        with jax.numpy_dtype_promotion("standard"):
            theirs = optax.losses.ntxent(embeddings, labels)
        return theirs, jo.ntxent(embeddings, labels), jax.grad(jo.ntxent)(embeddings, labels)

    theirs, ours, grad = jax.jit(both)(EMBEDDINGS[:3], jnp.array([0, 1, 2]))
    assert np.isnan(theirs) and ours == 0.0 and np.isfinite(grad).all()


@pytest.mark.parametrize("name", ["multiclass_hinge_loss", "multiclass_perceptron_loss"])
def test_multiclass_margin_losses_of_an_infinite_label_score_or_a_bad_label(name):
    scores, labels = jnp.array([[jnp.inf, 0.0, 1.0], [1.0, 0.0, 2.0]]), jnp.array([0, 3])
    theirs, ours = getattr(optax.losses, name)(scores, labels), getattr(jo, name)(scores, labels)
    assert np.isnan(theirs[0]) and np.isfinite(theirs[1])
    assert ours[0] == 0.0 and np.isnan(ours[1])
