"""The sharded losses' steps compiled per mesh size, and each device's memory."""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies import memory_per_device as study
from jaxloss import chunked_contrastive_loss_sharded, fused_linear_cross_entropy_sharded

AXIS = "shards"


def _mesh(devices: int) -> Mesh:
    return Mesh(np.array(jax.devices()[:devices]), (AXIS,))


def fused_step(mesh: Mesh):
    def loss(hidden, weight, labels):
        return fused_linear_cross_entropy_sharded(hidden, weight, labels, mesh=mesh,
                                                  axis_name=AXIS)

    return jax.value_and_grad(loss, argnums=(0, 1))


def contrastive_step(mesh: Mesh):
    def loss(queries, keys):
        return jnp.mean(chunked_contrastive_loss_sharded(queries, keys, mesh=mesh,
                                                         axis_name=AXIS))

    return jax.value_and_grad(loss, argnums=(0, 1))


def run(device_counts, fused_shape, contrastive_shape):
    tokens, hidden_dim, vocab = fused_shape
    batch, features = contrastive_shape
    rows = []
    for devices in device_counts:
        mesh = _mesh(devices)
        fused_args = (jax.ShapeDtypeStruct((tokens, hidden_dim), jnp.float32),
                      jax.ShapeDtypeStruct((hidden_dim, vocab), jnp.float32),
                      jax.ShapeDtypeStruct((tokens,), jnp.int32))
        contrastive_args = (jax.ShapeDtypeStruct((batch, features), jnp.float32),) * 2
        _, fused = compile_with_memory(fused_step(mesh), *fused_args)
        _, contrastive = compile_with_memory(contrastive_step(mesh), *contrastive_args)
        row = {"devices": devices, "fused": fused, "contrastive": contrastive,
               "fused_shape": list(fused_shape), "contrastive_shape": list(contrastive_shape)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(rows, provenance_caption):
    mib = 2**20
    tokens, hidden_dim, vocab = rows[0]["fused_shape"]
    batch, features = rows[0]["contrastive_shape"]
    header = ("devices", "fused: arguments MiB", "fused: temporaries MiB",
              "fused: outputs MiB", "contrastive: arguments MiB",
              "contrastive: temporaries MiB", "contrastive: outputs MiB")
    table = []
    for row in rows:
        cells = [str(row["devices"])]
        for name in ("fused", "contrastive"):
            cells += [f"{row[name][key] / mib:.1f}"
                      for key in ("argument_bytes", "temp_bytes", "output_bytes")]
        table.append(cells)
    caption = (
        "Each device's memory as XLA plans it (`memory_analysis()` of the partitioned "
        "forward+backward step, compile only, float32). Fused: "
        f"`fused_linear_cross_entropy_sharded`, hidden [{tokens}, {hidden_dim}], weight "
        f"[{hidden_dim}, {vocab}] split over the devices by vocabulary, labels [{tokens}]; "
        "the hidden states and their gradient are replicated, the weight and its gradient "
        "sharded. Contrastive: `chunked_contrastive_loss_sharded`, queries and keys "
        f"[{batch}, {features}] split over the devices by batch. {provenance_caption}")
    return captioned_table(caption, header, table, text_columns=1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=study.__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--fused", type=int, nargs=3, default=[4096, 1024, 65536],
                        metavar=("TOKENS", "HIDDEN", "VOCAB"))
    parser.add_argument("--contrastive", type=int, nargs=2, default=[16384, 512],
                        metavar=("BATCH", "FEATURES"))
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    parser.add_argument("--out", default="bench/results/memory_per_device")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.devices, args.fused, args.contrastive = [1, 2], [64, 32, 512], [64, 16]
    if max(args.devices) > jax.device_count():
        parser.error(f"--devices {max(args.devices)} needs that many devices; "
                     f"this process has {jax.device_count()}")
    facts = provenance.start("bench.studies.memory_per_device", argv)
    rows = run(args.devices, tuple(args.fused), tuple(args.contrastive))
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, "rows": rows},
                             markdown(rows, provenance.caption(facts)), quick=args.quick)
