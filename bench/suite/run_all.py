"""Run the whole benchmark suite: every framework under every allocator, then the report.

``python -m bench.suite`` (what ``make bench`` runs) starts one :mod:`bench.suite.worker`
process per framework (JAX with jaxloss, optax and Keras; PyTorch; TensorFlow) and per
allocator (glibc's malloc, with and without the command line's ``GLIBC_TUNABLES``, and
mimalloc preloaded with ``LD_PRELOAD``), each pinned to the same cores and thread count,
merges their results into ``bench/results/<name>.json`` and writes the markdown table and the
PNG plot beside it (the docs' performance page makes its tables from the JSON when the docs are
built). ``--quick`` runs tiny sizes in well under a minute (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from bench.common import allocators, machine
from bench.common.timing import utc_now
from bench.suite import report, worker

FRAMEWORKS = tuple(worker.PEER_MODULES)
ALLOCATORS = worker.ALLOCATORS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER_TIMEOUT_S = 1800


def default_name(machine_facts: dict, quick: bool) -> str:
    """A file name naming the machine, e.g. ``cpu-amd-epyc-2-cores`` or ``gpu-nvidia-h200``."""
    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    if machine_facts.get("accelerator"):
        name = f"gpu-{slug(machine_facts['accelerator'])}"
    else:
        name = f"cpu-{slug(machine_facts['cpu_model'])}-{machine_facts['cores']}-cores"
    return name + ("-quick" if quick else "")


def worker_environment(allocator: str, threads: int) -> dict:
    """The child's environment: the allocator's
    (:func:`bench.common.allocators.allocator_environment`), the same thread counts for every
    framework, Keras on JAX."""
    env = allocators.allocator_environment(allocator, os.environ)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS"):
        env[variable] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["KERAS_BACKEND"] = "jax"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    return env


def run_worker(framework: str, allocator: str, size: str, threads: int,
               mimalloc: str | None, families: list[str] | None, log_dir: str) -> dict:
    if allocator == "mimalloc" and mimalloc is None:
        return {"framework": framework, "allocator_requested": allocator, "allocator": allocator,
                "status": "not installed",
                "error": "libmimalloc.so not found (pip install cmeel-mimalloc)", "records": []}
    out = os.path.join(log_dir, f"{framework}-{allocator}.json")
    log = os.path.join(log_dir, f"{framework}-{allocator}.log")
    command = [sys.executable, "-m", worker.__name__, "--framework", framework, "--size", size,
               "--allocator", allocator, "--threads", str(threads), "--out", out]
    if families:
        command += ["--families", *families]
    print(f"bench: {framework} under {allocator} ...", file=sys.stderr, flush=True)
    with open(log, "w") as log_file:
        completed = subprocess.run(command, cwd=REPO_ROOT, stdout=log_file, stderr=log_file,
                                   env=worker_environment(allocator, threads),
                                   timeout=WORKER_TIMEOUT_S)
    if completed.returncode != 0 or not os.path.exists(out):
        with open(log) as f:
            tail = f.read()[-2000:]
        return {"framework": framework, "allocator_requested": allocator,
                "allocator": allocator, "status": "error",
                "error": f"worker exited with {completed.returncode}: {tail}", "records": []}
    with open(out) as f:
        return json.load(f)


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats")
    parser.add_argument("--name", help="result file name (default: from the CPU model)")
    parser.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "bench", "results"))
    parser.add_argument("--readme", default=None,
                        help="page whose bench-table section is rewritten (default: none)")
    parser.add_argument("--allocators", nargs="+", choices=ALLOCATORS, default=list(ALLOCATORS))
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--families", nargs="*", help="only these kernel families")
    parser.add_argument("--resume", action="store_true",
                        help="keep the workers already in the result file, run the others")
    parser.add_argument("--threads", type=int, default=machine.usable_cores(),
                        help="threads for every framework (default: the usable cores)")
    args = parser.parse_args(argv)

    facts = machine.describe()
    size = "quick" if args.quick else "full"
    name = args.name or default_name(facts, args.quick)
    os.makedirs(args.out_dir, exist_ok=True)
    mimalloc = allocators.mimalloc_library()
    results = {
        "name": name, "size": size, "machine": facts, "threads": args.threads,
        "mimalloc_library": allocators.recorded_library_path(mimalloc), "git_commit": git_commit(), "started": utc_now(),
        "finished": None, "runs": [],
    }
    json_path = os.path.join(args.out_dir, f"{name}.json")
    if args.resume and os.path.exists(json_path):
        with open(json_path) as f:
            previous = json.load(f)
        results.update(started=previous["started"], runs=[
            run for run in previous["runs"] if run.get("status") == "ok"])
    done = {(run["framework"], run.get("allocator_requested")) for run in results["runs"]}
    with tempfile.TemporaryDirectory(prefix="jaxloss-bench-") as log_dir:
        for framework in args.frameworks:
            for allocator in args.allocators:
                if (framework, allocator) in done:
                    continue
                results["runs"].append(run_worker(framework, allocator, size, args.threads,
                                                  mimalloc, args.families, log_dir))
                # Written after every worker: an interrupted run still leaves its results.
                results["finished"] = utc_now()
                with open(json_path, "w") as f:
                    json.dump(results, f, indent=1)
    written = report.write_all(json_path, readme=args.readme)
    for path in [json_path, *written]:
        print(f"bench: wrote {path}", file=sys.stderr)
    return results
