"""The embedding and ranking losses against float64 formulas, optax (live) and PyTorch
(numbers stored in tests/data/torch_embedding_parity.json by make_embedding_parity.py)."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from kernel_properties import check_values_and_grads, numeric_grad

from jaxloss import (
    cosine_distance,
    cosine_embedding_loss,
    cosine_similarity,
    ranking_softmax_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)

PARITY = json.loads(
    (pathlib.Path(__file__).parent / "data" / "torch_embedding_parity.json").read_text()
)
TARGETS = np.array([1, -1, 1, -1], np.float32)


def _inputs(*shape, count=3, seed=0):
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype(np.float32)


def _f64(x):
    return np.asarray(x, np.float64)


# -------------------------------------------------------------------- float64 formulas


def ref_cosine_embedding(x1, x2, y, margin=0.0, epsilon=1e-12):
    x1, x2 = _f64(x1), _f64(x2)
    denominator = np.sqrt((np.sum(x1**2, -1) + epsilon) * (np.sum(x2**2, -1) + epsilon))
    cos = np.sum(x1 * x2, -1) / denominator
    return np.where(np.asarray(y) == 1, 1 - cos, np.maximum(cos - margin, 0.0))


def ref_distance(x, y, p=2.0, epsilon=1e-6, epsilon_at="difference"):
    difference = _f64(x) - _f64(y)
    if epsilon_at == "power_sum":
        return (np.sum(np.abs(difference) ** p, -1) + epsilon) ** (1 / p)
    return np.linalg.norm(difference + epsilon, ord=p, axis=-1)


def ref_triplet(a, pos, neg, margin=1.0, swap=False, **distance):
    negative = ref_distance(a, neg, **distance)
    if swap:
        negative = np.minimum(negative, ref_distance(pos, neg, **distance))
    return np.maximum(ref_distance(a, pos, **distance) - negative + margin, 0.0)


def ref_cosine_similarity(x, y, epsilon=0.0):
    x, y = _f64(x), _f64(y)
    norm_x = np.sqrt(np.maximum(np.sum(x**2, -1, keepdims=True), epsilon))
    norm_y = np.sqrt(np.maximum(np.sum(y**2, -1, keepdims=True), epsilon))
    return np.sum(x / norm_x * y / norm_y, -1)


# ------------------------------------------------------------- PyTorch's stored numbers

JAX_DISTANCES = {
    "l1": lambda x, y: jnp.sum(jnp.abs(x - y), axis=-1),
    "squared_euclidean": lambda x, y: jnp.sum(jnp.square(x - y), axis=-1),
}


def _ours(case):
    """Our kernel and keyword arguments for a stored PyTorch case, and its input names."""
    kwargs = dict(case["kwargs"])
    if case["function"] == "cosine_embedding_loss":
        return cosine_embedding_loss, kwargs, ("input1", "input2")
    if case["function"] == "triplet_margin_loss":
        if "eps" in kwargs:
            kwargs["epsilon"] = kwargs.pop("eps")
        return triplet_margin_loss, kwargs, ("anchor", "positive", "negative")
    if "distance_function" in kwargs:
        kwargs["distance_function"] = JAX_DISTANCES[kwargs["distance_function"]]
    return triplet_margin_with_distance_loss, kwargs, ("anchor", "positive", "negative")


@pytest.mark.parametrize(
    "function",
    ["cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"],
)
def test_matches_pytorch_values_reductions_and_gradients(function):
    cases = [case for case in PARITY["cases"] if case["function"] == function]
    prepared = [_ours(case) for case in cases]
    inputs = [[np.asarray(case["inputs"][name], np.float32) for name in names]
              for case, (_, _, names) in zip(cases, prepared)]
    targets = [np.asarray(case["inputs"].get("target", ())) for case in cases]

    @jax.jit
    def every_case(inputs, targets):
        results = []
        for (fn, kwargs, names), arrays, target in zip(prepared, inputs, targets):
            extra = (target,) if target.size else ()

            def total(*arrays):
                loss = fn(*arrays, *extra, **kwargs)
                return jnp.sum(loss), loss

            results.append(jax.value_and_grad(total, argnums=tuple(range(len(names))),
                                              has_aux=True)(*arrays))
        return results

    for case, ((_, loss), grads), (_, _, names) in zip(
        cases, every_case(inputs, targets), prepared
    ):
        outputs, label = case["outputs"], str(case["kwargs"])
        np.testing.assert_allclose(loss, outputs["none"], rtol=2e-5, atol=2e-6, err_msg=label)
        np.testing.assert_allclose(np.mean(loss), outputs["mean"], rtol=2e-5, err_msg=label)
        np.testing.assert_allclose(np.sum(loss), outputs["sum"], rtol=2e-5, err_msg=label)
        for name, grad in zip(names, grads):
            np.testing.assert_allclose(grad, case["grads"][name], rtol=1e-4, atol=2e-5,
                                       err_msg=f"{label} {name}")


def test_the_pytorch_numbers_cover_each_function():
    assert PARITY["torch_version"].startswith("2.")
    assert {c["function"] for c in PARITY["cases"]} == {
        "cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"
    }


# ------------------------------------------------------------- cosine embedding loss


def test_cosine_embedding_where_equals_slicing_and_other_axis():
    first, second, _ = _inputs(4, 5)
    kept = np.arange(5) < 3

    @jax.jit
    def forms(a, b):
        masked, grad = jax.value_and_grad(
            lambda a: jnp.sum(cosine_embedding_loss(a, b, TARGETS, where=kept)))(a)
        return masked, grad, cosine_embedding_loss(a.T, b.T, TARGETS.astype(np.int32), axis=0)

    masked, grad, transposed = forms(first, second)
    sliced = ref_cosine_embedding(first[:, :3], second[:, :3], TARGETS)
    np.testing.assert_allclose(masked, sliced.sum(), rtol=1e-6)
    assert np.all(np.asarray(grad)[:, ~kept] == 0)
    np.testing.assert_allclose(transposed, ref_cosine_embedding(first, second, TARGETS), rtol=1e-5)


@pytest.mark.parametrize("target", [0.0, 2.0, 0.5, np.nan])
def test_cosine_embedding_targets_other_than_plus_minus_1_give_nan_for_that_pair(target):
    # PyTorch gives 0 for such a pair.
    first, second, _ = _inputs(4, 5)
    targets = TARGETS.copy()
    targets[1] = target
    loss = jax.jit(cosine_embedding_loss)(first, second, targets)
    assert np.isnan(loss[1]) and np.all(np.isfinite(np.delete(np.asarray(loss), 1)))


# ------------------------------------------------ the cosines at tiny, huge and zero vectors

# cosine_distance is 1 - cosine_similarity.
COSINES = {
    "cosine_embedding_loss": lambda a, b: cosine_embedding_loss(a, b, TARGETS, epsilon=0.0),
    "cosine_similarity": cosine_similarity,
}


@pytest.mark.parametrize("name", sorted(COSINES))
def test_cosines_ignore_the_scale_of_tiny_and_huge_vectors(name):
    """The cosine and its gradient scale exactly, from norms near 1e-30 to 1e30 (near 2e-16,
    ||x||**-3 exceeds float32: the gradient is formed from unit vectors)."""
    first, second, _ = _inputs(4, 5)
    value_and_grad = jax.jit(jax.value_and_grad(lambda a, b: jnp.sum(COSINES[name](a, b))))
    value, grad = value_and_grad(first, second)
    for scale in (1e-30, 2e-16, 1e-10, 1e10, 1e30):
        for arguments in ((first * np.float32(scale), second), (first, second * np.float32(scale))):
            scaled_value, scaled_grad = value_and_grad(*arguments)
            np.testing.assert_allclose(scaled_value, value, rtol=1e-5, err_msg=str(scale))
            want = grad / scale if arguments[1] is second else grad
            np.testing.assert_allclose(scaled_grad, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_cosines_of_a_zero_vector_are_0_with_finite_gradients_where_optax_gives_nan():
    first, second, _ = _inputs(4, 5)
    zero = np.zeros_like(first)
    pairs = ((zero, second), (zero, zero))

    @jax.jit
    def every_pair(pairs):
        return {name: [jax.value_and_grad(lambda a, b: jnp.sum(fn(a, b)), argnums=(0, 1))(*pair)
                       for pair in pairs] for name, fn in COSINES.items()}, jax.grad(
            lambda a: jnp.sum(cosine_embedding_loss(a, pairs[0][1], TARGETS)))(pairs[0][0])

    results, grad = every_pair(pairs)
    for name, values_and_grads in results.items():
        want = {"cosine_embedding_loss": 2.0, "cosine_similarity": 0.0}[name]
        for value, grads in values_and_grads:
            assert value == want, name
            assert all(np.all(np.isfinite(g)) for g in grads), name
    assert np.isnan(jax.jit(optax.losses.cosine_similarity)(zero, second)).all()
    # PyTorch's epsilon gives the gradient second / 1e-6 at a zero vector, as here.
    np.testing.assert_allclose(grad[0], -second[0] / np.linalg.norm(second[0]) / 1e-6, rtol=1e-5)


def test_cosines_of_identical_and_opposite_vectors():
    first = _inputs(4, 5)[0]

    @jax.jit
    def cosines(a):
        return (cosine_similarity(a, a), cosine_distance(a, -3 * a),
                cosine_embedding_loss(a, a, TARGETS),
                jax.grad(lambda b: jnp.sum(cosine_distance(b, a)))(a))

    similarity, distance, embedding, grad = cosines(first)
    np.testing.assert_allclose(similarity, 1.0, rtol=1e-6)
    np.testing.assert_allclose(distance, 2.0, rtol=1e-6)
    np.testing.assert_allclose(embedding, [0, 1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


def test_cosine_gradients_are_finite_for_inputs_near_the_float32_limits():
    tiny = np.finfo(np.float32).tiny
    values = np.array([[3e38, -3e38, 1.0], [1e-37, 0.0, 0.0], [tiny, 0, 0], [tiny, tiny, -tiny]],
                      np.float32)
    grads = jax.jit(lambda a, b: [jax.grad(lambda a, b: jnp.sum(fn(a, b)), argnums=(0, 1))(a, b)
                                  for fn in COSINES.values()])(values, values[::-1])
    assert all(np.all(np.isfinite(g)) for pair in grads for g in pair)


# -------------------------------------------------------------- cosine similarity / distance


def test_cosine_distance_values_grads_vmap():
    predictions, targets, _ = _inputs(4, 5) * np.float32(0.5)
    epsilon = 0.5

    def loss(a, b):
        return cosine_distance(a, b, epsilon=epsilon)

    check_values_and_grads(
        loss, lambda a, b: 1 - ref_cosine_similarity(a, b, epsilon), predictions, targets
    )


def test_cosine_similarity_and_distance_match_optax():
    predictions, targets, _ = _inputs(4, 5)
    masks = (None, np.arange(5) < 3, np.arange(20).reshape(4, 5) % 3 > 0)
    options = [{"epsilon": e, "where": w} for e in (0.0, 2.0) for w in masks]
    options.append({"axis": 0, "epsilon": 1e-3})

    def every_option(similarity, distance):
        return jax.jit(lambda p, t: [similarity(p, t, **k) for k in options] + [distance(p, t)])

    ours = every_option(cosine_similarity, cosine_distance)(predictions, targets)
    theirs = every_option(optax.losses.cosine_similarity, optax.losses.cosine_distance)(
        predictions, targets
    )
    for mine, optax_values, kwargs in zip(ours, theirs, options + ["distance"]):
        np.testing.assert_allclose(mine, optax_values, rtol=1e-6, atol=1e-6, err_msg=str(kwargs))


# ---------------------------------------------------------------- triplet margin loss

def test_triplet_with_epsilon_at_power_sum_values_and_the_gradient_of_each_argument():
    # PyTorch's numbers cover epsilon_at="difference".
    arrays = _inputs(4, 5)
    hparams = {"epsilon_at": "power_sum", "p": 3.0, "epsilon": 1e-2, "swap": True}
    distance = {k: v for k, v in hparams.items() if k in ("p", "epsilon", "epsilon_at")}
    rest = {k: v for k, v in hparams.items() if k not in distance}

    def reference(*args):
        return ref_triplet(*args, **rest, **distance)

    loss, grads = jax.jit(jax.value_and_grad(
        lambda *args: jnp.sum(triplet_margin_loss(*args, **hparams)), argnums=(0, 1, 2)
    ))(*arrays)
    np.testing.assert_allclose(loss, reference(*arrays).sum(), rtol=1e-5)
    for index, grad in enumerate(grads):
        def moved(x, _, index=index):
            return reference(*[x if i == index else a for i, a in enumerate(arrays)])

        np.testing.assert_allclose(
            grad, numeric_grad(moved, arrays[index], None), rtol=1e-4, atol=1e-4
        )


def test_triplet_with_swap_is_never_below_without():
    @jax.jit
    def pairs(*arrays):
        return [(triplet_margin_loss(*arrays, p=p), triplet_margin_loss(*arrays, p=p, swap=True))
                for p in (1.0, float("inf"))] + [
            (triplet_margin_with_distance_loss(*arrays),
             triplet_margin_with_distance_loss(*arrays, swap=True))]

    for plain, swapped in pairs(*_inputs(64, 3, seed=3)):
        assert np.all(swapped >= plain) and np.any(swapped > plain)


def test_triplet_with_epsilon_at_power_sum_matches_optax():
    arrays = _inputs(4, 5)
    options = ({"norm_degree": 4, "margin": 0.5, "eps": 1e-3}, {"axis": 0, "eps": 0.0})
    renamed = {"norm_degree": "p", "eps": "epsilon"}

    def every_option(loss):
        return jax.jit(lambda *a: [
            (loss(*a, **k), jax.grad(lambda x: jnp.sum(loss(x, *a[1:], **k)))(a[0]))
            for k in options])

    theirs = every_option(optax.losses.triplet_margin_loss)(*arrays)
    ours = every_option(lambda *a, **k: triplet_margin_loss(
        *a, epsilon_at="power_sum", **{renamed.get(n, n): v for n, v in k.items()}))(*arrays)
    for (value, grad), (want, want_grad), kwargs in zip(ours, theirs, options):
        np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-6, err_msg=str(kwargs))
        np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6, err_msg=str(kwargs))


def test_triplet_where_optax_is_wrong():
    arrays = _inputs(4, 5)
    same = arrays[0]

    @jax.jit
    def both(a, n):
        return (
            optax.losses.triplet_margin_loss(a, arrays[1], n, norm_degree=3),
            triplet_margin_loss(a, arrays[1], n, p=3.0, epsilon_at="power_sum"),
            jax.grad(lambda a: jnp.sum(optax.losses.triplet_margin_loss(a, same, n, eps=0.0)))(a),
            jax.grad(lambda a: jnp.sum(triplet_margin_loss(
                a, same, n, epsilon=0.0, epsilon_at="power_sum")))(a),
        )

    odd, ours, theirs, grad = both(same, arrays[2])
    # An odd degree: optax sums signed cubes (not a norm, NaN where the sum is negative).
    np.testing.assert_allclose(ours, ref_triplet(*arrays, p=3.0, epsilon_at="power_sum"),
                               rtol=1e-5)
    assert np.isnan(odd).any() or not np.allclose(odd, ours)
    # Coincident anchor and positive with eps=0: optax's gradient is NaN, ours finite.
    assert np.isnan(theirs).any() and np.all(np.isfinite(grad))
    # d(a, p) = 0 contributes gradient 0; d(a, n) its own, where the loss is positive.
    active = ref_triplet(same, same, arrays[2], epsilon=0.0) > 0
    unit = (same - arrays[2]) / np.linalg.norm(same - arrays[2], axis=-1, keepdims=True)
    np.testing.assert_allclose(grad, -unit * active[:, None], rtol=1e-5, atol=1e-6)


def test_triplet_where_equals_slicing_and_masked_entries_get_no_gradient():
    anchors, positives, negatives = _inputs(4, 5)
    kept = np.arange(5) < 3
    forms = ("difference", "power_sum")
    results = jax.jit(lambda a: [jax.value_and_grad(lambda a: jnp.sum(triplet_margin_loss(
        a, positives, negatives, swap=True, epsilon_at=form, where=kept)))(a) for form in forms])(
        anchors)
    for (masked, grad), epsilon_at in zip(results, forms):
        sliced = ref_triplet(anchors[:, :3], positives[:, :3], negatives[:, :3], swap=True,
                             epsilon_at=epsilon_at)
        np.testing.assert_allclose(masked, np.sum(sliced), rtol=1e-6)
        assert np.all(np.asarray(grad)[:, ~kept] == 0)


def test_triplet_gradient_is_0_where_a_distance_is_0():
    anchors = np.zeros((2, 3), np.float32)
    positives = anchors + 0.5  # a - p + eps == 0 exactly
    negatives = np.array([[0.1, 0.2, 0.3], [0.3, 0.1, 0.2]], np.float32)
    degrees = (1.0, 2.0, 3.0, float("inf"))
    grads = jax.jit(lambda a: [jax.grad(lambda a: jnp.sum(triplet_margin_loss(
        a, positives, negatives, p=p, epsilon=0.5)))(a) for p in degrees])(anchors)
    for p, grad in zip(degrees, grads):
        # Only d(a, n) moves the loss: its gradient, negated.
        want = -numeric_grad(lambda a, _: ref_distance(a, negatives, p, 0.5), anchors, None)
        np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-5, err_msg=p)


def test_triplet_distances_of_huge_and_tiny_vectors():
    # |d|**p overflows float32 beyond ~1e19 (p = 2) and underflows below ~1e-19.
    for p in (2.0, 3.0):
        loss_and_grad = jax.jit(jax.value_and_grad(lambda a, b, c, margin: jnp.sum(
            triplet_margin_loss(a, b, c, margin=margin, p=p, epsilon=0.0))))
        for scale in (1e30, 1e-30):
            arrays = _inputs(4, 5).astype(np.float64) * scale
            loss, grad = loss_and_grad(*arrays.astype(np.float32), np.float32(scale))
            want = ref_triplet(*arrays, margin=scale, p=p, epsilon=0.0)
            np.testing.assert_allclose(loss, want.sum(), rtol=1e-5)
            assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_triplet_infinite_entries_give_nan_for_their_triplet():
    arrays = list(_inputs(4, 5))
    arrays[2] = arrays[2].copy()
    arrays[2][1, 0] = np.inf  # alone it would give max(-inf, 0) = 0
    for loss in jax.jit(lambda *a: [triplet_margin_loss(*a, epsilon_at=form)
                                    for form in ("difference", "power_sum")])(*arrays):
        assert np.isnan(loss[1]) and np.all(np.isfinite(np.delete(np.asarray(loss), 1)))


def test_triplet_with_the_default_distance_is_triplet_margin_loss():
    arrays = _inputs(4, 5)
    np.testing.assert_allclose(
        jax.jit(triplet_margin_with_distance_loss)(*arrays), ref_triplet(*arrays), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("function", "arguments", "kwargs", "match"),
    [
        (triplet_margin_loss, ((4, 5), (4, 5), (4, 4)), {}, r"negatives.shape=\(4, 4\)"),
        (triplet_margin_loss, ((4, 5), (3, 5), (4, 5)), {}, r"positives.shape=\(3, 5\)"),
        (triplet_margin_loss, ((4, 5),) * 3, {"p": 0.5}, r"`p` must lie in \[1.0, inf\]"),
        (triplet_margin_loss, ((4, 5),) * 3, {"epsilon": -1.0}, "`epsilon` must lie"),
        (triplet_margin_loss, ((4, 5),) * 3, {"swap": 1}, "`swap` must be True or False"),
        (triplet_margin_loss, ((4, 5),) * 3, {"epsilon_at": "sum"}, "`epsilon_at` must be one"),
        (triplet_margin_loss, ((4, 5),) * 3, {"epsilon_at": "power_sum", "p": float("inf")},
         "`p`=inf needs"),
        (triplet_margin_loss, ((4, 5),) * 3, {"axis": 2}, "`axis`=2 is out of range"),
        (triplet_margin_with_distance_loss, ((4, 5), (4, 5), (4, 6)), {}, "negatives.shape"),
        (triplet_margin_with_distance_loss, ((4, 5),) * 3, {"distance_function": 2.0},
         "`distance_function` must be callable"),
        (triplet_margin_with_distance_loss, ((4, 5),) * 3, {"swap": None}, "`swap` must be"),
        (cosine_embedding_loss, ((4, 5), (4, 4), (4,)), {}, r"second.shape=\(4, 4\)"),
        (cosine_embedding_loss, ((4, 5), (4, 5), (3,)), {}, r"\(4,\), got targets.shape=\(3,\)"),
        (cosine_embedding_loss, ((4, 5), (4, 5), (4, 5)), {}, r"targets.shape=\(4, 5\)"),
        (cosine_embedding_loss, ((4, 5), (4, 5), (4,)), {"epsilon": -1.0}, "`epsilon` must"),
        (cosine_similarity, ((4, 5), (5, 4)), {}, r"targets.shape=\(5, 4\)"),
        (cosine_distance, ((4, 5), (4, 5)), {"where": np.ones((4, 2), bool)}, "`where`"),
        (cosine_distance, ((4, 5), (4, 5)), {"epsilon": -0.1}, "`epsilon` must"),
    ],
)
def test_bad_arguments_raise_naming_them(function, arguments, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(*[np.ones(shape, np.float32) for shape in arguments], **kwargs)
    with pytest.raises(ValueError, match="must have a floating-point dtype"):
        function(np.ones(arguments[0], np.int32), *[np.ones(s) for s in arguments[1:]])


# ------------------------------------------------------------------- ranking softmax loss


def test_ranking_softmax_loss_matches_optax_values_and_gradients():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5)).astype(np.float32) * 3
    labels = jnp.asarray(rng.integers(0, 3, size=(3, 5)))
    where = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    weights = rng.uniform(0, 2, size=(3, 5)).astype(np.float32)
    options = ({}, {"where": where}, {"weights": weights}, {"where": where, "weights": weights})

    def each(loss):
        return jax.jit(lambda s: [jax.value_and_grad(lambda s: jnp.sum(loss(s, **k)))(s) + (
            loss(s, **k),) for k in options])

    ours = each(lambda s, **k: ranking_softmax_loss(s, labels, **k))(logits)
    theirs = each(lambda s, **k: optax.losses.ranking_softmax_loss(s, labels, reduce_fn=None,
                                                                   **k))(logits)
    means = jax.jit(lambda s: [optax.losses.ranking_softmax_loss(s, labels, **k)
                               for k in options])(logits)
    for (_, grad, values), (_, expected, want), mean, kwargs in zip(ours, theirs, means, options):
        np.testing.assert_allclose(values, want, rtol=1e-6, atol=1e-6)
        kept = np.ones(3, bool) if "where" not in kwargs else where.any(-1)
        np.testing.assert_allclose(np.mean(np.asarray(values)[kept]), mean, rtol=1e-6)
        # optax's gradient is NaN on a list without a valid item; ours is 0 there.
        finite = np.isfinite(expected)
        np.testing.assert_allclose(np.asarray(grad)[finite], np.asarray(expected)[finite],
                                   rtol=1e-5, atol=1e-6)
        assert np.all(np.asarray(grad)[~finite] == 0)


def test_ranking_softmax_loss_where_equals_slicing_axis_vmap_and_extremes():
    logits, labels, _ = _inputs(4, 5)
    labels = np.abs(labels)
    kept = np.arange(5) < 3

    @jax.jit
    def forms(s, y):
        return (ranking_softmax_loss(s, y, where=kept), ranking_softmax_loss(s.T, y.T, axis=0),
                ranking_softmax_loss(s * 1e30, y), ranking_softmax_loss(s, 0 * y))

    masked, transposed, huge, unlabelled = forms(logits, labels)

    def reference(s, y):
        s = _f64(s)
        return -np.sum(y * (s - np.log(np.exp(s).sum(-1, keepdims=True))), -1)

    np.testing.assert_allclose(masked, reference(logits[:, :3], labels[:, :3]), rtol=1e-5)
    np.testing.assert_allclose(transposed, reference(logits, labels), rtol=1e-5)
    assert np.all(np.isfinite(huge)) and np.all(unlabelled == 0)


def test_ranking_softmax_loss_bad_arguments():
    logits = np.ones((3, 5), np.float32)
    with pytest.raises(ValueError, match="`logits` must have a floating-point dtype"):
        ranking_softmax_loss(logits.astype(np.int32), logits)
    with pytest.raises(ValueError, match=r"labels.shape=\(3, 4\)"):
        ranking_softmax_loss(logits, logits[:, :4])
    with pytest.raises(ValueError, match=r"`weights` of shape \(3, 4\) does not broadcast"):
        ranking_softmax_loss(logits, logits, weights=logits[:, :4])
    with pytest.raises(ValueError, match="`where`"):
        ranking_softmax_loss(logits, logits, where=np.ones((3, 4), bool))


# ------------------------------------------------------------------------ half precision

EVERY_KERNEL = {
    "cosine_embedding_loss": lambda a, b: cosine_embedding_loss(a, b, TARGETS),
    "cosine_similarity": cosine_similarity,
    "cosine_distance": cosine_distance,
    "triplet_margin_loss": lambda a, b: triplet_margin_loss(a, b, a[::-1], swap=True),
    "triplet_margin_with_distance_loss": lambda a, b: triplet_margin_with_distance_loss(
        a, b, a[::-1]),
    "ranking_softmax_loss": ranking_softmax_loss,
}


def test_half_precision_inputs_are_computed_in_float32():
    # vmap and batch permutations: tests/test_properties.py, for every kernel.
    first, second, _ = _inputs(4, 5)
    second = np.abs(second)
    every = jax.jit(lambda a, b: {name: fn(a, b) for name, fn in EVERY_KERNEL.items()})
    half = every(jnp.asarray(first, jnp.bfloat16), jnp.asarray(second, jnp.bfloat16))
    rounded = every(*[jnp.asarray(x, jnp.bfloat16).astype(jnp.float32) for x in (first, second)])
    for name in EVERY_KERNEL:
        assert half[name].dtype == jnp.float32, name
        np.testing.assert_allclose(half[name], rounded[name], rtol=1e-6, err_msg=name)


# The cosine of each kernel that takes :func:`jaxloss._src.vectors.cosine`, of two inputs.
_COSINES = {
    "cosine_similarity": cosine_similarity,
    "cosine_distance": lambda p, t: 1.0 - cosine_distance(p, t),
    "cosine_embedding_loss": lambda p, t: 1.0 - cosine_embedding_loss(p, t, jnp.ones(len(p))),
    "cosine_embedding_loss_epsilon_0": lambda p, t: 1.0 - cosine_embedding_loss(
        p, t, jnp.ones(len(p)), epsilon=0.0),
}


@pytest.mark.parametrize("name", list(_COSINES))
def test_cosine_step_keeps_no_scaled_or_unit_vectors(name):
    """Compile only: the mean loss and its gradient for ordinary vectors keep at most one
    input-sized temporary (the gradient before it leaves the branch that formed it), no scaled
    or unit vectors."""
    spec = jax.ShapeDtypeStruct((1024, 256), np.float32)
    step = jax.value_and_grad(lambda p, t: jnp.mean(_COSINES[name](p, t)))
    compiled = jax.jit(step).lower(spec, spec).compile()
    assert compiled.memory_analysis().temp_size_in_bytes <= 1.25 * 1024 * 256 * 4


@pytest.mark.parametrize("name", list(_COSINES))
def test_cosine_takes_the_plain_sums_or_the_scaled_vectors_with_the_same_result(name, rng):
    """Ordinary vectors with zero vectors among them (plain sums) and the same batch with
    one huge vector added (scaled vectors for all) agree, values and gradients."""
    cosine = _COSINES[name]
    p = rng.normal(size=(6, 7)).astype(np.float32)
    t = rng.normal(size=(6, 7)).astype(np.float32)
    p[1] = 0.0
    t[2] = 0.0
    huge = np.full((1, 7), 1e30, np.float32)
    weights = np.arange(1.0, 8.0, dtype=np.float32)
    values = jax.jit(cosine)
    grads = jax.jit(jax.grad(lambda a, b: cosine(a, b) @ weights[: len(a)], (0, 1)))
    mixed = np.concatenate([p, huge]), np.concatenate([t, huge])
    plain, plain_grads = values(p, t), grads(p, t)
    scaled, scaled_grads = values(*mixed), grads(*mixed)
    np.testing.assert_allclose(plain, scaled[:6], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(plain[1:3], [0.0, 0.0])
    for got, want in zip(plain_grads, scaled_grads, strict=True):
        np.testing.assert_allclose(got, want[:6], rtol=1e-5, atol=1e-7)


def test_optax_triplet_step_keeps_no_difference_sized_residuals():
    """Compile only: optax's triplet loss (Euclidean, epsilon in the power sum) and its
    gradient with respect to the anchors keep at most the one gradient-sized temporary."""
    spec = jax.ShapeDtypeStruct((1024, 256), np.float32)
    step = jax.value_and_grad(
        lambda a, p, n: jnp.mean(triplet_margin_loss(a, p, n, epsilon_at="power_sum")))
    compiled = jax.jit(step).lower(spec, spec, spec).compile()
    assert compiled.memory_analysis().temp_size_in_bytes <= 1.1 * 1024 * 256 * 4


@pytest.mark.parametrize("swap", [False, True])
def test_optax_triplet_takes_plain_sums_or_p_norm_with_the_same_result(swap, rng):
    """Ordinary triplets (plain sums of squares) and the same batch with one huge triplet
    added (p_norm for all) agree, values and gradients of every argument."""
    a, p, n = (rng.normal(size=(6, 7)).astype(np.float32) for _ in range(3))
    huge = [np.full((1, 7), value, np.float32) for value in (1e30, -1e30, 2e30)]
    weights = np.arange(1.0, 8.0, dtype=np.float32)

    def loss(*triplets):
        return triplet_margin_loss(*triplets, epsilon_at="power_sum", swap=swap)

    grads = jax.jit(jax.grad(lambda *t: loss(*t) @ weights[: len(t[0])], (0, 1, 2)))
    mixed = [np.concatenate([x, h]) for x, h in zip((a, p, n), huge)]
    np.testing.assert_allclose(jax.jit(loss)(a, p, n), jax.jit(loss)(*mixed)[:6], rtol=1e-6)
    for got, want in zip(grads(a, p, n), grads(*mixed), strict=True):
        np.testing.assert_allclose(got, want[:6], rtol=1e-5, atol=1e-6)
