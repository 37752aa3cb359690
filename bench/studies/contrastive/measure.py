"""The chunked and the explicit contrastive steps compiled per batch size, their memory and
their times."""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import optax

from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies import contrastive as study
from bench.studies.fused_linear_cross_entropy.measure import time_interleaved
from jaxloss import chunked_contrastive_loss, contrastive_loss, ntxent_loss

NTXENT_TEMPERATURE = 0.07
"""The temperature of both NT-Xent losses (optax's default)."""


def explicit_loss(queries, keys):
    return jnp.mean(contrastive_loss(queries, keys))


def chunked_loss(chunk_size):
    def loss(queries, keys):
        return jnp.mean(chunked_contrastive_loss(queries, keys, chunk_size=chunk_size))

    return loss


def _two_views(queries, keys):
    """SimCLR's batch from the pair: ``2B`` embeddings, each sample's two views one label."""
    labels = jnp.tile(jnp.arange(queries.shape[0]), 2)
    return jnp.concatenate([queries, keys]), labels


def ntxent_jaxloss_loss(queries, keys):
    embeddings, labels = _two_views(queries, keys)
    return jnp.mean(ntxent_loss(embeddings, labels, temperature=NTXENT_TEMPERATURE))


def ntxent_optax_loss(queries, keys):
    embeddings, labels = _two_views(queries, keys)
    return optax.losses.ntxent(embeddings, labels, temperature=NTXENT_TEMPERATURE)


def run(batch_sizes, features, timed_sizes, repeats, chunk_size):
    rows = []
    for batch in batch_sizes:
        spec = jax.ShapeDtypeStruct((batch, features), jnp.float32)
        row = {"batch": batch, "features": features, "chunk_size": chunk_size}
        compiled = {}
        for name, loss_fn in (("chunked", chunked_loss(chunk_size)), ("explicit", explicit_loss),
                              ("ntxent", ntxent_jaxloss_loss),
                              ("optax_ntxent", ntxent_optax_loss)):
            step = jax.value_and_grad(loss_fn, argnums=(0, 1))
            compiled[name], row[name] = compile_with_memory(step, spec, spec)
        row["temp_ratio"] = row["chunked"]["temp_bytes"] / row["explicit"]["temp_bytes"]
        for name in ("chunked", "explicit", "ntxent"):
            row[f"{name}_over_optax_ntxent_temp"] = (row[name]["temp_bytes"]
                                                     / row["optax_ntxent"]["temp_bytes"])
        if batch in timed_sizes:
            first, second = jax.random.split(jax.random.key(0))
            unit = lambda x: x / jnp.linalg.norm(x, axis=1, keepdims=True)
            inputs = (unit(jax.random.normal(first, (batch, features))),
                      unit(jax.random.normal(second, (batch, features))))
            timings = time_interleaved(compiled, inputs, repeats)
            for name in compiled:
                row[name].update(timings[name])
            for kind in ("wall", "cpu"):
                row[f"{kind}_ratio"] = (row["chunked"][f"median_{kind}_s"]
                                        / row["explicit"][f"median_{kind}_s"])
                for name in ("chunked", "explicit", "ntxent"):
                    row[f"{name}_over_optax_ntxent_{kind}"] = (
                        row[name][f"median_{kind}_s"] / row["optax_ntxent"][f"median_{kind}_s"])
            for name in compiled:
                row[name]["loss"] = float(compiled[name](*inputs)[0])
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in compiled}), flush=True)
    return rows


def markdown(rows, provenance_caption):
    mib = 2**20
    header = ("B", "D", "temp MiB chunked", "temp MiB explicit", "chunked / explicit",
              "wall s chunked", "wall s explicit", "wall ratio", "CPU s chunked",
              "CPU s explicit", "CPU ratio")
    table = []
    for row in rows:
        chunked, explicit = row["chunked"], row["explicit"]
        cells = [str(row["batch"]), str(row["features"]),
                 f"{chunked['temp_bytes'] / mib:.1f}", f"{explicit['temp_bytes'] / mib:.0f}",
                 f"{row['temp_ratio']:.3f}"]
        if "median_wall_s" in chunked:
            for kind in ("wall", "cpu"):
                cells += [f"{chunked[f'median_{kind}_s']:.3g}",
                          f"{explicit[f'median_{kind}_s']:.3g}", f"{row[f'{kind}_ratio']:.2f}"]
        else:
            cells += ["-"] * 6
        table.append(cells)
    caption = (
        "Forward+backward of the mean CLIP loss over (queries, keys), float32. Chunked: "
        "`jaxloss.chunked_contrastive_loss` (default chunk: about 32 MiB of logits per block); explicit: `jaxloss.contrastive_loss`. Times are "
        "medians; the process's CPU time is less disturbed than the wall time by other "
        f"work on a shared machine. {provenance_caption}")
    return (captioned_table(caption, header, table, text_columns=len(header)) + "\n"
            + ntxent_markdown(rows))


def ntxent_markdown(rows):
    """The three jaxloss steps against ``optax.losses.ntxent``: temporaries and times."""
    mib = 2**20
    header = ("B", "D", "temp MiB optax ntxent", "ntxent / optax", "chunked / optax",
              "explicit / optax", "CPU s optax ntxent", "CPU ratio ntxent",
              "CPU ratio chunked", "CPU ratio explicit")
    table = []
    for row in rows:
        cells = [str(row["batch"]), str(row["features"]),
                 f"{row['optax_ntxent']['temp_bytes'] / mib:.0f}",
                 *(f"{row[f'{name}_over_optax_ntxent_temp']:.3f}"
                   for name in ("ntxent", "chunked", "explicit"))]
        if "median_cpu_s" in row["optax_ntxent"]:
            cells.append(f"{row['optax_ntxent']['median_cpu_s']:.3g}")
            cells += [f"{row[f'{name}_over_optax_ntxent_cpu']:.2f}"
                      for name in ("ntxent", "chunked", "explicit")]
        else:
            cells += ["-"] * 4
        table.append(cells)
    caption = (
        "The same steps against `optax.losses.ntxent` on SimCLR's batch: the `2B` embeddings "
        "`concatenate([queries, keys])`, each sample's two views one label, temperature "
        f"{NTXENT_TEMPERATURE}. ntxent: `jaxloss.ntxent_loss` (optax's semantics, mean over "
        "anchors) on that batch. Chunked and explicit compute the CLIP loss of the pair, "
        "a different loss over the same inputs (`B` queries against `B` keys, where NT-Xent "
        "compares `2B` embeddings with each other): their ratios compare the cost of the "
        "two ways to train on the pair, not two implementations of one loss. Ratios: "
        "jaxloss / optax (temporaries from `memory_analysis()`, medians of CPU time).")
    return captioned_table(caption, header, table, text_columns=2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=study.__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--time", type=int, nargs="*", default=[16384],
                        help="batch sizes to time (memory is reported for all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    parser.add_argument("--out", default="bench/results/contrastive")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.batch, args.features, args.time = [256, 512], 64, [256, 512]
    facts = provenance.start("bench.studies.contrastive", argv)
    rows = run(args.batch, args.features, set(args.time), args.repeats, args.chunk_size)
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, "rows": rows},
                             markdown(rows, provenance.caption(facts)), quick=args.quick)
