"""What ``precise=True`` costs: the three entries of each form, timed in turns, and the table."""

from __future__ import annotations

import functools
import json

import jax
import optax

import jaxloss
from bench.common import device_study, timing
from bench.common.device_study import MODES
from bench.common.jax_entries import compiled_entry, mean_loss_function, random_logits_and_labels
from bench.common.markdown import captioned_table, shape_text


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


def run(shapes, budget: timing.Budget) -> list[dict]:
    rows = []
    for batch, classes in shapes:
        logits, int_labels = random_logits_and_labels(batch, classes)
        for form, (make_labels, kernels) in FORMS.items():
            labels = make_labels(int_labels, classes)
            for mode in MODES:
                entries = {}
                for name, kernel in kernels.items():
                    function = mean_loss_function(kernel, with_gradient=mode != "forward")
                    compiled = jax.jit(function).lower(logits, labels).compile()
                    entries[name] = compiled_entry(compiled, logits, labels)
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
    header = ("kernel", "shape", "pass", "default ms", "precise ms", "optax ms",
              "precise / default", "precise / optax")
    cells = [(row["form"], shape_text(row["shape"]), row["mode"], f"{row['default_ms']:.3g}",
              f"{row['precise_ms']:.3g}", f"{row['optax_ms']:.3g}",
              f"{row['precise_over_default']:.2f}", f"{row['precise_over_optax']:.2f}")
             for row in rows]
    caption = (f"`precise=True` against the default and optax on {device} (median ms under "
               "`jax.jit`,\nfloat32; time ratios above 1 mean precise is slower).")
    return captioned_table(caption, header, cells, text_columns=3)


def main(argv=None) -> None:
    device_study.device_benchmark_main(argv, package=__package__, run=run, markdown=markdown)
