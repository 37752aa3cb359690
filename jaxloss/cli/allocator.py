"""Re-execute the command line under a caching malloc (mimalloc, tcmalloc) or glibc tunables.

Why: XLA:CPU allocates fresh output buffers on every call. Under glibc's malloc
large buffers come from ``mmap`` and are faulted in page by page on each step;
a caching allocator reuses them. On the document's MNIST CNN this alone cut a
training step substantially (see ``bench/studies/mnist_step/`` and the docs'
MNIST-step guide for the measured figures). The library itself never needs it: only the command line
(``python -m jaxloss``) re-executes itself with ``LD_PRELOAD`` when one of these
libraries is installed, else with ``GLIBC_TUNABLES`` (below), and
``JAXLOSS_NO_PRELOAD=1`` turns both off.

Where the libraries are looked for, in order:

1. mimalloc from the PyPI wheel ``cmeel-mimalloc``
   (``<site-packages>/cmeel.prefix/lib/libmimalloc.so``), in every entry of
   ``sys.path`` and the running environment's site-packages;
2. tcmalloc from Debian/Ubuntu's ``libtcmalloc-minimal4``
   (``/usr/lib/<multiarch>/libtcmalloc_minimal.so.4``).

When neither is installed, the fallback is glibc's own malloc with three
tunables (:data:`GLIBC_TUNABLES_SETTING`, added to ``GLIBC_TUNABLES``):

- ``glibc.malloc.mmap_threshold=67108864``: blocks under 64 MiB come from
  malloc's heaps instead of fresh mappings (glibc's own threshold adapts only
  up to 32 MiB, and the MNIST step needs a 47.5 MiB block on every call);
- ``glibc.malloc.trim_threshold=134217728``: up to 128 MiB of free memory stay
  at the top of a heap instead of going back to the kernel (and being faulted
  in again on the next step);
- ``glibc.malloc.hugetlb=1``: the blocks still mapped (64 MiB and more) are
  advised to use transparent huge pages, so they are faulted in 2 MiB at a
  time (where ``/sys/kernel/mm/transparent_hugepage/enabled`` says
  ``madvise`` or ``always``; elsewhere it changes nothing).

They are used on glibc 2.35 or newer (``hugetlb`` is new in 2.35; the setting
was measured on 2.36). Tunables are read once, when the process starts, hence
the re-execution; the same opt-out and the same no-loop marker apply, and a
``GLIBC_TUNABLES`` that already sets one of these three is left as it is. Not
used: ``glibc.malloc.mmap_max=0`` (no mapped blocks at all). It also removes
the MNIST step's faults, but glibc then serves every big block of the main
thread from the main heap, which fragments (on a loop over arrays of varying
size, ``bench/studies/glibc_tunables/``, the resident memory ended 6 to 11 times
higher than under glibc's defaults), and XLA's threads still map blocks too
big for their 64 MiB heaps. Measured figures: the docs' MNIST-step guide,
``python -m bench.studies.mnist_step --allocators glibc,glibc-tunables,mimalloc`` and
``python -m bench.studies.glibc_tunables``.
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

GLIBC_TUNABLES_SETTING = (
    "glibc.malloc.mmap_threshold=67108864"
    ":glibc.malloc.trim_threshold=134217728"
    ":glibc.malloc.hugetlb=1"
)
"""What the fallback adds to ``GLIBC_TUNABLES`` when no caching allocator is installed."""

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
      >>> from jaxloss.cli.allocator import find_allocator_library
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


def _may_reexec(environ: Mapping[str, str]) -> bool:
    """False when opted out, already re-executed, or already under a caching allocator."""
    if environ.get(OPT_OUT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if environ.get(REEXEC_MARKER_VARIABLE):
        return False
    preloaded = environ.get("LD_PRELOAD", "")
    return not any(f"lib{name}" in preloaded for name in ALLOCATOR_NAMES + ("jemalloc",))


def glibc_tunables_supported(libc_version: str | None = None) -> bool:
    """Whether :data:`GLIBC_TUNABLES_SETTING` applies: this process runs on glibc >= 2.35.

    Args:
      libc_version: as ``os.confstr("CS_GNU_LIBC_VERSION")`` gives it, e.g.
        ``"glibc 2.36"``; default this process's.

    Example:
      >>> from jaxloss.cli.allocator import glibc_tunables_supported
      >>> glibc_tunables_supported("glibc 2.36"), glibc_tunables_supported("glibc 2.31")
      (True, False)
    """
    if libc_version is None:
        try:
            libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (AttributeError, ValueError, OSError):
            libc_version = ""
    name, _, version = libc_version.partition(" ")
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return name == "glibc" and (major, minor) >= (2, 35)


def tunables_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to re-execute with glibc's tunables, or ``None``.

    ``None`` in the same cases as :func:`preload_environment` (opt-out, already
    re-executed, a caching allocator already in ``LD_PRELOAD``) and when
    ``GLIBC_TUNABLES`` already sets one of the tunables of
    :data:`GLIBC_TUNABLES_SETTING` (the caller chose). Otherwise a copy of
    ``environ`` with :data:`GLIBC_TUNABLES_SETTING` appended to ``GLIBC_TUNABLES``
    (colon-separated, the caller's other tunables kept) and the marker set.

    Example:
      >>> from jaxloss.cli.allocator import tunables_environment
      >>> env = tunables_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
      >>> env["GLIBC_TUNABLES"].split(":")[:2]
      ['glibc.malloc.arena_max=2', 'glibc.malloc.mmap_threshold=67108864']
      >>> tunables_environment({"JAXLOSS_NO_PRELOAD": "1"}) is None
      True
    """
    if not _may_reexec(environ):
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    ours = [entry.split("=")[0] for entry in GLIBC_TUNABLES_SETTING.split(":")]
    if any(entry.split("=")[0] in ours for entry in tunables.split(":")):
        return None
    env = dict(environ)
    env["GLIBC_TUNABLES"] = ":".join(filter(None, (tunables, GLIBC_TUNABLES_SETTING)))
    env[REEXEC_MARKER_VARIABLE] = "GLIBC_TUNABLES"
    return env


def preload_environment(environ: Mapping[str, str], library: Path | None) -> dict[str, str] | None:
    """The environment to re-execute under ``library``, or ``None`` when not to re-execute.

    ``None`` when ``library`` is ``None``, when the opt-out variable
    :data:`OPT_OUT_VARIABLE` is set to a true value, when this process is already
    the re-executed one (:data:`REEXEC_MARKER_VARIABLE` set), or when
    ``LD_PRELOAD`` already names a caching allocator. Otherwise a copy of
    ``environ`` with ``library`` prepended to ``LD_PRELOAD`` and the marker set.

    Example:
      >>> from pathlib import Path
      >>> from jaxloss.cli.allocator import preload_environment
      >>> preload_environment({"JAXLOSS_NO_PRELOAD": "1"}, Path("/x/libmimalloc.so")) is None
      True
      >>> preload_environment({}, Path("/x/libmimalloc.so"))["LD_PRELOAD"]
      '/x/libmimalloc.so'
    """
    if library is None or not _may_reexec(environ):
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    env = dict(environ)
    env["LD_PRELOAD"] = f"{library}:{preloaded}" if preloaded else str(library)
    env[REEXEC_MARKER_VARIABLE] = str(library)
    return env


def reexec_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment :func:`reexec_under_allocator` restarts with, or ``None`` to stay.

    A caching allocator when one is installed (:func:`preload_environment`), else
    glibc's tunables on glibc >= 2.35 (:func:`tunables_environment`), else ``None``.
    """
    library = find_allocator_library()
    if library is not None:
        return preload_environment(environ, library)
    if sys.platform.startswith("linux") and glibc_tunables_supported():
        return tunables_environment(environ)
    return None


def reexec_under_allocator(argv: Sequence[str] | None = None) -> None:
    """Replace this process with the same command under a better allocator setting.

    Under a caching allocator if one is found, else under glibc's malloc with
    :data:`GLIBC_TUNABLES_SETTING` on glibc >= 2.35 (see the module's docstring). Call it first thing in a command-line entry point, before JAX is
    imported. Returns normally (doing nothing) when neither applies, on non-Linux
    systems, when ``JAXLOSS_NO_PRELOAD=1``, or when already re-executed;
    otherwise it does not return (``os.execve``).

    Args:
      argv: the arguments after the interpreter; default the original command
        line, ``sys.orig_argv[1:]`` (e.g. ``["-m", "jaxloss", "reproduce", "all"]``),
        so interpreter options and ``-m`` are kept.
    """
    env = reexec_environment(os.environ)
    if env is None:
        return
    arguments = list(sys.orig_argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *arguments], env)
