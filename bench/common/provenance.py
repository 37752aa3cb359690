"""What every results file records about the run that made it: the machine, the date, the
commit, the exact command, the versions and the load.

A study calls :func:`start` before measuring and :func:`finish` after, and stores the dict
under ``"provenance"`` in its JSON; :func:`caption` is the same facts as one line for its
markdown, :func:`file_stem` the file name they give. ``docs/bench_pages.py`` reads the
``"provenance"`` entry where a file has one.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.common import machine

REPO_ROOT = Path(__file__).resolve().parents[2]


def git_commit() -> str | None:
    """The short hash of the checkout's ``HEAD``, with ``+dirty`` when tracked files differ
    from it; None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=REPO_ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if changed else "")


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _shown(argument: str) -> str:
    """An argument as the record shows it: a program outside the checkout (the interpreter
    of a peer's virtual environment, say) is named by its last two path components, since
    where this machine keeps it means nothing elsewhere."""
    path = Path(argument)
    if not (path.is_absolute() and path.is_file() and os.access(path, os.X_OK)):
        return argument
    if path.is_relative_to(REPO_ROOT):
        return argument
    return "…/" + "/".join(path.parts[-2:])


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """``python -m MODULE ARGS...`` as it was run (``argv`` defaults to ``sys.argv[1:]``);
    a program outside the checkout is shown as ``…/bin/python``."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python -m", module, *map(_shown, arguments)])


def start(module: str, argv: Sequence[str] | None = None) -> dict:
    """The facts known before measuring: machine, start date (UTC), commit, command, the
    versions of Python, jax, jaxlib and optax (of those importable) and the load average."""
    versions = {}
    for name in ("jax", "jaxlib", "optax", "torch"):
        module_object = sys.modules.get(name)
        if module_object is not None:
            versions[name] = getattr(module_object, "__version__", None)
    return {
        "machine": machine.describe(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "command": command_line(module, argv),
        "versions": versions,
        "load_average_1min": {"start": load_average()},
    }


def finish(facts: dict) -> dict:
    """``facts`` with the end date and the load average at the end added."""
    facts = dict(facts, load_average_1min=dict(facts["load_average_1min"]))
    facts["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    facts["load_average_1min"]["end"] = load_average()
    return facts


def caption(facts: dict) -> str:
    """One sentence naming machine, versions, load, date, commit and command."""
    versions = ", ".join(f"{name} {version}" for name, version in facts["versions"].items())
    load = facts["load_average_1min"]
    return (f"{machine.machine_label(facts['machine'])}; {versions}; 1-min load average "
            f"{load.get('start')} at the start, {load.get('end')} at the end; "
            f"{facts['date'][:16].replace('T', ' ')} UTC; commit {facts['commit']}; "
            f"`{facts['command']}`")


def file_stem(out_dir: str, facts: dict, quick: bool = False) -> str:
    """``OUT/<machine>-<yyyymmdd>-<commit>[-quick]``: results files name their run."""
    described = facts["machine"]
    cores = described["cores"]
    label = described.get("accelerator") or (
        f"cpu {described['cpu_model']} {cores} core{'s' if cores > 1 else ''}")
    label = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    date = facts["date"][:10].replace("-", "")
    commit = re.sub(r"[^a-z0-9]+", "-", (facts["commit"] or "unknown").lower())
    return os.path.join(out_dir, f"{label}-{date}-{commit}" + ("-quick" if quick else ""))


def write_results(out_dir: str, record: dict, text: str, *, quick: bool = False,
                  prefix: str = "") -> str:
    """``record`` as JSON and ``text`` as markdown beside it, named by the run:
    ``OUT/<prefix><machine>-<yyyymmdd>-<commit>[-quick].json`` and ``.md``
    (:func:`file_stem`, from ``record["provenance"]``). Prints the text; returns the stem."""
    stem = file_stem(out_dir, record["provenance"], quick)
    stem = os.path.join(os.path.dirname(stem), prefix + os.path.basename(stem))
    os.makedirs(out_dir, exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(text)
    print(text)
    return stem
