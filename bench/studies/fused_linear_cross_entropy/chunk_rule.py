"""The default tiles against the fixed 32 MiB chunk: compiled temporaries and time.

For each ``N x H x V`` shape the forward+backward step ``value_and_grad`` over (hidden,
weight) of :func:`jaxloss.fused_linear_cross_entropy` is compiled with the default tiles
(``chunk_size=None``: ``default_tiles``, or ``forward_tiles`` for ``--schedule forward``; the
chunk of ``default_chunk_size``, ``min(32 MiB, N * V * 4 / 24)`` bytes of float32 logits,
with tokens blocked too where the modelled temporaries of all tokens at once pass 9% of the
logits) and with the fixed 32 MiB chunk of all tokens
(``default_chunk_size(..., min_chunks=1)``), and compared with the explicit logits followed
by :func:`jaxloss.sparse_softmax_cross_entropy` (the mean). Memory is compile-only (XLA's
``memory_analysis()``); the shapes in ``--time`` are also run, the three steps interleaved,
and their median wall and process CPU times reported::

    python -m bench.studies.fused_linear_cross_entropy.chunk_rule
    python -m bench.studies.fused_linear_cross_entropy.chunk_rule --shapes 2048x512x32768 \\
        --time 2048x512x32768 --repeats 7

Writes ``chunk-rule-<machine>-<date>-<commit>.{json,md}`` to ``--out``
(``forward-chunk-rule-…`` for ``--schedule forward``).
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp

from bench.common import provenance
from bench.common.markdown import captioned_table
from bench.studies.fused_linear_cross_entropy.measure import (
    compile_step,
    fused_loss,
    time_interleaved,
    unfused_loss,
)
from jaxloss._src.fused import default_chunk_size, default_tiles, forward_tiles
from jaxloss._src.fused_streams import _token_block_size

MODULE = "bench.studies.fused_linear_cross_entropy.chunk_rule"
SHAPES = ("2048x256x20000", "2048x512x32768", "8192x1024x8192", "8192x1024x16384", "4096x1024x32768", "4096x4096x32000",
          "8192x1024x65536", "8192x4096x128256", "65536x256x4096", "262144x64x1024")


def parse_shape(text: str) -> tuple[int, int, int]:
    num_tokens, hidden_dim, vocab_size = (int(part) for part in text.split("x"))
    return num_tokens, hidden_dim, vocab_size


def measure(shape, timed, repeats, schedule):
    num_tokens, hidden_dim, vocab_size = shape
    tile_rule = forward_tiles if schedule == "forward" else default_tiles
    token_block, chunk = tile_rule(num_tokens, hidden_dim, vocab_size)
    if schedule == "forward":
        # The tokens of one block (forward tiles carry the block's area, not its tokens).
        token_block = _token_block_size(num_tokens, vocab_size, (token_block, chunk))
    chunks = {"default": chunk,
              "fixed_32mib": default_chunk_size(num_tokens, vocab_size, min_chunks=1)}
    row = {"num_tokens": num_tokens, "hidden_dim": hidden_dim, "vocab_size": vocab_size,
           "schedule": schedule, "chunks": chunks, "token_block": token_block,
           "logits_bytes": 4 * num_tokens * vocab_size}
    compiled = {}
    for name, loss_fn in (("default", fused_loss(None, schedule)),
                          ("fixed_32mib", fused_loss(chunks["fixed_32mib"], schedule)),
                          ("explicit", unfused_loss)):
        compiled[name], row[name] = compile_step(loss_fn, num_tokens, hidden_dim, vocab_size,
                                                 jnp.float32)
    for name in ("default", "fixed_32mib"):
        row[f"temp_ratio_{name}"] = row[name]["temp_bytes"] / row["explicit"]["temp_bytes"]
    if timed:
        keys = jax.random.split(jax.random.key(0), 3)
        inputs = (jax.random.normal(keys[0], (num_tokens, hidden_dim)),
                  jax.random.normal(keys[1], (hidden_dim, vocab_size)) * 0.03,
                  jax.random.randint(keys[2], (num_tokens,), 0, vocab_size))
        timings = time_interleaved(compiled, inputs, repeats)
        for name in compiled:
            row[name].update(timings[name])
            for kind in ("wall", "cpu"):
                row[f"{kind}_ratio_{name}"] = (timings[name][f"median_{kind}_s"]
                                               / timings["explicit"][f"median_{kind}_s"])
    return row


def markdown(rows, facts):
    mib = 2**20
    header = ("N", "H", "V", "explicit logits MiB", "default tile", "fixed chunk",
              "temp MiB explicit",
              "temp default / explicit", "temp fixed / explicit", "wall default / explicit",
              "wall fixed / explicit", "CPU default / explicit", "CPU fixed / explicit")
    table = []
    for row in rows:
        cells = [str(row["num_tokens"]), str(row["hidden_dim"]), str(row["vocab_size"]),
                 f"{row['logits_bytes'] / mib:.0f}",
                 f"{row['token_block']} x {row['chunks']['default']}",
                 str(row["chunks"]["fixed_32mib"]),
                 f"{row['explicit']['temp_bytes'] / mib:.0f}",
                 f"{row['temp_ratio_default']:.3f}", f"{row['temp_ratio_fixed_32mib']:.3f}"]
        for kind in ("wall", "cpu"):
            cells += [f"{row[f'{kind}_ratio_{name}']:.2f}" if f"{kind}_ratio_{name}" in row
                      else "-" for name in ("default", "fixed_32mib")]
        table.append(cells)
    caption = (
        "Forward+backward of the mean loss over (hidden, weight), float32, schedule "
        f"{rows[0]['schedule']!r}: the default tiles (`chunk_size=None`: tokens x vocabulary "
        "columns, the chunk at most 1/24 of the logits and 32 MiB, tokens blocked where the "
        "temporaries of all tokens at once would pass 9% of the logits) and the fixed 32 MiB "
        "chunk of all tokens, as ratios to explicit logits then "
        "`jaxloss.sparse_softmax_cross_entropy`; times are medians of interleaved calls. "
        + provenance.caption(facts))
    return captioned_table(caption, header, table, text_columns=len(header))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), help="NxHxV, compiled")
    parser.add_argument("--time", nargs="*", default=[], help="NxHxV shapes also timed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--schedule", default="recompute", choices=["forward", "recompute"])
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(argv)
    facts = provenance.start(MODULE, argv)
    timed = {parse_shape(text) for text in args.time}
    rows = []
    for text in args.shapes:
        shape = parse_shape(text)
        rows.append(measure(shape, shape in timed, args.repeats, args.schedule))
        print(json.dumps({k: v for k, v in rows[-1].items()
                          if k not in ("default", "fixed_32mib", "explicit")}), flush=True)
    facts = provenance.finish(facts)
    os.makedirs(args.out, exist_ok=True)
    # The recompute schedule's files are the large-vocabulary guide's chunk-rule table; the
    # forward schedule's are named apart.
    prefix = "chunk-rule-" if args.schedule == "recompute" else f"{args.schedule}-chunk-rule-"
    stem = provenance.file_stem(args.out, facts).replace(args.out + os.sep,
                                                         args.out + os.sep + prefix)
    with open(stem + ".json", "w") as f:
        json.dump({"provenance": facts, "rows": rows}, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(rows, facts))
    print(markdown(rows, facts))


if __name__ == "__main__":
    main()
