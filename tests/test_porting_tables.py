"""The porting guide's tables: each layer's ``_kernels_used`` mapping names every public loss
of the layer, only kernels that exist, and the kernels the layer's code really calls."""

import importlib
import inspect
import sys
from pathlib import Path

import pytest

import jaxloss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import porting_pages  # noqa: E402
from losses_cases import CROSSENTROPY_CASES, FOCAL_CASES, REGRESSION_CASES  # noqa: E402

LAYERS = [pytest.param(layer, mapping, id=layer) for layer, mapping, _, _ in porting_pages.LAYERS]


@pytest.mark.parametrize(("layer", "mapping_module"), LAYERS)
def test_the_mapping_names_every_public_loss_of_the_layer(layer, mapping_module):
    mapping = importlib.import_module(mapping_module)
    assert sorted(mapping.KERNELS) == porting_pages.layer_names(layer)
    assert set(getattr(mapping, "NOTES", {})) <= set(mapping.KERNELS)


@pytest.mark.parametrize(("layer", "mapping_module"), LAYERS)
def test_each_kernel_named_exists(layer, mapping_module):
    kernels = {kernel for used in importlib.import_module(mapping_module).KERNELS.values() for kernel in used}
    missing = [k for k in sorted(kernels) if not inspect.isfunction(getattr(jaxloss, k, None))]
    assert missing == []


@pytest.mark.parametrize(("layer", "mapping_module"), LAYERS)
def test_each_name_calls_the_kernels_its_mapping_names(layer, mapping_module):
    mapping = importlib.import_module(mapping_module)
    notes = getattr(mapping, "NOTES", {})
    wrong = {}
    for name, kernels in mapping.KERNELS.items():
        reached = porting_pages.kernels_reached(porting_pages.layer_function(layer, name), layer)
        public = {k for k in reached if "." not in k}
        # A private function of a kernel module (``<module>.<name>``) belongs to that module.
        private_modules = {k.rsplit(".", 1)[0] for k in reached - public}
        module_of = {k: getattr(jaxloss, k).__module__ for k in kernels}
        # A kernel named but reached only through a private form of its module says so.
        by_private_form = {k for k in kernels if k not in public and module_of[k] in private_modules}
        if public | by_private_form != set(kernels):
            wrong[name] = f"mapping {sorted(kernels)}, code reaches {sorted(reached)}"
        elif not private_modules <= set(module_of.values()):
            wrong[name] = f"private forms outside the named kernels' modules: {sorted(reached)}"
        elif (by_private_form or not kernels) and name not in notes:
            wrong[name] = "say in NOTES what it computes"
    assert wrong == {}


def test_the_keras_classes_are_the_ones_compared_with_keras():
    from jaxloss.losses import _kernels_used

    compared = {case.name for case in REGRESSION_CASES + CROSSENTROPY_CASES + FOCAL_CASES}
    # CTC is compared with Keras in tests/test_ctc.py, not by the parity cases.
    assert set(_kernels_used.KERNELS) - _kernels_used.BEYOND_KERAS == compared | {"CTC"}


def test_the_tables_link_every_name(tmp_path):
    stems = porting_pages.write_pages(tmp_path)
    for (layer, mapping_module, source, stem) in porting_pages.LAYERS:
        assert stem in stems
        text = (tmp_path / f"{stem}.md").read_text()
        for name, kernels in importlib.import_module(mapping_module).KERNELS.items():
            assert f"{{py:obj}}`~{layer}.{name}`" in text
            assert all(f"{{py:obj}}`~jaxloss.{k}`" in text for k in kernels)
