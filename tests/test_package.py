"""The package as a user gets it: ``python -m build`` makes an sdist and a wheel, and the wheel,
installed into a fresh virtual environment, imports and computes a loss.

The build runs offline (``--no-isolation``: the running environment's setuptools, which the
``test`` extra pins) on a copy of the package's files, so that nothing is written into the
checkout. The fresh environment gets jaxloss from the wheel only (``pip --no-index
--no-deps``); its dependencies (jax, optax, flax, numpy) come from the running environment's
site-packages, added to its path by a ``.pth`` file. A directory named in a ``.pth`` file is
appended to ``sys.path`` without its own ``.pth`` files being run, so an editable install of
the checkout in the running environment stays invisible there.
"""

import math
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import re
import tarfile
import zipfile

import pytest

import jaxloss

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What the build reads: the package, its metadata and the files the metadata names.
BUILD_INPUTS = ("pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md")

SMOKE_TEST = """
import pathlib, sys
import jax.numpy as jnp
import jaxloss
from jaxloss import losses
assert pathlib.Path(jaxloss.__file__).is_relative_to(sys.prefix), jaxloss.__file__
logits = jnp.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
labels = jnp.array([0, 1])
per_example = jaxloss.sparse_softmax_cross_entropy(logits, labels)
layer = losses.SparseCategoricalCrossentropy(from_logits=True)
print(jaxloss.__version__, *(f"{float(v):.6f}" for v in per_example), f"{float(layer(labels, logits)):.6f}")
"""


def _run(*args, cwd):
    result = subprocess.run(args, check=False, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from a copy of the package's files."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "jaxloss", source / "jaxloss",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source),
         cwd=source)
    (sdist,) = out.glob("jaxloss-*.tar.gz")
    (wheel,) = out.glob("jaxloss-*.whl")
    return sdist, wheel


def test_the_version_has_one_source():
    # Read as text: tomllib is Python 3.11+, and jaxloss supports 3.10.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r"^version\b.*$", pyproject, flags=re.MULTILINE) == [
        'version = { attr = "jaxloss.__version__" }'
    ]
    assert 'dynamic = ["version"]' in pyproject
    assert re.fullmatch(r'\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?', jaxloss.__version__)
    assert re.findall(r"^license =.*$", pyproject, flags=re.MULTILINE) == ['license = "Apache-2.0"']
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog or f"## {jaxloss.__version__}" in changelog


def test_the_wheel_holds_the_package_only(dist):
    sdist, wheel = dist
    assert wheel.name == f"jaxloss-{jaxloss.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"jaxloss-{jaxloss.__version__}.dist-info/METADATA").decode()
    assert {name.split("/")[0] for name in names} == {
        "jaxloss", f"jaxloss-{jaxloss.__version__}.dist-info"
    }
    packaged = {name for name in names if name.startswith("jaxloss/")}
    tracked = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "jaxloss").rglob("*")
        if path.suffix in (".py", ".typed") and "__pycache__" not in path.parts
    }
    assert packaged == tracked
    assert f"Version: {jaxloss.__version__}\n" in metadata
    assert "License-Expression: Apache-2.0\n" in metadata
    assert "Typing :: Typed" in metadata
    assert "Project-URL: Source, https://github.com/jaxloss/jaxloss\n" in metadata
    assert f"jaxloss-{jaxloss.__version__}.dist-info/licenses/LICENSE" in names

    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    top = {name.split("/")[0] for name in members}
    assert {"jaxloss", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"} <= top
    assert not top & {"tests", "bench", "docs", "notebooks"}


def test_the_wheel_installs_and_computes_a_loss(dist, tmp_path):
    _, wheel = dist
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-index", "--no-deps", "--disable-pip-version-check", str(wheel), cwd=tmp_path)
    site_packages = pathlib.Path(
        _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
             cwd=tmp_path).strip()
    )
    dependencies = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "running_environment.pth").write_text("\n".join(dependencies) + "\n")

    # -I: neither the current directory nor PYTHONPATH is on the path, only the fresh environment.
    fields = _run(str(python), "-I", "-c", SMOKE_TEST, cwd=tmp_path).split()
    assert fields[0] == jaxloss.__version__
    logits = [[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]
    expected = [
        math.log(sum(math.exp(v) for v in row)) - row[label]
        for row, label in zip(logits, [0, 1])
    ]
    assert [float(v) for v in fields[1:3]] == pytest.approx(expected, abs=1e-5)
    assert float(fields[3]) == pytest.approx(sum(expected) / 2, abs=1e-5)
