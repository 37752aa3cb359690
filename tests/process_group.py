"""Run a worker script as N JAX processes on this machine (``jax.distributed`` over gloo).

The parent side, :func:`run_processes`, starts ``num_processes`` Python subprocesses of one
worker script. Each gets its own CPU devices (``--xla_force_host_platform_device_count``),
a shared coordinator address on 127.0.0.1 with a free port, and a directory for its
results. Every process is bounded in time: on a timeout, or when one process fails, the
others are killed, and the error shows each process's output.

The worker side, :func:`initialize`, is called first thing in a worker script. It reads
the arguments the parent passed, selects gloo for the CPU collectives and calls
``jax.distributed.initialize``. Workers live in ``tests/multiprocess_workers/`` and write
what the test checks as files under :attr:`Worker.out_dir`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "multiprocess_workers"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Finished:
    """One process's exit status and output."""

    process_id: int
    returncode: int
    stdout: str
    stderr: str


class ProcessesFailed(AssertionError):
    """A worker exited with an error, or the group ran past its time limit."""


def _describe(results: list[Finished]) -> str:
    parts = []
    for r in results:
        parts.append(f"--- process {r.process_id}: exit {r.returncode}\n"
                     f"[stdout]\n{r.stdout[-4000:]}\n[stderr]\n{r.stderr[-6000:]}")
    return "\n".join(parts)


def start_processes(worker: str | Path, out_dir: str | Path, *, num_processes: int = 2,
                    devices_per_process: int = 2, process_ids=None, port: int | None = None,
                    args: tuple[str, ...] = (), env: dict | None = None):
    """Start the worker processes (``process_ids``, default all) and return the Popen list.

    Use :func:`wait_processes` to collect them; :func:`run_processes` does both.
    """
    worker = Path(worker)
    if not worker.is_absolute():
        worker = WORKERS / worker
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    child_env = dict(os.environ)
    child_env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}",
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), child_env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONUNBUFFERED="1",
    )
    child_env.update(env or {})
    ids = range(num_processes) if process_ids is None else process_ids
    processes = []
    for process_id in ids:
        command = [sys.executable, str(worker), "--process-id", str(process_id),
                   "--num-processes", str(num_processes), "--port", str(port),
                   "--out-dir", str(out_dir), *args]
        processes.append((process_id, subprocess.Popen(
            command, cwd=REPO_ROOT, env=child_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)))
    return processes


def _kill(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_processes(processes, *, timeout: float = 120.0, check: bool = True) -> list[Finished]:
    """Wait for every process, killing all of them at ``timeout`` seconds or at the first failure.

    Raises:
      ProcessesFailed: when ``check`` and a process exited non-zero or the time ran out.
    """
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while any(p.poll() is None for _, p in processes):
            if time.monotonic() > deadline:
                timed_out = True
                break
            if check and any(p.poll() not in (None, 0) for _, p in processes):
                time.sleep(2.0)  # let the others print their side of the failure
                break
            time.sleep(0.05)
    finally:
        for _, p in processes:
            _kill(p)
    results = []
    for process_id, p in processes:
        stdout, stderr = p.communicate()
        results.append(Finished(process_id, p.returncode, stdout, stderr))
    if timed_out and check:
        raise ProcessesFailed(f"workers ran past {timeout:.0f} s and were killed\n" + _describe(results))
    if check and any(r.returncode != 0 for r in results):
        raise ProcessesFailed("a worker failed\n" + _describe(results))
    return results


def run_processes(worker: str | Path, out_dir: str | Path, *, timeout: float = 120.0,
                  check: bool = True, **start_kwargs) -> list[Finished]:
    """Start the worker as N processes, wait for all, and return their outputs.

    Args:
      worker: a file in ``tests/multiprocess_workers/`` (or an absolute path).
      out_dir: where the workers write their results (``Worker.out_dir``).
      timeout: seconds for the whole group; past it every process is killed.
      check: raise :class:`ProcessesFailed` when a process fails or times out.
      **start_kwargs: ``num_processes``, ``devices_per_process``, ``process_ids``,
        ``port``, ``args`` (extra command-line arguments) and ``env``, as for
        :func:`start_processes`.
    """
    return wait_processes(start_processes(worker, out_dir, **start_kwargs), timeout=timeout, check=check)


@dataclasses.dataclass(frozen=True)
class Worker:
    """What a worker process was started with (:func:`initialize` returns it)."""

    process_id: int
    num_processes: int
    port: int
    out_dir: Path
    extra: list[str]


def initialize(*, initialization_timeout: int = 60) -> Worker:
    """Join the process group the parent started; call before any other JAX work.

    Unknown command-line arguments are returned in ``Worker.extra`` for the worker itself.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--num-processes", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    known, extra = parser.parse_known_args()
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{known.port}", num_processes=known.num_processes,
        process_id=known.process_id, initialization_timeout=initialization_timeout)
    return Worker(known.process_id, known.num_processes, known.port, known.out_dir, extra)
