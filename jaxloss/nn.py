"""Convolution and max-pooling layers whose training step XLA:CPU runs fast.

Same mathematics as Keras's ``Conv2D(padding="valid")`` and
``MaxPooling2D(pool_size=(2, 2))`` on channels-last data, written so that the
backward pass compiles to plain matrix products and elementwise code on CPU:

- :func:`conv2d_im2col` builds the ``kh·kw`` shifted views of the input with
  slices, concatenates them into patches and does one matrix product. Its
  gradients are one matrix product each plus slice/pad-and-add, instead of the
  generic convolution-backward kernels of ``lax.conv_general_dilated``.
- :func:`max_pool_2x2` reshapes 2×2 windows into axes and takes their maximum.
  Its ``jax.custom_vjp`` backward sends each window's gradient to the first
  maximal entry (row-major window order, the rule of TensorFlow's ``MaxPoolGrad``
  and of XLA's select-and-scatter for ``reduce_window``) with an elementwise
  mask, instead of the ``select_and_scatter`` that ``reduce_window`` lowers to.
- :func:`conv2d_relu_max_pool_2x2` is Keras's ``Conv2D(activation="relu")``
  followed by ``MaxPooling2D((2, 2))`` with the pooling moved before the bias
  and the ReLU, which gives the same values and gradients (see its docstring)
  while the bias, the ReLU and their gradients touch a quarter of the data. It
  takes its im2col patches from the image's four 2×2 phases, channel-major and
  grouped by window entry: one matrix product computes only the convolution
  outputs the pooling reads, the maximum runs over contiguous blocks, and the
  backward matrix products need no transposed copies.

Measured on the document's MNIST CNN (batch 128, 2-core CPU): see ``bench/studies/mnist_step/``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import jax
import jax.numpy as jnp

from jaxloss._src import validation


def _check_conv(x: jax.Array, kernel: jax.Array) -> None:
    validation.check_floating("x", x)
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            "`x` must be (batch, height, width, channels) and `kernel` (k_h, k_w, in, out), "
            f"got x.shape={x.shape} and kernel.shape={kernel.shape}."
        )
    channels, (k_h, k_w, k_in, _) = x.shape[-1], kernel.shape
    if k_in != channels:
        raise ValueError(
            f"`kernel` expects {k_in} input channels but `x` has {channels}: "
            f"x.shape={x.shape}, kernel.shape={kernel.shape}."
        )
    if k_h > x.shape[1] or k_w > x.shape[2]:
        raise ValueError(
            f"`kernel` window {(k_h, k_w)} is larger than the image {x.shape[1:3]} "
            "('valid' padding)."
        )
    if kernel.dtype != x.dtype:
        raise ValueError(f"`kernel` dtype {kernel.dtype} differs from `x` dtype {x.dtype}.")


def conv2d_im2col(
    x: jax.typing.ArrayLike, kernel: jax.typing.ArrayLike, bias: jax.typing.ArrayLike | None = None
) -> jax.Array:
    """2-D cross-correlation, 'valid' padding, stride 1, as one im2col matrix product.

    .. math::
        y_{n,i,j,o} = b_o + \\sum_{a<k_h}\\sum_{b<k_w}\\sum_{c} x_{n,i+a,j+b,c}\\,w_{a,b,c,o}

    for ``0 <= i <= H - k_h`` and ``0 <= j <= W - k_w``: Keras's
    ``Conv2D(padding="valid")`` (and ``lax.conv_general_dilated`` with
    ``("NHWC", "HWIO", "NHWC")`` dimension numbers).

    Args:
      x: input ``(batch, height, width, in_channels)``, floating.
      kernel: ``(k_h, k_w, in_channels, out_channels)`` (HWIO, Keras's layout),
        the same dtype as ``x``.
      bias: optional ``(out_channels,)``, the same dtype as ``x``.

    Returns:
      ``(batch, height - k_h + 1, width - k_w + 1, out_channels)`` in ``x``'s dtype.

    Raises:
      ValueError: ranks, channel counts or dtypes do not fit, or the kernel is
        larger than the image.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss.nn import conv2d_im2col
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> jax.jit(conv2d_im2col)(x, jnp.ones((2, 2, 1, 1)))[0, :, :, 0]
      Array([[10., 14., 18.],
             [26., 30., 34.],
             [42., 46., 50.]], dtype=float32)

    References:
      Chellapilla, Puri and Simard, "High Performance Convolutional Neural
      Networks for Document Processing", 2006 (the im2col formulation).
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    _check_conv(x, kernel)
    batch, height, width, channels = x.shape
    k_h, k_w, _, k_out = kernel.shape
    out_h, out_w = height - k_h + 1, width - k_w + 1
    # Column order (a, b, c) matches kernel.reshape(k_h * k_w * k_in, k_out).
    patches = jnp.concatenate(
        [x[:, a : a + out_h, b : b + out_w, :] for a in range(k_h) for b in range(k_w)], axis=-1
    )
    y = patches.reshape(batch * out_h * out_w, k_h * k_w * channels) @ kernel.reshape(-1, k_out)
    y = y.reshape(batch, out_h, out_w, k_out)
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out,) or bias.dtype != x.dtype:
            raise ValueError(
                f"`bias` must be ({k_out},) of dtype {x.dtype}, got {bias.shape} of {bias.dtype}."
            )
        y = y + bias.reshape(1, 1, 1, k_out)
    return y


def _first_max_cotangents(
    entries: Iterable[jax.Array], pooled: jax.Array, cotangent: jax.Array
) -> list[jax.Array]:
    """Each window entry's share of the pooled output's cotangent: all of it for the first
    entry (in the order given) equal to the maximum, 0 for the others, so ties do not split it."""
    zero = jnp.zeros((), cotangent.dtype)
    taken = jnp.zeros(pooled.shape, bool)
    shares = []
    for entry in entries:
        is_first_max = (entry == pooled) & ~taken
        taken = taken | is_first_max
        shares.append(jnp.where(is_first_max, cotangent, zero))
    return shares


@jax.custom_vjp
def _pool_windows(windows: jax.Array) -> jax.Array:
    # windows: (batch, out_h, 2, out_w, 2, channels)
    return jnp.max(windows, axis=(2, 4))


def _pool_windows_fwd(windows: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    pooled = jnp.max(windows, axis=(2, 4))
    return pooled, (windows, pooled)


def _pool_windows_bwd(residuals, cotangent):
    windows, pooled = residuals
    entries = (windows[:, :, a, :, b, :] for a in range(2) for b in range(2))
    shares = _first_max_cotangents(entries, pooled, cotangent)
    rows = [jnp.stack(shares[2 * a : 2 * a + 2], axis=3) for a in range(2)]
    return (jnp.stack(rows, axis=2),)


_pool_windows.defvjp(_pool_windows_fwd, _pool_windows_bwd)


def max_pool_2x2(x: jax.typing.ArrayLike) -> jax.Array:
    """2×2 max pooling with stride 2 and 'valid' padding (odd trailing rows/columns dropped).

    .. math::
        y_{n,i,j,c} = \\max_{a,b \\in \\{0,1\\}} x_{n,2i+a,2j+b,c},
        \\quad i < \\lfloor H/2 \\rfloor,\\ j < \\lfloor W/2 \\rfloor

    as Keras's ``MaxPooling2D(pool_size=(2, 2))``. The gradient of each output
    goes entirely to the first maximal entry of its window in row-major order
    (as TensorFlow's ``MaxPoolGrad`` and ``flax.nnx.max_pool``'s gradient do),
    so ties do not split it. A window holding NaN gives NaN and passes no
    gradient.

    Args:
      x: ``(batch, height, width, channels)``, floating; height and width >= 2.

    Returns:
      ``(batch, height // 2, width // 2, channels)`` in ``x``'s dtype.

    Raises:
      ValueError: ``x`` is not rank 4 or floating, or an image side is below 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss.nn import max_pool_2x2
      >>> x = jnp.arange(25.0).reshape(1, 5, 5, 1)
      >>> max_pool_2x2(x)[0, :, :, 0]
      Array([[ 6.,  8.],
             [16., 18.]], dtype=float32)
    """
    x = jnp.asarray(x)
    validation.check_floating("x", x)
    if x.ndim != 4 or x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(
            f"`x` must be (batch, height, width, channels) with height, width >= 2, got {x.shape}."
        )
    batch, height, width, channels = x.shape
    out_h, out_w = height // 2, width // 2
    windows = x[:, : 2 * out_h, : 2 * out_w, :].reshape(batch, out_h, 2, out_w, 2, channels)
    return _pool_windows(windows)


@jax.custom_vjp
def _max_over_windows(y: jax.Array) -> jax.Array:
    # y: (channels, 4, positions), the 4 entries of each 2x2 window in row-major order.
    return jnp.max(y, axis=1)


def _max_over_windows_fwd(y: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    pooled = jnp.max(y, axis=1)
    return pooled, (y, pooled)


def _max_over_windows_bwd(residuals, cotangent):
    y, pooled = residuals
    entries = (y[:, entry] for entry in range(y.shape[1]))
    return (jnp.stack(_first_max_cotangents(entries, pooled, cotangent), axis=1),)


_max_over_windows.defvjp(_max_over_windows_fwd, _max_over_windows_bwd)


def _even_crop(x: jax.Array, rows: int, cols: int) -> jax.Array:
    # The first `rows` x `cols` pixels of x (C, N, H, W), zero-padded to even sides.
    rows, cols = rows + rows % 2, cols + cols % 2
    pad_rows, pad_cols = max(0, rows - x.shape[2]), max(0, cols - x.shape[3])
    if pad_rows or pad_cols:
        x = jnp.pad(x, ((0, 0), (0, 0), (0, pad_rows), (0, pad_cols)))
    return x[:, :, :rows, :cols]


def _pooled_patches_impl(x: jax.Array, k_h: int, k_w: int, out_h: int, out_w: int) -> jax.Array:
    channels, batch = x.shape[:2]
    x = _even_crop(x, 2 * out_h + k_h - 1, 2 * out_w + k_w - 1)
    # Polyphase split: phases[c, n, u, p, v, q] = x[c, n, 2u + p, 2v + q].
    phases = x.reshape(channels, batch, x.shape[2] // 2, 2, x.shape[3] // 2, 2)
    pieces = []
    for a_k in range(k_h):
        for b_k in range(k_w):
            for a in range(2):
                for b in range(2):
                    # x[c, n, 2i + s, 2j + t] = phases[c, n, i + s // 2, s % 2, j + t // 2, t % 2]
                    s, t = a + a_k, b + b_k
                    pieces.append(
                        phases[:, :, s // 2 : s // 2 + out_h, s % 2, t // 2 : t // 2 + out_w, t % 2]
                    )
    # One stack whose reshape is free: rows (c, a_k, b_k), columns (a, b, n, i, j).
    return jnp.stack(pieces, axis=1).reshape(channels * k_h * k_w, 4 * batch * out_h * out_w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _pooled_patches(x: jax.Array, k_h: int, k_w: int, out_h: int, out_w: int) -> jax.Array:
    return _pooled_patches_impl(x, k_h, k_w, out_h, out_w)


def _pooled_patches_fwd(x, k_h, k_w, out_h, out_w):
    # The image's size as the (empty) residual's shape: the backward needs nothing else.
    return _pooled_patches_impl(x, k_h, k_w, out_h, out_w), jnp.zeros(x.shape[2:] + (0,), x.dtype)


def _pooled_patches_bwd(k_h, k_w, out_h, out_w, image_size, cotangent):
    # Adds every patch entry's cotangent back onto its pixel: entries with the same
    # offset (s, t) = (a + a_k, b + b_k) are summed first, then each of the 4 phases
    # receives its (at most 4) shifted sums.
    height, width, dtype = *image_size.shape[:2], cotangent.dtype
    channels, batch = cotangent.shape[0] // (k_h * k_w), cotangent.shape[1] // (4 * out_h * out_w)
    cotangent = cotangent.reshape(channels, k_h, k_w, 2, 2, batch, out_h, out_w)
    by_offset: dict[tuple[int, int], jax.Array] = {}
    for a_k in range(k_h):
        for b_k in range(k_w):
            for a in range(2):
                for b in range(2):
                    piece = cotangent[:, a_k, b_k, a, b]
                    key = (a + a_k, b + b_k)
                    by_offset[key] = piece if key not in by_offset else by_offset[key] + piece
    rows, cols = 2 * out_h + k_h - 1, 2 * out_w + k_w - 1
    rows, cols = rows + rows % 2, cols + cols % 2
    phase_rows = []
    for p in range(2):
        phase_cols = []
        for q in range(2):
            total = jnp.zeros((channels, batch, rows // 2, cols // 2), dtype)
            for (s, t), piece in by_offset.items():
                if s % 2 == p and t % 2 == q:
                    top, left = s // 2, t // 2
                    total = total + jnp.pad(
                        piece,
                        (
                            (0, 0),
                            (0, 0),
                            (top, rows // 2 - out_h - top),
                            (left, cols // 2 - out_w - left),
                        ),
                    )
            phase_cols.append(total)
        phase_rows.append(jnp.stack(phase_cols, axis=-1))
    grad = jnp.stack(phase_rows, axis=3).reshape(channels, batch, rows, cols)
    grad = grad[:, :, : min(rows, height), : min(cols, width)]
    grad = jnp.pad(grad, ((0, 0), (0, 0), (0, height - grad.shape[2]), (0, width - grad.shape[3])))
    return (grad,)


_pooled_patches.defvjp(_pooled_patches_fwd, _pooled_patches_bwd)


def conv2d_relu_max_pool_2x2(
    x: jax.typing.ArrayLike, kernel: jax.typing.ArrayLike, bias: jax.typing.ArrayLike
) -> jax.Array:
    r"""Keras's ``Conv2D(activation="relu")`` then ``MaxPooling2D((2, 2))``, pooled first.

    .. math::
        \operatorname{pool}(\operatorname{relu}(x \star w + b))
        = \operatorname{relu}(\operatorname{pool}(x \star w) + b)

    Adding a per-channel constant and the (monotone) ReLU commute with the
    window maximum, and rounding is monotone too, so both sides are equal for
    the same convolution values. The gradients are equal as well: each
    window's gradient goes to the same first maximal entry in row-major window
    order (adding ``b`` changes no comparison), and where the window's maximum
    is ``<= 0`` after the bias both forms pass zero (``relu'(0) = 0`` in JAX and
    TensorFlow). Computing the right-hand side leaves the bias, the ReLU and
    their gradients a quarter of the work.

    How it runs (same mathematics as :func:`conv2d_im2col` followed by
    :func:`max_pool_2x2`, float rounding aside): the image is split into its four
    2×2 phases (even/odd rows × even/odd columns), and the im2col patches are
    taken from the phases, channel-major and grouped by window entry, so that
    one matrix product computes exactly the convolution outputs the pooling
    reads (an odd last row or column of the convolution output, which the
    pooling drops, is never computed), the 2×2 maximum is taken over four
    contiguous blocks, and every matrix product of the backward pass has a
    fast memory layout. The patch gradient is summed per pixel offset before
    it is put back onto the image. Its patch columns sum over ``(c, a, b)``
    instead of :func:`conv2d_im2col`'s ``(a, b, c)``, so results can differ
    from it in the last bits.

    Args:
      x: ``(batch, height, width, in_channels)``, floating.
      kernel: ``(k_h, k_w, in_channels, out_channels)``, ``x``'s dtype.
      bias: ``(out_channels,)``, ``x``'s dtype.

    Returns:
      ``(batch, (height - k_h + 1) // 2, (width - k_w + 1) // 2, out_channels)``.

    Raises:
      ValueError: as :func:`conv2d_im2col` and :func:`max_pool_2x2`, or ``bias``
        does not fit.

    Example:
      >>> import jax, numpy as np
      >>> from jaxloss.nn import conv2d_im2col, conv2d_relu_max_pool_2x2, max_pool_2x2
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
      >>> w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
      >>> b = np.linspace(-1.0, 1.0, 4, dtype=np.float32)
      >>> fused = jax.jit(conv2d_relu_max_pool_2x2)(x, w, b)
      >>> plain = jax.jit(lambda *a: max_pool_2x2(jax.nn.relu(conv2d_im2col(*a))))(x, w, b)
      >>> fused.shape, bool(np.allclose(fused, plain, rtol=1e-6, atol=1e-6))
      ((2, 3, 3, 4), True)
    """
    x, kernel, bias = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)
    _check_conv(x, kernel)
    batch, height, width, channels = x.shape
    k_h, k_w, _, k_out = kernel.shape
    conv_h, conv_w = height - k_h + 1, width - k_w + 1
    if conv_h < 2 or conv_w < 2:
        raise ValueError(
            f"`x` must be (batch, height, width, channels) with height, width >= 2, "
            f"got {(batch, conv_h, conv_w, k_out)} from the convolution."
        )
    if bias.shape != (k_out,) or bias.dtype != x.dtype:
        raise ValueError(
            f"`bias` must be ({k_out},) of dtype {x.dtype}, got {bias.shape} of {bias.dtype}."
        )
    out_h, out_w = conv_h // 2, conv_w // 2
    patches: jax.Array = _pooled_patches(jnp.transpose(x, (3, 0, 1, 2)), k_h, k_w, out_h, out_w)
    weights = jnp.transpose(kernel, (2, 0, 1, 3)).reshape(channels * k_h * k_w, k_out)
    y = jax.lax.dot_general(weights, patches, (((0,), (0,)), ((), ())))  # (out, 4 * positions)
    pooled = _max_over_windows(y.reshape(k_out, 4, batch * out_h * out_w))
    pooled = jax.nn.relu(pooled + bias.reshape(k_out, 1))
    return jnp.transpose(pooled.reshape(k_out, batch, out_h, out_w), (1, 2, 3, 0))
