"""One framework's measurements, in a process of its own (``python -m bench.suite.worker ...``).

:mod:`bench.suite.run_all` starts one worker per framework and allocator, so that allocators
(``LD_PRELOAD``), thread pools and caches of different frameworks never share a process. A
framework that is not installed is recorded as such instead of failing the run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback

from bench.common import allocators, machine
from bench.common.timing import BUDGETS, measure, utc_now
from bench.suite import cases as cases_lib

PEER_MODULES = {"jax": "bench.suite.peers_jax", "torch": "bench.suite.peers_torch",
                "tensorflow": "bench.suite.peers_tf"}
"""Each framework's peers, imported only by the worker that measures it."""
ALLOCATORS = ("glibc", "glibc-tunables", "mimalloc")
BANDWIDTH_BYTES = {"full": 512 * 2**20, "quick": 16 * 2**20}
# A GPU copies 512 MiB in about a tenth of a millisecond: larger, so that the call's own
# overhead stays near 1% of the time.
DEVICE_BANDWIDTH_BYTES = {"full": 4 * 2**30, "quick": 16 * 2**20}


def _error(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {str(exception).splitlines()[0] if str(exception) else ''}"


def run(framework: str, size: str, allocator: str, threads: int, families: list[str] | None
        ) -> dict:
    result = {"framework": framework, "size": size, "allocator_requested": allocator,
              "allocator": allocators.allocator_in_process(), "threads": threads,
              "started": utc_now(), "loadavg_start": os.getloadavg(),
              "machine": machine.describe()}
    try:
        peers = importlib.import_module(PEER_MODULES[framework])
        configure_threads = getattr(peers, "configure_threads", None)
        if configure_threads is not None:  # JAX's threads follow the environment
            configure_threads(threads)
        result["versions"] = peers.versions()
    except ImportError as exception:
        result.update(status="not installed", error=_error(exception), records=[])
        return result
    result["status"] = "ok"
    if result["allocator"] != allocator:
        raise RuntimeError(f"asked for allocator {allocator}, the process has "
                           f"{result['allocator']} (LD_PRELOAD={os.environ.get('LD_PRELOAD')})")

    accelerator = peers.on_accelerator()
    bandwidth = machine.copy_bandwidth(BANDWIDTH_BYTES[size], repeats=5, threads=threads)
    device_bandwidth = getattr(peers, "device_bandwidth", None)
    if accelerator and device_bandwidth is not None:
        # The kernels read and write the device's memory: its copy is their roofline.
        bandwidth["device_gb_per_s"] = device_bandwidth(DEVICE_BANDWIDTH_BYTES[size],
                                                        repeats=10)
    elif framework == "jax":
        bandwidth["by_threads"]["xla_inplace"] = peers.inplace_bandwidth(
            BANDWIDTH_BYTES[size], repeats=5)
        bandwidth["gb_per_s"] = max(bandwidth["by_threads"].values())
    result["bandwidth"] = bandwidth

    budget = BUDGETS[size]
    records = []
    for case in cases_lib.cases(size, accelerator=accelerator):
        if families and case.family not in families:
            continue
        arrays = cases_lib.make_inputs(case)
        fingerprint = cases_lib.fingerprint(arrays)
        probe_ms = machine.compute_probe_ms()
        inputs = peers.prepare_inputs(arrays)
        for mode in cases_lib.MODES:
            base = {"family": case.family, "shape": list(case.shape), "mode": mode,
                    "min_bytes": case.min_bytes(mode), "inputs_crc32": fingerprint,
                    "probe_ms": probe_ms,
                    "framework": framework, "allocator": allocator}
            entries, statuses = {}, {}
            for peer in peers.PEERS:
                try:
                    entry = peers.make_entry(peer, case, mode, inputs)
                except (ImportError, AttributeError) as exception:
                    statuses[peer] = {"status": "not available", "error": _error(exception)}
                    continue
                except Exception as exception:  # a peer failing must not stop the others
                    statuses[peer] = {"status": "error", "error": _error(exception)}
                    traceback.print_exc()
                    continue
                if entry is None:
                    statuses[peer] = {"status": "no such kernel"}
                    continue
                available = machine.available_memory_bytes()
                if entry.temp_bytes and available and entry.temp_bytes > 0.7 * available:
                    # Running it could bring the out-of-memory killer onto the whole process.
                    statuses[peer] = {"status": "skipped: temp memory", "temp_bytes":
                                      entry.temp_bytes, "compile_s": entry.compile_s,
                                      "error": f"needs {entry.temp_bytes / 2**30:.1f} GiB of "
                                               f"temporaries, {available / 2**30:.1f} GiB free"}
                    continue
                entries[peer] = entry
                loss, grad_l1 = entry.loss()
                statuses[peer] = {"status": "ok", "compile_s": entry.compile_s,
                                  "temp_bytes": entry.temp_bytes, "loss": loss,
                                  "grad_l1": grad_l1}
            timings = measure(entries, budget) if entries else {}
            for peer, status in statuses.items():
                records.append({**base, "peer": peer, **status, **timings.get(peer, {})})
            print(f"[{framework}/{allocator}] {case.key} {mode}: " + ", ".join(
                f"{peer} {timing['median_ms']:.2f} ms" for peer, timing in timings.items()),
                file=sys.stderr, flush=True)
            del entries
        del inputs
    result["records"] = records
    result["finished"] = utc_now()
    result["loadavg_end"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--framework", choices=sorted(PEER_MODULES), required=True)
    parser.add_argument("--size", choices=sorted(cases_lib.SIZES), default="full")
    parser.add_argument("--allocator", choices=ALLOCATORS, default="glibc")
    parser.add_argument("--threads", type=int, default=machine.usable_cores())
    parser.add_argument("--families", nargs="*", help="only these kernel families")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    result = run(args.framework, args.size, args.allocator, args.threads, args.families)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
