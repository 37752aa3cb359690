"""The package's layout rules (CONTRIBUTING.md), checked so that a forgotten step fails here.

- No import cycle anywhere in ``jaxloss/``, and no ``jaxloss`` module imported inside a
  function, the usual way to hide one.
- In a kernel module of ``jaxloss/_src/``, a function or class without a leading underscore
  is public API, and ``jaxloss`` re-exports it. The shared machinery is listed below.
- In a wrapper module of ``jaxloss/losses/``, every public class and function is a name of
  ``jaxloss.losses``, and ``jaxloss.losses.get`` finds it under that name.
- No module is much over 500 lines.

The rows every public kernel needs are checked beside their tables:
``tests/test_input_rules.py`` (input rules), ``tests/test_properties.py`` (properties and
the float64 reference) and ``tests/test_losses_registry.py`` (the Keras layer's names).
"""

import ast
import importlib
import inspect
import pathlib

import pytest

import jaxloss
from jaxloss import losses

PACKAGE = pathlib.Path(jaxloss.__file__).parent
MAX_LINES = 560

# Shared machinery of the kernels, each rule written once; not loss functions.
MACHINERY = {
    "jaxloss._src.checks",
    "jaxloss._src.label_smoothing",
    "jaxloss._src.platform",
    "jaxloss._src.reduction",
    "jaxloss._src.row_tiling",
    "jaxloss._src.soft_cap_and_z_loss",
    "jaxloss._src.softmax_rows",
    "jaxloss._src.validation",
    "jaxloss._src.vectors",
    # Helpers shared by the forms of one family.
    "jaxloss._src.cross_entropy.class_labels",
    "jaxloss._src.contrastive.inputs",
    "jaxloss._src.focal.inputs",
    "jaxloss._src.focal.modulation",
}
# Public helpers of a kernel module that are not losses, with the reason.
HELPERS = {
    # The chunk size and tiles the fused loss picks; its docstring points to them.
    "jaxloss._src.fused.default_chunk_size",
    "jaxloss._src.fused.default_tiles",
    "jaxloss._src.fused.forward_tiles",
    # Which CTC label sequences have no alignment; the torch layer's zero_infinity uses it.
    "jaxloss._src.ctc.needs_more_frames",
}
# Modules of the Keras layer that are not a family's wrapper.
LOSSES_MACHINERY = {
    "jaxloss.losses._base",
    "jaxloss.losses._kernels_used",
    "jaxloss.losses._labels",
    "jaxloss.losses._registry",
    "jaxloss.losses._serialization",
}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _owning_module(dotted: str) -> str | None:
    """The jaxloss module that ``import dotted`` (or ``from a import b``) loads, if any."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imports(path: pathlib.Path):
    """(imported jaxloss module, whether the import is inside a function), per import."""
    tree = ast.parse(path.read_text())
    in_function = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for node in ast.walk(function)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from jaxloss._src import checks` imports the module jaxloss._src.checks.
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            assert not isinstance(node, ast.ImportFrom), f"{path}: use absolute imports"
            continue
        for target in targets:
            module = _owning_module(target)
            if module is not None:
                yield module, id(node) in in_function


IMPORTS = {name: list(_imports(path)) for name, path in MODULES.items()}


def test_the_import_scan_sees_the_package():
    assert "jaxloss._src.validation" in {m for m, _ in IMPORTS["jaxloss._src.cross_entropy.softmax"]}
    assert len(MODULES) > 50


def test_no_jaxloss_module_is_imported_inside_a_function():
    nested = {name: [m for m, inside in edges if inside] for name, edges in IMPORTS.items()}
    assert {name: modules for name, modules in nested.items() if modules} == {}


def test_the_keras_registry_is_a_leaf():
    assert IMPORTS["jaxloss.losses._registry"] == []


def test_no_import_cycle():
    graph = {name: {m for m, _ in edges if m != name} for name, edges in IMPORTS.items()}
    cycles, done = [], set()

    def visit(module, trail):
        if module in trail:
            cycles.append(" -> ".join(trail[trail.index(module):] + [module]))
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def _defined_public(module_name: str):
    module = importlib.import_module(module_name)
    for name, value in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if value.__module__ == module_name:
            yield name, value


KERNEL_MODULES = sorted(
    name for name in MODULES if name.startswith("jaxloss._src.") and name not in MACHINERY
)


@pytest.mark.parametrize("module_name", KERNEL_MODULES)
def test_every_public_name_of_a_kernel_module_is_re_exported(module_name):
    missing = [
        name
        for name, value in _defined_public(module_name)
        if f"{module_name}.{name}" not in HELPERS and getattr(jaxloss, name, None) is not value
    ]
    assert missing == [], f"add `from {module_name} import NAME as NAME` to jaxloss/__init__.py"


WRAPPER_MODULES = sorted(
    name
    for name in MODULES
    if name.startswith("jaxloss.losses._") and name not in LOSSES_MACHINERY
)


@pytest.mark.parametrize("module_name", WRAPPER_MODULES)
def test_every_public_name_of_a_wrapper_module_is_exported_and_found_by_get(module_name):
    defined = dict(_defined_public(module_name))
    assert defined, f"{module_name} defines no loss"
    not_exported = [name for name, value in defined.items() if getattr(losses, name, None) is not value]
    assert not_exported == [], "add the names to jaxloss/losses/__init__.py"
    not_found = [
        name for name, value in defined.items() if losses.deserialize(name) is not value
    ]
    assert not_found == [], "decorate them with @register where they are defined"


def test_the_guards_see_every_family():
    assert "jaxloss._src.cross_entropy.softmax" in KERNEL_MODULES
    assert "jaxloss._src.focal.sigmoid" in KERNEL_MODULES
    assert "jaxloss.losses._cross_entropy" in WRAPPER_MODULES
    assert MACHINERY <= set(MODULES) and LOSSES_MACHINERY <= set(MODULES)


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_no_module_is_much_over_500_lines(module_name):
    lines = MODULES[module_name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module_name} has {lines} lines: split it by idea"
