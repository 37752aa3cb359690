"""The fused and the two unfused steps compiled per vocabulary, their memory, their times."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp

from bench.common.jax_entries import compile_with_memory
from bench.common.machine import describe, machine_label
from bench.common.markdown import captioned_table
from bench.studies import fused_linear_cross_entropy as study
from jaxloss import fused_linear_cross_entropy, sparse_softmax_cross_entropy


def unfused_loss(hidden, weight, labels):
    """Explicit logits, then jaxloss's sparse softmax cross-entropy, mean."""
    return jnp.mean(sparse_softmax_cross_entropy(hidden @ weight, labels))


def unfused_logsumexp_loss(hidden, weight, labels):
    """Explicit logits, logsumexp, label logit, mean: what a plain JAX user writes."""
    logits = hidden @ weight
    lse = jax.nn.logsumexp(logits, axis=-1)
    label_logits = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return jnp.mean(lse - label_logits)


def fused_loss(chunk_size, schedule=None):
    def loss(hidden, weight, labels):
        return fused_linear_cross_entropy(hidden, weight, labels, chunk_size=chunk_size,
                                          schedule=schedule)

    return loss


def compile_step(loss_fn, num_tokens, hidden_dim, vocab_size, dtype):
    args = (jax.ShapeDtypeStruct((num_tokens, hidden_dim), dtype),
            jax.ShapeDtypeStruct((hidden_dim, vocab_size), dtype),
            jax.ShapeDtypeStruct((num_tokens,), jnp.int32))
    return compile_with_memory(jax.value_and_grad(loss_fn, argnums=(0, 1)), *args)


def time_interleaved(compiled, inputs, repeats):
    """Median wall and CPU seconds per call of each compiled step, calls interleaved."""
    for step in compiled.values():
        jax.block_until_ready(step(*inputs))
    wall = {name: [] for name in compiled}
    cpu = {name: [] for name in compiled}
    for _ in range(repeats):
        for name, step in compiled.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            jax.block_until_ready(step(*inputs))
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    return {name: {"wall_s": wall[name], "cpu_s": cpu[name],
                   "median_wall_s": statistics.median(wall[name]),
                   "median_cpu_s": statistics.median(cpu[name])} for name in compiled}


def run(num_tokens, hidden_dim, vocab_sizes, timed_sizes, repeats, chunk_size, dtype,
        schedules=("forward",)):
    rows = []
    for vocab_size in vocab_sizes:
        compiled = {}
        row = {"num_tokens": num_tokens, "hidden_dim": hidden_dim, "vocab_size": vocab_size,
               "dtype": jnp.dtype(dtype).name, "chunk_size": chunk_size,
               "schedule": schedules[0]}
        # "fused" is the first schedule; the others are "fused_<schedule>".
        variants = ((("fused", fused_loss(chunk_size, schedules[0])),)
                    + tuple((f"fused_{name}", fused_loss(chunk_size, name))
                            for name in schedules[1:])
                    + (("unfused", unfused_loss), ("unfused_logsumexp", unfused_logsumexp_loss)))
        for name, loss_fn in variants:
            compiled[name], row[name] = compile_step(loss_fn, num_tokens, hidden_dim,
                                                     vocab_size, dtype)
        row["temp_ratio"] = row["fused"]["temp_bytes"] / row["unfused"]["temp_bytes"]
        row["temp_ratio_logsumexp"] = (row["fused"]["temp_bytes"]
                                       / row["unfused_logsumexp"]["temp_bytes"])
        if vocab_size in timed_sizes:
            keys = jax.random.split(jax.random.key(0), 3)
            inputs = (jax.random.normal(keys[0], (num_tokens, hidden_dim), dtype),
                      (jax.random.normal(keys[1], (hidden_dim, vocab_size)) * 0.03).astype(dtype),
                      jax.random.randint(keys[2], (num_tokens,), 0, vocab_size))
            timings = time_interleaved(compiled, inputs, repeats)
            for name in compiled:
                row[name].update(timings[name])
            for base, suffix in (("unfused", ""), ("unfused_logsumexp", "_logsumexp")):
                row["wall_ratio" + suffix] = (row["fused"]["median_wall_s"]
                                              / row[base]["median_wall_s"])
                row["cpu_ratio" + suffix] = (row["fused"]["median_cpu_s"]
                                             / row[base]["median_cpu_s"])
            for name in schedules[1:]:
                for kind in ("wall", "cpu"):
                    row[f"{kind}_ratio_{name}"] = (row["fused"][f"median_{kind}_s"]
                                                   / row[f"fused_{name}"][f"median_{kind}_s"])
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in dict(variants)}), flush=True)
    return rows


def markdown(rows, machine):
    mib = 2**20
    header = ("N", "H", "V", "temp MiB fused", "temp MiB unfused", "fused / unfused",
              "wall s fused", "wall s unfused", "wall ratio", "CPU s fused", "CPU s unfused",
              "CPU ratio")
    others = [key[len("fused_"):] for key in rows[0]
              if key.startswith("fused_") and isinstance(rows[0][key], dict)]
    header += tuple(f"{kind} fused / {name}" for name in others for kind in ("wall", "CPU"))
    table = []
    for row in rows:
        fused, unfused, plain = row["fused"], row["unfused"], row["unfused_logsumexp"]
        cells = [str(row["num_tokens"]), str(row["hidden_dim"]), str(row["vocab_size"]),
                 f"{fused['temp_bytes'] / mib:.1f}",
                 f"{unfused['temp_bytes'] / mib:.0f} ({plain['temp_bytes'] / mib:.0f})",
                 f"{row['temp_ratio']:.3f}"]
        if "median_wall_s" in fused:
            for kind in ("wall", "cpu"):
                cells += [f"{fused[f'median_{kind}_s']:.3g}",
                          f"{unfused[f'median_{kind}_s']:.3g} ({plain[f'median_{kind}_s']:.3g})",
                          f"{row[f'{kind}_ratio']:.2f} ({row[f'{kind}_ratio_logsumexp']:.2f})"]
        else:
            cells += ["-"] * 6
        for name in others:
            cells += [f"{row[f'{kind}_ratio_{name}']:.2f}" if f"{kind}_ratio_{name}" in row
                      else "-" for kind in ("wall", "cpu")]
        table.append(cells)
    caption = (
        f"Forward+backward of the loss over (hidden, weight), {rows[0]['dtype']}, {machine}; "
        f"fused schedule {rows[0]['schedule']!r}. "
        "Unfused: explicit logits, then `jaxloss.sparse_softmax_cross_entropy` (in brackets: "
        "a plain `jax.nn.logsumexp` cross-entropy). Times are medians; the CPU time of the "
        "process is less disturbed than the wall time by other work on a shared machine.")
    return captioned_table(caption, header, table, text_columns=len(header))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=study.__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--vocab", type=int, nargs="+",
                        default=[8192, 16384, 32768, 65536, 131072, 262144])
    parser.add_argument("--time", type=int, nargs="*", default=[65536],
                        help="vocabulary sizes to time (memory is reported for all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--schedule", nargs="+", default=["forward"],
                        choices=["forward", "recompute"],
                        help="the fused schedules to compile; the first is 'fused', the others "
                             "'fused_<schedule>' (e.g. --schedule forward recompute)")
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(argv)
    suffix = ""
    if args.quick:
        args.tokens, args.hidden, args.vocab, args.time = 256, 64, [1024, 4096], [1024, 4096]
        suffix = "-quick"
    facts = describe()
    load_before = os.getloadavg()[0]
    rows = run(args.tokens, args.hidden, args.vocab, set(args.time), args.repeats,
               args.chunk_size, jnp.dtype(args.dtype), tuple(args.schedule))
    facts["load_average_1min"] = [load_before, os.getloadavg()[0]]
    machine = (f"{machine_label(facts)}, jax {jax.__version__}, 1-min load average "
               f"{load_before:.1f} before / {facts['load_average_1min'][1]:.1f} after")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "fused_linear_cross_entropy" + suffix)
    with open(stem + ".json", "w") as f:
        json.dump({"machine": facts, "jax": jax.__version__, "rows": rows}, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(rows, machine))
    print(markdown(rows, machine))
