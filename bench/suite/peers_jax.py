"""The JAX-process peers: jaxloss, optax.losses and Keras 3 on the JAX backend.

Each peer's kernel is wrapped as ``mean(loss(first, second))`` and compiled with ``jax.jit``
(forward) or ``jax.jit(jax.value_and_grad(...))`` (forward+backward, gradient with respect to
the logits or predictions). Compilation (``lower().compile()``) is timed apart from the calls,
and its ``memory_analysis()`` gives the compiled temporary memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxloss
from bench.common.jax_entries import compile_with_memory, mean_loss_function
from bench.common.timing import Entry, timed
from bench.suite import cases as cases_lib

PEERS = ("jaxloss", "optax", "keras_jax")
FRAMEWORK = "jax"


def versions() -> dict:
    out = {"jax": jax.__version__, "optax": optax.__version__,
           "devices": [str(device) for device in jax.devices()],
           "backend": jax.default_backend()}
    try:
        import keras

        out["keras"] = keras.__version__
        out["keras_backend"] = keras.backend.backend()
    except ImportError:
        out["keras"] = None
    return out


def on_accelerator() -> bool:
    return jax.default_backend() != "cpu"


def _jaxloss_kernel(family: str) -> Callable:
    name = family
    kwargs = {}
    if family in ("sigmoid_focal_loss", "softmax_focal_loss"):
        kwargs = {"alpha": cases_lib.FOCAL_ALPHA, "gamma": cases_lib.FOCAL_GAMMA}
    elif family == "huber_loss":
        kwargs = {"delta": cases_lib.HUBER_DELTA}
    kernel = getattr(jaxloss, name)
    return lambda first, second: kernel(first, second, **kwargs)


def _optax_kernel(family: str) -> Callable | None:
    losses = optax.losses
    alpha, gamma, delta = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA, cases_lib.HUBER_DELTA
    return {
        "sparse_softmax_cross_entropy": losses.softmax_cross_entropy_with_integer_labels,
        "softmax_cross_entropy": losses.softmax_cross_entropy,
        "softmax_focal_loss": None,  # optax has no softmax focal loss
        "sigmoid_binary_cross_entropy": losses.sigmoid_binary_cross_entropy,
        "sigmoid_focal_loss": lambda x, y: losses.sigmoid_focal_loss(x, y, alpha=alpha,
                                                                      gamma=gamma),
        "squared_error": losses.squared_error,
        "huber_loss": lambda x, y: losses.huber_loss(x, y, delta=delta),
    }[family]


def _keras_kernel(family: str) -> Callable:
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        raise RuntimeError(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']}, expected jax")
    os.environ["KERAS_BACKEND"] = "jax"
    # Imported here, once KERAS_BACKEND is set; without Keras the peer is "not available".
    import keras

    losses = keras.losses
    alpha, gamma, delta = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA, cases_lib.HUBER_DELTA
    # Keras takes (y_true, y_pred); the first argument here is y_pred.
    return {
        "sparse_softmax_cross_entropy":
            lambda x, y: losses.sparse_categorical_crossentropy(y, x, from_logits=True),
        "softmax_cross_entropy":
            lambda x, y: losses.categorical_crossentropy(y, x, from_logits=True),
        "softmax_focal_loss": lambda x, y: losses.categorical_focal_crossentropy(
            y, x, alpha=alpha, gamma=gamma, from_logits=True),
        "sigmoid_binary_cross_entropy":
            lambda x, y: losses.binary_crossentropy(y, x, from_logits=True),
        "sigmoid_focal_loss": lambda x, y: losses.binary_focal_crossentropy(
            y, x, apply_class_balancing=True, alpha=alpha, gamma=gamma, from_logits=True),
        "squared_error": lambda x, y: losses.mean_squared_error(y, x),
        "huber_loss": lambda x, y: losses.huber(y, x, delta=delta),
    }[family]


KERNELS = {"jaxloss": _jaxloss_kernel, "optax": _optax_kernel, "keras_jax": _keras_kernel}


def prepare_inputs(arrays: dict) -> dict:
    return {name: jax.block_until_ready(jax.device_put(array)) for name, array in arrays.items()}


def make_entry(peer: str, case: cases_lib.Case, mode: str, inputs: dict) -> Entry | None:
    """The compiled kernel of ``peer`` for ``case`` and ``mode``; None if the peer has none."""
    kernel = KERNELS[peer](case.family)
    if kernel is None:
        return None
    function = mean_loss_function(kernel, with_gradient=mode != "forward")
    first, second = (inputs[name] for name in case.input_names())
    compiled, cost = compile_with_memory(function, first, second)

    def call():
        return jax.block_until_ready(compiled(first, second))

    def check():
        out = compiled(first, second)
        if mode == "forward":
            return float(out), None
        value, gradient = out
        return float(value), float(jnp.sum(jnp.abs(gradient)))

    return Entry(call=call, loss=check, compile_s=cost["compile_s"], temp_bytes=cost["temp_bytes"])


def inplace_bandwidth(num_bytes: int, repeats: int) -> float:
    """GB/s of a jitted in-place update (input buffer donated) on JAX's default device: one
    read and one write of the array by XLA's own loop (multi-threaded on a CPU), with no fresh
    output buffer to fault in."""
    update = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    array = jnp.zeros(num_bytes // 4, jnp.float32)
    array = jax.block_until_ready(update(array))
    samples = []
    for _ in range(repeats):
        array, seconds = timed(lambda a=array: jax.block_until_ready(update(a)))
        samples.append(seconds)
    return round(2 * array.size * 4 / float(np.median(samples)) / 1e9, 2)


def device_bandwidth(num_bytes: int, repeats: int) -> float:
    """The accelerator's memory bandwidth: :func:`inplace_bandwidth` on the default device."""
    return inplace_bandwidth(num_bytes, repeats)
