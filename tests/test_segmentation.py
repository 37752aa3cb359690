"""Dice and Tversky kernels against float64 formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from kernel_properties import (
    check_bad_input,
    check_half_precision,
    check_values_and_grads,
    check_vmap,
)
from property_cases import ref_generalized_dice

import jaxloss.train
from jaxloss import (
    dice_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    losses,
    multiclass_dice_loss,
    tversky_loss,
)


def _dice(p, t, axis=None):
    return 1 - 2 * np.sum(t * p, axis) / (np.sum(t, axis) + np.sum(p, axis) + 1e-7)


def _tversky(p, t, alpha=0.7, beta=0.3, axis=(1, 2)):
    overlap = np.sum(t * p, axis)
    return 1 - overlap / (
        overlap + alpha * np.sum(t * (1 - p), axis) + beta * np.sum((1 - t) * p, axis) + 1e-7
    )


def _masks():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (3, 4, 5)).astype(np.float32), rng.integers(0, 2, (3, 4, 5)).astype(
        np.float32
    )


@pytest.mark.parametrize("axis", [None, -1, (1, 2)])
def test_dice(axis):
    predictions, targets = _masks()
    fn = lambda p, t, **kw: dice_loss(p, t, axis=axis, **kw)
    check_values_and_grads(fn, lambda p, t: _dice(p, t, axis), predictions, targets)
    check_half_precision(fn, predictions, targets)
    check_bad_input(fn, predictions, targets)


def test_tversky_and_its_dice_case():
    predictions, targets = _masks()
    fn = lambda p, t, **kw: tversky_loss(p, t, alpha=0.7, beta=0.3, axis=(1, 2), **kw)
    check_values_and_grads(fn, _tversky, predictions, targets)
    check_vmap(fn, predictions, targets)
    np.testing.assert_allclose(
        tversky_loss(predictions, targets, axis=-1),
        dice_loss(predictions, targets, axis=-1),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="alpha"):
        tversky_loss(predictions, targets, alpha=-1.0)


def test_where_empty_masks_and_bad_axes():
    predictions, targets = _masks()
    mask = np.arange(5) < 3
    np.testing.assert_allclose(
        dice_loss(predictions, targets, axis=(1, 2), where=mask),
        _dice(predictions[..., :3], targets[..., :3], (1, 2)),
        rtol=1e-6,
    )
    zeros = jnp.zeros((2, 3))
    np.testing.assert_allclose(dice_loss(zeros, zeros, axis=1), [1.0, 1.0])
    assert np.all(np.isfinite(jax.grad(lambda p: jnp.sum(dice_loss(p, zeros, axis=1)))(zeros)))
    with pytest.raises(ValueError, match="repeat"):
        dice_loss(predictions, targets, axis=(1, -2))
    with pytest.raises(ValueError, match="out of range"):
        dice_loss(predictions, targets, axis=3)


# ------------------------------------------- focal Tversky, generalised and multi-class Dice


def _classes(shape=(2, 4, 3, 3), seed=2):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape).astype(np.float32) * 2
    labels = rng.integers(0, shape[-1], shape[:-1])
    labels[1] = np.where(labels[1] == 2, 0, labels[1])  # class 2 absent from example 1
    return logits, np.eye(shape[-1], dtype=np.float32)[labels]


def _softmax(x):
    e = np.exp(np.asarray(x, np.float64) - np.max(x, -1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky(gamma):
    predictions, targets = _masks()
    fn = lambda p, t, **kw: focal_tversky_loss(
        p, t, alpha=0.7, beta=0.3, gamma=gamma, axis=(1, 2), **kw
    )
    check_values_and_grads(fn, lambda p, t: _tversky(p, t) ** gamma, predictions, targets)
    np.testing.assert_allclose(
        focal_tversky_loss(predictions, targets, gamma=1.0, axis=-1),
        tversky_loss(predictions, targets, axis=-1),
        rtol=1e-6,
    )
    # A perfect prediction without epsilon: loss 0 and gradient 0 (not x**0.75's inf slope).
    perfect, grad = jax.jit(jax.value_and_grad(
        lambda p: jnp.sum(focal_tversky_loss(p, targets, epsilon=0.0, axis=(1, 2)))))(targets)
    assert perfect == 0.0 and np.all(np.asarray(grad) == 0.0)
    # Targets above 1 can make the Tversky loss negative: clamped to 0, never NaN.
    p, t = jnp.array([[0.9, 0.9]]), jnp.array([[2.0, 2.0]])
    assert float(tversky_loss(p, t, axis=-1)[0]) < 0.0
    assert float(focal_tversky_loss(p, t, axis=-1)[0]) == 0.0
    with pytest.raises(ValueError, match="gamma"):
        focal_tversky_loss(predictions, targets, gamma=0.0)


def test_generalized_dice():
    logits, targets = _classes()
    probs = _softmax(logits).astype(np.float32)
    check_values_and_grads(generalized_dice_loss, ref_generalized_dice, probs, targets)
    check_vmap(generalized_dice_loss, probs, targets)
    # One class weighs nothing against itself: with one class present it is the Dice loss.
    single = np.zeros_like(targets)
    single[..., 0] = 1.0
    np.testing.assert_allclose(
        generalized_dice_loss(probs, single),
        ref_generalized_dice(probs, single),
        rtol=1e-6,
    )
    empty = jnp.zeros((2, 3, 2))
    np.testing.assert_allclose(generalized_dice_loss(empty, empty), [1.0, 1.0])
    with pytest.raises(ValueError, match="class axis"):
        generalized_dice_loss(probs, targets, axis=-1)
    outside = probs.copy()
    outside[1, 0, 0, 0] = 1.5
    loss = np.asarray(generalized_dice_loss(outside, targets))
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


def test_keras_generalized_dice():
    """One loss per example, reduced with sample weights; the config round-trips."""
    logits, targets = _classes()
    probs = _softmax(logits).astype(np.float32)
    per_example = ref_generalized_dice(probs, targets)
    weights = np.array([0.5, 2.0], np.float32)
    loss = losses.GeneralizedDice()
    np.testing.assert_allclose(jax.jit(loss)(targets, probs), per_example.mean(), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(loss)(targets, probs, weights),
                               (weights * per_example).mean(), rtol=1e-6)
    pixels = losses.GeneralizedDice(axis=(1, 2), reduction="none")
    np.testing.assert_allclose(jax.jit(pixels)(targets, probs), per_example, rtol=1e-6)
    config = pixels.get_config()
    assert config["axis"] == [1, 2] and config["name"] == "generalized_dice"
    assert losses.GeneralizedDice.from_config(config).get_config() == config
    assert type(losses.get("GeneralizedDice")) is losses.GeneralizedDice
    assert losses.get("generalized_dice") is losses.generalized_dice


def test_keras_generalized_dice_trains_in_jaxloss_train():
    class PixelClassifier(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(2, 3, rngs=rngs)

        def __call__(self, x):
            return jax.nn.softmax(self.linear(x), axis=-1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[..., 0] > 0).astype(int) + (x[..., 1] > 1)]
    trainer = jaxloss.train.compile(PixelClassifier(nnx.Rngs(0)), optimizer="adam",
                                    loss=losses.GeneralizedDice(), mesh=None)
    history = trainer.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


def ref_multiclass_dice(p, t, fp=0.5, fn=0.5, smooth=1.0, axes=(1, 2)):
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    overlap, predicted, target = np.sum(p * t, axes), np.sum(p, axes), np.sum(t, axes)
    return 1 - (overlap + smooth) / (
        overlap + fp * (predicted - overlap) + fn * (target - overlap) + smooth
    )


def test_multiclass_dice_values_gradients_and_options():
    logits, targets = _classes()
    probs = _softmax(logits).astype(np.float32)
    fn = lambda p, t: multiclass_dice_loss(
        p, t, false_positive_weight=0.3, false_negative_weight=0.7, class_reduction="none"
    )
    check_values_and_grads(
        fn, lambda p, t: ref_multiclass_dice(p, t, 0.3, 0.7), probs, targets
    )
    weights = np.array([0.5, 1.0, 2.0], np.float32)
    per_class = ref_multiclass_dice(probs, targets) * weights
    np.testing.assert_allclose(
        jax.jit(lambda p, t: multiclass_dice_loss(
            p, t, class_weights=weights, ignore_background=True, class_reduction="sum"))(
            probs, targets),
        per_class[:, 1:].sum(-1), rtol=1e-6,
    )
    np.testing.assert_allclose(
        multiclass_dice_loss(logits, targets, from_logits=True),
        ref_multiclass_dice(_softmax(logits), targets).mean(-1), rtol=1e-6,
    )
    with pytest.raises(ValueError, match="class_weights"):
        multiclass_dice_loss(probs, targets, class_weights=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="class_reduction"):
        multiclass_dice_loss(probs, targets, class_reduction="batch")


def test_multiclass_dice_gives_optax_numbers():
    """Live optax: each optax function is multiclass_dice_loss with renamed arguments."""
    optax_losses = pytest.importorskip("optax.losses")
    logits, targets = _classes()
    probs = _softmax(logits).astype(np.float32)
    weights = np.array([0.5, 1.0, 2.0], np.float32)
    with jax.numpy_rank_promotion("allow"):  # optax broadcasts its class weights implicitly
        _compare_with_optax(optax_losses, logits, targets, probs, weights)


def _compare_with_optax(optax_losses, logits, targets, probs, weights):
    pairs = [
        (optax_losses.dice_loss(logits, targets), multiclass_dice_loss(
            logits, targets, from_logits=True)),
        (optax_losses.dice_loss(
            logits, targets, alpha=0.3, beta=0.7, smooth=0.5, class_weights=weights,
            ignore_background=True, reduction="none", axis=(1, 2)),
         multiclass_dice_loss(
            logits, targets, from_logits=True, false_positive_weight=0.3,
            false_negative_weight=0.7, smooth=0.5, class_weights=weights,
            ignore_background=True, class_reduction="none", axis=(1, 2))),
        (optax_losses.dice_loss(probs, targets, apply_softmax=False, reduction="sum"),
         multiclass_dice_loss(probs, targets, class_reduction="sum")),
        (optax_losses.binary_dice_loss(logits[..., 0], targets[..., 0], smooth=0.1),
         multiclass_dice_loss(logits[..., :1], targets[..., :1], from_logits=True, smooth=0.1)),
    ]
    sizes = targets.sum((0, 1, 2))
    skin_weights = 1.0 / (sizes**2 + 1e-7)
    skin_weights = skin_weights / skin_weights.sum() * 3
    pairs.append((
        optax_losses.multiclass_generalized_dice_loss(logits, targets, ignore_background=True),
        jnp.mean(multiclass_dice_loss(logits, targets, from_logits=True,
                                      class_weights=skin_weights.astype(np.float32),
                                      ignore_background=True, class_reduction="none")),
    ))
    for expected, got in pairs:
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


def test_binary_probabilities_where_optax_raises():
    """optax.losses.binary_dice_loss(apply_sigmoid=False) checks that the single class
    sums to 1, so it rejects every probability map but all ones; the formula's number."""
    optax_losses = pytest.importorskip("optax.losses")
    probs, targets = _masks()
    with pytest.raises(ValueError, match="sum to 1"):
        optax_losses.binary_dice_loss(jnp.asarray(probs), jnp.asarray(targets), apply_sigmoid=False)
    got = multiclass_dice_loss(probs[..., None], targets[..., None])
    np.testing.assert_allclose(got, ref_multiclass_dice(probs[..., None], targets[..., None])[
        ..., 0], rtol=1e-6)


@pytest.mark.parametrize("fn", [generalized_dice_loss, multiclass_dice_loss, focal_tversky_loss])
def test_where_against_slicing_and_half_precision(fn):
    logits, targets = _classes()
    probs = _softmax(logits).astype(np.float32)
    mask = (np.arange(4) < 3)[:, None, None]
    masked = jax.jit(lambda p, t, m: fn(p, t, where=m))(probs, targets, mask)
    np.testing.assert_allclose(masked, fn(probs[:, :3], targets[:, :3]), rtol=1e-6)
    check_half_precision(fn, probs, targets)
