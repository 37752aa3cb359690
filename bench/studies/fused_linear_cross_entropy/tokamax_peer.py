"""tokamax's linear softmax cross-entropy as a peer of the fused loss, on this machine.

tokamax (Google's Pallas kernel library) computes the same scalar, the mean over tokens of
``logsumexp(h W) - (h W)[label]``, in ``tokamax.linear_softmax_cross_entropy_loss``. Its
``"xla"`` implementation is the one that runs on a CPU or GPU (its memory-saving kernel is
written for TPUs). Each step, ``jax.value_and_grad`` over (hidden, weight), is compiled for
four functions: the fused loss with the ``"forward"`` schedule (gradients in the forward
pass, the default for a mean) and with ``"recompute"``, explicit logits followed by
:func:`jaxloss.sparse_softmax_cross_entropy` (the reference), and tokamax. Memory is the
compiler's ``memory_analysis()``; times are medians of calls interleaved in one process::

    python -m bench.studies.fused_linear_cross_entropy.tokamax_peer
    python -m bench.studies.fused_linear_cross_entropy.tokamax_peer --quick

Needs ``tokamax`` (in the ``bench`` extra). Writes ``tokamax-<machine>-<date>-<commit>``
``.json`` and ``.md`` to ``--out``, by default ``bench/results/fused_linear_cross_entropy/``.
"""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp

from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies.fused_linear_cross_entropy.measure import time_interleaved
from jaxloss import fused_linear_cross_entropy, sparse_softmax_cross_entropy

SHAPES = ((2048, 512, 32768), (2048, 256, 20000), (8192, 1024, 65536))
"""(tokens, hidden, vocabulary) measured by default: matmul-bound shapes of the fused guide."""


def fused(schedule):
    def loss(hidden, weight, labels):
        return fused_linear_cross_entropy(hidden, weight, labels, schedule=schedule)

    return loss


def explicit(hidden, weight, labels):
    return jnp.mean(sparse_softmax_cross_entropy(hidden @ weight, labels))


def tokamax_xla(hidden, weight, labels):
    import tokamax
    from absl import flags

    # tokamax reads its options from absl flags, parsing sys.argv (this study's own
    # arguments) unless the flags are already parsed.
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return tokamax.linear_softmax_cross_entropy_loss(
        hidden, labels, weight, reduction="mean", implementation="xla")


def compile_step(name, loss, *inputs):
    """``value_and_grad`` of ``loss`` over (hidden, weight), compiled, with its memory
    analysis (``compile_with_memory``). tokamax's is traced under standard dtype promotion:
    it mixes float32 and bfloat16 internally, which strict promotion rejects."""
    promotion = "standard" if name == "tokamax" else jax.config.jax_numpy_dtype_promotion
    with jax.numpy_dtype_promotion(promotion):
        return compile_with_memory(jax.value_and_grad(loss, argnums=(0, 1)), *inputs)


VARIANTS = {"fused": fused("forward"), "fused_recompute": fused("recompute"),
            "explicit": explicit, "tokamax": tokamax_xla}


def run(shapes, repeats):
    rows = []
    for tokens, hidden_dim, vocab in shapes:
        keys = jax.random.split(jax.random.key(0), 3)
        inputs = (jax.random.normal(keys[0], (tokens, hidden_dim)),
                  jax.random.normal(keys[1], (hidden_dim, vocab)) / hidden_dim**0.5,
                  jax.random.randint(keys[2], (tokens,), 0, vocab))
        row = {"tokens": tokens, "hidden": hidden_dim, "vocab": vocab}
        compiled = {}
        for name, loss in VARIANTS.items():
            compiled[name], row[name] = compile_step(name, loss, *inputs)
            row[name]["loss"] = float(compiled[name](*inputs)[0])
        timings = time_interleaved(compiled, inputs, repeats)
        for name in compiled:
            row[name].update(timings[name])
        for name in compiled:
            for kind in ("wall", "cpu"):
                row[name][f"{kind}_over_explicit"] = (row[name][f"median_{kind}_s"]
                                                      / row["explicit"][f"median_{kind}_s"])
            row[name]["temp_over_explicit"] = (row[name]["temp_bytes"]
                                               / row["explicit"]["temp_bytes"])
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)
    return rows


def markdown(rows, provenance_caption):
    header = ("shape", "step", "loss", "CPU s", "CPU / explicit", "wall / explicit",
              "temporaries MiB", "temporaries / explicit")
    table = []
    for row in rows:
        shape = f"[{row['tokens']}, {row['hidden']}] x [{row['hidden']}, {row['vocab']}]"
        for name in VARIANTS:
            cell = row[name]
            table.append([shape, name, f"{cell['loss']:.6f}", f"{cell['median_cpu_s']:.3g}",
                          f"{cell['cpu_over_explicit']:.2f}",
                          f"{cell['wall_over_explicit']:.2f}",
                          f"{cell['temp_bytes'] / 2**20:.1f}",
                          f"{cell['temp_over_explicit']:.3f}"])
    caption = (
        "Forward+backward (`value_and_grad` over hidden and weight) of the mean token loss, "
        "float32. fused: `jaxloss.fused_linear_cross_entropy` (`schedule=\"forward\"`, the "
        "default for a mean); fused_recompute: `schedule=\"recompute\"`; explicit: "
        "`sparse_softmax_cross_entropy(hidden @ weight, labels)`; tokamax: "
        "`tokamax.linear_softmax_cross_entropy_loss(..., implementation=\"xla\")`. Times are "
        f"medians of interleaved calls. {provenance_caption}")
    return captioned_table(caption, header, table, text_columns=2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, action="append",
                        metavar=("TOKENS", "HIDDEN", "VOCAB"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    shapes = [tuple(shape) for shape in args.shape] if args.shape else list(SHAPES)
    if args.quick:
        shapes, args.repeats = [(128, 32, 1000)], 3
    facts = provenance.start("bench.studies.fused_linear_cross_entropy.tokamax_peer", argv)
    rows = run(shapes, args.repeats)
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, "rows": rows},
                             markdown(rows, provenance.caption(facts)), quick=args.quick,
                             prefix="tokamax-")


if __name__ == "__main__":
    main()
