"""Strict JAX settings for every test and doctest (see tests/conftest.py for fixtures).

Rank promotion raises and dtype promotion is strict, so hidden broadcasting and
silent int/float mixing inside the library surface as errors in the tests.
Tests that drive third-party code written for the default rules (Keras, Flax
training loops) opt out with ``@pytest.mark.standard_promotion``.
"""

import os

# Keras 3 runs on the JAX backend in the tests (parity checks); no TensorFlow needed.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "standard_promotion: run with JAX's default rank and dtype promotion rules"
    )


@pytest.fixture(autouse=True)
def _promotion_rules(request):
    if request.node.get_closest_marker("standard_promotion") is None:
        yield
        return
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        yield
