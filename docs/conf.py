"""Sphinx configuration: MyST pages, notebooks rendered from their stored outputs, and an
API reference generated from the package's public namespaces. The build reaches no network.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import jax
from sphinx.util.typing import stringify_annotation

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

import api_pages  # noqa: E402
import bench_pages  # noqa: E402
import bench_summaries  # noqa: E402
import porting_pages  # noqa: E402

import jaxloss  # noqa: E402

project = "jaxloss"
release = version = jaxloss.__version__
copyright = "the jaxloss authors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax served from the site itself: formulas render without a network.
    "sphinx-mathjax-offline",
    # Collapsible sections for the full benchmark tables (docs/details.py).
    "details",
]

# Generated at build time, never committed: the API and benchmark pages, copies of the notebooks,
# the tables the guides include.
API_DIR = DOCS / "api"
NOTEBOOKS_DIR = DOCS / "notebooks"
api_modules = api_pages.write_pages(API_DIR)
bench_pages.write_pages(ROOT, DOCS / "benchmarks")
# Tables that guides include (the porting guide's name tables, the benchmark summaries of the
# performance and MNIST guides), not pages of their own.
GENERATED_DIR = DOCS / "_generated"
porting_pages.write_pages(GENERATED_DIR)
bench_pages.write_summaries(ROOT, GENERATED_DIR)
NOTEBOOKS_DIR.mkdir(exist_ok=True)
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = NOTEBOOKS_DIR / notebook.name
    if not target.exists() or target.read_bytes() != notebook.read_bytes():
        shutil.copyfile(notebook, target)

exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints", "README.md"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "substitution"]
# The figures that the guides' prose quotes, `{{ name }}` in a page, each computed from a
# results file in bench/results/ when the docs are built.
myst_substitutions = bench_summaries.guide_substitutions(ROOT / "bench" / "results")
myst_heading_anchors = 3
# The benchmark tables that bench.report writes into a page keep their own heading levels.
suppress_warnings = ["myst.header"]
nb_execution_mode = "off"  # rendered from the outputs stored in the notebooks
# Markdown outputs (the benchmark notebook's tables from IPython.display.Markdown) are read
# as GitHub-flavoured markdown, which has tables (CommonMark, the default, has none).
nb_render_markdown_format = "gfm"

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# No intersphinx (the build is offline): names from other libraries are not linked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:(class|obj|data)", r"(jax|jaxlib|numpy|np|jnp|optax|flax|nnx|keras|orbax|torch)(\..*)?"),
    (r"py:(class|obj|data)", r"(Array|ArrayLike|DTypeLike|Callable|Sequence|Mapping|Iterable|Iterator|Any|Literal|Optional|Union)"),
    (r"py:(class|obj|data)", r"(collections\.abc|typing|types|pathlib|os)\..*"),
    (r"py:class", r"(optional|array|array-like|callable)"),
    (r"py:class", r"contextlib\..*"),
    # Base classes that are not public API.
    (r"py:class", r"jaxloss\..*\._\w+"),
    (r"py:class", r"jaxloss\.train\.regularizers\.Regularizer"),
    # Names that annotations spell relative to their own module.
    (r"py:class", r"(parallel\.MeshSpec|History)"),
]


def _name_array_like(app, what, name, obj, options, signature, return_annotation):
    """Shows ``jax.typing.ArrayLike`` by its name in the parameter types, not as the union
    of the eight types it stands for (autodoc records annotations evaluated)."""
    short = app.config.autodoc_typehints_format == "short"
    mode = "smart" if short else "fully-qualified-except-typing"
    expanded = stringify_annotation(jax.typing.ArrayLike, mode)
    annotations = app.env.current_document.autodoc_annotations.get(name, {})
    for key, text in annotations.items():
        annotations[key] = text.replace(expanded, "~jax.typing.ArrayLike")


def setup(app):
    # After autodoc's own handler (priority 500) has recorded the annotations.
    app.connect("autodoc-process-signature", _name_array_like, priority=600)


html_theme = "furo"
html_title = f"jaxloss {release}"
html_static_path = ["_static"]
html_css_files = ["jaxloss.css"]
templates_path = ["_templates"]
