"""The chunked and the explicit contrastive steps compiled per batch size, their memory and
their times."""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp

from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies import contrastive as study
from bench.studies.fused_linear_cross_entropy.measure import time_interleaved
from jaxloss import chunked_contrastive_loss, contrastive_loss


def explicit_loss(queries, keys):
    return jnp.mean(contrastive_loss(queries, keys))


def chunked_loss(chunk_size):
    def loss(queries, keys):
        return jnp.mean(chunked_contrastive_loss(queries, keys, chunk_size=chunk_size))

    return loss


def run(batch_sizes, features, timed_sizes, repeats, chunk_size):
    rows = []
    for batch in batch_sizes:
        spec = jax.ShapeDtypeStruct((batch, features), jnp.float32)
        row = {"batch": batch, "features": features, "chunk_size": chunk_size}
        compiled = {}
        for name, loss_fn in (("chunked", chunked_loss(chunk_size)), ("explicit", explicit_loss)):
            step = jax.value_and_grad(loss_fn, argnums=(0, 1))
            compiled[name], row[name] = compile_with_memory(step, spec, spec)
        row["temp_ratio"] = row["chunked"]["temp_bytes"] / row["explicit"]["temp_bytes"]
        if batch in timed_sizes:
            first, second = jax.random.split(jax.random.key(0))
            unit = lambda x: x / jnp.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
            inputs = (unit(jax.random.normal(first, (batch, features))),
                      unit(jax.random.normal(second, (batch, features))))
            timings = time_interleaved(compiled, inputs, repeats)
            for name in compiled:
                row[name].update(timings[name])
            for kind in ("wall", "cpu"):
                row[f"{kind}_ratio"] = (row["chunked"][f"median_{kind}_s"]
                                        / row["explicit"][f"median_{kind}_s"])
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
    return captioned_table(caption, header, table, text_columns=len(header))


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
    stem = provenance.file_stem(args.out, facts, args.quick)
    os.makedirs(args.out, exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump({"provenance": facts, "rows": rows}, f, indent=1)
    text = markdown(rows, provenance.caption(facts))
    with open(stem + ".md", "w") as f:
        f.write(text)
    print(text)
