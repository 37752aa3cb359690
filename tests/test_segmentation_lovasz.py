"""Lovász hinge and Lovász-Softmax against float64 references written from the paper's sets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import check_half_precision, check_values_and_grads, check_vmap
from property_cases import ref_lovasz_hinge, ref_lovasz_softmax

import jaxloss
from jaxloss import losses, lovasz_hinge_loss, lovasz_softmax_loss


def _binary(shape=(2, 3, 4)):
    rng = np.random.default_rng(0)
    return rng.normal(size=shape).astype(np.float32) * 2, rng.integers(0, 2, shape).astype(
        np.float32
    )


def _multiclass(shape=(2, 5), classes=3):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=shape + (classes,)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, classes - 1, shape)  # the last class is absent
    return probs.astype(np.float32), labels.astype(np.int32)


def test_lovasz_hinge_values_gradients_vmap_and_half_precision():
    logits, labels = _binary()
    check_values_and_grads(lovasz_hinge_loss, ref_lovasz_hinge, logits, labels)
    check_vmap(lovasz_hinge_loss, logits, labels)
    check_half_precision(lovasz_hinge_loss, logits, labels)
    flat = jax.jit(lovasz_hinge_loss)(logits.reshape(2, -1), labels.reshape(2, -1))
    np.testing.assert_allclose(flat, lovasz_hinge_loss(logits, labels), rtol=1e-6)


def test_lovasz_hinge_of_one_pixel_is_the_hinge():
    logits = jnp.array([[-2.0], [-0.5], [0.0], [0.7], [3.0]] * 2)
    labels = jnp.repeat(jnp.array([[0.0], [1.0]]), 5, axis=0)
    expected = np.maximum(1 - np.asarray(logits) * (2 * np.asarray(labels) - 1), 0)[:, 0]
    np.testing.assert_allclose(jax.jit(lovasz_hinge_loss)(logits, labels), expected, rtol=1e-6)


def test_lovasz_hinge_of_one_class_images_and_perfect_margins():
    """All background or all foreground: finite values and gradients; margins >= 1: zero."""
    logits, _ = _binary((2, 6))
    for value in (0.0, 1.0):
        labels = np.full((2, 6), value, np.float32)
        loss, grad = jax.jit(jax.value_and_grad(
            lambda x, y: jnp.sum(lovasz_hinge_loss(x, y))))(logits, labels)
        np.testing.assert_allclose(loss, np.sum(ref_lovasz_hinge(logits, labels)), rtol=1e-6)
        assert np.isfinite(grad).all()
        confident = np.where(labels > 0, 2.0, -2.0).astype(np.float32)
        np.testing.assert_array_equal(lovasz_hinge_loss(confident, labels), [0.0, 0.0])


def test_lovasz_hinge_where_leaves_pixels_out():
    logits, labels = _binary((2, 8))
    mask = np.arange(8) < 5
    masked = jax.jit(lambda x, y, m: lovasz_hinge_loss(x, y, where=m))(logits, labels, mask)
    np.testing.assert_allclose(masked, ref_lovasz_hinge(logits[:, :5], labels[:, :5]), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(lovasz_hinge_loss(x, labels, where=mask)))(logits)
    assert np.all(np.asarray(grad)[:, ~mask] == 0)
    nan_outside = logits.copy()
    nan_outside[:, 6] = np.nan
    np.testing.assert_allclose(lovasz_hinge_loss(nan_outside, labels, where=mask), masked)


@pytest.mark.parametrize("classes", ["present", "all"])
def test_lovasz_softmax_values_gradients_and_vmap(classes):
    probs, labels = _multiclass()
    fn = lambda p, y: lovasz_softmax_loss(p, y, classes=classes)  # noqa: E731
    check_values_and_grads(fn, lambda p, y: ref_lovasz_softmax(p, y, classes=classes), probs,
                           labels)
    if classes == "all":
        return
    check_vmap(fn, probs, labels)
    half = jax.jit(fn)(jnp.asarray(probs, jnp.bfloat16), labels)
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(
        half, fn(jnp.asarray(probs, jnp.bfloat16).astype(jnp.float32), labels), rtol=1e-6
    )


def test_lovasz_softmax_classes_and_masks():
    probs, labels = _multiclass((2, 5), classes=3)
    one_class = np.ones((2, 5), np.int32)
    present = lovasz_softmax_loss(probs, one_class)
    np.testing.assert_allclose(present, ref_lovasz_softmax(probs, one_class), rtol=1e-6)
    # Only class 1 is present: the loss is that class's alone.
    np.testing.assert_allclose(
        present, _one_class(probs[..., 1], one_class == 1), rtol=1e-6
    )
    mask = np.arange(5) < 3
    masked = jax.jit(lambda p, y, m: lovasz_softmax_loss(p, y, where=m))(probs, labels, mask)
    np.testing.assert_allclose(masked, ref_lovasz_softmax(probs[:, :3], labels[:, :3]), rtol=1e-6)
    everything_masked = lovasz_softmax_loss(probs, labels, where=np.zeros(5, bool))
    np.testing.assert_array_equal(everything_masked, [0.0, 0.0])
    grad = jax.grad(lambda p: jnp.sum(lovasz_softmax_loss(p, labels, where=mask)))(probs)
    assert np.all(np.asarray(grad)[:, ~mask] == 0)


def _one_class(prob, foreground):
    """One class's Lovász extension of its errors |fg - p|: steps of |S| / |fg ∪ S|."""
    errors = np.abs(foreground.astype(np.float64) - prob)
    out = []
    for e, g in zip(errors, foreground):
        order = np.argsort(-e)
        union = lambda k: g.sum() + np.sum(~g[order[:k]])  # noqa: E731
        steps = [k / union(k) - (k - 1) / union(k - 1) if k > 1 else 1 / union(1)
                 for k in range(1, len(e) + 1)]
        out.append(np.dot(e[order], steps))
    return np.array(out)


def test_bad_values_give_nan_for_their_image_and_raise_in_checked_mode():
    logits, labels = _binary((3, 4))
    for bad in (0.5, 2.0, -1.0, np.nan):
        wrong = labels.copy()
        wrong[1, 2] = bad
        loss = np.asarray(jax.jit(lovasz_hinge_loss)(logits, wrong))
        assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()
    probs, classes = _multiclass((3, 4))
    for probs_bad, labels_bad in (((1, 2, 0), None), (None, 4), (None, -1)):
        p, y = probs.copy(), classes.copy()
        if probs_bad is not None:
            p[probs_bad] = 1.5
        else:
            y[1, 2] = labels_bad
        loss = np.asarray(jax.jit(lovasz_softmax_loss)(p, y))
        assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()
    with jaxloss.checks():
        with pytest.raises(ValueError, match="labels"):
            lovasz_hinge_loss(logits, labels * 2)
        with pytest.raises(ValueError, match="labels"):
            lovasz_softmax_loss(probs, classes + 4)


def test_bad_inputs_raise_naming_the_argument():
    logits, labels = _binary((3, 4))
    probs, classes = _multiclass((3, 4))
    with pytest.raises(ValueError, match="logits"):
        lovasz_hinge_loss(logits.astype(np.int32), labels)
    with pytest.raises(ValueError, match=r"logits.shape=\(3, 4\) and labels.shape=\(3, 3\)"):
        lovasz_hinge_loss(logits, labels[:, :3])
    with pytest.raises(ValueError, match="batch axis and pixel axes"):
        lovasz_hinge_loss(logits[0], labels[0])
    with pytest.raises(ValueError, match="where"):
        lovasz_hinge_loss(logits, labels, where=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="integer class indices"):
        lovasz_softmax_loss(probs, classes.astype(np.float32))
    with pytest.raises(ValueError, match=r"labels.shape=\(3, 3\) for probs.shape=\(3, 4, 3\)"):
        lovasz_softmax_loss(probs, classes[:, :3])
    with pytest.raises(ValueError, match="classes"):
        lovasz_softmax_loss(probs, classes, classes="some")


def test_keras_classes():
    logits, labels = _binary((3, 4))
    np.testing.assert_allclose(
        jax.jit(losses.LovaszHinge())(labels, logits), ref_lovasz_hinge(logits, labels).mean(),
        rtol=1e-6,
    )
    probs, classes = _multiclass((3, 4))
    float_labels = classes.astype(np.float32)
    per_image = losses.LovaszSoftmax(classes="all", reduction="none")
    np.testing.assert_allclose(
        jax.jit(per_image)(float_labels, probs), ref_lovasz_softmax(probs, classes, "all"),
        rtol=1e-6,
    )
    float_labels[1, 0] = 1.7  # not a class: NaN for its image, as the sparse losses do
    values = np.asarray(jax.jit(per_image)(float_labels, probs))
    assert np.isnan(values[1]) and np.isfinite(values[[0, 2]]).all()
