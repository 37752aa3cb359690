"""Writes the porting guide's name tables from the layers' registries.

Three tables, one per library a user ports from: the Keras classes of ``jaxloss.losses``
(from the registry that ``jaxloss.losses.get`` reads), the functions of ``jaxloss.torch``
and those of ``jaxloss.optax``, each with the kernels it calls. A layer keeps the other
library's names, so one column names both; the Keras classes that Keras does not have are
marked. Which kernels a layer name calls is written in each layer's ``_kernels_used``
module; :func:`kernels_reached` reads the same answer off the code, and
``tests/test_porting_tables.py`` checks that the two agree."""

from __future__ import annotations

import dis
import importlib
import inspect
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import jaxloss
from jaxloss.losses import _registry

# (layer module, where its kernel mapping lives, the name users port from, file stem).
LAYERS = (
    ("jaxloss.losses", "jaxloss.losses._kernels_used", "keras.losses", "porting_keras"),
    ("jaxloss.torch", "jaxloss.torch._kernels_used", "torch.nn.functional", "porting_torch"),
    ("jaxloss.optax", "jaxloss.optax._kernels_used", "optax.losses", "porting_optax"),
)
# The Keras layer's machinery, registered but not a loss of its own.
KERAS_BASES = ("Loss", "LossFunctionWrapper")


def public_kernels() -> dict[int, str]:
    """``id(kernel) -> name`` for every public function of :mod:`jaxloss`."""
    return {
        id(value): name
        for name, value in vars(jaxloss).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _referenced(function: types.FunctionType) -> Iterator[object]:
    """The objects a function's code loads as globals, or as attributes of a global module."""
    module = None
    for code in _code_objects(function.__code__):
        for instruction in dis.get_instructions(code):
            value = None
            if instruction.opname == "LOAD_GLOBAL":
                value = function.__globals__.get(instruction.argval)
            elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and module is not None:
                value = getattr(module, instruction.argval, None)
            module = value if isinstance(value, types.ModuleType) else None
            if value is not None and module is None:
                yield value


def kernels_reached(function: Callable, package: str, _seen: set[int] | None = None) -> set[str]:
    """The kernels ``function`` calls, following the helpers of its own ``package``.

    A public kernel of :mod:`jaxloss` is reported by its name; a private function of a
    kernel module (``jaxloss._src``) as ``"<module>.<name>"``.
    """
    seen = set() if _seen is None else _seen
    function = inspect.unwrap(function)
    if id(function) in seen or not inspect.isfunction(function):
        return set()
    seen.add(id(function))
    kernels = public_kernels()
    found = set()
    for value in _referenced(function):
        if id(value) in kernels:
            found.add(kernels[id(value)])
        elif not inspect.isfunction(value):
            continue
        elif value.__module__.startswith(package):
            found |= kernels_reached(value, package, seen)
        elif value.__module__.startswith("jaxloss._src.") and value.__name__.startswith("_"):
            found.add(f"{value.__module__}.{value.__name__}")
    return found


def layer_function(layer: str, name: str) -> Callable:
    """The function that computes ``name`` of ``layer`` (a Keras class: its loss function)."""
    value = getattr(importlib.import_module(layer), name)
    return value().fn if inspect.isclass(value) else value


def layer_names(layer: str) -> list[str]:
    """The public loss names of a layer: the Keras registry's classes, or the module's functions."""
    if layer == "jaxloss.losses":
        return sorted(name for name in _registry.CLASSES if name not in KERAS_BASES)
    module = importlib.import_module(layer)
    return sorted(
        name for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(value)
    )


def _kernel_links(kernels: tuple[str, ...]) -> str:
    return ", ".join(f"{{py:obj}}`~jaxloss.{kernel}`" for kernel in kernels)


def _table(layer: str, mapping_module: str, source: str) -> str:
    """One row per name; the layer keeps the other library's names, so one column holds both."""
    mapping = importlib.import_module(mapping_module)
    notes = getattr(mapping, "NOTES", {})
    beyond = getattr(mapping, "BEYOND_KERAS", frozenset())
    lines = [f"| name in `{source}` and `{layer}` | kernel |", "|---|---|"]
    for name in layer_names(layer):
        ported = f"{{py:obj}}`~{layer}.{name}`"
        if name in beyond:
            ported += " (jaxloss only)"
        kernels = _kernel_links(mapping.KERNELS[name]) or "(none)"
        if name in notes:
            kernels += f" ({notes[name]})"
        lines.append(f"| {ported} | {kernels} |")
    return "\n".join(lines) + "\n"


def write_pages(out_dir: Path) -> list[str]:
    """Writes one table per layer into ``out_dir`` (``<stem>.md``); returns the stems."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = []
    for layer, mapping_module, source, stem in LAYERS:
        text = _table(layer, mapping_module, source)
        path = out_dir / f"{stem}.md"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        stems.append(stem)
    return stems
