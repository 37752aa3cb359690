"""jaxloss.torch's embedding, divergence and CTC losses: the forms and differences that
tests/test_torch.py's stored cases do not reach (one-sample layouts, lengths as lists,
vmap, the documented differences), against PyTorch's stored numbers or the formulas."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import torch as F

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "torch_parity.json").read_text())


def _stored(function, note=""):
    case = next(c for c in DATA["cases"] if c["function"] == function and c["note"] == note)
    dtypes = {"float32": np.float32}
    args = [np.asarray(a["array"], dtypes.get(a["dtype"], np.int32)).reshape(a["shape"])
            for a in case["args"]]
    return args, case


def test_ctc_one_sample_layout_under_vmap_gives_pytorchs_losses():
    """``[T, C]`` log-probabilities with 1-D targets and scalar lengths, mapped over the
    batch axis, give PyTorch's per-sample losses and the gradients of their sum."""
    (log_probs, targets, input_lengths, target_lengths), case = _stored("ctc_loss")

    def one(lp, target, frames, labels):
        return F.ctc_loss(lp, target, frames, labels, reduction="none")

    def total(lp):
        return jnp.sum(jax.vmap(one, in_axes=(1, 0, 0, 0))(lp, targets, input_lengths,
                                                             target_lengths))

    losses = jax.jit(jax.vmap(one, in_axes=(1, 0, 0, 0)))(
        log_probs, targets, input_lengths, target_lengths)
    assert losses.shape == (3,)
    np.testing.assert_allclose(losses, case["outputs"]["none"], rtol=1e-5)
    np.testing.assert_allclose(jax.jit(jax.grad(total))(log_probs), case["grads"]["sum"][0],
                               rtol=1e-5, atol=1e-6)


def test_ctc_takes_lengths_as_lists_and_concatenated_targets():
    (log_probs, targets, input_lengths, target_lengths), case = _stored(
        "ctc_loss", "targets concatenated into one axis")
    got = jax.jit(lambda lp: F.ctc_loss(lp, targets, input_lengths.tolist(),
                                        tuple(target_lengths.tolist())))(log_probs)
    np.testing.assert_allclose(got, case["outputs"]["mean"], rtol=1e-5)
    # "mean": each loss over its target length, then over the batch.
    none = np.asarray(case["outputs"]["none"])
    np.testing.assert_allclose(got, np.mean(none / target_lengths), rtol=1e-5)


def test_ctc_empty_targets_cost_the_blank_path_in_both_layouts():
    log_probs = jnp.full((3, 2, 3), -np.log(3.0), jnp.float32)
    lengths = jnp.array([3, 2])
    for targets in (jnp.zeros((0,), jnp.int32), jnp.zeros((2, 0), jnp.int32)):
        loss = F.ctc_loss(log_probs, targets, lengths, jnp.array([0, 0]), reduction="none")
        np.testing.assert_allclose(loss, [3 * np.log(3.0), 2 * np.log(3.0)], rtol=1e-6)


def test_ctc_normalises_log_probs_where_pytorch_uses_them_as_given():
    """A documented difference: a constant added to every log-probability changes nothing
    here; PyTorch's loss would drop by that constant times the input length."""
    (log_probs, targets, input_lengths, target_lengths), case = _stored("ctc_loss")
    shift = 0.5
    got = jax.jit(lambda lp: F.ctc_loss(lp + shift, targets, input_lengths, target_lengths,
                                        reduction="none"))(log_probs)
    torch_loss = np.asarray(case["outputs"]["none"])
    np.testing.assert_allclose(got, torch_loss, rtol=1e-5)
    assert np.all(np.abs(np.asarray(got) - (torch_loss - shift * input_lengths)) > 1.0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((jnp.zeros((4, 2, 3)), jnp.ones((2, 2), jnp.int32), jnp.array([4, 4, 4]),
          jnp.array([2, 2])), r"`input_lengths` must have one length per sample, shape \(2,\)"),
        ((jnp.zeros((4, 2, 3)), jnp.ones((2, 2), jnp.int32), jnp.array([4, 4]),
          jnp.array([2.0, 2.0])), "target_lengths"),
        ((jnp.zeros((4, 3)), jnp.ones((1, 2), jnp.int32), 4, 2), "`targets` must be 1-D"),
        ((jnp.zeros((4, 2, 3)), jnp.ones((3, 2), jnp.int32), jnp.array([4, 4]),
          jnp.array([2, 2])), r"targets.shape=\(3, 2\)"),
        ((jnp.zeros((4, 1, 2, 3)), jnp.ones((1, 2), jnp.int32), jnp.array([4]),
          jnp.array([2])), r"`log_probs` must have shape \[T, N, C\]"),
    ],
    ids=["input_lengths", "float_lengths", "one_sample_targets", "targets_batch", "rank"],
)
def test_ctc_bad_layouts_raise_naming_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        F.ctc_loss(*args)


def test_ctc_impossible_alignment_is_infinite_with_gradient_zero():
    (log_probs, targets, input_lengths, target_lengths), case = _stored(
        "ctc_loss", "an impossible alignment")
    assert case["kwargs"]["zero_infinity"] is False
    loss, grad = jax.jit(jax.value_and_grad(
        lambda lp: F.ctc_loss(lp, targets, input_lengths, target_lengths, reduction="sum")
    ))(log_probs)
    assert np.isinf(loss) and np.isinf(case["outputs"]["sum"])
    torch_grad = np.asarray(case["grads"]["sum"][0])
    frames = input_lengths[1]  # PyTorch's gradient is NaN on the sample's real frames
    assert np.isnan(torch_grad[:frames, 1]).all() and np.all(torch_grad[frames:, 1] == 0)
    assert np.all(np.asarray(grad)[:, 1] == 0)


def test_cosine_embedding_target_outside_plus_minus_one_is_nan():
    """A documented difference: PyTorch gives such a pair 0."""
    a = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    b = jnp.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    loss = jax.jit(lambda t: F.cosine_embedding_loss(a, b, t, reduction="none"))(
        jnp.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(loss[0], 1 - np.sqrt(0.5), rtol=1e-6)
    assert np.isnan(loss[1]) and loss[2] == pytest.approx(1.0)


def test_embedding_and_divergence_losses_under_vmap_equal_each_batch():
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(3))
    target = np.array([[1, -1, 1, -1], [-1, -1, 1, 1]], np.float32)
    log_q = jax.nn.log_softmax(jnp.asarray(a), axis=-1)
    p = jax.nn.softmax(jnp.asarray(b), axis=-1)

    def losses(a, b, c, target, log_q, p):
        return jnp.stack([
            F.cosine_embedding_loss(a, b, target, margin=0.2),
            F.triplet_margin_loss(a, b, c, swap=True),
            F.triplet_margin_with_distance_loss(a, b, c, margin=0.5, reduction="sum"),
            F.kl_div(log_q, p, reduction="batchmean"),
        ])

    mapped = jax.jit(jax.vmap(losses))(a, b, c, target, log_q, p)
    single = jax.jit(losses)
    for index in range(2):
        want = single(a[index], b[index], c[index], target[index], log_q[index], p[index])
        np.testing.assert_allclose(mapped[index], want, rtol=1e-6)
    # batchmean is the divergence per example: the sum over classes, averaged.
    kl = np.sum(np.asarray(p) * (np.log(np.asarray(p)) - np.asarray(log_q)), axis=-1)
    np.testing.assert_allclose(mapped[:, 3], kl.mean(axis=1), rtol=1e-5)


def test_kl_div_edge_cases():
    # One element: batchmean divides nothing (PyTorch's rule for a 0-d input).
    one = F.kl_div(jnp.array(np.log(0.25), jnp.float32), jnp.array(0.5), reduction="batchmean")
    np.testing.assert_allclose(one, 0.5 * np.log(2.0), rtol=1e-6)
    # A target of 0 on a log-probability of -inf contributes 0 (PyTorch: NaN).
    target = jnp.array([[1.0, 0.0]])
    assert F.kl_div(jnp.array([[0.0, -jnp.inf]]), target, reduction="sum") == 0.0
    # The gradient in a target of 0 is 0 (PyTorch: NaN); in t = 1 it is log t + 1 - x.
    grad = jax.grad(lambda t: F.kl_div(jnp.array([[0.0, -1.0]]), t, reduction="sum"))(target)
    np.testing.assert_array_equal(grad, [[1.0, 0.0]])


def test_triplet_rules_that_differ_from_pytorch():
    a, b, c = jnp.zeros((1, 2)), jnp.ones((1, 2)), jnp.full((1, 2), 2.0)
    with pytest.raises(ValueError, match="`p`"):
        F.triplet_margin_loss(a, b, c, p=0.5)  # PyTorch takes p < 1
    # PyTorch raises for margin <= 0; here it is the formula's value.
    l1 = lambda x, y: jnp.sum(jnp.abs(x - y), axis=-1)  # noqa: E731
    loss = F.triplet_margin_with_distance_loss(a, a, b, distance_function=l1, margin=-0.5)
    assert float(loss) == 0.0
    loss = F.triplet_margin_with_distance_loss(a, c, b, distance_function=l1, margin=-0.5)
    assert float(loss) == pytest.approx(1.5)
