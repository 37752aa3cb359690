"""Writes the API reference pages from the public namespaces of the package.

Each public module gets one page listing every name it exports; autosummary then writes
one page per function or class from its docstring. A name that is another name of an
object already listed on the page (a Keras short name such as ``mae``) is listed as an
alias instead of getting a second page.
"""

from __future__ import annotations

import importlib
import types
from pathlib import Path

# (module, title, one-line summary), in the order of the reference's table of contents.
MODULES = (
    ("jaxloss", "Kernels: ``jaxloss``", "The functional loss kernels, one value per example."),
    ("jaxloss.losses", "Keras layer: ``jaxloss.losses``", "Keras 3 compatible loss classes and functions."),
    ("jaxloss.optax", "optax layer: ``jaxloss.optax``", "``optax.losses``' names and semantics."),
    ("jaxloss.torch", "PyTorch layer: ``jaxloss.torch``", "``torch.nn.functional``'s loss functions."),
    ("jaxloss.train", "Training: ``jaxloss.train``", "The Flax NNX + optax training loop."),
    ("jaxloss.train.parallel", "Data parallel: ``jaxloss.train.parallel``", "Meshes and batch sharding for ``fit``."),
    ("jaxloss.train.checkpoint", "Checkpoints: ``jaxloss.train.checkpoint``", "Saving and resuming training."),
    ("jaxloss.data", "Data: ``jaxloss.data``", "MNIST and the synthetic datasets."),
    ("jaxloss.nn", "Layers: ``jaxloss.nn``", "Convolution and pooling written for a fast CPU training step."),
)

INDEX = """# API reference

One page per public function and class, generated from its docstring: the formula, the
arguments, what it returns, an example (run by the tests) and references.

```{toctree}
:maxdepth: 1

"""


def public_names(module: types.ModuleType) -> list[str]:
    """The names a module exports: not private, not a submodule, not another library's."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        # Names a module imported for its own use (typing's Any, a helper from elsewhere in
        # the standard library) are not its API.
        if not getattr(value, "__module__", module.__name__).startswith("jaxloss"):
            continue
        names.append(name)
    return sorted(names, key=str.lower)


def documented_names(module: types.ModuleType) -> tuple[list[str], dict[str, str]]:
    """(names with a page of their own, alias -> the name whose page it shares)."""
    pages, aliases, seen = [], {}, {}
    names = public_names(module)
    # An object's own name first, so that aliases point at it.
    names.sort(key=lambda name: getattr(vars(module)[name], "__name__", name) != name)
    for name in names:
        value = vars(module)[name]
        key = id(value) if callable(value) else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        pages.append(name)
    return sorted(pages, key=str.lower), dict(sorted(aliases.items()))


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _page(module_name: str, title: str, summary: str) -> str:
    module = importlib.import_module(module_name)
    pages, aliases = documented_names(module)
    functions = [n for n in pages if callable(vars(module)[n])]
    constants = [n for n in pages if not callable(vars(module)[n])]
    lines = [
        f"# {title.replace('``', '`')}",
        "",
        summary,
        "",
        "```{eval-rst}",
        f".. automodule:: {module_name}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module_name}",
        "",
        ".. autosummary::",
        "   :toctree: generated",
        "   :nosignatures:",
        "",
    ]
    lines += [f"   {name}" for name in functions]
    lines.append("```")
    if constants:
        lines += ["", "## Constants", "", "```{eval-rst}"]
        for name in constants:
            lines += [f".. py:data:: {name}", f"   :value: {_short_repr(vars(module)[name])}", ""]
        lines.append("```")
    if aliases:
        lines += ["", "## Aliases", "", "| name | same object as |", "|---|---|"]
        lines += [f"| `{alias}` | {{py:obj}}`{target} <{module_name}.{target}>` |" for alias, target in aliases.items()]
    return "\n".join(lines) + "\n"


def available_modules() -> list[tuple[str, str, str]]:
    """The entries of ``MODULES`` whose module the package has."""
    found = []
    for entry in MODULES:
        try:
            importlib.import_module(entry[0])
        except ModuleNotFoundError:
            continue
        found.append(entry)
    return found


def write_pages(out_dir: Path) -> list[str]:
    """Writes one page per public module and their index into ``out_dir``; returns the stems."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = []
    for module_name, title, summary in available_modules():
        stem = module_name.replace(".", "_")
        text = _page(module_name, title, summary)
        path = out_dir / f"{stem}.md"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        stems.append(stem)
    index = INDEX + "".join(f"{stem}\n" for stem in stems) + "```\n"
    path = out_dir / "index.md"
    if not path.exists() or path.read_text() != index:
        path.write_text(index)
    return stems

