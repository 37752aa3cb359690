"""Keras-style Flax NNX layers that carry weight regularizers.

``Dense`` and ``Conv2D`` use Keras's default initializers (Glorot-uniform
kernels, zero biases) so that a model built here starts from the same
distribution as its Keras twin, and accept ``kernel_regularizer=`` and
``bias_regularizer=``. :func:`regularization_loss` walks any NNX module tree and
sums the penalties of every sub-module that defines ``regularization_loss()``;
the training loop adds that sum to the loss, as Keras adds ``model.losses``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxloss import nn
from jaxloss.train import regularizers

glorot_uniform = jax.nn.initializers.glorot_uniform()

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "softmax": jax.nn.softmax,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
}


def get_activation(identifier: str | Callable | None) -> Callable[[jax.Array], jax.Array]:
    """Resolve an activation name (``"relu"``, ``"sigmoid"``, ``"softmax"``, ...) or callable."""
    if identifier is None:
        return _ACTIVATIONS["linear"]
    if callable(identifier):
        return identifier
    if identifier not in _ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {identifier!r}; known names: {sorted(_ACTIVATIONS)}."
        )
    return _ACTIVATIONS[identifier]


def _broadcast_bias(bias: jax.Array, ndim: int) -> jax.Array:
    """The bias with leading axes of size 1 (explicit, for strict rank promotion)."""
    return bias.reshape((1,) * (ndim - 1) + bias.shape)


class _KernelLayer(nnx.Module):
    """Base of the layers: an activation, a Glorot-uniform kernel, an optional zero bias of the
    kernel's last size, and their regularizers (the keyword arguments every layer takes)."""

    kernel: nnx.Param
    bias: nnx.Param | None

    def __init__(
        self,
        kernel_shape: tuple[int, ...],
        *,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.activation = get_activation(activation)
        self.kernel = nnx.Param(glorot_uniform(rngs.params(), kernel_shape, dtype))
        self.bias = nnx.Param(jnp.zeros(kernel_shape[-1:], dtype)) if use_bias else None
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def regularization_loss(self) -> jax.Array:
        """The penalty this layer adds to the training loss (0 without regularizers)."""
        penalty = jnp.zeros((), self.kernel[...].dtype)
        if self.kernel_regularizer is not None:
            penalty = penalty + self.kernel_regularizer(self.kernel[...])
        if self.bias_regularizer is not None and self.bias is not None:
            penalty = penalty + self.bias_regularizer(self.bias[...])
        return penalty


class Dense(_KernelLayer):
    """Fully connected layer ``activation(x @ kernel + bias)``, as ``keras.layers.Dense``.

    Args:
      in_features: size of the input's last axis.
      out_features: number of units.
      activation: name or callable (``None``: linear).
      use_bias: add a bias (initialised to zeros).
      kernel_regularizer: e.g. ``l2(0.01)``: adds ``0.01 * sum(kernel**2)`` to the loss.
      bias_regularizer: regularizer of the bias.
      rngs: ``nnx.Rngs`` for the Glorot-uniform kernel.

    >>> from flax import nnx
    >>> from jaxloss.train.regularizers import l2
    >>> layer = Dense(3, 2, activation="relu", kernel_regularizer=l2(0.01), rngs=nnx.Rngs(0))
    >>> layer(jnp.ones((4, 3))).shape
    (4, 2)
    >>> bool(jnp.isclose(layer.regularization_loss(), 0.01 * jnp.sum(layer.kernel[...]**2)))
    True
    """

    def __init__(self, in_features: int, out_features: int, **options: Any):
        super().__init__((in_features, out_features), **options)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x @ self.kernel[...]
        if self.bias is not None:
            y = y + _broadcast_bias(self.bias[...], y.ndim)
        return self.activation(y)


class Conv2D(_KernelLayer):
    """2-D convolution, NHWC input, HWIO kernel, stride 1, ``'valid'`` padding (Keras's defaults).

    Computed by :func:`jaxloss.nn.conv2d_im2col` (one matrix product, fast on CPU). The keyword
    arguments (``activation``, ``use_bias``, the regularizers, ``dtype``, ``rngs``) are
    :class:`Dense`'s.

    >>> from flax import nnx
    >>> Conv2D(1, 4, (3, 3), activation="relu", rngs=nnx.Rngs(0))(jnp.ones((2, 8, 8, 1))).shape
    (2, 6, 6, 4)
    """

    def __init__(
        self, in_channels: int, filters: int, kernel_size: tuple[int, int] = (3, 3), **options: Any
    ):
        super().__init__((*kernel_size, in_channels, filters), **options)

    def __call__(self, x: jax.Array) -> jax.Array:
        bias = None if self.bias is None else self.bias[...]
        return self.activation(nn.conv2d_im2col(x, self.kernel[...], bias))

    def max_pooled(self, x: jax.Array) -> jax.Array:
        """``max_pool_2x2(self(x))``; with a ReLU and a bias it pools first (same values, less work).

        See :func:`jaxloss.nn.conv2d_relu_max_pool_2x2` (equal values and gradients, up to
        float rounding: it sums each patch in another order).

        >>> from flax import nnx
        >>> layer = Conv2D(1, 4, (3, 3), activation="relu", rngs=nnx.Rngs(0))
        >>> x = jax.random.normal(jax.random.key(1), (2, 9, 9, 1))
        >>> bool(jnp.allclose(layer.max_pooled(x), max_pool_2x2(layer(x)), rtol=1e-6, atol=1e-6))
        True
        """
        if self.activation is jax.nn.relu and self.bias is not None:
            return nn.conv2d_relu_max_pool_2x2(x, self.kernel[...], self.bias[...])
        return max_pool_2x2(self(x))


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2×2 max pooling with stride 2, ``'valid'`` (an odd last row/column is dropped), NHWC.

    :func:`jaxloss.nn.max_pool_2x2` (reshape-based, fast backward on CPU).
    """
    return nn.max_pool_2x2(x)


def flatten(x: jax.Array) -> jax.Array:
    """Flatten every axis but the first (batch)."""
    return x.reshape(x.shape[0], -1)


def regularization_loss(model: nnx.Module) -> jax.Array:
    """Sum of ``regularization_loss()`` over every sub-module of ``model`` that defines it.

    This is the term Keras reports inside ``loss`` (``sum(model.losses)``).
    Returns a float32 zero when nothing is regularized.
    """
    total = jnp.zeros((), jnp.float32)
    for _, node in nnx.iter_graph(model):
        penalty = getattr(node, "regularization_loss", None)
        if isinstance(node, nnx.Module) and callable(penalty):
            total = total + penalty().astype(jnp.float32)
    return total
