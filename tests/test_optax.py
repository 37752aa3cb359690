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
}


def _optax_names():
    return {
        name for name, value in vars(optax.losses).items()
        if not name.startswith("_") and callable(value) and not inspect.ismodule(value)
    }


IMPLEMENTED = sorted(_optax_names() - jo.PENDING)


def test_every_optax_loss_is_implemented_or_pending():
    missing = _optax_names() - jo.PENDING - set(dir(jo))
    assert missing == set(), "add these optax.losses names to jaxloss.optax, or to PENDING"
    assert jo.PENDING <= _optax_names(), "PENDING names a loss optax does not have"
    assert not {name for name in jo.PENDING if hasattr(jo, name)}, "wired in: drop from PENDING"


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
    dtype promotion: its calls run under the standard rules)."""

    def run(all_args):
        got = _values_and_grads(ours, cases, all_args)
        with jax.numpy_dtype_promotion("standard"):
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
