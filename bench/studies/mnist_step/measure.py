"""The interleaved rounds of training steps, a child per allocator, the table, the command line."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import jax

from bench.common import allocators, machine
from bench.common.markdown import table_lines
from bench.studies import mnist_step
from bench.studies.mnist_step.peers import (
    BATCH,
    REFERENCE,
    Peer,
    jax_peers,
    keras_peers,
    make_batch,
)


def measure(peers: dict[str, Peer], *, warmup: int, rounds: int, steps: int) -> dict:
    names = list(peers)
    first_call_s, losses = {}, {}
    for name in names:
        start = time.perf_counter()
        losses[name] = peers[name].run()
        first_call_s[name] = time.perf_counter() - start
    for name in names:
        for _ in range(warmup):
            peers[name].run()
    per_step_ms: dict[str, list[float]] = {name: [] for name in names}
    cpu_per_step_ms: dict[str, list[float]] = {name: [] for name in names}
    faults_per_step: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            peer = peers[name]
            calls = max(1, steps // peer.steps_per_call)
            start_faults = machine.minor_page_faults()
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                losses[name] = peer.run()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            done_steps = calls * peer.steps_per_call
            per_step_ms[name].append(1e3 * elapsed / done_steps)
            cpu_per_step_ms[name].append(1e3 * cpu / done_steps)
            faults_per_step[name].append((machine.minor_page_faults() - start_faults) / done_steps)
    result = {}
    for name in names:
        entry = {
            "median_ms": statistics.median(per_step_ms[name]),
            "median_cpu_ms": statistics.median(cpu_per_step_ms[name]),
            "min_ms": min(per_step_ms[name]),
            "median_minor_faults": statistics.median(faults_per_step[name]),
            "max_ms": max(per_step_ms[name]),
            "first_call_s": first_call_s[name],
            "last_loss": losses[name],
        }
        if REFERENCE in per_step_ms:
            entry["ratio_to_keras"] = statistics.median(
                ours / ref for ours, ref in zip(per_step_ms[name], per_step_ms[REFERENCE])
            )
            entry["cpu_ratio_to_keras"] = statistics.median(
                ours / ref
                for ours, ref in zip(cpu_per_step_ms[name], cpu_per_step_ms[REFERENCE])
                if ref > 0
            )
        result[name] = entry
    return result


def run_here(args: argparse.Namespace) -> dict:
    images, labels = make_batch()
    peers: dict[str, Peer] = {}
    notes = []
    if "keras" in args.peers:
        try:
            keras_side, jit_compile = keras_peers(images, labels, args.fit_steps)
        except ImportError as err:
            notes.append(f"tf.keras peers left out: {err}.")
        else:
            notes.append(f"tf.keras jit_compile={jit_compile}.")
            peers.update(keras_side)
    if "jax" in args.peers:
        peers.update(jax_peers(images, labels))
    measured = measure(peers, warmup=args.warmup, rounds=args.rounds, steps=args.steps)
    return {
        "load_average_1min": os.getloadavg()[0],
        "allocator": allocators.allocator_in_process(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine.describe(),
        "jax": jax.__version__,
        "batch": BATCH,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "notes": notes,
        "peers": measured,
    }


def run_children(args: argparse.Namespace) -> list[dict]:
    results = []
    for allocator in args.allocators.split(","):
        result = allocators.run_under(allocator, ["-m", __package__, "--json-only",
                                                  *args.child_args])
        if result is None:
            print(f"# {allocator}: no library found, skipped", file=sys.stderr)
        else:
            results.append(result)
    return results


def markdown(results: list[dict]) -> str:
    header = ("peer", "allocator", "median ms/step", f"ratio to {REFERENCE}",
              "CPU ms/step (all threads)", "CPU ratio", "minor faults/step", "first call s")
    rows = []
    for result in results:
        for name, entry in result["peers"].items():
            ratio, cpu_ratio = entry.get("ratio_to_keras"), entry.get("cpu_ratio_to_keras")
            rows.append((name, result["allocator"], f"{entry['median_ms']:.1f}",
                         "" if ratio is None else f"{ratio:.2f}", f"{entry['median_cpu_ms']:.1f}",
                         "" if cpu_ratio is None else f"{cpu_ratio:.2f}",
                         f"{entry.get('median_minor_faults', float('nan')):.0f}",
                         f"{entry['first_call_s']:.1f}"))
    lines = table_lines(header, rows, text_columns=2)
    if results:
        first = results[0]
        lines.append("")
        lines.append(
            f"{machine.machine_label(first['machine'])}; batch {BATCH}, float32, "
            f"{first['rounds']} interleaved rounds of {first['steps_per_round']} steps per peer; "
            f"JAX {first['jax']}; 1-minute load average at the end: "
            f"{', '.join(str(round(r['load_average_1min'], 1)) for r in results)}; "
            "peak resident memory (MiB): "
            f"{', '.join(format(r.get('peak_rss_mib', float('nan')), '.0f') for r in results)}. "
            f"{' '.join(first['notes'])}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=mnist_step.__doc__.split("\n")[0])
    parser.add_argument("--peers", default="jax,keras", help="comma list of: jax, keras")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per peer per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--fit-steps", type=int, default=10, help="batches per keras.fit call")
    parser.add_argument(
        "--allocators",
        default=None,
        help="e.g. glibc,glibc-tunables,mimalloc: one child process each; names: "
        + ", ".join(allocators.NAMES),
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=None,
        help="pin the run (and its children) to this many of the usable CPUs, e.g. 1: "
        "XLA's and TensorFlow's thread pools then get one thread each",
    )
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    if args.cpus is not None:
        usable = sorted(os.sched_getaffinity(0))
        if not 1 <= args.cpus <= len(usable):
            parser.error(f"--cpus must be in [1, {len(usable)}], got {args.cpus}")
        # Before JAX or TensorFlow start: both size their thread pools from the affinity.
        os.sched_setaffinity(0, usable[: args.cpus])
    args.child_args = [
        f"--peers={args.peers}",
        f"--rounds={args.rounds}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--fit-steps={args.fit_steps}",
    ]
    if args.allocators:
        unknown = [name for name in args.allocators.split(",") if name not in allocators.NAMES]
        if unknown:
            parser.error(f"--allocators: unknown {unknown}; known: {', '.join(allocators.NAMES)}")
        results = run_children(args)
    else:
        results = [run_here(args)]
        if args.json_only:
            print(json.dumps(results[0]))
            return
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
