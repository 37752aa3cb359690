"""Write tests/data/torch_margin_parity.json: PyTorch's margin losses on small inputs.

Run with a Python that has torch and numpy (no jax needed):

    python tests/data/make_margin_parity.py

Each case stores the loss name, the inputs (float32-representable numbers, computed in
float64 by PyTorch), the keyword arguments in PyTorch's names, the per-element or
per-example loss (``reduction="none"``) and the gradients of its sum with respect to
the floating inputs. tests/test_margin.py reads the file; it never imports torch.
"""

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).with_name("torch_margin_parity.json")
rng = np.random.default_rng(20260)


def floats(*shape, scale=1.5):
    return np.float32(rng.normal(size=shape) * scale).astype(np.float64)


def signs(*shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def run(name, floating, others, kwargs, call, dtype=torch.float64):
    tensors = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in floating]
    extra = [torch.tensor(a, dtype=dtype) if a.dtype.kind == "f" else torch.tensor(a)
             for a in others]
    options = {k: torch.tensor(v, dtype=dtype) if k == "weight" else v for k, v in kwargs.items()}
    loss = call(*tensors, *extra, reduction="none", **options)
    loss.sum().backward()
    return {
        "loss": name,
        "dtype": str(dtype).removeprefix("torch."),
        "floating": [np.asarray(a).tolist() for a in floating],
        "others": [np.asarray(a).tolist() for a in others],
        "kwargs": kwargs,
        "output": loss.detach().numpy().tolist(),
        "grads": [t.grad.numpy().tolist() for t in tensors],
    }


def multilabel_targets():
    """Lists padded with -1: a repeated class, an empty list, entries after the first -1."""
    return np.array(
        [[3, 0, -1, 1, 2], [2, 2, 4, -1, -1], [-1, 0, 1, 2, 3], [0, 1, 2, 3, 4]], np.int64
    )


cases = []
for _ in range(2):
    cases.append(run("soft_margin_loss", [floats(3, 4, scale=3.0)], [signs(3, 4)], {},
                     F.soft_margin_loss))
labels01 = (rng.random((3, 4)) < 0.5).astype(np.float64)
cases.append(run("multilabel_soft_margin_loss", [floats(3, 4)], [labels01], {},
                 F.multilabel_soft_margin_loss))
cases.append(run("multilabel_soft_margin_loss", [floats(3, 4)], [labels01],
                 {"weight": [0.5, 1.0, 2.0, 0.25]}, F.multilabel_soft_margin_loss))
for kwargs in ({}, {"p": 2}, {"p": 1, "margin": 0.5, "weight": [1.0, 2.0, 0.5, 3.0, 1.5]},
               {"p": 2, "margin": 2.0, "weight": [1.0, 2.0, 0.5, 3.0, 1.5]}):
    cases.append(run("multi_margin_loss", [floats(4, 5)],
                     [rng.integers(0, 5, 4)], kwargs, F.multi_margin_loss))
cases.append(run("multilabel_margin_loss", [floats(4, 5)], [multilabel_targets()], {},
                 F.multilabel_margin_loss))
for margin in (0.0, 0.7, -0.3):
    cases.append(run("margin_ranking_loss", [floats(3, 4), floats(3, 4)], [signs(3, 4)],
                     {"margin": margin}, F.margin_ranking_loss))
mixed = np.where(rng.random((3, 4)) < 0.8, signs(3, 4), 0.5)
for margin in (1.0, 2.5):
    cases.append(run("hinge_embedding_loss", [np.abs(floats(3, 4))], [mixed],
                     {"margin": margin}, F.hinge_embedding_loss))

# Where PyTorch's numbers are wrong or looser than ours (tests/test_margin.py pins each).
overflow = run("soft_margin_loss", [np.array([-100.0, 100.0, 1.0])],
               [np.array([1.0, -1.0, 1.0])], {}, F.soft_margin_loss, torch.float32)
nan_target = run("hinge_embedding_loss", [np.array([0.3, 0.3])],
                 [np.array([1.0, np.nan])], {}, F.hinge_embedding_loss)
outside = run("multilabel_soft_margin_loss", [np.array([[1.0, -2.0, 3.0]])],
              [np.array([[1.0, 0.0, 2.0]])], {}, F.multilabel_soft_margin_loss)

OUT.write_text(json.dumps(
    {"torch_version": torch.__version__, "cases": cases,
     "differences": {"soft_margin_overflow": overflow, "hinge_embedding_nan_target": nan_target,
                     "multilabel_soft_margin_label_outside_0_1": outside}},
    indent=None, separators=(",", ":"),
) + "\n")
print(f"wrote {len(cases)} cases to {OUT}")
