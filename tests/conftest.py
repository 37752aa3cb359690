"""Shared fixtures and hypothesis profiles for the test suite."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property tests run a small, reproducible budget by default (`make test`, CI); set
# HYPOTHESIS_PROFILE=thorough for a long randomized search. Tests with their own
# `@settings(max_examples=...)` keep that count but inherit the rest of the profile.
settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# JAXLOSS_TEST_FORMS=accelerator runs the whole suite with the kernels' GPU/TPU forms on the
# CPU (jaxloss._src.platform); test_platform_forms.py checks those forms in every run.
if os.environ.get("JAXLOSS_TEST_FORMS"):
    from jaxloss._src import platform

    platform.FORCED_FORMS = os.environ["JAXLOSS_TEST_FORMS"]


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, fresh for each test."""
    return np.random.default_rng(0)


# The cross-entropy tests' inputs: 6 examples of 7 classes.
@pytest.fixture
def logits(rng):
    return (rng.normal(size=(6, 7)) * 3).astype(np.float32)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 7, size=6)


@pytest.fixture
def soft_labels(rng):
    y = rng.uniform(size=(6, 7))
    return (y / y.sum(-1, keepdims=True)).astype(np.float32)

# The generators of the stored peer numbers run under PyTorch (`make torch-parity`), not here.
collect_ignore_glob = ["data/*.py", "multiprocess_workers/*.py"]
