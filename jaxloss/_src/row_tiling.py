"""Running a row-wise kernel over blocks of rows: cache-sized blocks on a CPU, one block elsewhere.

A kernel with several elementwise passes over a row (the softmax focal loss: the row
statistics, the focal weight, the per-row gradient sums) writes intermediates of the
logits' size between its passes, and XLA keeps a few of them alive at once. On XLA:CPU
those arrays leave the cache: running the kernel over blocks of about :data:`BLOCK_BYTES`
of rows keeps every pass in cache and writes no intermediate of the logits' size. On a GPU
or TPU such a loop serialises hundreds of small kernels (on an NVIDIA H200, 4.63× the time
of one block forward+backward at 4096 × 32000: ``bench/results/platform_forms/gpu.json``),
so there the rows are one block. The choice is made per
platform by :func:`jaxloss._src.platform.per_platform`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax import lax

from jaxloss._src.platform import per_platform

BLOCK_BYTES = 2 << 20
"""The logits' bytes of one block of rows on a CPU."""


def rows_per_block(logits: jax.Array) -> int:
    """Rows per block of 2-D ``logits``: blocks of about :data:`BLOCK_BYTES`, as equal as
    possible (so that few or no rows remain after the last full block)."""
    num_rows = logits.shape[0]
    row_bytes = max(logits.shape[-1] * logits.dtype.itemsize, 1)
    target = max(1, BLOCK_BYTES // row_bytes)
    num_blocks = max(1, -(-num_rows // target))
    return max(1, num_rows // num_blocks)


def over_row_blocks(
    block: Callable, row_inputs: tuple, block_rows: int, row_outputs: tuple, sums: tuple
) -> tuple:
    """Run ``block`` over consecutive blocks of ``block_rows`` rows of 2-D ``row_inputs``.

    ``block(*input_blocks)`` returns ``(row_results, sum_results)``: arrays whose first
    axis is the block's rows, written into ``row_outputs`` (preallocated, in place), and
    arrays added into ``sums``. Full blocks run in a ``fori_loop`` (static trip count, so
    reverse-mode differentiable); the remaining rows run once after it. Inputs may be
    None (passed to ``block`` as None).

    Returns:
      ``(row_outputs, sums)`` with every block's results in them.
    """
    num_rows = row_inputs[0].shape[0]
    num_blocks, remainder = divmod(num_rows, block_rows)

    def take(array, start, size):
        if array is None:
            return None
        return lax.dynamic_slice_in_dim(array, start, size, axis=0)

    def step(start, size, carry):
        outputs, totals = carry
        results, partial = block(*(take(array, start, size) for array in row_inputs))
        outputs = tuple(
            lax.dynamic_update_slice_in_dim(out, res.astype(out.dtype), start, axis=0)
            for out, res in zip(outputs, results)
        )
        totals = tuple(total + part for total, part in zip(totals, partial))
        return outputs, totals

    carry = (tuple(row_outputs), tuple(sums))
    if num_blocks == 1:
        carry = step(0, block_rows, carry)
    elif num_blocks:
        carry = lax.fori_loop(
            0, num_blocks, lambda i, c: step(i * block_rows, block_rows, c), carry
        )
    if remainder:
        carry = step(num_blocks * block_rows, remainder, carry)
    return carry


def in_row_blocks(block: Callable, row_inputs: tuple, row_outputs: tuple, sums: tuple) -> tuple:
    """:func:`over_row_blocks` in cache-sized blocks on a CPU, all rows as one block on an
    accelerator.

    Example:
      >>> import jax.numpy as jnp
      >>> logits = jnp.arange(6.0).reshape(3, 2)
      >>> (row_sums,), (total,) = in_row_blocks(
      ...     lambda x: ((x.sum(axis=1),), (x.sum(),)), (logits,), (jnp.zeros(3),), (jnp.zeros(()),)
      ... )
      >>> row_sums, total
      (Array([1., 5., 9.], dtype=float32), Array(15., dtype=float32))
    """
    num_rows = row_inputs[0].shape[0]

    def blocked(row_inputs, row_outputs, sums):
        return over_row_blocks(block, row_inputs, rows_per_block(row_inputs[0]), row_outputs, sums)

    def whole(row_inputs, row_outputs, sums):
        return over_row_blocks(block, row_inputs, max(num_rows, 1), row_outputs, sums)

    return per_platform(
        tuple(row_inputs), tuple(row_outputs), tuple(sums), cpu=blocked, accelerator=whole
    )
