"""The margin losses (PyTorch's and optax's) against float64 formulas and the peers' numbers.

PyTorch's numbers are stored in tests/data/torch_margin_parity.json (written by
tests/data/make_margin_parity.py; torch is never imported here); optax is compared live.
"""

import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss
from jaxloss import (
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multiclass_hinge_loss,
    multiclass_perceptron_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    perceptron_loss,
    soft_margin_loss,
)

PARITY = json.loads(
    (pathlib.Path(__file__).parent / "data" / "torch_margin_parity.json").read_text()
)


# ------------------------------------------------------------ float64 references


def _f64(x):
    return np.asarray(x, np.float64)


def ref_soft_margin(x, y):
    return np.logaddexp(0.0, -_f64(y) * _f64(x))


def ref_multilabel_soft_margin(x, y, class_weights=None):
    x, y = _f64(x), _f64(y)
    per_class = y * np.logaddexp(0.0, -x) + (1 - y) * np.logaddexp(0.0, x)
    weights = 1.0 if class_weights is None else _f64(class_weights)
    return np.mean(weights * per_class, -1)


def ref_multi_margin(x, labels, p=1, margin=1.0, class_weights=None):
    x, labels = _f64(x), np.asarray(labels).astype(int)
    rows = np.arange(len(labels))
    gaps = (x - x[rows, labels][:, None]) + margin
    gaps[rows, labels] = 0.0
    weights = 1.0 if class_weights is None else _f64(class_weights)[labels]
    return weights * np.sum(np.maximum(gaps, 0.0) ** p, -1) / x.shape[-1]


def ref_multilabel_margin(x, targets):
    """PyTorch's loops: the listed classes up to the first -1 (repeats count), the rest."""
    x = _f64(x)
    losses = []
    for row, target in zip(x, np.asarray(targets).astype(int)):
        listed = []
        for t in target:
            if t == -1:
                break
            listed.append(int(t))
        others = [i for i in range(len(row)) if i not in set(listed)]
        total = sum(max(0.0, 1 - (row[j] - row[i])) for j in listed for i in others)
        losses.append(total / len(row))
    return np.array(losses)


def ref_margin_ranking(a, b, y, margin=0.0):
    return np.maximum(0.0, -_f64(y) * (_f64(a) - _f64(b)) + margin)


def ref_hinge_embedding(x, y, margin=1.0):
    x, y = _f64(x), _f64(y)
    return np.where(y != 1, np.maximum(margin - x, 0.0), 0.0) + np.where(y != -1, x, 0.0)


def ref_multiclass_hinge(x, labels, margin=1.0):
    x, labels = _f64(x), np.asarray(labels).astype(int)
    label_scores = np.take_along_axis(x, labels[:, None], -1)
    one_hot = np.eye(x.shape[-1])[labels]
    return np.max(x + margin * (1 - one_hot), -1) - label_scores[:, 0]


def ref_perceptron(x, t):
    return np.maximum(0.0, -_f64(t) * _f64(x))


def _scores(shape=(4, 5), seed=0):
    return np.float32(np.random.default_rng(seed).normal(size=shape) * 1.5)


def _signs(shape=(4, 5), seed=1):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


LABELS = np.array([0, 3, 4, 1], np.int32)
WEIGHTS = np.array([1.0, 2.0, 0.5, 3.0, 1.5], np.float32)
TARGETS = np.array([[3, 0, -1, 1, 2], [2, 2, 4, -1, -1], [-1, 0, 1, 2, 3], [0, 1, 2, 3, 4]])


# ------------------------------------------------------------------ PyTorch's numbers


def _all_values_and_grads(calls):
    """``(fn(*args), grads of sum(fn) in the floating args)`` for every ``(fn, args, argnums)``,
    all in one compiled function (one compilation instead of one per call)."""

    def run(all_args):
        return [
            (fn(*args), jax.grad(lambda *a, fn=fn: jnp.sum(fn(*a)), argnums)(*args))
            for (fn, _, argnums), args in zip(calls, all_args, strict=True)
        ]

    return jax.jit(run)([args for _, args, _ in calls])


def _torch_call(case):
    """Our kernel, arguments and floating argnums for a stored case."""
    kwargs = dict(case["kwargs"])
    if "weight" in kwargs:
        kwargs["class_weights"] = np.float32(kwargs.pop("weight"))
    floating = [np.float32(a) for a in case["floating"]]
    others = [np.asarray(a) for a in case["others"]]
    others = [a.astype(np.int32) if a.dtype.kind == "i" else np.float32(a) for a in others]
    kernel = functools.partial(getattr(jaxloss, case["loss"]), **kwargs)
    return kernel, tuple(floating + others), tuple(range(len(floating)))


@functools.cache
def _torch_results():
    cases = PARITY["cases"] + list(PARITY["differences"].values())
    return _all_values_and_grads([_torch_call(case) for case in cases])


def _ours(case):
    cases = PARITY["cases"] + list(PARITY["differences"].values())
    return _torch_results()[next(i for i, c in enumerate(cases) if c is case)]


def test_the_parity_data_names_its_torch_version():
    assert PARITY["torch_version"].startswith("2.")
    assert {case["loss"] for case in PARITY["cases"]} == {
        "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
        "multilabel_margin_loss", "margin_ranking_loss", "hinge_embedding_loss",
    }  # fmt: skip


@pytest.mark.parametrize(
    "case", PARITY["cases"], ids=lambda c: f"{c['loss']}-{json.dumps(c['kwargs'])}"
)
def test_values_and_input_gradients_match_pytorch(case):
    loss, grads = _ours(case)
    np.testing.assert_allclose(loss, case["output"], rtol=2e-6, atol=1e-6)
    for got, want in zip(grads, case["grads"], strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_soft_margin_is_finite_where_pytorch_overflows():
    """PyTorch's log1p(exp(-y x)) is inf (and its gradient NaN) for a wrong score of 100 in
    float32; the exact loss is 100 + log1p(exp(-100)) and the gradient -y sigmoid(-y x)."""
    case = PARITY["differences"]["soft_margin_overflow"]
    assert np.isinf(case["output"][:2]).all() and np.isnan(case["grads"][0][:2]).all()
    loss, (grad,) = _ours(case)
    np.testing.assert_allclose(loss, [100.0, 100.0, case["output"][2]], rtol=1e-6)
    np.testing.assert_allclose(grad, [-1.0, 1.0, case["grads"][0][2]], rtol=1e-6)


def test_hinge_embedding_nan_target_gives_nan_where_pytorch_gives_a_number():
    case = PARITY["differences"]["hinge_embedding_nan_target"]
    assert np.isfinite(case["output"]).all()
    loss, _ = _ours(case)
    np.testing.assert_allclose(loss[0], case["output"][0], rtol=1e-6)
    assert np.isnan(loss[1])


def test_multilabel_soft_margin_label_outside_0_1_gives_nan_where_pytorch_gives_a_number():
    case = PARITY["differences"]["multilabel_soft_margin_label_outside_0_1"]
    assert case["output"][0] < 0  # PyTorch: a negative "loss"
    loss, _ = _ours(case)
    assert np.isnan(loss).all()
    with pytest.raises(jaxloss.CheckError, match=r"multilabel_soft_margin_loss: `labels` holds 2"):
        with jaxloss.checks():
            multilabel_soft_margin_loss(*(np.float32(case[k][0]) for k in ("floating", "others")))


# ------------------------------------------------------------ float64 formulas


def _numeric_grad(reference, first, rest, step=1e-6):
    """Central differences of ``sum(reference)`` in the first argument, in float64."""
    first = _f64(first)
    grad = np.zeros_like(first)
    for index in np.ndindex(first.shape):
        up, down = first.copy(), first.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (np.sum(reference(up, *rest)) - np.sum(reference(down, *rest))) / (2 * step)
    return grad


_MULTI_HOT = (np.random.default_rng(3).random((4, 5)) < 0.5).astype(np.float32)
_DISTANCES = np.abs(_scores((3, 4))) * 2
_BINARY_SIGNS = np.where(_signs((3, 4)) > 0, 1.0, -1.0).astype(np.float32)
# name, kernel, float64 reference, arguments, hyperparameters
FORMULAS = [
    ("soft_margin", soft_margin_loss, ref_soft_margin, (_scores((3, 4)) * 2, _signs((3, 4))), {}),
    ("hinge_embedding", hinge_embedding_loss, ref_hinge_embedding, (_DISTANCES, _BINARY_SIGNS), {}),
    ("hinge_embedding_margin", hinge_embedding_loss, ref_hinge_embedding,
     (_DISTANCES, _BINARY_SIGNS), {"margin": 2.5}),
    ("hinge_embedding_negative", hinge_embedding_loss, ref_hinge_embedding,
     (_scores((3, 4)) - 1.0, _BINARY_SIGNS), {"margin": -0.5}),
    ("perceptron", perceptron_loss, ref_perceptron, (_scores((3, 4)), _signs((3, 4))), {}),
    ("margin_ranking", margin_ranking_loss, ref_margin_ranking,
     (_scores((3, 4)), _scores((3, 4), seed=2), _signs((3, 4))), {"margin": 0.7}),
    ("margin_ranking_negative", margin_ranking_loss, ref_margin_ranking,
     (_scores((3, 4)), _scores((3, 4), seed=2), _signs((3, 4))), {"margin": -0.3}),
    ("multi_margin", multi_margin_loss, ref_multi_margin, (_scores(), LABELS), {}),
    ("multi_margin_p2", multi_margin_loss, ref_multi_margin, (_scores(), LABELS),
     {"p": 2, "margin": 0.5}),
    ("multi_margin_weights", multi_margin_loss, ref_multi_margin, (_scores(), LABELS),
     {"margin": 2.0, "class_weights": WEIGHTS}),
    ("multi_margin_negative", multi_margin_loss, ref_multi_margin, (_scores(), LABELS),
     {"p": 2, "margin": -0.5}),
    ("multiclass_hinge", multiclass_hinge_loss, ref_multiclass_hinge, (_scores(), LABELS), {}),
    ("multiclass_perceptron", multiclass_perceptron_loss,
     functools.partial(ref_multiclass_hinge, margin=0.0), (_scores(), LABELS), {}),
    ("multilabel_soft_margin", multilabel_soft_margin_loss, ref_multilabel_soft_margin,
     (_scores(), _MULTI_HOT), {}),
    ("multilabel_soft_margin_weights", multilabel_soft_margin_loss, ref_multilabel_soft_margin,
     (_scores(), _MULTI_HOT), {"class_weights": WEIGHTS}),
    ("multilabel_margin", multilabel_margin_loss, ref_multilabel_margin, (_scores(), TARGETS),
     {}),
]  # fmt: skip


@functools.cache
def _formula_results():
    return _all_values_and_grads(
        [(functools.partial(kernel, **kw), args, 0) for _, kernel, _, args, kw in FORMULAS]
    )


@pytest.mark.parametrize("index", range(len(FORMULAS)), ids=[row[0] for row in FORMULAS])
def test_values_and_gradients_match_the_float64_formula(index):
    _, _, reference, args, kwargs = FORMULAS[index]
    loss, grad = _formula_results()[index]
    reference = functools.partial(reference, **kwargs)
    np.testing.assert_allclose(loss, reference(*args), rtol=1e-6, atol=1e-6)
    want_grad = _numeric_grad(reference, args[0], args[1:])
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-5)


def test_vmap_equals_the_unmapped_calls():
    calls = [(functools.partial(kernel, **kw), args) for _, kernel, _, args, kw in FORMULAS]

    def run(all_args):
        return [
            jax.vmap(fn)(*(jnp.stack([a, a[::-1]]) for a in args))
            for (fn, _), args in zip(calls, all_args, strict=True)
        ]

    mapped = jax.jit(run)([args for _, args in calls])
    for (name, *_), (loss, _), stacked in zip(FORMULAS, _formula_results(), mapped, strict=True):
        np.testing.assert_allclose(stacked[0], loss, rtol=1e-6, err_msg=name)
    reversed_loss = jax.jit(lambda s: multi_margin_loss(s, LABELS[::-1]))(_scores()[::-1])
    multi_margin = next(i for i, row in enumerate(FORMULAS) if row[0] == "multi_margin")
    np.testing.assert_allclose(mapped[multi_margin][1], reversed_loss, rtol=1e-6)


def test_half_precision_inputs_are_computed_in_float32():
    def run(all_args):
        return [
            functools.partial(kernel, **kw)(*args)
            for (_, kernel, _, _, kw), args in zip(FORMULAS, all_args, strict=True)
        ]

    half = [
        tuple(jnp.asarray(a, jnp.bfloat16) if a.dtype == np.float32 else a for a in args)
        for *_, args, _ in FORMULAS
    ]
    rounded = [
        tuple(np.float32(a) if a.dtype == jnp.bfloat16 else a for a in args) for args in half
    ]
    got, want = jax.jit(run)(half), jax.jit(run)(rounded)
    for (name, *_), loss, expected in zip(FORMULAS, got, want, strict=True):
        assert loss.dtype == jnp.float32, name
        np.testing.assert_allclose(loss, expected, rtol=1e-6, err_msg=name)


def test_multilabel_margin_reads_targets_as_pytorch_does():
    """Up to the first -1 only; a repeated class counts twice; an empty list costs 0; an
    entry outside [-1, C), anywhere in the row (PyTorch raises for it after the first -1
    too), gives NaN for its example."""
    targets = jnp.array(
        [[3, 0, -1, 1], [3, 3, -1, 1], [3, -1, 0, 0], [-1, 0, 1, 2],
         [4, -1, 0, 0], [3, -2, 0, 0], [3, -1, 100, 0], [-1, 0, 0, 4]]
    )  # fmt: skip
    loss = jax.jit(multilabel_margin_loss)(jnp.array([[0.1, 0.2, 0.4, 0.8]] * 8), targets)
    once = (0.3 + 0.4 + 0.6) / 4  # class 3 against classes 0, 1, 2
    np.testing.assert_allclose(loss[:4], [0.85, 2 * once, once, 0.0], rtol=1e-6)
    assert np.isnan(loss[4:]).all()


def test_integer_label_out_of_range_gives_nan_and_raises_in_checked_mode():
    labels = jnp.array([0, 5, -1, 99])
    run = jax.jit(
        lambda s: [k(s, labels) for k in (multi_margin_loss, multiclass_hinge_loss,
                                           multiclass_perceptron_loss)]
    )  # fmt: skip
    for loss in run(_scores()):
        assert np.isfinite(loss[0]) and np.isnan(loss[1:]).all()
    with pytest.raises(jaxloss.CheckError, match=r"`labels` holds 5 at index \(1,\)"):
        with jaxloss.checks():
            multi_margin_loss(_scores(), labels)


# --------------------------------------------------------- where, axis, extremes


CLASS_REDUCING = [
    ("multi_margin", multi_margin_loss, LABELS, {"p": 2, "class_weights": WEIGHTS}),
    ("multiclass_hinge", multiclass_hinge_loss, LABELS, {}),
    ("multiclass_perceptron", multiclass_perceptron_loss, LABELS, {}),
    ("multilabel_soft_margin", multilabel_soft_margin_loss, np.float32(np.eye(5)[LABELS]), {}),
]
_KEEP = np.arange(5) != 2  # class 2 masked; no label points at it
_EXAMPLES = np.array([[True], [False]] * 2)


def _sliced(labels, kwargs):
    kwargs = dict(kwargs)
    if "class_weights" in kwargs:
        kwargs["class_weights"] = kwargs["class_weights"][_KEEP]
    return (labels[:, _KEEP] if labels.ndim == 2 else labels - (labels > 2)), kwargs


@functools.cache
def _where_results():
    scores = _scores()
    spoiled = scores.copy()
    spoiled[:, 2] = np.inf
    spoiled[0, 2] = np.nan

    def run(scores, spoiled):
        results = []
        for _, kernel, labels, kwargs in CLASS_REDUCING:
            sliced_labels, sliced_kwargs = _sliced(labels, kwargs)

            def masked(s, kernel=kernel, labels=labels, kwargs=kwargs):
                return kernel(s, labels, where=_KEEP, **kwargs)

            results.append({
                "sliced": kernel(scores[:, _KEEP], sliced_labels, **sliced_kwargs),
                "masked": masked(spoiled),
                "grad": jax.grad(lambda s, masked=masked: jnp.sum(masked(s)))(spoiled),
                "full": kernel(scores, labels, **kwargs),
                "examples": kernel(scores, labels, where=_EXAMPLES, **kwargs),
                "transposed": kernel(scores.T, labels.T, axis=0, **kwargs),
            })  # fmt: skip
        return results

    return jax.jit(run)(scores, spoiled)


@pytest.mark.parametrize("index", range(len(CLASS_REDUCING)), ids=[c[0] for c in CLASS_REDUCING])
def test_masked_classes_are_sliced_away_and_class_axis_moves(index):
    """Masked classes: the loss of the others, their labels re-indexed; an inf or NaN there
    reaches neither loss nor gradient. A [..., 1] mask drops examples; axis=0 transposes."""
    result = _where_results()[index]
    np.testing.assert_allclose(result["masked"], result["sliced"], rtol=1e-6)
    grad = np.asarray(result["grad"])
    assert np.all(grad[:, 2] == 0) and np.all(np.isfinite(grad))
    want = np.where(_EXAMPLES[:, 0], result["full"], 0.0)
    np.testing.assert_allclose(result["examples"], want, rtol=1e-6)
    np.testing.assert_allclose(result["transposed"], result["full"], rtol=1e-6)


def test_masked_label_gives_nan_for_its_example():
    kernels = [kernel for _, kernel, _, _ in CLASS_REDUCING[:3]]
    run = jax.jit(lambda s: [k(s, LABELS, where=np.arange(5) != 3) for k in kernels])
    for loss in run(_scores()):
        assert np.isnan(loss[1]) and np.isfinite(np.delete(np.asarray(loss), 1)).all()


def test_multilabel_margin_where_slices_classes_and_a_masked_listed_class_gives_nan():
    scores = _scores()
    targets = np.array([[3, 0, -1, 1, 0], [4, -1, 0, 0, 2], [1, 3, 4, -1, 2], [-1, 0, 0, 0, 0]])
    listed_masked = targets.copy()
    listed_masked[0, 1] = 2
    run = jax.jit(lambda s: (
        multilabel_margin_loss(s, targets, where=_KEEP),
        multilabel_margin_loss(s, listed_masked, where=_KEEP),
        multilabel_margin_loss(s.T, TARGETS.T, axis=0),
    ))  # fmt: skip
    loss, nan_first, transposed = (np.asarray(a) for a in run(scores))
    # Four entries per row (the dropped fifth follows a -1; row 1's lists class 2 there,
    # which is allowed), their classes re-indexed.
    remap = np.array([0, 1, -9, 2, 3])
    sliced = np.where(targets >= 0, remap[np.maximum(targets, 0)], -1)[:, :4]
    np.testing.assert_allclose(loss, ref_multilabel_margin(scores[:, _KEEP], sliced), rtol=1e-6)
    assert np.isnan(nan_first[0]) and np.isfinite(nan_first[1:]).all()
    np.testing.assert_allclose(transposed, ref_multilabel_margin(scores, TARGETS), rtol=1e-6)


def test_infinite_scores_give_the_exact_limits_and_finite_gradients():
    """An infinitely confident right answer costs 0 with gradient 0 (optax's forms give
    inf - inf = NaN there); an infinite wrong score costs inf."""
    right = jnp.array([[jnp.inf, 0.0, -1.0]])
    wrong = jnp.array([[0.0, jnp.inf, -1.0]])
    labels = jnp.array([0])
    kernels = [
        multi_margin_loss, functools.partial(multi_margin_loss, p=2),
        multiclass_hinge_loss, multiclass_perceptron_loss,
    ]  # fmt: skip

    def run(right, wrong):
        return [
            (k(right, labels), jax.grad(lambda s, k=k: jnp.sum(k(s, labels)))(right),
             k(wrong, labels))
            for k in kernels
        ] + [
            soft_margin_loss(jnp.array([jnp.inf, -jnp.inf, 3e38]), jnp.array([1.0, 1.0, -1.0])),
            multilabel_margin_loss(right, jnp.array([[0, -1, 0]])),
            optax.losses.multiclass_hinge_loss(right, labels),
        ]  # fmt: skip

    *per_kernel, soft, listed, optax_loss = jax.jit(run)(right, wrong)
    for loss, grad, wrong_loss in per_kernel:
        assert loss[0] == 0 and wrong_loss[0] == jnp.inf
        np.testing.assert_array_equal(grad, 0.0)
    np.testing.assert_array_equal(soft, [0.0, np.inf, np.float32(3e38)])
    assert listed[0] == 0 and np.isnan(optax_loss[0])


def test_multiclass_hinge_differs_from_the_keras_categorical_hinge():
    """Keras's maximum over the other classes also counts the label's zeroed score."""
    scores, labels = jnp.array([[-5.0, -3.0, -2.0]]), jnp.array([2])
    ours, keras = jax.jit(lambda s: (
        multiclass_hinge_loss(s, labels),
        jaxloss.categorical_hinge_loss(s, jax.nn.one_hot(labels, 3)),
    ))(scores)  # fmt: skip
    assert float(ours[0]) == 0.0 and float(keras[0]) == 3.0


def _plain_largest_gap(scores, labels, mask):
    """``max_j`` of the gaps written in plain ``jax.numpy``, differentiated by autodiff."""
    label_scores = jnp.take_along_axis(scores, labels[:, None], 1)
    is_label = jnp.arange(scores.shape[1])[None, :] == labels[:, None]
    gaps = jnp.where(is_label, 0.0, scores - label_scores + 1.0)
    return jnp.max(jnp.where(mask, gaps, -jnp.inf), axis=1)


def test_multiclass_hinge_derivatives_share_ties_as_jnp_max_in_both_modes():
    """A tie of the label's gap 0 with two others (1/3 each, the label -2/3) and a masked
    class above the rest: reverse and forward mode give autodiff's derivatives of the max."""
    scores = jnp.array([[2.0, 3.0, 2.0, 1.0], [4.0, 0.0, 9.0, 1.0]])
    labels = jnp.array([1, 3])
    mask = jnp.array([[True] * 4, [True, True, False, True]])
    tangent = jnp.array([[0.5, -1.0, 2.0, 3.0], [1.5, 0.25, -2.0, 1.0]])

    def ours(s):
        return multiclass_hinge_loss(s, labels, where=mask)

    def plain(s):
        return _plain_largest_gap(s, labels, mask)

    grad = jax.jit(jax.grad(lambda s: jnp.sum(ours(s) * jnp.array([1.0, 2.0]))))(scores)
    want = jax.grad(lambda s: jnp.sum(plain(s) * jnp.array([1.0, 2.0])))(scores)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad[0], [1 / 3, -2 / 3, 1 / 3, 0.0], rtol=1e-6)
    value, jvp = jax.jit(lambda s, t: jax.jvp(ours, (s,), (t,)))(scores, tangent)
    want_value, want_jvp = jax.jvp(plain, (scores,), (tangent,))
    np.testing.assert_allclose(value, want_value, rtol=1e-6)
    np.testing.assert_allclose(jvp, want_jvp, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------- optax

_TIES = np.array([[1.0, 1.0, 0.0, 2.0, 2.0], [0.0, 1.0, 1.0, 0.0, -1.0]], np.float32)
_KINKS = np.concatenate([_scores((2, 4)), [[0.0, 1.0, -1.0, 0.0]]]).astype(np.float32)
_KINK_SIGNS = np.concatenate([_signs((2, 4)), [[1.0, 1.0, -1.0, -1.0]]]).astype(np.float32)
OPTAX = [
    ("multiclass_hinge", multiclass_hinge_loss, optax.losses.multiclass_hinge_loss,
     (_scores(), LABELS)),
    ("multiclass_hinge_ties", multiclass_hinge_loss, optax.losses.multiclass_hinge_loss,
     (_TIES, np.array([3, 1], np.int32))),
    ("multiclass_perceptron", multiclass_perceptron_loss,
     optax.losses.multiclass_perceptron_loss, (_scores(), LABELS)),
    ("multiclass_perceptron_ties", multiclass_perceptron_loss,
     optax.losses.multiclass_perceptron_loss, (_TIES, np.array([3, 1], np.int32))),
    ("perceptron_kinks", perceptron_loss, optax.losses.perceptron_loss, (_KINKS, _KINK_SIGNS)),
    ("hinge_kinks", jaxloss.hinge_loss, optax.losses.hinge_loss, (_KINKS, _KINK_SIGNS)),
]  # fmt: skip


@functools.cache
def _optax_results():
    calls = [(fn, args, 0) for _, ours, theirs, args in OPTAX for fn in (ours, theirs)]
    return _all_values_and_grads(calls)


@pytest.mark.parametrize("index", range(len(OPTAX)), ids=[row[0] for row in OPTAX])
def test_values_and_gradients_match_optax_ties_and_kinks_included(index):
    """Integer-valued scores make ties exact: optax and we share the gradient among them alike."""
    (loss, grad), (want, want_grad) = _optax_results()[2 * index : 2 * index + 2]
    np.testing.assert_allclose(loss, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ input rules


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: multi_margin_loss(_scores(), LABELS, p=3), r"`p` must be 1 or 2 .*got 3"),
        (lambda: multi_margin_loss(_scores(), LABELS, p=True), r"`p` must be 1 or 2"),
        (
            lambda: hinge_embedding_loss(_scores(), _signs(), margin=jnp.ones(3)),
            "`margin` must be a scalar",
        ),
        (
            lambda: multi_margin_loss(_scores(), LABELS, class_weights=WEIGHTS[:3]),
            r"`class_weights` must have shape \(5,\)",
        ),
        (
            lambda: multilabel_soft_margin_loss(
                _scores(), _signs(), class_weights=np.ones(5, np.int32)
            ),
            r"`class_weights` must have a floating-point dtype",
        ),
        (lambda: multi_margin_loss(_scores(), LABELS, axis=2), r"`axis`=2 is out of range"),
        (
            lambda: multilabel_margin_loss(_scores(), np.float32(TARGETS)),
            r"`targets` must hold integer class indices",
        ),
        (
            lambda: multilabel_margin_loss(_scores(), TARGETS[:, :3]),
            r"`scores` and `targets` must have the same shape",
        ),
        (
            lambda: multilabel_margin_loss(_scores(), TARGETS, where=np.ones(3, bool)),
            r"`where` of shape \(3,\) does not broadcast",
        ),
        (
            lambda: multiclass_hinge_loss(_scores(), LABELS[:2]),
            r"expected \(4,\), got labels.shape",
        ),
    ],
    ids=[
        "p_3", "p_bool", "margin_array", "class_weights_length", "class_weights_int", "axis",
        "targets_float", "targets_shape", "where_shape", "labels_shape",
    ],
)  # fmt: skip
def test_bad_hyperparameters_and_shapes_raise_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
