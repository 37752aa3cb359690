"""The caching-allocator finder and the command line's re-execution under it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jaxloss.cli import allocator

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@linux_only
@pytest.mark.parametrize(
    "installed, names, want",
    [
        (["site/cmeel.prefix/lib/libmimalloc.so", "sys/libtcmalloc_minimal.so.4"], None, 0),
        (
            ["site/cmeel.prefix/lib/libmimalloc.so", "sys/libtcmalloc_minimal.so.4"],
            ("tcmalloc",),
            1,
        ),
        (["sys/libtcmalloc_minimal.so.4"], None, 0),
        (["sys/libtcmalloc.so.4"], ("tcmalloc", "mimalloc"), 0),
        ([], None, None),
    ],
)
def test_finder_prefers_in_order(tmp_path, installed, names, want):
    files = [_touch(tmp_path / rel) for rel in installed]
    found = allocator.find_allocator_library(
        names or allocator.ALLOCATOR_NAMES,
        site_dirs=[tmp_path / "elsewhere", tmp_path / "site"],
        system_dirs=[tmp_path / "sys"],
    )
    assert found == (None if want is None else files[want].resolve())


def test_finder_finds_cmeel_wheel_layout_on_sys_path(tmp_path, monkeypatch):
    library = _touch(tmp_path / "cmeel.prefix" / "lib" / "libmimalloc.so")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert library in allocator.candidate_paths(("mimalloc",))


def test_unknown_allocator_name():
    with pytest.raises(ValueError, match="`names` must be among"):
        allocator.candidate_paths(("jemalloc",))


@pytest.mark.parametrize(
    "environ, expected_preload",
    [
        ({}, "/lib/libmimalloc.so"),
        ({"LD_PRELOAD": "/other.so"}, "/lib/libmimalloc.so:/other.so"),
        ({"JAXLOSS_NO_PRELOAD": "1"}, None),
        ({"JAXLOSS_NO_PRELOAD": "true"}, None),
        ({"JAXLOSS_NO_PRELOAD": "0"}, "/lib/libmimalloc.so"),
        ({"JAXLOSS_PRELOADED": "/lib/libmimalloc.so"}, None),
        ({"LD_PRELOAD": "/usr/lib/libtcmalloc_minimal.so.4"}, None),
    ],
)
def test_preload_environment_rules(environ, expected_preload):
    env = allocator.preload_environment(environ, Path("/lib/libmimalloc.so"))
    if expected_preload is None:
        assert env is None
    else:
        assert env["LD_PRELOAD"] == expected_preload
        assert env["JAXLOSS_PRELOADED"] == "/lib/libmimalloc.so"
    assert allocator.preload_environment({}, None) is None


@pytest.mark.parametrize(
    "libc_version, want",
    [
        ("glibc 2.36", True),
        ("glibc 2.35", True),
        ("glibc 3.0", True),
        ("glibc 2.34", False),  # no glibc.malloc.hugetlb yet
        ("glibc 2.17", False),
        ("", False),  # musl, macOS: no glibc
        ("glibc x", False),
    ],
)
def test_glibc_tunables_supported(libc_version, want):
    assert allocator.glibc_tunables_supported(libc_version) is want


OURS = allocator.GLIBC_TUNABLES_SETTING


@pytest.mark.parametrize(
    "environ, expected_tunables",
    [
        ({}, OURS),
        ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, f"glibc.malloc.arena_max=2:{OURS}"),
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, None),  # the caller chose: keep it
        ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096:x=1"}, None),
        ({"JAXLOSS_NO_PRELOAD": "yes"}, None),
        ({"JAXLOSS_PRELOADED": "GLIBC_TUNABLES"}, None),  # no loop
        ({"LD_PRELOAD": "/x/libmimalloc.so"}, None),
    ],
)
def test_tunables_environment_rules(environ, expected_tunables):
    env = allocator.tunables_environment(environ)
    if expected_tunables is None:
        assert env is None
    else:
        assert env["GLIBC_TUNABLES"] == expected_tunables
        assert env["JAXLOSS_PRELOADED"] == "GLIBC_TUNABLES"
        assert "LD_PRELOAD" not in env
        assert allocator.tunables_environment(env) is None  # the re-executed process stays


@linux_only
@pytest.mark.parametrize(
    "library, supported, want",
    [
        ("/lib/libmimalloc.so", True, "LD_PRELOAD"),
        (None, True, "GLIBC_TUNABLES"),
        (None, False, None),
    ],
)
def test_reexec_environment_prefers_a_caching_allocator(monkeypatch, library, supported, want):
    monkeypatch.setattr(allocator, "find_allocator_library", lambda: library and Path(library))
    monkeypatch.setattr(allocator, "glibc_tunables_supported", lambda: supported)
    env = allocator.reexec_environment({})
    if want is None:
        assert env is None
    else:
        assert set(env) == {want, "JAXLOSS_PRELOADED"}


_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from jaxloss.cli import allocator
    allocator.find_allocator_library = lambda: None if sys.argv[1] == "-" else Path(sys.argv[1])
    allocator.glibc_tunables_supported = lambda: True
    allocator.reexec_under_allocator()
    print(os.environ.get("LD_PRELOAD", "-"), os.environ.get("GLIBC_TUNABLES", "-"),
          os.environ.get("JAXLOSS_PRELOADED", "-"), sys.argv[1:])
    """
)


def _harmless_shared_library() -> Path:
    """A library already mapped into every CPython process, so safe to preload: libm."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if "/libm.so" in path or "/libm-" in path:
            return Path(path)
    pytest.skip("no libm mapped into this process")


def _run_child(tmp_path, library_argument: str, opt_out: bool) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    skip = ("LD_PRELOAD", "GLIBC_TUNABLES", "JAXLOSS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if opt_out:
        env["JAXLOSS_NO_PRELOAD"] = "1"
    done = subprocess.run(
        [sys.executable, str(script), library_argument, "extra-arg"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    preload, tunables, marker, argv = done.stdout.strip().split(" ", 3)
    assert argv == f"['{library_argument}', 'extra-arg']"  # same arguments after re-execution
    return [preload, tunables, marker]


@linux_only
@pytest.mark.parametrize("opt_out", [False, True])
def test_reexec_runs_the_same_command_once_under_the_library(tmp_path, opt_out):
    library = str(_harmless_shared_library())
    preload, tunables, marker = _run_child(tmp_path, library, opt_out)
    assert preload == marker == ("-" if opt_out else library)
    assert tunables == "-"


@linux_only
@pytest.mark.parametrize("opt_out", [False, True])
def test_reexec_without_a_library_sets_the_glibc_tunables_once(tmp_path, opt_out):
    preload, tunables, marker = _run_child(tmp_path, "-", opt_out)
    assert preload == "-"
    assert tunables == ("-" if opt_out else OURS)
    assert marker == ("-" if opt_out else "GLIBC_TUNABLES")
