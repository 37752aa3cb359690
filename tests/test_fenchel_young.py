"""The sparsemax projection and the Fenchel-Young losses against float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp
from kernel_properties import check_where_elementwise

import jaxloss
from jaxloss import make_fenchel_young_loss, multiclass_sparsemax_loss, sparsemax, sparsemax_loss

SCORES = np.array(
    [[1.5, 1.0, -2.0, 0.2], [0.0, 0.0, 0.0, 0.0], [3.0, -1.0, 0.5, 2.9], [1e4, -1e4, 0.0, 1e4]],
    np.float32,
)
LABELS = np.array([1, 2, 3, 0])


def _sparsemax(x):
    """Sort-based projection in float64."""
    z = np.asarray(x, np.float64)
    descending = -np.sort(-z, -1)
    ranks = np.arange(1, z.shape[-1] + 1)
    support = 1 + ranks * descending > np.cumsum(descending, -1)
    size = support.sum(-1, keepdims=True)
    threshold = (np.sum(np.where(support, descending, 0), -1, keepdims=True) - 1) / size
    return np.maximum(z - threshold, 0)


def test_sparsemax_is_the_projection_with_its_jacobian_in_both_modes():
    probs = jax.jit(sparsemax)(SCORES)
    np.testing.assert_allclose(probs, _sparsemax(SCORES), atol=1e-6)
    np.testing.assert_allclose(np.sum(probs, -1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sparsemax(SCORES.T, axis=0), probs.T, atol=1e-6)
    row = SCORES[2]
    support = (_sparsemax(row) > 0).astype(np.float64)
    jacobian = np.diag(support) - np.outer(support, support) / support.sum()
    np.testing.assert_allclose(jax.jacfwd(sparsemax)(row), jacobian, atol=1e-6)
    np.testing.assert_allclose(jax.jacrev(sparsemax)(row), jacobian, atol=1e-6)
    half = sparsemax(jnp.asarray(SCORES, jnp.bfloat16))
    assert half.dtype == jnp.float32
    rounded = jnp.asarray(SCORES, jnp.bfloat16).astype(jnp.float32)
    np.testing.assert_allclose(half, sparsemax(rounded))
    # A -inf score has probability 0 and does not spoil the others.
    np.testing.assert_allclose(sparsemax(np.array([1.0, -np.inf, 1.0])), [0.5, 0.0, 0.5])


def _hard_rows(rng, classes):
    """Ties, -inf (masked) scores, one finite score, extreme and random rows."""
    random = rng.normal(0.0, 3.0, (6, classes))
    ties = rng.integers(-2, 3, (4, classes)).astype(np.float64)
    masked = rng.normal(0.0, 1.0, (3, classes))
    masked[0, ::2] = -np.inf
    masked[1, 1:] = -np.inf
    masked[2, :-2] = -np.inf
    extreme = rng.choice([-3e38, -1e30, 0.0, 1e30, 3e38], (2, classes))
    # Every score within 1/classes of the maximum: the whole row is the support.
    staircase = -np.cumsum(np.full((1, classes), 1.0 / classes**2), -1)
    return np.concatenate([random, ties, masked, extreme, staircase])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparsemax_without_a_sort_equals_the_sort_form(rng, dtype):
    rows = _hard_rows(rng, 37)
    with jax.enable_x64(dtype == np.float64):
        probs = jax.jit(sparsemax)(rows.astype(dtype))
        assert probs.dtype == dtype
        tolerance = 1e-6 if dtype == np.float32 else 1e-13
        # The shift by the row's maximum is the reference's too: extreme rows stay finite.
        shifted = rows.astype(dtype).astype(np.float64)
        shifted = shifted - shifted.max(-1, keepdims=True)
        np.testing.assert_allclose(probs, _sparsemax(shifted), atol=tolerance)
        np.testing.assert_array_equal(probs > 0, _sparsemax(shifted) > tolerance)
        labels = rng.integers(0, rows.shape[-1], rows.shape[0])
        grad = jax.grad(lambda x: jnp.sum(multiclass_sparsemax_loss(x, labels)))(
            rows.astype(dtype))
        one_hot = np.eye(rows.shape[-1])[labels]
        np.testing.assert_allclose(grad, _sparsemax(shifted) - one_hot, atol=tolerance)


def test_sparsemax_under_vmap_and_second_derivatives():
    row = SCORES[2]
    np.testing.assert_allclose(jax.vmap(sparsemax)(SCORES), sparsemax(SCORES))
    # The projection is piecewise linear: its second derivatives are 0 where defined.
    np.testing.assert_array_equal(jax.hessian(lambda x: sparsemax(x)[0])(row), 0.0)

    def loss(x):
        return multiclass_sparsemax_loss(x[None], LABELS[2:3])[0]

    # Reverse over reverse: the threshold's loop is never differentiated.
    loss_hessian = jax.jacrev(jax.jacrev(loss))(row)
    support = (_sparsemax(row) > 0).astype(np.float64)
    np.testing.assert_allclose(
        loss_hessian, np.diag(support) - np.outer(support, support) / support.sum(), atol=1e-6)


def _multiclass(x, y):
    p = _sparsemax(x)
    x = np.asarray(x, np.float64)
    gaps = np.where(p > 0, x - np.take_along_axis(x, y[:, None], -1), 0)
    return np.sum(p * gaps, -1) + 0.5 * (1 - np.sum(p * p, -1))


def test_multiclass_sparsemax_loss_values_gradient_and_bad_labels():
    loss, grad = jax.jit(jax.value_and_grad(
        lambda x: jnp.sum(multiclass_sparsemax_loss(x, LABELS) * jnp.arange(1.0, 5.0))))(SCORES)
    losses = multiclass_sparsemax_loss(SCORES, LABELS)
    np.testing.assert_allclose(losses, _multiclass(SCORES, LABELS), rtol=1e-6, atol=1e-6)
    one_hot = np.eye(4)[LABELS]
    np.testing.assert_allclose(
        grad, np.arange(1.0, 5.0)[:, None] * (_sparsemax(SCORES) - one_hot), atol=1e-6
    )
    assert losses[3] == 0.25  # a tie with another class: p = (1/2, 0, 0, 1/2)
    # The label's score leads the others by at least 1: p is its one-hot, the loss 0.
    assert multiclass_sparsemax_loss(np.array([[3.0, 0.0, 1.9]], np.float32), np.array([0]))[0] == 0
    bad = jax.jit(multiclass_sparsemax_loss)(SCORES, LABELS.copy() * np.array([1, 1, 9, 1]))
    assert np.isnan(bad[2]) and np.isfinite(bad[np.array([0, 1, 3])]).all()
    batched = jax.vmap(multiclass_sparsemax_loss)(SCORES[None], LABELS[None])
    np.testing.assert_allclose(batched[0], losses, rtol=1e-6)
    np.testing.assert_allclose(
        multiclass_sparsemax_loss(SCORES.T, LABELS, axis=0), losses, rtol=1e-6, atol=1e-7
    )


def _sparse_plus(x):
    return np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))


def test_binary_sparsemax_loss_values_gradient_soft_labels_and_where():
    logits = np.array([[-3.0, -0.5, 0.0, 0.4, 2.0, 1e30]], np.float32)
    labels = np.array([[1.0, 0.0, 0.5, 0.7, 1.0, 1.0]], np.float32)
    x, y = logits.astype(np.float64), labels.astype(np.float64)
    want = y * _sparse_plus(-x) + (1 - y) * _sparse_plus(x) - y * (1 - y)
    loss, grad = jax.jit(jax.value_and_grad(lambda a: jnp.sum(sparsemax_loss(a, labels))))(logits)
    np.testing.assert_allclose(sparsemax_loss(logits, labels), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, np.clip((x + 1) / 2, 0, 1) - y, atol=1e-6)
    # A label equal to the binary sparsemax (x + 1) / 2 costs nothing.
    assert float(sparsemax_loss(np.float32(0.4), np.float32(0.7))) == pytest.approx(0, abs=1e-7)
    check_where_elementwise(sparsemax_loss, logits, labels)
    bad = sparsemax_loss(logits, np.where(np.arange(6) == 1, 1.5, labels).astype(np.float32))
    assert np.isnan(bad[0, 1]) and np.isfinite(np.delete(np.asarray(bad), 1)).all()


def test_binary_sparsemax_loss_at_infinite_logits_is_exact_with_gradient_p_minus_y():
    logits = np.array([-np.inf, -np.inf, np.inf, np.inf, -np.inf, np.inf], np.float32)
    labels = np.array([0.0, 1.0, 1.0, 0.0, 0.25, 0.5], np.float32)
    loss, grad = jax.jit(jax.value_and_grad(lambda a: jnp.sum(sparsemax_loss(a, labels)),
                                            ))(logits)
    losses = sparsemax_loss(logits, labels)
    # Label on the side the logit points to: exactly 0; elsewhere truly infinite.
    np.testing.assert_array_equal(losses, [0.0, np.inf, 0.0, np.inf, np.inf, np.inf])
    assert loss == np.inf
    np.testing.assert_array_equal(grad, (logits > 0).astype(np.float32) - labels)


def test_fenchel_young_loss_of_logsumexp_is_the_softmax_cross_entropy():
    loss = make_fenchel_young_loss(logsumexp)
    one_hot = np.eye(4, dtype=np.float32)[LABELS]
    np.testing.assert_allclose(
        jax.jit(loss)(SCORES[:3], one_hot[:3]),
        jaxloss.softmax_cross_entropy(SCORES[:3], one_hot[:3]), rtol=1e-6)
    stacked = loss(np.stack([SCORES, SCORES]), np.stack([one_hot, one_hot]))
    assert stacked.shape == (2, 4)
    # Extra arguments reach max_fun unchanged.
    scaled = make_fenchel_young_loss(lambda row, scale: scale * logsumexp(row / scale))
    np.testing.assert_allclose(scaled(SCORES[:1], one_hot[:1], 1.0), loss(SCORES[:1], one_hot[:1]),
                               rtol=1e-6)
