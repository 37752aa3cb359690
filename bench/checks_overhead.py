"""What `jaxloss.checks()` costs when on, and proof that it costs nothing when off.

For a few kernels, forward and forward+backward under `jax.jit` are timed with checked
mode off and on (interleaved, medians; `bench.timing`), and the lowered programs are
compared: with checks off the program holds no host callback.

    PYTHONPATH=. python bench/checks_overhead.py [--quick] [--out bench/results/checks_overhead]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import jaxloss
from bench import timing

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


def _entry(function, first, second) -> timing.Entry:
    compiled = jax.jit(function).lower(first, second).compile()
    return timing.Entry(
        call=lambda: jax.block_until_ready(compiled(first, second)),
        loss=lambda: float(jnp.sum(jax.tree.leaves(compiled(first, second))[0])),
    )


def run(budget: timing.Budget) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for name, (kernel, make_first, make_second) in CASES.items():
        first, second = jnp.asarray(make_first(rng)), jnp.asarray(make_second(rng))

        def forward(a, b, kernel=kernel):
            return jnp.mean(kernel(a, b))

        forward_backward = jax.value_and_grad(forward)
        for mode, function in (("forward", forward), ("forward+backward", forward_backward)):
            off_text = jax.jit(function).lower(first, second).as_text()
            entries = {"off": _entry(function, first, second)}
            with jaxloss.checks():
                on_text = jax.jit(function).lower(first, second).as_text()
                entries["on"] = _entry(function, first, second)
            times = timing.measure(entries, budget)
            rows.append(
                {
                    "case": name,
                    "mode": mode,
                    "off_ms": times["off"]["median_ms"],
                    "on_ms": times["on"]["median_ms"],
                    "ratio": times["on"]["median_ms"] / times["off"]["median_ms"],
                    "callbacks_off": off_text.count("callback"),
                    "callbacks_on": on_text.count("callback"),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"Checked mode cost on {device} (median ms under `jax.jit`; callbacks counted in the",
        "lowered program).",
        "",
        "| kernel | pass | off ms | on ms | on / off | callbacks off | callbacks on |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['mode']} | {row['off_ms']:.3f} | {row['on_ms']:.3f} | "
            f"{row['ratio']:.2f} | {row['callbacks_off']} | {row['callbacks_on']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few repeats only")
    parser.add_argument("--out", default="bench/results/checks_overhead", help="output folder")
    args = parser.parse_args()
    rows = run(timing.BUDGETS["quick" if args.quick else "full"])
    timing.write_device_rows(args.out, args.quick, rows, markdown)

if __name__ == "__main__":
    main()
