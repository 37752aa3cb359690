"""The kernels' CPU forms against their accelerator forms, on the device at hand.

jaxloss picks some kernels' form by the platform it compiles for (:mod:`jaxloss._src.platform`):
the softmax cross-entropies' row statistics in two passes (CPU) or one (accelerator), the
softmax focal loss in a loop over blocks of rows (CPU) or as one block (accelerator). This
measures both forms on one device, with optax where it has the kernel, forward and
forward+backward under ``jax.jit``, float32, taking turns within each repeat
(``bench.timing``), medians reported, so that each platform's choice rests on a measurement.
On an accelerator the sparse cross-entropy is also measured at Liger-Kernel's reference size.

    PYTHONPATH=. python -m bench.platform_forms [--quick] [--out bench/results/platform_forms]
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import optax

import jaxloss
from bench import cases, timing
from jaxloss._src import platform

FULL_SHAPES = ((4096, 32000), (8192, 1000), (65536, 10))
QUICK_SHAPES = ((64, 100), (256, 10))
FORMS = ("cpu", "accelerator")

KERNELS = {
    # family: (integer labels?, jaxloss kernel, optax kernel or None)
    "sparse_softmax_cross_entropy": (
        True, jaxloss.sparse_softmax_cross_entropy,
        optax.losses.softmax_cross_entropy_with_integer_labels),
    "softmax_cross_entropy": (
        False, jaxloss.softmax_cross_entropy, optax.losses.softmax_cross_entropy),
    "softmax_focal_loss": (False, jaxloss.softmax_focal_loss, None),
}


def _compiled(kernel, mode, logits, labels, forms=None):
    """``kernel``'s mean loss (and its gradient) compiled with ``forms`` forced."""
    def mean_loss(x, y):
        return jnp.mean(kernel(x, y))

    function = mean_loss if mode == "forward" else jax.value_and_grad(mean_loss)
    platform.FORCED_FORMS = forms
    jax.clear_caches()  # the forced choice is not part of jit's cache key
    try:
        return jax.jit(function).lower(logits, labels).compile()
    finally:
        platform.FORCED_FORMS = None
        jax.clear_caches()


def _entry(compiled, logits, labels) -> timing.Entry:
    return timing.Entry(
        call=lambda: jax.block_until_ready(compiled(logits, labels)),
        loss=lambda: float(jax.tree.leaves(compiled(logits, labels))[0]),
    )


def _cases(shapes, accelerator: bool):
    out = [(family, shape) for shape in shapes for family in KERNELS]
    if accelerator and shapes == FULL_SHAPES:
        out.append(("sparse_softmax_cross_entropy", cases.LIGER_CASE_SHAPE))
    return out


def run(shapes, budget: timing.Budget) -> list[dict]:
    accelerator = jax.default_backend() != "cpu"
    rows = []
    for family, (batch, classes) in _cases(shapes, accelerator):
        integer_labels, kernel, optax_kernel = KERNELS[family]
        key_logits, key_labels = jax.random.split(jax.random.key(0))
        logits = 3.0 * jax.random.normal(key_logits, (batch, classes), jnp.float32)
        labels = jax.random.randint(key_labels, (batch,), 0, classes)
        if not integer_labels:
            labels = jax.nn.one_hot(labels, classes, dtype=jnp.float32)
        for mode in ("forward", "forward+backward"):
            entries = {f"{forms}_forms": _entry(_compiled(kernel, mode, logits, labels, forms),
                                                logits, labels) for forms in FORMS}
            if optax_kernel is not None:
                entries["optax"] = _entry(_compiled(optax_kernel, mode, logits, labels),
                                          logits, labels)
            times = timing.measure(entries, budget)
            row = {"family": family, "shape": [batch, classes], "mode": mode}
            for name, entry in entries.items():
                row[f"{name}_ms"] = times[name]["median_ms"]
                row[f"{name}_p25_ms"] = times[name]["p25_ms"]
                row[f"{name}_p75_ms"] = times[name]["p75_ms"]
                row[f"{name}_loss"] = entry.loss()
            row["cpu_over_accelerator"] = row["cpu_forms_ms"] / row["accelerator_forms_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)
            del entries
        del logits, labels
    return rows


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"jaxloss's CPU forms against its accelerator forms on {device} (median ms under "
        "`jax.jit`, float32; the ratio above 1 means the accelerator form is faster).",
        "",
        "| kernel | shape | pass | CPU forms ms | accelerator forms ms | optax ms | "
        "CPU / accelerator forms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        shape = "×".join(str(n) for n in row["shape"])
        optax_ms = f"{row['optax_ms']:.3g}" if "optax_ms" in row else "—"
        lines.append(
            f"| {row['family']} | {shape} | {row['mode']} | {row['cpu_forms_ms']:.3g} | "
            f"{row['accelerator_forms_ms']:.3g} | {optax_ms} | "
            f"{row['cpu_over_accelerator']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    timing.device_benchmark_main(argv, __doc__.splitlines()[0], "bench/results/platform_forms", run,
                                 {"quick": QUICK_SHAPES, "full": FULL_SHAPES}, markdown)


if __name__ == "__main__":
    main()
