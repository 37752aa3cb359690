"""The allocator a benchmark process runs under, and child processes started under another.

Names: those of :data:`GLIBC_SETTINGS` (glibc's malloc, with or without ``GLIBC_TUNABLES``)
and the caching allocators the command line looks for, ``mimalloc`` and ``tcmalloc``
(:mod:`jaxloss.cli.allocator`, whose search is used here too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence

from jaxloss.cli.allocator import ALLOCATOR_NAMES, GLIBC_TUNABLES_SETTING, find_allocator_library


GLIBC_SETTINGS = {
    "glibc": None,
    "glibc-tunables": GLIBC_TUNABLES_SETTING,
    "glibc-hugetlb": "glibc.malloc.hugetlb=1",
    "glibc-nommap": f"glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold={2**40}",
}
"""Allocator names that run glibc's malloc, and the ``GLIBC_TUNABLES`` each sets."""


NAMES = (*GLIBC_SETTINGS, *ALLOCATOR_NAMES)
"""Every allocator name a child process can be started under (:func:`allocator_environment`)."""


def mimalloc_library() -> str | None:
    """Path of mimalloc's shared library (cmeel-mimalloc's wheel), or None if not installed.

    The search is jaxloss's own (:func:`jaxloss.cli.allocator.find_allocator_library`), the
    one the command line uses to re-execute itself under a caching allocator.
    """
    found = find_allocator_library(("mimalloc",))
    return None if found is None else str(found)


def recorded_library_path(path: str | None) -> str | None:
    """``path`` as a results file records it, without the machine's own directories.

    A library inside the running environment's site-packages is written
    ``site-packages/<its path there>``; any other, by its file name.
    """
    if path is None:
        return None
    resolved = os.path.realpath(path)
    for root in dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib")):
        root = os.path.realpath(root)
        if os.path.commonpath([resolved, root]) == root:
            return "site-packages/" + os.path.relpath(resolved, root).replace(os.sep, "/")
    return os.path.basename(resolved)


def allocator_environment(allocator: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment of a child process that runs under ``allocator``.

    ``environ`` without its ``LD_PRELOAD`` and ``GLIBC_TUNABLES``, then: for a name of
    :data:`GLIBC_SETTINGS` that setting's ``GLIBC_TUNABLES``; for ``mimalloc`` or
    ``tcmalloc`` an ``LD_PRELOAD`` of the installed library (jaxloss's own search), or
    ``None`` when it is not installed.
    """
    env = {k: v for k, v in environ.items() if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    if allocator in GLIBC_SETTINGS:
        if GLIBC_SETTINGS[allocator]:
            env["GLIBC_TUNABLES"] = GLIBC_SETTINGS[allocator]
        return env
    library = find_allocator_library(names=(allocator,))
    if library is None:
        return None
    env["LD_PRELOAD"] = str(library)
    return env


def allocator_in_process() -> str:
    """``mimalloc`` when libmimalloc is mapped into this process; else glibc, named by the
    ``GLIBC_TUNABLES`` the process started with (glibc reads them only at start): a name of
    :data:`GLIBC_SETTINGS`, or ``"glibc, GLIBC_TUNABLES=..."`` for another setting."""
    try:
        with open("/proc/self/maps") as f:
            if "libmimalloc" in f.read():
                return "mimalloc"
    except OSError:
        pass
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if not tunables:
        return "glibc"
    named = [name for name, value in GLIBC_SETTINGS.items() if value == tunables]
    return named[0] if named else f"glibc, GLIBC_TUNABLES={tunables}"


def run_under(allocator: str, arguments: Sequence[str]) -> dict | None:
    """Run ``python ARGUMENTS`` in a child process under ``allocator`` and return the JSON
    object on the last line it prints; None when ``allocator`` is not installed."""
    env = allocator_environment(allocator, os.environ)
    if env is None:
        return None
    done = subprocess.run([sys.executable, *arguments], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
