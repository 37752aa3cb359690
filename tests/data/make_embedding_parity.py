"""Write tests/data/torch_embedding_parity.json: PyTorch's embedding losses on fixed inputs.

Run with a Python that has torch and numpy (no jax needed), from the repository root:
``python tests/data/make_embedding_parity.py``. The inputs are float32 numbers, computed
in float64; each case stores every reduction's output ("none", "mean", "sum") and the
gradients of the summed unreduced loss with respect to each input. tests/test_embedding.py
reads the file and never imports torch.
"""

import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).with_name("torch_embedding_parity.json")
REDUCTIONS = ("none", "mean", "sum")
# The custom distances, by name; tests/test_embedding.py holds their JAX twins.
DISTANCES = {
    "l1": lambda x, y: (x - y).abs().sum(-1),
    "squared_euclidean": lambda x, y: ((x - y) ** 2).sum(-1),
}


def _inputs(count, shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(count)]


def _case(function, name, inputs, kwargs, call_kwargs=None):
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in inputs.items() if k != "target"}
    extra = {} if "target" not in inputs else {"target": torch.tensor(inputs["target"],
                                                                        dtype=torch.float64)}
    call_kwargs = dict(kwargs if call_kwargs is None else call_kwargs)
    outputs = {}
    for reduction in REDUCTIONS:
        outputs[reduction] = function(*tensors.values(), **extra, reduction=reduction,
                                      **call_kwargs)
    outputs["none"].sum().backward()
    return {
        "function": name,
        "inputs": {k: np.asarray(v, np.float64).tolist() for k, v in inputs.items()},
        "kwargs": kwargs,
        "outputs": {k: v.detach().numpy().tolist() for k, v in outputs.items()},
        "grads": {k: t.grad.numpy().tolist() for k, t in tensors.items()},
    }


def main():
    cases = []
    first, second = _inputs(2, (4, 5), seed=0)
    first[3] = 0.0  # a zero vector: cosine 0 under PyTorch's epsilon
    target = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    for margin in (0.0, 0.3):
        cases.append(_case(F.cosine_embedding_loss, "cosine_embedding_loss",
                           {"input1": first, "input2": second, "target": target},
                           {"margin": margin}))
    anchor, positive, negative = _inputs(3, (4, 5), seed=1)
    anchor[2] = positive[2]  # coincident anchor and positive
    for kwargs in ({}, {"margin": 0.3, "p": 1.0, "eps": 0.0}, {"p": 3.0, "swap": True},
                   {"p": 1.5, "swap": True, "margin": 2.0}, {"p": math.inf}):
        cases.append(_case(F.triplet_margin_loss, "triplet_margin_loss",
                           {"anchor": anchor, "positive": positive, "negative": negative},
                           kwargs))
    for kwargs in ({"swap": True, "margin": 2.0}, {"distance_function": "l1"},
                   {"distance_function": "squared_euclidean", "swap": True, "margin": 0.5}):
        call_kwargs = dict(kwargs)
        if "distance_function" in kwargs:
            call_kwargs["distance_function"] = DISTANCES[kwargs["distance_function"]]
        cases.append(_case(F.triplet_margin_with_distance_loss,
                           "triplet_margin_with_distance_loss",
                           {"anchor": anchor, "positive": positive, "negative": negative},
                           kwargs, call_kwargs))
    lines = ",\n".join(json.dumps(case) for case in cases)
    OUT.write_text(f'{{"torch_version": "{torch.__version__}", "cases": [\n{lines}\n]}}\n')


if __name__ == "__main__":
    main()
