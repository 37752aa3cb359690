"""What ``precise=True`` costs in the two softmax cross-entropies, against the default and optax.

Forward and forward+backward under ``jax.jit`` at the cross-entropy sizes of the main
suite, float32, random logits (normal, standard deviation 3) and labels; the three entries
take turns within each repeat (``bench.timing``), medians reported. Each entry's loss is
also recorded, so that the precise and default values can be compared.

    PYTHONPATH=. python -m bench.precise_cost [--quick] [--out bench/results/precise_cost]
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import optax

import jaxloss
from bench import timing

FULL_SHAPES = ((4096, 32000), (8192, 1000), (65536, 10))
QUICK_SHAPES = ((64, 100), (256, 10))


def _sparse(precise):
    return functools.partial(jaxloss.sparse_softmax_cross_entropy, precise=precise)


def _dense(precise):
    return functools.partial(jaxloss.softmax_cross_entropy, precise=precise)


FORMS = {
    # form: (label maker, {entry name: kernel})
    "sparse_softmax_cross_entropy": (
        lambda labels, classes: labels,
        {
            "default": _sparse(False),
            "precise": _sparse(True),
            "optax": optax.losses.softmax_cross_entropy_with_integer_labels,
        },
    ),
    "softmax_cross_entropy": (
        lambda labels, classes: jax.nn.one_hot(labels, classes),
        {
            "default": _dense(False),
            "precise": _dense(True),
            "optax": optax.losses.softmax_cross_entropy,
        },
    ),
}


def _entry(function, logits, labels) -> timing.Entry:
    compiled = jax.jit(function).lower(logits, labels).compile()
    return timing.Entry(
        call=lambda: jax.block_until_ready(compiled(logits, labels)),
        loss=lambda: float(jax.tree.leaves(compiled(logits, labels))[0]),
    )


def run(shapes, budget: timing.Budget) -> list[dict]:
    rows = []
    for batch, classes in shapes:
        key_logits, key_labels = jax.random.split(jax.random.key(0))
        logits = 3.0 * jax.random.normal(key_logits, (batch, classes), jnp.float32)
        int_labels = jax.random.randint(key_labels, (batch,), 0, classes)
        for form, (make_labels, kernels) in FORMS.items():
            labels = make_labels(int_labels, classes)
            for mode in ("forward", "forward+backward"):
                entries = {}
                for name, kernel in kernels.items():

                    def mean_loss(x, y, kernel=kernel):
                        return jnp.mean(kernel(x, y))

                    function = mean_loss if mode == "forward" else jax.value_and_grad(mean_loss)
                    entries[name] = _entry(function, logits, labels)
                times = timing.measure(entries, budget)
                row = {"form": form, "shape": [batch, classes], "mode": mode}
                for name in kernels:
                    row[f"{name}_ms"] = times[name]["median_ms"]
                    row[f"{name}_loss"] = entries[name].loss()
                row["precise_over_default"] = row["precise_ms"] / row["default_ms"]
                row["precise_over_optax"] = row["precise_ms"] / row["optax_ms"]
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"`precise=True` against the default and optax on {device} (median ms under `jax.jit`,",
        "float32; time ratios above 1 mean precise is slower).",
        "",
        (
            "| kernel | shape | pass | default ms | precise ms | optax ms | precise / default |"
            " precise / optax |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        shape = "×".join(str(n) for n in row["shape"])
        lines.append(
            f"| {row['form']} | {shape} | {row['mode']} | {row['default_ms']:.3g} | "
            f"{row['precise_ms']:.3g} | {row['optax_ms']:.3g} | "
            f"{row['precise_over_default']:.2f} | {row['precise_over_optax']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    timing.device_benchmark_main(argv, __doc__.splitlines()[0], "bench/results/precise_cost", run,
                                 {"quick": QUICK_SHAPES, "full": FULL_SHAPES}, markdown)


if __name__ == "__main__":
    main()
