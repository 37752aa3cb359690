"""Page faults, time and resident memory of fresh XLA:CPU buffers under glibc settings.

Two small workloads, each in one child process per allocator setting (the names of
``bench.mnist_step --allocators``: ``glibc``, ``glibc-tunables``, ``glibc-hugetlb``,
``glibc-nommap``, ``mimalloc``, ``tcmalloc``), the children run round-robin ``--rounds`` times:

- ``x2``: a jitted ``x * 2`` on a 524 MB float32 array, whose output XLA allocates
  afresh on every call: milliseconds (wall and CPU), minor page faults per call;
- ``varying``: 40 arrays of 48 to 600 MB (sizes from a fixed seed) copied from
  NumPy, doubled by XLA and freed, as a program with data of changing sizes does:
  the resident memory at the end and at its peak, which shows what a setting that
  keeps freed memory costs.

Run from the repository root::

    python -m bench.glibc_tunables --allocators glibc,glibc-tunables,glibc-nommap,mimalloc
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from bench import machine


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure_here(calls: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    double = jax.jit(lambda x: x * 2)
    x = jnp.ones((131_072_000,), jnp.float32)  # 524 MB
    for _ in range(2):
        double(x).block_until_ready()
    wall, cpu, faults = [], [], []
    for _ in range(calls):
        start_faults, start_cpu, start = _faults(), time.process_time(), time.perf_counter()
        double(x).block_until_ready()
        wall.append(1e3 * (time.perf_counter() - start))
        cpu.append(1e3 * (time.process_time() - start_cpu))
        faults.append(_faults() - start_faults)
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
            env = machine.allocator_environment(allocator, os.environ)
            if env is None:
                continue
            command = [sys.executable, "-m", "bench.glibc_tunables", "--child", "--calls"]
            done = subprocess.run(
                [*command, str(args.calls)], env=env, check=True, capture_output=True, text=True
            )
            results.setdefault(allocator, []).append(json.loads(done.stdout.splitlines()[-1]))
    print(
        "| allocator | x*2 ms | x*2 CPU ms | faults/call | varying: s | end RSS MiB | peak RSS MiB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for allocator, runs in results.items():
        keys = ("x2_ms", "x2_cpu_ms", "x2_minor_faults", "varying_s")
        cells = [f"{statistics.median(run[key] for run in runs):.1f}" for key in keys]
        cells[2] = f"{statistics.median(run['x2_minor_faults'] for run in runs):.0f}"
        cells += [
            f"{statistics.median(run['varying_end_rss_mib'] for run in runs):.0f}",
            f"{max(run['varying_peak_rss_mib'] for run in runs):.0f}",
        ]
        print(f"| {allocator} | {' | '.join(cells)} |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f}; rounds: {args.rounds}")


if __name__ == "__main__":
    main()
