"""The machine a benchmark ran on: its CPU, accelerator, memory, copy bandwidth and pace."""

from __future__ import annotations

import concurrent.futures
import os
import platform
import resource
import shutil
import subprocess
import time

import numpy as np


def _proc_field(path: str, key: str) -> str | None:
    """The text after ``key:`` on the first line of ``path`` (a /proc file) that starts with
    ``key``; None where there is no such file or line."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what the platform says elsewhere)."""
    return (_proc_field("/proc/cpuinfo", "model name") or platform.processor()
            or platform.machine())


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), which is what thread pools size to."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _meminfo_kib(key: str) -> int | None:
    value = _proc_field("/proc/meminfo", key + ":")
    return None if value is None else int(value.split()[0])


def memory_gib() -> float | None:
    """MemTotal from /proc/meminfo, in GiB to one decimal (None where there is no such file)."""
    kib = _meminfo_kib("MemTotal")
    return None if kib is None else round(kib / 2**20, 1)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    kib = _meminfo_kib("MemAvailable")
    return None if kib is None else kib * 1024


def minor_page_faults() -> int:
    """Minor page faults of this process so far (pages the kernel mapped in on first touch)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def accelerator_model() -> str | None:
    """The first NVIDIA GPU's name from ``nvidia-smi`` (e.g. ``NVIDIA H200``), or None.

    Asked of ``nvidia-smi`` rather than of JAX or PyTorch: the parent process of a benchmark
    must not initialise a GPU runtime (JAX would reserve most of the device's memory before
    the workers start).
    """
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in names.splitlines() if line.strip()]
    return lines[0] if lines else None


def describe() -> dict:
    """Machine facts every result file and figure carries."""
    return {
        "accelerator": accelerator_model(),
        "cpu_model": cpu_model(),
        "cores": usable_cores(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libc": " ".join(platform.libc_ver()),
    }


def machine_label(machine: dict) -> str:
    """One line naming the machine, e.g. ``AMD EPYC, 2 cores, 23.4 GiB`` or, with a GPU,
    ``NVIDIA H200 (host: Intel Xeon, 16 cores, 128 GiB)``."""
    memory = f", {machine['memory_gib']} GiB" if machine.get("memory_gib") else ""
    host = f"{machine['cpu_model']}, {machine['cores']} cores{memory}"
    return f"{machine['accelerator']} (host: {host})" if machine.get("accelerator") else host


def jax_device_label(device) -> str:
    """What a single-device JAX result ran on: the CPU model and cores, or the device's kind."""
    if device.platform == "cpu":
        return f"{cpu_model()}, {usable_cores()} cores"
    return getattr(device, "device_kind", device.platform)


_PROBE_INPUT = np.linspace(0.5, 2.0, 2**21, dtype=np.float32)


def compute_probe_ms(repeats: int = 3) -> float:
    """Milliseconds for a fixed single-threaded compute load (``log(exp(x))`` of 2**21 float32
    in NumPy), best of ``repeats``.

    The same work every time: within a run, probes that differ by much mean the machine went
    through a slower episode (a neighbour on the host, say), which the load average does not
    show; timings of other processes taken then are not comparable.
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.log(np.exp(_PROBE_INPUT))
        best = min(best, time.perf_counter() - start)
    return round(best * 1e3, 3)


def copy_bandwidth(num_bytes: int, repeats: int, threads: int) -> dict:
    """Memory bandwidth of a large float32 array copy, in GB/s (10^9 bytes per second).

    The destination is allocated and written once before timing, so no page faults are
    measured: this is what the memory system gives, the ceiling for the kernels. Bytes moved
    count one read and one write of the array (the STREAM ``copy`` convention, the same one the
    kernels' minimum bytes use). Measured with 1 thread and with ``threads`` threads, each
    copying its slice; the best median is the roofline bandwidth.
    """
    count = num_bytes // 4
    source = np.arange(count, dtype=np.float32)
    destination = np.zeros_like(source)
    slices = [slice(i * count // threads, (i + 1) * count // threads) for i in range(threads)]

    def copy_slice(part: slice) -> None:
        np.copyto(destination[part], source[part])

    results = {}
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for label, parts in (("1_thread", [slice(None)]), (f"{threads}_threads", slices)):
            samples = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                list(pool.map(copy_slice, parts))
                samples.append(time.perf_counter() - start)
            median = float(np.median(samples[1:]))
            results[label] = round(2 * count * 4 / median / 1e9, 2)
    if not np.array_equal(destination[-10:], source[-10:]):
        raise RuntimeError("bandwidth copy did not copy")
    return {"gb_per_s": max(results.values()), "by_threads": results,
            "array_bytes": count * 4, "repeats": repeats}
