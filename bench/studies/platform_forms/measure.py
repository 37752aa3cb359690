"""Both platform forms of each kernel, and optax's, timed in turns on one device; the table."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import optax

import jaxloss
from bench.common import device_study, timing
from bench.common.device_study import FULL_SHAPES, MODES
from bench.common.jax_entries import compiled_entry, mean_loss_function, random_logits_and_labels
from bench.common.markdown import captioned_table, shape_text
from bench.suite.cases import LIGER_CASE_SHAPE
from jaxloss._src import platform

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
    function = mean_loss_function(kernel, with_gradient=mode != "forward")
    platform.FORCED_FORMS = forms
    jax.clear_caches()  # the forced choice is not part of jit's cache key
    try:
        return jax.jit(function).lower(logits, labels).compile()
    finally:
        platform.FORCED_FORMS = None
        jax.clear_caches()


def _cases(shapes, accelerator: bool):
    out = [(family, shape) for shape in shapes for family in KERNELS]
    if accelerator and shapes == FULL_SHAPES:
        out.append(("sparse_softmax_cross_entropy", LIGER_CASE_SHAPE))
    return out


def run(shapes, budget: timing.Budget) -> list[dict]:
    accelerator = jax.default_backend() != "cpu"
    rows = []
    for family, (batch, classes) in _cases(shapes, accelerator):
        integer_labels, kernel, optax_kernel = KERNELS[family]
        logits, labels = random_logits_and_labels(batch, classes)
        if not integer_labels:
            labels = jax.nn.one_hot(labels, classes, dtype=jnp.float32)
        for mode in MODES:
            entries = {f"{forms}_forms": compiled_entry(
                _compiled(kernel, mode, logits, labels, forms), logits, labels) for forms in FORMS}
            if optax_kernel is not None:
                entries["optax"] = compiled_entry(_compiled(optax_kernel, mode, logits, labels),
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
    header = ("kernel", "shape", "pass", "CPU forms ms", "accelerator forms ms", "optax ms",
              "CPU / accelerator forms")
    cells = [(row["family"], shape_text(row["shape"]), row["mode"], f"{row['cpu_forms_ms']:.3g}",
              f"{row['accelerator_forms_ms']:.3g}",
              f"{row['optax_ms']:.3g}" if "optax_ms" in row else "—",
              f"{row['cpu_over_accelerator']:.2f}")
             for row in rows]
    caption = (f"jaxloss's CPU forms against its accelerator forms on {device} (median ms under "
               "`jax.jit`, float32; the ratio above 1 means the accelerator form is faster).")
    return captioned_table(caption, header, cells, text_columns=3)


def main(argv=None) -> None:
    device_study.device_benchmark_main(argv, package=__package__, run=run, markdown=markdown)
