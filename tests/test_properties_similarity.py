"""Identities of the divergence, segmentation and metric-learning kernels.

KL(p, p) = 0 and KL >= 0, a perfect mask has Dice loss 0, Tversky with equal weights is
Dice and swapping prediction and target swaps its weights, cosine similarity ignores
scale and is symmetric, Circle loss ignores the names of the classes. Checked by
hypothesis under ``jax.jit`` (budget: ``tests/conftest.py``).
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from property_cases import (
    BATCH,
    CASES,
    CLASSES,
    arrays,
    assert_close,
    class_indices,
    compiled,
    distributions,
    floats,
    probability_rows,
    values,
)

import jaxloss

SHAPE = (BATCH, CLASSES)
MASK_SHAPE = (BATCH, 6)


@given(p=distributions(SHAPE), q=distributions(SHAPE))
def test_kl_divergence_is_zero_for_equal_and_non_negative_for_distributions(p, q):
    kl = compiled(jaxloss.kl_divergence)
    loss, grad = kl(p, p)
    np.testing.assert_array_equal(loss, 0.0)
    # d/dp KL(p || p) = -p / clip(p): -1 where p >= epsilon, 0 below it.
    assert_close(grad, np.where(p >= np.float32(1e-7), -1.0, 0.0), rtol=1e-6, atol=0)
    # Gibbs' inequality, up to the epsilon-clipping of zeros (at most C * epsilon of mass).
    assert np.all(np.asarray(kl(q, p)[0]) >= -CLASSES * 1e-7 * 20)


@given(t=arrays(MASK_SHAPE, values(0.0, 1.0)), p=arrays(MASK_SHAPE, floats(0, 1)))
def test_dice_and_tversky_of_a_perfect_mask_are_zero_and_dice_is_symmetric_and_bounded(t, p):
    dice = compiled(CASES["dice_loss"].fn)
    perfect = np.asarray(dice(t, t)[0], np.float64)
    count = t.sum(-1)
    # 1 - 2n / (2n + eps) = eps / (2n + eps); an empty target against itself gives 1.
    assert_close(perfect, np.where(count > 0, 1e-7 / (2 * count + 1e-7), 1.0), atol=1e-7)
    # Tversky, any weights: no missed and no extra mass, 1 - n / (n + eps).
    tversky, _ = compiled(CASES["tversky_loss"].fn, alpha=0.7, beta=0.3)(t, t)
    assert_close(tversky, np.where(count > 0, 1e-7 / (count + 1e-7), 1.0), atol=1e-7)
    loss = np.asarray(dice(p, t)[0])
    np.testing.assert_array_equal(dice(t, p)[0], loss)
    assert np.all((loss >= -1e-6) & (loss <= 1 + 1e-6))


@given(
    p=arrays(MASK_SHAPE, floats(0, 1)),
    t=arrays(MASK_SHAPE, st.one_of(values(0.0, 1.0), floats(0, 1))),
)
def test_tversky_with_equal_weights_is_dice_and_swapping_swaps_the_weights(p, t):
    tversky = CASES["tversky_loss"].fn
    equal, _ = compiled(tversky)(p, t)
    dice, _ = compiled(CASES["dice_loss"].fn)(p, t)
    # Equal weights: 2 overlap / (sum t + sum p + 2 eps) against Dice's single eps.
    assert_close(equal, dice, rtol=1e-5, atol=2e-7 / (p.sum(-1) + t.sum(-1) + 1e-7))
    weighted, _ = compiled(tversky, alpha=0.7, beta=0.3)(p, t)
    swapped, _ = compiled(tversky, alpha=0.3, beta=0.7)(t, p)
    assert_close(swapped, weighted, rtol=1e-5, atol=1e-6)


@given(data=st.data())
def test_cosine_similarity_ignores_scale_and_is_symmetric(data):
    p, t = data.draw(CASES["negative_cosine_similarity"].args)
    # Vectors shorter than epsilon are clipped (documented): give those rows a direction.
    direction = np.array([1.0, 2.0, -2.0], np.float32)
    p = np.where(np.abs(p).max(-1, keepdims=True) > 1e-3, p, direction)
    t = np.where(np.abs(t).max(-1, keepdims=True) > 1e-3, t, -direction)
    fn = compiled(jaxloss.negative_cosine_similarity)
    loss = np.asarray(fn(p, t)[0], np.float64)
    np.testing.assert_array_equal(fn(t, p)[0], loss)
    assert np.all(np.abs(loss) <= 1 + 1e-6)
    k = np.float32(2.0 ** data.draw(st.integers(-20, 20)))  # exact while nothing overflows
    with np.errstate(over="ignore"):
        scaled = k * p
    if np.all(np.isfinite(scaled)):
        assert_close(fn(scaled, t)[0], loss, rtol=1e-6, atol=1e-7)
    assert_close(fn(p, p)[0], -1.0, rtol=1e-6)
    assert_close(fn(p, -p)[0], 1.0, rtol=1e-6)


@given(data=st.data())
def test_circle_loss_ignores_class_names_and_is_non_negative(data):
    embeddings, labels = data.draw(CASES["circle_loss"].args)
    hparams = data.draw(st.sampled_from(CASES["circle_loss"].hparams))
    fn = compiled(jaxloss.circle_loss, **hparams)
    loss, grad = fn(embeddings, labels)
    renamed, renamed_grad = fn(embeddings, (7 - 3 * labels).astype(np.int32))
    assert_close(renamed, loss, rtol=1e-6, atol=0)
    assert_close(renamed_grad, grad, rtol=1e-6, atol=0)
    assert np.all(np.asarray(loss) >= 0)


@given(data=st.data())
def test_generalized_cross_entropy_ignores_other_classes(data):
    """Only the true class's probability enters: the rest may change freely."""
    p, labels = data.draw(CASES["generalized_cross_entropy"].args)
    other = data.draw(probability_rows(SHAPE))
    true = np.arange(CLASSES) == labels[:, None]
    mixed = np.where(true, p, other)
    fn = compiled(jaxloss.generalized_cross_entropy)
    np.testing.assert_array_equal(fn(mixed, labels)[0], fn(p, labels)[0])
    grad = np.asarray(fn(p, labels)[1])
    assert np.all(grad[~true] == 0)


@given(labels=class_indices((BATCH,)))
def test_generalized_cross_entropy_of_a_certain_prediction_is_zero(labels):
    p = np.eye(CLASSES, dtype=np.float32)[labels]
    for q in (0.1, 0.5, 1.0):
        loss, _ = compiled(jaxloss.generalized_cross_entropy, **({} if q == 0.5 else {"q": q}))(
            p, labels
        )
        np.testing.assert_array_equal(loss, 0.0)
