"""One child process per allocator setting measures both workloads; the parent prints the table."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench.common import allocators
from bench.common.machine import minor_page_faults
from bench.common.markdown import table_lines
from bench.studies import glibc_tunables


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_here(calls: int) -> dict:
    double = jax.jit(lambda x: x * 2)
    x = jnp.ones((131_072_000,), jnp.float32)  # 524 MB
    for _ in range(2):
        double(x).block_until_ready()
    wall, cpu, faults = [], [], []
    for _ in range(calls):
        start_faults = minor_page_faults()
        start_cpu, start = time.process_time(), time.perf_counter()
        double(x).block_until_ready()
        wall.append(1e3 * (time.perf_counter() - start))
        cpu.append(1e3 * (time.process_time() - start_cpu))
        faults.append(minor_page_faults() - start_faults)
    del x
    rng = np.random.default_rng(0)
    start, peak = time.perf_counter(), _rss_mib()
    for _ in range(40):
        a = jnp.asarray(np.ones(int(rng.integers(12, 150)) * 1_000_000, np.float32))
        double(a).block_until_ready()
        del a
        peak = max(peak, _rss_mib())
    return {
        "x2_ms": statistics.median(wall),
        "x2_cpu_ms": statistics.median(cpu),
        "x2_minor_faults": statistics.median(faults),
        "varying_s": time.perf_counter() - start,
        "varying_end_rss_mib": _rss_mib(),
        "varying_peak_rss_mib": peak,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description=glibc_tunables.__doc__.split("\n")[0])
    parser.add_argument(
        "--allocators", default="glibc,glibc-tunables,glibc-hugetlb,glibc-nommap,mimalloc"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=7, help="timed x * 2 calls per child")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_here(args.calls)))
        return
    results: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for allocator in args.allocators.split(","):
            child = ["-m", __package__, "--child", "--calls", str(args.calls)]
            result = allocators.run_under(allocator, child)
            if result is not None:
                results.setdefault(allocator, []).append(result)
    header = ("allocator", "x*2 ms", "x*2 CPU ms", "faults/call", "varying: s", "end RSS MiB",
              "peak RSS MiB")
    rows = []
    for allocator, runs in results.items():
        keys = ("x2_ms", "x2_cpu_ms", "x2_minor_faults", "varying_s")
        cells = [f"{statistics.median(run[key] for run in runs):.1f}" for key in keys]
        cells[2] = f"{statistics.median(run['x2_minor_faults'] for run in runs):.0f}"
        cells += [
            f"{statistics.median(run['varying_end_rss_mib'] for run in runs):.0f}",
            f"{max(run['varying_peak_rss_mib'] for run in runs):.0f}",
        ]
        rows.append((allocator, *cells))
    print("\n".join(table_lines(header, rows, text_columns=1)))
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f}; rounds: {args.rounds}")
