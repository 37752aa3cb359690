"""The gradient filter's effect on the fused loss's step time, and the share of tiles skipped.

The forward+backward step ``value_and_grad`` over (hidden, weight) of the mean
:func:`jaxloss.fused_linear_cross_entropy` with the default tiles is compiled without a filter
and with ``gradient_filter`` set to each ``--eps``, for both schedules and two kinds of
inputs:

* ``peaked`` (trained-like): each hidden state is ``--scale`` times its label's unit-norm
  weight column plus noise, so that its softmax is concentrated on the label, and the labels
  come from the first ``--head`` share of the vocabulary (a frequency-sorted vocabulary's
  frequent tokens), so that the other columns' tiles hold no label;
* ``random``: random-init hidden states and weights (``N(0, 1)`` and ``N(0, 0.03^2)``) and
  uniform labels.

The steps of one schedule and input are timed interleaved (one warm-up call each, then
``--repeats`` rounds), median wall and process CPU time reported as ratios to the unfiltered
step; the share of tiles skipped is counted with the library's own rule
(``_negligible_tile`` of the mean loss's logits' gradient over each token block and column
piece), and the compiled temporaries
come from ``memory_analysis()``::

    python -m bench.studies.fused_linear_cross_entropy.gradient_filter
    python -m bench.studies.fused_linear_cross_entropy.gradient_filter --tokens 256 \\
        --hidden 64 --vocab 4096 --repeats 3   # small, seconds

Writes ``gradient-filter-<machine>-<date>-<commit>.{json,md}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import provenance
from bench.common.jax_entries import compile_with_memory
from bench.common.markdown import captioned_table
from bench.studies.fused_linear_cross_entropy.measure import time_interleaved
from jaxloss import fused_linear_cross_entropy
from jaxloss._src import fused_filter, fused_streams
from jaxloss._src.fused import default_tiles, forward_tiles

MODULE = "bench.studies.fused_linear_cross_entropy.gradient_filter"


def inputs(kind, num_tokens, hidden_dim, vocab_size, scale, head):
    """``(hidden, weight, labels)`` of the ``peaked`` or ``random`` kind (module docstring)."""
    keys = jax.random.split(jax.random.key(0), 4)
    if kind == "random":
        return (jax.random.normal(keys[0], (num_tokens, hidden_dim)),
                jax.random.normal(keys[1], (hidden_dim, vocab_size)) * 0.03,
                jax.random.randint(keys[2], (num_tokens,), 0, vocab_size))
    weight = jax.random.normal(keys[1], (hidden_dim, vocab_size)) / np.sqrt(hidden_dim)
    labels = jax.random.randint(keys[2], (num_tokens,), 0, max(int(head * vocab_size), 1))
    columns = weight[:, labels].T
    columns = columns / jnp.linalg.norm(columns, axis=1, keepdims=True)
    hidden = scale * columns + 0.3 * jax.random.normal(keys[3], (num_tokens, hidden_dim)) / (
        np.sqrt(hidden_dim))
    return hidden, weight, labels


def pieces(total, size):
    """``(start, size)`` of the stream's pieces: the remainder first, then the full ones."""
    rest = total % size
    starts = ([(0, rest)] if rest else []) + [(rest + i * size, size)
                                              for i in range(total // size)]
    return starts


def skipped_share(hidden, weight, labels, schedule, eps):
    """The share of the step's tiles (recompute: token block x vocabulary chunk; forward:
    token block x column piece) that the filter skips, by the library's rule."""
    num_tokens, vocab_size = hidden.shape[0], weight.shape[1]
    if schedule == "forward":
        tiles = forward_tiles(num_tokens, hidden.shape[1], vocab_size)
        token_block = fused_streams._token_block_size(num_tokens, vocab_size, tiles)
        chunk = tiles[1]
    else:
        token_block, chunk = default_tiles(num_tokens, hidden.shape[1], vocab_size)
    logits = hidden @ weight
    # The mean loss's logits' gradient and logsumexp cotangent: (softmax - onehot) / N, 1 / N.
    d_z = (jax.nn.softmax(logits, axis=1)
           - jax.nn.one_hot(labels, vocab_size, dtype=logits.dtype)) / num_tokens
    scale = jnp.full((num_tokens,), 1.0 / num_tokens, logits.dtype)
    skipped = total = 0
    for token_start, token_size in pieces(num_tokens, min(token_block, num_tokens)):
        rows = slice(token_start, token_start + token_size)
        for start, size in pieces(vocab_size, min(chunk, vocab_size)):
            skipped += bool(fused_filter._negligible_tile(
                d_z[rows, start:start + size], scale[rows], labels[rows], start, size, eps))
            total += 1
    return skipped / total


def measure(kind, schedule, args):
    data = inputs(kind, args.tokens, args.hidden, args.vocab, args.scale, args.head)
    compiled, row = {}, {"inputs": kind, "schedule": schedule, "variants": {}}
    for eps in [None, *args.eps]:
        name = "off" if eps is None else f"eps={eps:.3g}"

        def loss(hidden, weight, labels, eps=eps):
            return fused_linear_cross_entropy(hidden, weight, labels, schedule=schedule,
                                              gradient_filter=eps)

        compiled[name], memory = compile_with_memory(jax.value_and_grad(loss, argnums=(0, 1)),
                                                     *data)
        row["variants"][name] = {"eps": eps, **memory, "skipped_share": 0.0 if eps is None
                                 else skipped_share(*data, schedule, eps)}
    timings = time_interleaved(compiled, data, args.repeats)
    for name, variant in row["variants"].items():
        variant.update(timings[name])
        for clock in ("wall", "cpu"):
            variant[f"{clock}_ratio"] = (timings[name][f"median_{clock}_s"]
                                         / timings["off"][f"median_{clock}_s"])
    return row


def markdown(rows, facts, args):
    header = ("inputs", "schedule", "filter", "tiles skipped", "CPU / off", "wall / off",
              "median CPU s", "temp MiB")
    table = []
    for row in rows:
        for name, variant in row["variants"].items():
            table.append([row["inputs"], row["schedule"], name,
                          f"{100 * variant['skipped_share']:.1f}%",
                          f"{variant['cpu_ratio']:.3f}", f"{variant['wall_ratio']:.3f}",
                          f"{variant['median_cpu_s']:.2f}",
                          f"{variant['temp_bytes'] / 2**20:.1f}"])
    caption = (
        f"Forward+backward of the mean `fused_linear_cross_entropy` over (hidden, weight) at "
        f"N, H, V = {args.tokens}, {args.hidden}, {args.vocab}, float32, default tiles, "
        f"without and with `gradient_filter`; `peaked`: hidden = {args.scale} x the label's "
        f"unit weight column + noise, labels from the first {args.head:g} of the vocabulary; "
        "`random`: random-init inputs, uniform labels. Times are medians of "
        f"{args.repeats} interleaved calls, as ratios to the unfiltered step of the same "
        "schedule and inputs. " + provenance.caption(facts))
    return captioned_table(caption, header, table, text_columns=3)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--eps", type=float, nargs="+", default=[2.0**-12, 2.0**-24])
    parser.add_argument("--scale", type=float, default=16.0)
    parser.add_argument("--head", type=float, default=0.125)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results/fused_linear_cross_entropy")
    args = parser.parse_args(argv)
    facts = provenance.start(MODULE, argv)
    rows = []
    for kind in ("peaked", "random"):
        for schedule in ("forward", "recompute"):
            rows.append(measure(kind, schedule, args))
            print(json.dumps({name: {k: v for k, v in variant.items()
                                     if k not in ("wall_s", "cpu_s")}
                              for name, variant in rows[-1]["variants"].items()}), flush=True)
    facts = provenance.finish(facts)
    provenance.write_results(args.out, {"provenance": facts, "arguments": vars(args),
                                        "rows": rows},
                             markdown(rows, facts, args), prefix="gradient-filter-")


if __name__ == "__main__":
    main()
