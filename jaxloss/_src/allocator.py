"""Find a caching malloc (mimalloc, tcmalloc) and re-execute the command line under it.

Why: XLA:CPU allocates fresh output buffers on every call. Under glibc's malloc
large buffers come from ``mmap`` and are faulted in page by page on each step;
a caching allocator reuses them. On the document's MNIST CNN this alone cut a
training step substantially (see ``bench/mnist_step.py`` and the README for the
measured figures). The library itself never needs it: only the command line
(``python -m jaxloss``) re-executes itself with ``LD_PRELOAD`` when one of these
libraries is installed, and ``JAXLOSS_NO_PRELOAD=1`` turns that off.

Where the libraries are looked for, in order:

1. mimalloc from the PyPI wheel ``cmeel-mimalloc``
   (``<site-packages>/cmeel.prefix/lib/libmimalloc.so``), in every entry of
   ``sys.path`` and the running environment's site-packages;
2. tcmalloc from Debian/Ubuntu's ``libtcmalloc-minimal4``
   (``/usr/lib/<multiarch>/libtcmalloc_minimal.so.4``).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

OPT_OUT_VARIABLE = "JAXLOSS_NO_PRELOAD"
"""Set to ``1`` (or ``true``/``yes``) to keep the command line on the default malloc."""

REEXEC_MARKER_VARIABLE = "JAXLOSS_PRELOADED"
"""Set in the re-executed process (to the library's path), so that it never loops."""

ALLOCATOR_NAMES = ("mimalloc", "tcmalloc")

_CMEEL_MIMALLOC = ("cmeel.prefix/lib/libmimalloc.so",)
_TCMALLOC_FILES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")


def _site_dirs() -> list[Path]:
    dirs = [Path(entry) for entry in sys.path if entry]
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.append(Path(path))
    return list(dict.fromkeys(dirs))


def _system_lib_dirs() -> list[Path]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    return [Path("/usr/lib") / multiarch, Path("/usr/lib64"), Path("/usr/lib"), Path("/lib")]


def candidate_paths(
    names: Sequence[str] = ALLOCATOR_NAMES,
    *,
    site_dirs: Iterable[Path] | None = None,
    system_dirs: Iterable[Path] | None = None,
) -> list[Path]:
    """Every place, in preference order, where an allocator of ``names`` may be installed.

    Args:
      names: which allocators to look for, in preference order: ``"mimalloc"``
        and/or ``"tcmalloc"``.
      site_dirs: Python package folders to search for the cmeel-mimalloc wheel;
        default ``sys.path`` and the running environment's site-packages.
      system_dirs: library folders to search for tcmalloc; default the system's.

    Returns:
      Paths (existing or not) in the order :func:`find_allocator_library` tries them.

    Raises:
      ValueError: a name is not one of ``"mimalloc"``, ``"tcmalloc"``.
    """
    unknown = [name for name in names if name not in ALLOCATOR_NAMES]
    if unknown:
        raise ValueError(f"`names` must be among {ALLOCATOR_NAMES}, got {list(names)}.")
    site_dirs = _site_dirs() if site_dirs is None else list(site_dirs)
    system_dirs = _system_lib_dirs() if system_dirs is None else list(system_dirs)
    paths: list[Path] = []
    for name in names:
        if name == "mimalloc":
            paths += [Path(d) / rel for d in site_dirs for rel in _CMEEL_MIMALLOC]
        else:
            paths += [Path(d) / file for d in system_dirs for file in _TCMALLOC_FILES]
    return paths


def find_allocator_library(
    names: Sequence[str] = ALLOCATOR_NAMES,
    *,
    site_dirs: Iterable[Path] | None = None,
    system_dirs: Iterable[Path] | None = None,
) -> Path | None:
    """The first installed caching allocator library, or ``None``.

    Linux only (``LD_PRELOAD`` is the glibc dynamic loader's); elsewhere ``None``.
    Arguments as :func:`candidate_paths`.

    Example:
      >>> from jaxloss._src.allocator import find_allocator_library
      >>> found = find_allocator_library()
      >>> found is None or found.name.startswith(("libmimalloc", "libtcmalloc"))
      True
    """
    if not sys.platform.startswith("linux"):
        return None
    for path in candidate_paths(names, site_dirs=site_dirs, system_dirs=system_dirs):
        if path.is_file():
            return path.resolve()
    return None


def preload_environment(environ: Mapping[str, str], library: Path | None) -> dict[str, str] | None:
    """The environment to re-execute under ``library``, or ``None`` when not to re-execute.

    ``None`` when ``library`` is ``None``, when the opt-out variable
    :data:`OPT_OUT_VARIABLE` is set to a true value, when this process is already
    the re-executed one (:data:`REEXEC_MARKER_VARIABLE` set), or when
    ``LD_PRELOAD`` already names a caching allocator. Otherwise a copy of
    ``environ`` with ``library`` prepended to ``LD_PRELOAD`` and the marker set.

    Example:
      >>> from pathlib import Path
      >>> from jaxloss._src.allocator import preload_environment
      >>> preload_environment({"JAXLOSS_NO_PRELOAD": "1"}, Path("/x/libmimalloc.so")) is None
      True
      >>> preload_environment({}, Path("/x/libmimalloc.so"))["LD_PRELOAD"]
      '/x/libmimalloc.so'
    """
    if library is None:
        return None
    if environ.get(OPT_OUT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    if environ.get(REEXEC_MARKER_VARIABLE):
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    if any(f"lib{name}" in preloaded for name in ALLOCATOR_NAMES + ("jemalloc",)):
        return None
    env = dict(environ)
    env["LD_PRELOAD"] = f"{library}:{preloaded}" if preloaded else str(library)
    env[REEXEC_MARKER_VARIABLE] = str(library)
    return env


def reexec_under_allocator(argv: Sequence[str] | None = None) -> None:
    """Replace this process with the same command under a caching allocator, if one is found.

    Call it first thing in a command-line entry point, before JAX is imported.
    Returns normally (doing nothing) when no library is installed, on non-Linux
    systems, when ``JAXLOSS_NO_PRELOAD=1``, or when already running under one;
    otherwise it does not return (``os.execve``).

    Args:
      argv: the arguments after the interpreter; default the original command
        line, ``sys.orig_argv[1:]`` (e.g. ``["-m", "jaxloss", "reproduce", "all"]``),
        so interpreter options and ``-m`` are kept.
    """
    env = preload_environment(os.environ, find_allocator_library())
    if env is None:
        return
    arguments = list(sys.orig_argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *arguments], env)
