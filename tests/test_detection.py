"""Box IoU losses against float64 formulas from the papers and torchvision's stored numbers."""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_properties import numeric_grad
from property_cases import box_overlap_parts, box_aspect_term, ref_ciou, ref_diou, ref_giou

import jaxloss
from jaxloss import losses
from jaxloss import complete_box_iou_loss, generalized_box_iou_loss

PARITY = json.loads(
    (pathlib.Path(__file__).parent / "data" / "torchvision_box_iou_parity.json").read_text()
)
NAMES = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")


REFERENCES = {
    "generalized_box_iou_loss": ref_giou,
    "distance_box_iou_loss": ref_diou,
    "complete_box_iou_loss": ref_ciou,
}


def _boxes():
    boxes = np.asarray(PARITY["boxes"])
    return boxes[:, 0].astype(np.float32), boxes[:, 1].astype(np.float32)


def _value_and_grads(name, **kwargs):
    loss = getattr(jaxloss, name)
    return jax.jit(
        jax.value_and_grad(lambda a, b: jnp.sum(loss(a, b, **kwargs)), argnums=(0, 1))
    )


@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients_match_torchvision(name):
    boxes1, boxes2 = _boxes()
    stored = PARITY["losses"][name]
    with jax.enable_x64(True):
        first = jnp.asarray(np.asarray(PARITY["boxes"])[:, 0])
        second = jnp.asarray(np.asarray(PARITY["boxes"])[:, 1])
        losses = jax.jit(getattr(jaxloss, name))(first, second)
        np.testing.assert_allclose(losses, stored["default_eps"]["loss"], rtol=1e-12, atol=1e-14)
        _, (grad1, grad2) = _value_and_grads(name)(first, second)
        np.testing.assert_allclose(grad1, stored["default_eps"]["grad_boxes1"], atol=1e-12)
        np.testing.assert_allclose(grad2, stored["default_eps"]["grad_boxes2"], atol=1e-12)
    np.testing.assert_allclose(
        jax.jit(getattr(jaxloss, name))(boxes1, boxes2), stored["default_eps"]["loss"], rtol=2e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", NAMES[:2])
def test_eps_enters_as_in_torchvision(name):
    with jax.enable_x64(True):
        boxes = jnp.asarray(PARITY["boxes"])
        losses = getattr(jaxloss, name)(boxes[:, 0], boxes[:, 1], eps=1e-3)
        np.testing.assert_allclose(losses, PARITY["losses"][name]["eps_1e-3"]["loss"], rtol=1e-12)


def test_complete_iou_eps_enters_every_term_unlike_torchvision():
    """torchvision passes its eps to alpha only (the distance IoU keeps 1e-7): ours reaches
    every term, the paper's formula with that eps."""
    with jax.enable_x64(True):
        boxes = np.asarray(PARITY["boxes"])
        losses = complete_box_iou_loss(jnp.asarray(boxes[:, 0]), jnp.asarray(boxes[:, 1]), eps=1e-3)
        np.testing.assert_allclose(losses, ref_ciou(boxes[:, 0], boxes[:, 1], eps=1e-3), rtol=1e-12)
        torchvision = np.asarray(PARITY["losses"]["complete_box_iou_loss"]["eps_1e-3"]["loss"])
        assert np.max(np.abs(np.asarray(losses) - torchvision)) > 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_float32_values_and_gradients_against_float64_formulas(name):
    """Away from ties (identical or touching sides), where one-sided derivatives differ."""
    boxes1, boxes2 = (boxes[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 12]] for boxes in _boxes())
    value, (grad1, grad2) = _value_and_grads(name)(boxes1, boxes2)
    reference = REFERENCES[name]
    np.testing.assert_allclose(value, np.sum(reference(boxes1, boxes2)), rtol=1e-5)
    if name == "complete_box_iou_loss":  # alpha is a constant of the gradient
        _, _, iou, _, _, _ = box_overlap_parts(boxes1, boxes2)
        v = box_aspect_term(boxes1, boxes2)
        alpha = v / (1 - iou + v + 1e-7)
        reference = lambda a, b: ref_ciou(a, b, alpha=alpha)  # noqa: E731
    np.testing.assert_allclose(grad1, numeric_grad(reference, boxes1, boxes2), atol=2e-4)
    np.testing.assert_allclose(
        grad2, numeric_grad(lambda b, a: reference(a, b), boxes2, boxes1), atol=2e-4
    )


def test_generalized_iou_of_a_box_inside_another_is_one_minus_iou():
    outer = jnp.array([[0.0, 0.0, 10.0, 10.0], [-2.0, 1.0, 3.0, 2.5]])
    inner = jnp.array([[2.0, 3.0, 5.0, 7.0], [-1.0, 1.5, 0.0, 2.0]])
    iou = jnp.array([12.0 / 100.0, 0.5 / 7.5])
    for first, second in ((outer, inner), (inner, outer)):
        np.testing.assert_allclose(generalized_box_iou_loss(first, second), 1 - iou, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_boxes_give_finite_losses_and_gradients(name):
    """Identical, flat, point, touching and far-apart boxes: finite loss and gradient;
    losses equal the float64 formula (flat boxes: the atan limit pi / 2)."""
    boxes = np.array(
        [
            [[1.0, 1.0, 4.0, 3.0], [1.0, 1.0, 4.0, 3.0]],  # identical
            [[0.0, 0.0, 2.0, 0.0], [0.0, -1.0, 2.0, 1.0]],  # flat
            [[0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 2.0, 0.0]],  # identical flat
            [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]],  # identical points
            [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]],  # touching
            [[0.0, 0.0, 1.0, 1.0], [1e4, 1e4, 1e4 + 2, 1e4 + 1]],  # far apart
        ],
        np.float32,
    )
    value_and_grads = _value_and_grads(name)
    losses = jax.jit(getattr(jaxloss, name))(boxes[:, 0], boxes[:, 1])
    np.testing.assert_allclose(
        losses, REFERENCES[name](boxes[:, 0], boxes[:, 1]), rtol=1e-5, atol=1e-6
    )
    for pair in boxes:
        _, grads = value_and_grads(pair[0], pair[1])
        assert all(np.isfinite(g).all() for g in grads), (pair, grads)
    np.testing.assert_allclose(losses[0], 0.0, atol=1e-6)
    assert losses[-1] > (1.9 if name == "generalized_box_iou_loss" else 1.0)


def test_degenerate_boxes_against_torchvision():
    """Flat boxes agree; a point box has no aspect ratio (torchvision: NaN; here no
    aspect-ratio term); reversed corners give NaN (torchvision: a finite number)."""
    boxes = np.asarray(PARITY["degenerate_boxes"], np.float32)
    for name in NAMES:
        stored = np.asarray(PARITY["losses"][name]["degenerate"]["loss"], np.float64)
        losses = np.asarray(getattr(jaxloss, name)(boxes[:, 0], boxes[:, 1]))
        assert np.isfinite(stored[3]) and np.isnan(losses[3])
        if name == "complete_box_iou_loss":
            assert np.isnan(stored[1:3]).all()
            np.testing.assert_allclose(losses[1:3], ref_diou(boxes[1:3, 0], boxes[1:3, 1]))
            np.testing.assert_allclose(losses[0], stored[0], rtol=1e-6)
        else:
            np.testing.assert_allclose(losses[:3], stored[:3], rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_reversed_corners_give_nan_only_for_their_pair_and_raise_in_checked_mode(name):
    boxes1, boxes2 = _boxes()
    bad = boxes1.copy()
    bad[2] = bad[2, [2, 1, 0, 3]]  # x2 < x1
    losses = np.asarray(jax.jit(getattr(jaxloss, name))(bad, boxes2))
    assert np.isnan(losses[2]) and np.isfinite(np.delete(losses, 2)).all()
    swapped = np.asarray(jax.jit(getattr(jaxloss, name))(boxes1, bad[:, [0, 3, 2, 1]]))
    assert np.isnan(swapped).any()  # y2 < y1 in the second argument
    with jaxloss.checks(), pytest.raises(ValueError, match="boxes1 width and height"):
        getattr(jaxloss, name)(bad, boxes2)


@pytest.mark.parametrize("name", NAMES)
def test_where_vmap_and_half_precision(name):
    boxes1, boxes2 = _boxes()
    loss = getattr(jaxloss, name)
    mask = np.arange(len(boxes1)) % 3 != 0
    plain = jax.jit(loss)(boxes1, boxes2)
    masked, grad = jax.jit(lambda a, b, m: (
        loss(a, b, where=m), jax.grad(lambda x: jnp.sum(loss(x, b, where=m)))(a)
    ))(boxes1, boxes2, mask)
    np.testing.assert_allclose(masked, np.where(mask, plain, 0.0), rtol=1e-6)
    assert np.all(np.asarray(grad)[~mask] == 0)
    stacked = jax.jit(jax.vmap(loss))(np.stack([boxes1, boxes2]), np.stack([boxes2, boxes1]))
    np.testing.assert_allclose(stacked, np.stack([plain] * 2), rtol=1e-6)
    half1, half2 = (jnp.asarray(b, jnp.bfloat16) for b in (boxes1, boxes2))
    half = jax.jit(loss)(half1, half2)
    assert half.dtype == jnp.float32
    np.testing.assert_allclose(
        half, jax.jit(loss)(half1.astype(jnp.float32), half2.astype(jnp.float32)), rtol=1e-6
    )


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_naming_the_argument(name):
    boxes1, boxes2 = _boxes()
    loss = getattr(jaxloss, name)
    with pytest.raises(ValueError, match="boxes1"):
        loss(boxes1.astype(np.int32), boxes2)
    with pytest.raises(ValueError, match=r"boxes1.shape=\(13, 4\) and boxes2.shape=\(12, 4\)"):
        loss(boxes1, boxes2[:-1])
    with pytest.raises(ValueError, match=r"last axis of 4 corners .*\(13, 3\)"):
        loss(boxes1[:, :3], boxes2[:, :3])
    with pytest.raises(ValueError, match="where"):
        loss(boxes1, boxes2, where=np.ones((2, 13), bool))
    with pytest.raises(ValueError, match="eps"):
        loss(boxes1, boxes2, eps=-1.0)


def test_keras_classes_average_the_kernels():
    boxes1, boxes2 = _boxes()
    for cls, name in zip((losses.GeneralizedBoxIoU, losses.DistanceBoxIoU, losses.CompleteBoxIoU),
                         NAMES):
        expected = np.mean(getattr(jaxloss, name)(boxes2, boxes1, eps=1e-3))
        np.testing.assert_allclose(jax.jit(cls(eps=1e-3))(boxes1, boxes2), expected, rtol=1e-6)
        assert cls.from_config(cls(eps=1e-3).get_config()).get_config()["eps"] == 1e-3
