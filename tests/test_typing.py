"""The package is typed (PEP 561): it ships ``py.typed``, and every public function of its
public modules annotates each parameter and its result, so that a type checker reading
jaxloss sees its signatures. ``make lint`` runs pyright over the package; this test keeps
the annotations from going missing where no lint runs."""

import importlib
import inspect
import pathlib

import pytest

import jaxloss

PUBLIC_MODULES = [
    "jaxloss",
    "jaxloss.losses",
    "jaxloss.optax",
    "jaxloss.torch",
    "jaxloss.train",
    "jaxloss.data",
    "jaxloss.nn",
    "jaxloss.zoo",
]


def public_functions(module_name):
    module = importlib.import_module(module_name)
    for name in sorted(dir(module)):
        value = getattr(module, name)
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        if (value.__module__ or "").startswith("jaxloss"):
            yield name, value


def test_the_package_is_marked_typed():
    assert (pathlib.Path(jaxloss.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_functions_are_annotated(module_name):
    functions = list(public_functions(module_name))
    assert functions, f"no public functions found in {module_name}"
    missing = []
    for name, function in functions:
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{module_name}.{name}: parameter `{parameter.name}`")
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{module_name}.{name}: the return value")
    assert missing == [], "unannotated:\n" + "\n".join(missing)

