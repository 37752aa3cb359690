"""Write torchvision_box_iou_parity.json: torchvision.ops' box IoU losses on fixed boxes.

Run with an environment that has torch and torchvision (the tests only read the JSON):

    python tests/data/make_box_iou_parity.py

The file holds, in float64, the boxes, each loss (``reduction="none"``) at the default
``eps`` and at ``eps=1e-3``, and the gradients of the summed loss with respect to both
boxes, for boxes where torchvision's gradient is defined (no flat or point boxes), plus
torchvision's loss for the boxes it cannot handle (flat, point, reversed corners).
"""

import json
import pathlib

import numpy as np
import torch
import torchvision
from torchvision import ops

LOSSES = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")


def _regular_boxes(rng, count):
    """Random boxes, then the cases the losses single out: identical, nested, disjoint, touching."""
    corners = rng.uniform(0.0, 10.0, (count, 2, 2))
    sides = rng.uniform(0.5, 5.0, (count, 2, 2))
    boxes = np.concatenate([corners, corners + sides], axis=-1)  # [count, 2, 4]
    special = np.array(
        [
            [[1.0, 1.0, 4.0, 3.0], [1.0, 1.0, 4.0, 3.0]],  # identical
            [[0.0, 0.0, 10.0, 10.0], [2.0, 3.0, 5.0, 7.0]],  # nested
            [[0.0, 0.0, 1.0, 1.0], [5.0, 6.0, 7.0, 9.0]],  # disjoint
            [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]],  # touching along a side
            [[0.0, 0.0, 2.0, 1.0], [0.5, -1.0, 1.5, 3.0]],  # crossing
        ]
    )
    return np.concatenate([boxes, special])


DEGENERATE = np.array(
    [
        [[0.0, 0.0, 2.0, 0.0], [0.0, -1.0, 2.0, 1.0]],  # flat box (zero height)
        [[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]],  # point box
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]],  # two identical points
        [[3.0, 0.0, 1.0, 2.0], [0.0, 0.0, 2.0, 2.0]],  # reversed corners: x2 < x1
    ]
)


def _evaluate(name, boxes, eps, grads):
    first = torch.tensor(boxes[:, 0], dtype=torch.float64, requires_grad=grads)
    second = torch.tensor(boxes[:, 1], dtype=torch.float64, requires_grad=grads)
    kwargs = {} if eps is None else {"eps": eps}
    loss = getattr(ops, name)(first, second, reduction="none", **kwargs)
    result = {"loss": loss.detach().numpy().tolist()}
    if grads:
        loss.sum().backward()
        result["grad_boxes1"] = first.grad.numpy().tolist()
        result["grad_boxes2"] = second.grad.numpy().tolist()
    return result


def main():
    regular = _regular_boxes(np.random.default_rng(0), 8)
    data = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "dtype": "float64",
        "boxes": regular.tolist(),
        "degenerate_boxes": DEGENERATE.tolist(),
        "losses": {},
    }
    for name in LOSSES:
        data["losses"][name] = {
            "default_eps": _evaluate(name, regular, None, grads=True),
            "eps_1e-3": _evaluate(name, regular, 1e-3, grads=False),
            "degenerate": _evaluate(name, DEGENERATE, None, grads=False),
        }
    path = pathlib.Path(__file__).with_name("torchvision_box_iou_parity.json")
    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")


if __name__ == "__main__":
    main()
