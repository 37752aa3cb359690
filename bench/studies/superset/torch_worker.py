"""``python -m bench.studies.superset.torch_worker SIZE REPEATS OUT``: PyTorch's side of the
study, in an interpreter that has PyTorch (and no JAX).

Per case: forward+backward of ``torch.nn.functional.<name>`` (mean reduction) with respect to
the first input, eager, on the CPU; warm-up, then ``REPEATS`` timed calls; median process
(CPU) time and wall time. Writes the rows as JSON to ``OUT``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.studies.superset.cases import TORCH_CASES
from bench.studies.superset.inputs import make


def step(name, arguments, keywords):
    first = torch.from_numpy(arguments[0]).requires_grad_(True)
    rest = [torch.from_numpy(a) for a in arguments[1:]]

    def call():
        first.grad = None
        loss = getattr(F, name)(first, *rest, **keywords)
        loss.backward()
        return float(loss.detach())

    return call


def main(argv=None):
    size, repeats, out = (sys.argv[1:] if argv is None else argv)
    rows = []
    steps = {}
    for case, inputs, name in TORCH_CASES:
        arguments, keywords = make(inputs, size)
        steps[case] = step(name, arguments, keywords)
    losses = {case: call() for case, call in steps.items()}
    wall = {case: [] for case in steps}
    cpu = {case: [] for case in steps}
    for _ in range(int(repeats)):
        for case, call in steps.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            call()
            wall[case].append(time.perf_counter() - wall_start)
            cpu[case].append(time.process_time() - cpu_start)
    for case, _, _ in TORCH_CASES:
        rows.append({"case": case, "loss": losses[case],
                     "median_cpu_s": statistics.median(cpu[case]),
                     "median_wall_s": statistics.median(wall[case])})
    with open(out, "w") as f:
        json.dump({"torch": torch.__version__, "numpy": np.__version__,
                   "threads": torch.get_num_threads(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
