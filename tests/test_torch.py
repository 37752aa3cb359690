"""jaxloss.torch against PyTorch's own numbers, stored in tests/data/torch_parity.json.

The file (written by tests/data/make_torch_parity.py, ``make torch-parity``) holds, for every
loss of ``torch.nn.functional``, inputs, arguments, and PyTorch's outputs and input gradients
per reduction, computed in float64. Each wrapped function must give them in float32 under
``jax.jit`` (1e-5 relative, 1e-6 absolute), except where the module documents a difference,
which is pinned here. torch itself is never imported.
"""

import inspect
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss
from jaxloss import torch as F

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "torch_parity.json").read_text())
WRAPPED = {name for name in DATA["losses"] if hasattr(F, name)}

# The documented differences (jaxloss.torch's docstring), compared with their own values.
EMPTY_MEAN_IS_ZERO = "every target ignored"
PROBABILITIES_AT_0_AND_1 = "probabilities at 0 and 1: PyTorch clamps the log at -100"
# The argument whose PyTorch gradient is NaN where it is 0 here, per function.
NAN_GRADIENT_IS_ZERO = {"kl_div": 1, "ctc_loss": 0}
PARITY_CASES = [case for case in DATA["cases"] if case["function"] in WRAPPED]
MARGIN_LOSSES = {
    "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
    "multilabel_margin_loss", "margin_ranking_loss", "hinge_embedding_loss",
}  # fmt: skip


@pytest.fixture(autouse=True)
def strict_promotion():
    """No hidden broadcasting or dtype promotion inside the wrappers."""
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
        yield


def _decode(value):
    if isinstance(value, dict) and "array" in value:
        dtype = np.float32 if value["dtype"] == "float32" else np.int32
        return np.asarray(value["array"], dtype).reshape(value["shape"])
    return value


def _cosine_distance(a, b, eps=1e-8):
    """``1 - torch.nn.functional.cosine_similarity(a, b)``, the stored tag ``"cosine"``."""
    norm_a = jnp.maximum(jnp.linalg.norm(a, axis=1), eps)
    norm_b = jnp.maximum(jnp.linalg.norm(b, axis=1), eps)
    norms = norm_a * norm_b
    return 1.0 - jnp.sum(a * b, axis=1) / norms


# A stored case names its distance function; the callable is the test's to give.
DISTANCES = {"cosine": _cosine_distance}


def _inputs(case):
    args = [_decode(a) for a in case["args"]]
    kwargs = {k: _decode(v) for k, v in case["kwargs"].items()}
    if "distance_function" in kwargs:
        kwargs["distance_function"] = DISTANCES[kwargs["distance_function"]]
    return args, kwargs


def _case_id(case):
    return f"{case['function']}-{case['note'] or 'plain'}-{sorted(case['kwargs'])}"


def _run(case):
    """The output of every stored reduction and the gradients of ``sum`` (those of ``"none"``
    too; ``"mean"`` divides them by a constant), from one compiled function."""
    args, kwargs = _inputs(case)
    reductions = list(case["outputs"])
    gradient_reduction = "sum" if "sum" in reductions else reductions[0]
    grads = case["grads"][gradient_reduction]
    differentiable = [i for i, grad in enumerate(grads) if grad is not None]
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    function = getattr(F, case["function"])

    def call(values, reduction):
        full = list(args)
        for index, value in zip(arrays, values):
            full[index] = value
        return function(*full, **kwargs, reduction=reduction)

    @jax.jit
    def compiled(*values):
        outputs = {reduction: call(values, reduction) for reduction in reductions}

        def total(*chosen):
            replaced = list(values)
            for index, value in zip(differentiable, chosen):
                replaced[arrays.index(index)] = value
            return jnp.sum(call(replaced, gradient_reduction))

        chosen = [values[arrays.index(i)] for i in differentiable]
        return outputs, jax.grad(total, argnums=tuple(range(len(chosen))))(*chosen)

    outputs, got_grads = compiled(*[args[i] for i in arrays])
    want_grads = [grads[i] for i in differentiable]
    return outputs, list(zip(differentiable, got_grads, want_grads)), gradient_reduction


def _close(got, want, note=""):
    np.testing.assert_allclose(
        np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=1e-5, atol=1e-6,
        err_msg=note,
    )


@pytest.mark.parametrize("case", PARITY_CASES, ids=_case_id)
def test_values_and_gradients_are_pytorchs(case):
    outputs, grads, gradient_reduction = _run(case)
    for reduction, out in outputs.items():
        want = np.asarray(case["outputs"][reduction], np.float64)
        assert out.dtype == jnp.float32
        if case["note"] == EMPTY_MEAN_IS_ZERO and reduction == "mean":
            assert np.isnan(want) and float(out) == 0.0  # a documented difference
            continue
        _close(out, want, reduction)
    for index, got, want in grads:
        want = np.asarray(want, np.float64)
        if case["function"] == "poisson_nll_loss" and index == 1 and case["kwargs"].get("full"):
            # PyTorch's gradient in the counts is NaN at a count of 0 (its Stirling term's
            # log(0) behind a mask): a documented difference; here it is finite.
            assert np.isnan(want).any() and np.all(np.isfinite(got))
            want = np.where(np.isnan(want), np.asarray(got, np.float64), want)
        if case["note"] == PROBABILITIES_AT_0_AND_1 and index == 1:
            want = _clamped_target_gradient(case, want)
        if NAN_GRADIENT_IS_ZERO.get(case["function"]) == index:
            # PyTorch's gradient is NaN at a kl_div target of 0 (xlogy's log 0) and for an
            # impossible CTC alignment (an infinite loss): documented differences; here 0.
            kwargs = case["kwargs"]
            nan_expected = kwargs.get("zero_infinity") is False or (
                case["function"] == "kl_div" and not kwargs.get("log_target"))
            assert np.isnan(want).any() == nan_expected
            want = np.where(np.isnan(want), 0.0, want)
        _close(got, want, f"{gradient_reduction}: gradient of argument {index}")


def _clamped_target_gradient(case, want):
    """A documented difference: at p = 0 and 1 PyTorch's gradient in the target, -w logit(p),
    is infinite; ours is the slope of the clamped loss, w (max(log(1 - p), -100) -
    max(log p, -100)) = -100 w at p = 1 and +100 w at p = 0 (elsewhere PyTorch's)."""
    (probs, _), kwargs = _inputs(case)
    at_edge = (probs == 0) | (probs == 1)
    assert np.array_equal(np.isinf(want), at_edge)
    weight = kwargs.get("weight", np.ones_like(probs))
    return np.where(at_edge, np.where(probs == 0, 100.0, -100.0) * weight, want)


def test_binary_cross_entropy_clamps_the_log_where_the_keras_kernel_clips():
    """p = 0 with target 1 costs 100 (PyTorch's clamp at -100) with PyTorch's gradient
    -1/1e-12, while jaxloss.binary_cross_entropy keeps Keras's clip to [1e-7, 1 - 1e-7]:
    -log(1e-7) = 16.1 with gradient 0."""
    case = next(c for c in DATA["cases"] if c["note"] == PROBABILITIES_AT_0_AND_1)
    (probs, targets), _ = _inputs(case)
    torch_loss = np.asarray(case["outputs"]["none"])
    np.testing.assert_allclose(torch_loss[:2], [100.0, 0.0])

    @jax.jit
    def both(p, y):
        def ours(p):
            return jnp.sum(F.binary_cross_entropy(p, y, reduction="none"))

        def keras(p):
            return jnp.sum(jaxloss.binary_cross_entropy(p, y))

        return (F.binary_cross_entropy(p, y, reduction="none"), jax.grad(ours)(p),
                jaxloss.binary_cross_entropy(p, y), jax.grad(keras)(p))

    loss, grad, keras_loss, keras_grad = both(probs, targets)
    _close(loss, torch_loss)
    np.testing.assert_allclose(grad[0], -1.0 / np.float32(1e-12), rtol=1e-6)
    np.testing.assert_allclose(keras_loss[0], -np.log(np.float32(1e-7)), rtol=1e-5)
    assert keras_grad[0] == 0.0 and keras_loss.max() < 17.0


# ------------------------------------------------------------------------- the API


def test_every_pytorch_loss_is_wrapped():
    assert len(DATA["losses"]) == 21 and DATA["torch_version"].startswith("2.")
    assert set(DATA["losses"]) - WRAPPED == set(), "wrap these in jaxloss.torch"


def test_the_parity_file_covers_every_pytorch_loss():
    assert {case["function"] for case in DATA["cases"]} == set(DATA["losses"])
    tags = {c["kwargs"].get("distance_function") for c in DATA["cases"]} - {None}
    assert tags == set(DISTANCES)


def test_the_stored_distance_tag_is_the_distance_pytorch_used():
    """The triplet loss PyTorch computed with the "cosine" distance (margin, swap), rebuilt
    from the decoded callable: the tag means what the test will pass."""
    (case,) = [c for c in DATA["cases"] if c["kwargs"].get("distance_function") == "cosine"]
    (anchor, positive, negative), kwargs = _inputs(case)
    distance = kwargs["distance_function"]
    negative_distance = jnp.minimum(distance(anchor, negative), distance(positive, negative))
    want = jnp.maximum(distance(anchor, positive) - negative_distance + kwargs["margin"], 0.0)
    assert kwargs["swap"]
    _close(want, case["outputs"]["none"])


def _parameters(function):
    rows = []
    for parameter in inspect.signature(function).parameters.values():
        default = parameter.default
        rows.append([
            parameter.name,
            parameter.kind.name,
            "<required>" if default is inspect.Parameter.empty else default,
        ])
    return rows


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_names_order_and_defaults_are_pytorchs(name):
    ours = _parameters(getattr(F, name))
    assert ours == DATA["signatures"][name]
    assert [type(d) for _, _, d in ours] == [type(d) for _, _, d in DATA["signatures"][name]]


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_size_average_and_reduce_raise_naming_the_reduction(name):
    case = next(c for c in PARITY_CASES if c["function"] == name)
    args, kwargs = _inputs(case)
    function = getattr(F, name)
    if "size_average" in inspect.signature(function).parameters:
        for legacy, reduction in (
            ({"size_average": False}, "sum"), ({"reduce": False}, "none"),
            ({"size_average": True, "reduce": True}, "mean"),
        ):
            with pytest.raises(ValueError, match=re.escape(f"`reduction={reduction!r}`")):
                function(*args, **kwargs, **legacy)
    invalid = "sum_over_batch_size" if name == "kl_div" else "batchmean"
    with pytest.raises(ValueError, match=rf"Invalid `reduction`='{invalid}'"):
        function(*args, **kwargs, reduction=invalid)


# ----------------------------------------------------------------- transformations


def test_vmap_over_batches_equals_each_batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5)).astype(np.float32)
    target = rng.integers(0, 5, (3, 4)).astype(np.int32)
    target[1, 2] = -100
    weight = np.array([1.0, 2.0, 0.5, 1.0, 3.0], np.float32)

    def losses(x, y):
        return F.cross_entropy(x, y, weight), F.mse_loss(x[:, 0], x[:, 1])

    def with_grad(x, y):
        return losses(x, y), jax.grad(lambda a: losses(a, y)[0])(x)

    mapped, grads = jax.jit(jax.vmap(with_grad))(logits, target)
    one = jax.jit(with_grad)
    for index in range(3):
        want, want_grad = one(logits[index], target[index])
        for got, expected in zip(mapped, want):
            np.testing.assert_allclose(got[index], expected, rtol=1e-6)
        np.testing.assert_allclose(grads[index], want_grad, rtol=1e-6, atol=1e-7)


def test_vmap_of_the_margin_losses_equals_each_batch():
    """Each margin loss, "mean" and its gradient, mapped over a leading axis of 3 batches;
    the margin is a traced scalar, negative in one batch."""
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(3, 4, 5)).astype(np.float32)
    other = rng.normal(size=(3, 4, 5)).astype(np.float32)
    signs = np.where(rng.random((3, 4, 5)) < 0.5, -1.0, 1.0).astype(np.float32)
    labels = rng.integers(0, 5, (3, 4)).astype(np.int32)
    lists = np.array([[3, 0, -1, 1, 2], [2, 2, 4, -1, -1], [-1, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
    lists = np.stack([lists, lists[::-1], lists[[1, 3, 0, 2]]]).astype(np.int32)
    margins = np.array([1.0, -0.5, 0.3], np.float32)
    weight = np.array([1.0, 2.0, 0.5, 3.0, 1.5], np.float32)

    def losses(x, x2, y, label, listed, margin):
        return jnp.stack([
            F.soft_margin_loss(x, y),
            F.multilabel_soft_margin_loss(x, (y > 0).astype(x.dtype), weight),
            F.multi_margin_loss(x, label, 2, margin, weight),
            F.multilabel_margin_loss(x, listed),
            F.margin_ranking_loss(x, x2, y, margin),
            F.hinge_embedding_loss(x, y, margin),
        ])

    def with_grad(*args):
        return losses(*args), jax.grad(lambda x: jnp.sum(losses(x, *args[1:])))(args[0])

    mapped, grads = jax.jit(jax.vmap(with_grad))(scores, other, signs, labels, lists, margins)
    one = jax.jit(with_grad)
    for index in range(3):
        want, want_grad = one(scores[index], other[index], signs[index], labels[index],
                              lists[index], margins[index])
        np.testing.assert_allclose(mapped[index], want, rtol=1e-6)
        np.testing.assert_allclose(grads[index], want_grad, rtol=1e-6, atol=1e-7)
    assert np.all(np.isfinite(mapped)) and np.all(np.isfinite(grads))


def test_cross_entropy_is_nll_of_log_softmax_for_every_option():
    rng = np.random.default_rng(1)
    logits = (rng.normal(size=(2, 5, 3)) * 3).astype(np.float32)
    target = rng.integers(0, 5, (2, 3)).astype(np.int32)
    target[0, 1] = 3
    weight = rng.uniform(0.5, 2, 5).astype(np.float32)

    @jax.jit
    def both(x):
        log_probs = jax.nn.log_softmax(x, axis=1)
        return [
            (F.cross_entropy(x, target, w, ignore_index=3, reduction=r),
             F.nll_loss(log_probs, target, w, ignore_index=3, reduction=r))
            for w, r in ((None, "none"), (weight, "mean"))
        ]

    for ce, nll in both(logits):
        np.testing.assert_allclose(ce, nll, rtol=1e-6)


def test_out_of_range_class_index_gives_nan_where_pytorch_raises():
    logits = jnp.zeros((2, 3))
    for function, scores in ((F.cross_entropy, logits), (F.nll_loss, logits - jnp.log(3.0))):
        loss = jax.jit(lambda x, function=function: function(x, jnp.array([0, 3]),
                                                             reduction="none"))(scores)
        assert np.isfinite(loss[0]) and np.isnan(loss[1])


@pytest.mark.parametrize(
    ("function", "args", "match"),
    [
        (F.gaussian_nll_loss, (jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.ones((3, 1))),
         re.escape("var.shape=(3, 1) for input.shape=(2, 3)")),
        (F.gaussian_nll_loss, (jnp.ones((2, 3)), jnp.ones((2, 3)), -1.0), "`var` must be"),
        (F.mse_loss, (jnp.ones((2, 3)), jnp.ones((2, 3)), None, None, "mean", jnp.ones(3)),
         re.escape("`weight` must have the shape of `input`, (2, 3)")),
        (F.cross_entropy, (jnp.ones((2, 3)), jnp.array([0, 1]), jnp.ones(4)),
         re.escape("`weight` must have shape (3,)")),
        (F.nll_loss, (jnp.ones((2, 3)), jnp.array([0, 1]), jnp.ones(2)),
         re.escape("`weight` must have shape (3,)")),
        (F.cross_entropy, (jnp.ones(()), jnp.array(0)), "`input` must have a class axis"),
        (F.binary_cross_entropy, (jnp.full((2, 3), 0.5), jnp.ones((2, 3)), jnp.ones(2)),
         re.escape("`weight` of shape (2,) does not broadcast to input.shape=(2, 3)")),
        (F.multi_margin_loss, (jnp.ones((2, 3)), jnp.array([0, 1]), 3), r"`p` must be 1 or 2"),
        (F.multi_margin_loss, (jnp.ones((2, 3)), jnp.array([0, 1]), 1, 1.0, jnp.ones(2)),
         re.escape("`class_weights` must have shape (3,)")),
        (F.margin_ranking_loss, (jnp.ones(3), jnp.ones(3), jnp.ones(3), jnp.ones(3)),
         re.escape("`margin` must be a scalar, got shape (3,)")),
    ],
    ids=["var_shape", "negative_float_var", "mse_weight", "ce_weight", "nll_weight", "scalar",
         "bce_weight", "multi_margin_p", "multi_margin_weight", "ranking_margin_shape"],
)
def test_bad_arguments_raise_naming_them(function, args, match):
    with pytest.raises(ValueError, match=match):
        jax.jit(lambda: function(*args))()
