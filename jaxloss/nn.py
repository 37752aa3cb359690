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
  and the ReLU, which gives exactly the same values and gradients (see its
  docstring) while the bias, the ReLU and their gradients touch a quarter of
  the data.

Measured on the document's MNIST CNN (batch 128, 2-core CPU): see ``bench/mnist_step.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxloss._src import validation


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
    validation.check_floating("x", x)
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            "`x` must be (batch, height, width, channels) and `kernel` (k_h, k_w, in, out), "
            f"got x.shape={x.shape} and kernel.shape={kernel.shape}."
        )
    batch, height, width, channels = x.shape
    k_h, k_w, k_in, k_out = kernel.shape
    if k_in != channels:
        raise ValueError(
            f"`kernel` expects {k_in} input channels but `x` has {channels}: "
            f"x.shape={x.shape}, kernel.shape={kernel.shape}."
        )
    if k_h > height or k_w > width:
        raise ValueError(
            f"`kernel` window {(k_h, k_w)} is larger than the image {(height, width)} "
            "('valid' padding)."
        )
    if kernel.dtype != x.dtype:
        raise ValueError(f"`kernel` dtype {kernel.dtype} differs from `x` dtype {x.dtype}.")
    out_h, out_w = height - k_h + 1, width - k_w + 1
    # Column order (a, b, c) matches kernel.reshape(k_h * k_w * k_in, k_out).
    patches = jnp.concatenate(
        [x[:, a : a + out_h, b : b + out_w, :] for a in range(k_h) for b in range(k_w)], axis=-1
    )
    y = patches.reshape(batch * out_h * out_w, k_h * k_w * k_in) @ kernel.reshape(-1, k_out)
    y = y.reshape(batch, out_h, out_w, k_out)
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out,) or bias.dtype != x.dtype:
            raise ValueError(
                f"`bias` must be ({k_out},) of dtype {x.dtype}, got {bias.shape} of {bias.dtype}."
            )
        y = y + bias.reshape(1, 1, 1, k_out)
    return y


@jax.custom_vjp
def _pool_windows(windows: jax.Array) -> jax.Array:
    # windows: (batch, out_h, 2, out_w, 2, channels)
    return jnp.max(windows, axis=(2, 4))


def _pool_windows_fwd(windows: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    pooled = jnp.max(windows, axis=(2, 4))
    return pooled, (windows, pooled)


def _pool_windows_bwd(residuals, cotangent):
    windows, pooled = residuals
    zero = jnp.zeros((), cotangent.dtype)
    taken = jnp.zeros(pooled.shape, bool)
    rows = []
    for a in range(2):
        cols = []
        for b in range(2):
            is_first_max = (windows[:, :, a, :, b, :] == pooled) & ~taken
            taken = taken | is_first_max
            cols.append(jnp.where(is_first_max, cotangent, zero))
        rows.append(jnp.stack(cols, axis=3))
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


def conv2d_relu_max_pool_2x2(
    x: jax.typing.ArrayLike, kernel: jax.typing.ArrayLike, bias: jax.typing.ArrayLike
) -> jax.Array:
    r"""Keras's ``Conv2D(activation="relu")`` then ``MaxPooling2D((2, 2))``, pooled first.

    .. math::
        \operatorname{pool}(\operatorname{relu}(x \star w + b))
        = \operatorname{relu}(\operatorname{pool}(x \star w) + b)

    Adding a per-channel constant and the (monotone) ReLU commute with the
    window maximum, and rounding is monotone too, so both sides are equal bit
    for bit. The gradients are equal as well: each window's gradient goes to
    the same first maximal entry (adding ``b`` changes no comparison), and where
    the window's maximum is ``<= 0`` after the bias both forms pass zero
    (``relu'(0) = 0`` in JAX and TensorFlow). Computing the right-hand side
    leaves the bias, the ReLU and their gradients a quarter of the work.

    Args:
      x: ``(batch, height, width, in_channels)``, floating.
      kernel: ``(k_h, k_w, in_channels, out_channels)``, ``x``'s dtype.
      bias: ``(out_channels,)``, ``x``'s dtype.

    Returns:
      ``(batch, (height - k_h + 1) // 2, (width - k_w + 1) // 2, out_channels)``.

    Raises:
      ValueError: as :func:`conv2d_im2col` and :func:`max_pool_2x2`.

    Example:
      >>> import jax, numpy as np
      >>> from jaxloss.nn import conv2d_im2col, conv2d_relu_max_pool_2x2, max_pool_2x2
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
      >>> w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
      >>> b = np.linspace(-1.0, 1.0, 4, dtype=np.float32)
      >>> fused = jax.jit(conv2d_relu_max_pool_2x2)(x, w, b)
      >>> plain = jax.jit(lambda *a: max_pool_2x2(jax.nn.relu(conv2d_im2col(*a))))(x, w, b)
      >>> fused.shape, bool((fused == plain).all())
      ((2, 3, 3, 4), True)
    """
    pooled = max_pool_2x2(conv2d_im2col(x, kernel))
    bias = jnp.asarray(bias)
    if bias.shape != pooled.shape[-1:] or bias.dtype != pooled.dtype:
        raise ValueError(
            f"`bias` must be ({pooled.shape[-1]},) of dtype {pooled.dtype}, "
            f"got {bias.shape} of {bias.dtype}."
        )
    return jax.nn.relu(pooled + bias.reshape(1, 1, 1, -1))
