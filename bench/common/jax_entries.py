"""A JAX loss kernel made ready to time: its mean loss (and gradient), compiled, as an Entry."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from bench.common.timing import Entry


def mean_loss_function(kernel: Callable, *, with_gradient: bool) -> Callable:
    """``mean(kernel(first, second))``, or its ``jax.value_and_grad`` with respect to
    ``first`` (the logits or predictions) when ``with_gradient``."""
    def mean_loss(first, second):
        return jnp.mean(kernel(first, second))

    return jax.value_and_grad(mean_loss) if with_gradient else mean_loss


def compile_with_memory(function: Callable, *arguments) -> tuple[Callable, dict]:
    """``jax.jit(function)`` compiled for ``arguments`` (arrays or ``jax.ShapeDtypeStruct``),
    and what compiling it cost: ``compile_s``, and from XLA's ``memory_analysis()``
    ``temp_bytes``, ``argument_bytes`` and ``output_bytes`` (None where the backend gives
    no analysis)."""
    start = time.perf_counter()
    compiled = jax.jit(function).lower(*arguments).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    sizes = {"temp_bytes": "temp_size_in_bytes", "argument_bytes": "argument_size_in_bytes",
             "output_bytes": "output_size_in_bytes"}
    return compiled, {"compile_s": compile_s, **{
        key: None if memory is None else int(getattr(memory, field))
        for key, field in sizes.items()}}


def compiled_entry(compiled: Callable, *arguments) -> Entry:
    """An :class:`~bench.common.timing.Entry` calling ``compiled(*arguments)``; its ``loss`` is
    the first output (the mean loss) as a float."""
    return Entry(
        call=lambda: jax.block_until_ready(compiled(*arguments)),
        loss=lambda: float(jax.tree.leaves(compiled(*arguments))[0]),
    )


def random_logits_and_labels(batch: int, classes: int) -> tuple[jax.Array, jax.Array]:
    """Seeded float32 logits of shape ``[batch, classes]`` (normal, standard deviation 3) and
    integer labels of shape ``[batch]``."""
    key_logits, key_labels = jax.random.split(jax.random.key(0))
    logits = 3.0 * jax.random.normal(key_logits, (batch, classes), jnp.float32)
    return logits, jax.random.randint(key_labels, (batch,), 0, classes)
