"""The product speaks of the product: no development narrative in any tracked text.

Every text file git tracks is scanned: the README, the docs, docstrings and comments in the
code, the notebooks (their cells and their stored text outputs; images are skipped), the
benchmark reports and results, and the tests. A hit names a thing a reader of the published
project cannot see or use: who worked on it and how (a session, an engineer, the lead, a
helper as a person, a work period), a number in a tracker the reader does not have, or a
directory of the machine that made a file.

The patterns are narrow on purpose, so that ordinary words stay usable:

- ``session`` is narrative unless a qualifier says whose session it is: a Colab, Jupyter,
  IPython, Python, interactive, kernel, training, TensorFlow or HTTP session is a thing the
  reader has too.
- ``helper`` is a code word ("a private helper of the module"); only phrasings that make it
  a person are hits: "another helper", "the other helpers", "a helper's branch", "the helper
  measured".
- ``issue 12``, ``#12``, ``PR 7`` point into a tracker. A link to a peer library's issue
  (``https://github.com/org/repo/issues/12``) or its short form (``org/repo#12``) is a
  reference the reader can follow, and is allowed; so are colours (``"#1f77b4"``, in quotes).
- Paths: ``/work/``, ``/tmp/``, ``/root/``, ``/home/<user>/``, ``/Users/<user>/`` and the
  names of development environments (``venv-bench/``) are one machine's directories; a path
  a user has too (``~/.keras/datasets``, ``.venv/bin/python`` in a checkout) is fine.

This file is not scanned: it spells the words it looks for.
"""

import json
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
THIS_FILE = pathlib.Path(__file__).resolve().relative_to(ROOT).as_posix()

# Whose session it is, when it is the reader's own kind of session.
SESSION_QUALIFIERS = {
    "colab", "jupyter", "ipython", "python", "interactive", "kernel", "notebook", "training",
    "tensorflow", "tf", "http", "requests", "ssh", "browser", "runtime",
}

NARRATIVE = {
    "an engineer": re.compile(r"\bengineers?\b", re.IGNORECASE),
    "the lead": re.compile(r"\b(?:the|our|a|your) lead(?:'s)?\b(?!\s+(?:time|to)\b)", re.IGNORECASE),
    "a helper as a person": re.compile(
        r"\b(?:another|other|each|every|fellow|one|a second|the next) helpers?\b(?!\s+function)"
        r"|\bhelpers?'s? (?:branch|worktree|session|report|commit|message)s?\b"
        r"|\b(?:the|a) helpers? (?:measured|wrote|found|ran|reported|said|decided|merged|"
        r"committed|fixed|added)\b",
        re.IGNORECASE,
    ),
    "a work period": re.compile(r"\bwork(?:ing)? periods?\b", re.IGNORECASE),
    "a worktree": re.compile(r"\bworktrees?\b", re.IGNORECASE),
    "a hard stop": re.compile(r"\bhard stop\b", re.IGNORECASE),
    "a lent machine": re.compile(r"\blent (?:GPU|machine|device|accelerator)s?\b", re.IGNORECASE),
    "a tracker": re.compile(
        r"\b(?:the|our|issue|bug|project's) trackers?\b"
        r"|\btrackers? (?:targets?|numbers?|items?|entry|entries|ids?)\b",
        re.IGNORECASE,
    ),
    "an issue number": re.compile(
        r"\b(?:issue|ticket|PR|pull request|bug)\s*(?:no\.?\s*)?#?\d+\b"
        r"|(?<![\w/.&#'\"-])#\d+\b(?![0-9a-fA-F])",
        re.IGNORECASE,
    ),
    "a machine path": re.compile(
        r"(?<![\w.~-])/(?:work|tmp|root|mnt/data)/"
        r"|(?<![\w.~-])/(?:home|Users)/[A-Za-z_][\w.-]*/"
        r"|(?<![\w.])venv-[\w-]+/",
    ),
}
SESSION = re.compile(r"(?:(\w+)[\s.]+)?\bsessions?\b(?:'s)?", re.IGNORECASE)


def tracked_files() -> list[pathlib.Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and name != THIS_FILE]


def notebook_texts(notebook: dict) -> list[tuple[str, str]]:
    """(where, text) for every cell source and every stored text output of a notebook."""
    texts = []
    for number, cell in enumerate(notebook["cells"], 1):
        texts.append((f"cell {number}", "".join(cell["source"])))
        for output in cell.get("outputs", []):
            pieces = [output.get("text", ""), *output.get("traceback", [])]
            for mime, data in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    pieces.append(data if isinstance(data, str) else json.dumps(data))
            for piece in pieces:
                texts.append((f"cell {number} output", "".join(piece)))
    return texts


def texts_of(path: pathlib.Path) -> list[tuple[str, str]]:
    """(where, text) pieces of a tracked file; none for a binary file."""
    raw = path.read_bytes()
    if b"\0" in raw:
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if path.suffix == ".ipynb":
        return notebook_texts(json.loads(text))
    return [(f"line {number}", line) for number, line in enumerate(text.splitlines(), 1)]


def narrative_hits(text: str) -> list[str]:
    """The development narrative in ``text``: 'what: matched words' for each hit."""
    hits = [f"{what}: {match.group(0)!r}" for what, pattern in NARRATIVE.items()
            for match in pattern.finditer(text)]
    for match in SESSION.finditer(text):
        qualifier = (match.group(1) or "").lower()
        if qualifier not in SESSION_QUALIFIERS:
            hits.append(f"a session: {match.group(0)!r}")
    return hits


def test_no_tracked_text_speaks_of_its_development():
    files = tracked_files()
    assert any(path.suffix == ".ipynb" for path in files) and any(
        path.name == "README.md" for path in files
    )
    found = [
        f"{path.relative_to(ROOT)} {where}: {hit}"
        for path in files
        for where, text in texts_of(path)
        for hit in narrative_hits(text)
    ]
    assert found == [], "development narrative in the product:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "text",
    [
        "measured in the previous session on the GPU",
        "the session's starting commit",
        "Sessions 3 and 4 added the fused loss.",
        "the engineer who wrote the kernel",
        "as the lead asked, the README is short",
        "another helper edits the docs",
        "merged from a helper's branch",
        "the helper measured 1.3x",
        "done in work period 2",
        "see issue 12",
        "fixes #41",
        "the tracker target T3",
        "sent to the lent GPU machine",
        "/work/venv-bench/lib/python3.11/site-packages/libmimalloc.so",
        "written to /tmp/bench.json",
        "no /root/.keras/datasets/mnist.npz",
        "in /home/alice/jaxloss",
    ],
)
def test_narrative_is_found(text):
    assert narrative_hits(text)


@pytest.mark.parametrize(
    "text",
    [
        "In a fresh Colab session there is no `bench/results/` folder",
        "a private helper of the module",
        "Helpers are `_private`, or live in a shared module",
        "the host loop helpers",
        "Before writing a helper, look for its twin",
        "see https://github.com/google-deepmind/optax/issues/1072",
        "as in jax-ml/jax#12345",
        'color="#1f77b4" and "#000000"',
        "Keras's cache, ~/.keras/datasets/mnist.npz",
        ".venv/bin/python -m bench.suite",
        "TORCH_VENV ?= .venv-torch/",
        "the leading dimension; the lead time of a prefetch",
        "# 1. build the model",
        "engineered features",
        "a metric tracker keeps the best value",
    ],
)
def test_ordinary_words_are_not_narrative(text):
    assert narrative_hits(text) == []
