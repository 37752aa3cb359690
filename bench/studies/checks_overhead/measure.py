"""Checked mode off and on: each kernel's two programs timed in turns, callbacks counted."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

import jaxloss
from bench.common import device_study, timing
from bench.common.device_study import MODES
from bench.common.jax_entries import compiled_entry, mean_loss_function
from bench.common.markdown import captioned_table

CASES = {
    # name: (kernel, first argument, second argument)
    "sparse_softmax_cross_entropy [4096, 1024]": (
        jaxloss.sparse_softmax_cross_entropy,
        lambda rng: rng.normal(size=(4096, 1024)).astype(np.float32),
        lambda rng: rng.integers(0, 1024, size=(4096,)).astype(np.int32),
    ),
    "binary_cross_entropy [4096, 256]": (
        jaxloss.binary_cross_entropy,
        lambda rng: rng.uniform(0.01, 0.99, size=(4096, 256)).astype(np.float32),
        lambda rng: rng.integers(0, 2, size=(4096, 256)).astype(np.float32),
    ),
    "squared_error [4096, 256]": (
        jaxloss.squared_error,
        lambda rng: rng.normal(size=(4096, 256)).astype(np.float32),
        lambda rng: rng.normal(size=(4096, 256)).astype(np.float32),
    ),
}


def run(cases: dict, budget: timing.Budget) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for name, (kernel, make_first, make_second) in cases.items():
        first, second = jnp.asarray(make_first(rng)), jnp.asarray(make_second(rng))
        for mode in MODES:
            function = mean_loss_function(kernel, with_gradient=mode != "forward")
            lowered = {"off": jax.jit(function).lower(first, second)}
            with jaxloss.checks():
                lowered["on"] = jax.jit(function).lower(first, second)
            entries = {state: compiled_entry(program.compile(), first, second)
                       for state, program in lowered.items()}
            times = timing.measure(entries, budget)
            rows.append(
                {
                    "case": name,
                    "mode": mode,
                    "off_ms": times["off"]["median_ms"],
                    "on_ms": times["on"]["median_ms"],
                    "ratio": times["on"]["median_ms"] / times["off"]["median_ms"],
                    "callbacks_off": lowered["off"].as_text().count("callback"),
                    "callbacks_on": lowered["on"].as_text().count("callback"),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict], device: str) -> str:
    header = ("kernel", "pass", "off ms", "on ms", "on / off", "callbacks off", "callbacks on")
    cells = [(row["case"], row["mode"], f"{row['off_ms']:.3f}", f"{row['on_ms']:.3f}",
              f"{row['ratio']:.2f}", str(row["callbacks_off"]), str(row["callbacks_on"]))
             for row in rows]
    caption = (f"Checked mode cost on {device} (median ms under `jax.jit`; callbacks counted in "
               "the\nlowered program).")
    return captioned_table(caption, header, cells, text_columns=2)


def main(argv=None) -> None:
    # The same kernels either way: --quick only shortens the repeats.
    device_study.device_benchmark_main(argv, package=__package__, run=run,
                                       cases={"quick": CASES, "full": CASES},
                                       markdown=markdown, quick_help="a few repeats only")
