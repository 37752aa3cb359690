"""The document's models as Flax NNX modules, with Keras's default initializers.

Each class mirrors one ``Sequential`` model of the document (Glorot-uniform
kernels, zero biases, so numbers are comparable with Keras):

* :class:`BinaryMLP`: Dense(10, relu) -> Dense(1, sigmoid) on 20 features.
* :class:`Regressor`: Dense(10, relu) -> Dense(1) on 20 features, trained with
  the document's custom loss :func:`asymmetric_weighted_mse`.
* :class:`MnistCNN`: Conv(32, 3x3, relu) -> MaxPool 2x2 -> Conv(64, 3x3, relu) ->
  MaxPool 2x2 -> Flatten -> Dense(128, relu) -> Dense(10, softmax) on 28x28x1.
* :class:`L2MLP`: Dense(10, relu, l2(0.01)) -> Dense(10, relu, l2(0.01)) ->
  Dense(1, sigmoid) on 20 features.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxloss.train.layers import Conv2D, Dense, flatten
from jaxloss.train.regularizers import l2


class BinaryMLP(nnx.Module):
    """20 -> 10 (relu) -> 1 (sigmoid): the document's binary classifier.

    >>> BinaryMLP(rngs=nnx.Rngs(0))(jnp.zeros((4, 20))).shape
    (4, 1)
    """

    def __init__(self, in_features: int = 20, *, rngs: nnx.Rngs):
        self.hidden = Dense(in_features, 10, activation="relu", rngs=rngs)
        self.output = Dense(10, 1, activation="sigmoid", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.output(self.hidden(x))


class Regressor(nnx.Module):
    """20 -> 10 (relu) -> 1 (linear): the document's custom-loss regressor."""

    def __init__(self, in_features: int = 20, *, rngs: nnx.Rngs):
        self.hidden = Dense(in_features, 10, activation="relu", rngs=rngs)
        self.output = Dense(10, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.output(self.hidden(x))


def asymmetric_weighted_mse(y_true: jax.Array, y_pred: jax.Array) -> jax.Array:
    """The document's custom loss: under-estimates cost three times more than over-estimates.

    ``mean(1.5 * max(0, y_true - y_pred)**2 + 0.5 * max(0, y_pred - y_true)**2)``
    over the whole batch (a scalar, as the document's ``tf.reduce_mean``).

    >>> float(asymmetric_weighted_mse(jnp.array([1.0, 0.0]), jnp.array([0.0, 2.0])))
    1.75
    """
    error = y_true - y_pred
    under = 1.5 * jnp.square(jnp.maximum(0.0, error))
    over = 0.5 * jnp.square(jnp.maximum(0.0, -error))
    return jnp.mean(under + over)


class MnistCNN(nnx.Module):
    """The document's MNIST CNN; input ``[batch, 28, 28, 1]`` floats in [0, 1], output softmax.

    >>> MnistCNN(rngs=nnx.Rngs(0))(jnp.zeros((2, 28, 28, 1))).shape
    (2, 10)
    """

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2D(1, 32, (3, 3), activation="relu", rngs=rngs)
        self.conv2 = Conv2D(32, 64, (3, 3), activation="relu", rngs=rngs)
        self.dense = Dense(5 * 5 * 64, 128, activation="relu", rngs=rngs)
        self.output = Dense(128, 10, activation="softmax", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv1.max_pooled(x)  # max_pool_2x2(conv1(x)), pooled before bias and ReLU
        x = self.conv2.max_pooled(x)
        return self.output(self.dense(flatten(x)))


class L2MLP(nnx.Module):
    """20 -> 10 -> 10 (relu, ``l2(0.01)`` kernels) -> 1 (sigmoid): the regularized model.

    >>> model = L2MLP(rngs=nnx.Rngs(0))
    >>> from jaxloss.train.layers import regularization_loss
    >>> expected = 0.01 * sum(jnp.sum(layer.kernel[...] ** 2) for layer in (model.hidden1, model.hidden2))
    >>> bool(jnp.isclose(regularization_loss(model), expected))
    True
    """

    def __init__(self, in_features: int = 20, *, l2_factor: float = 0.01, rngs: nnx.Rngs):
        self.hidden1 = Dense(in_features, 10, activation="relu", kernel_regularizer=l2(l2_factor), rngs=rngs)
        self.hidden2 = Dense(10, 10, activation="relu", kernel_regularizer=l2(l2_factor), rngs=rngs)
        self.output = Dense(10, 1, activation="sigmoid", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.output(self.hidden2(self.hidden1(x)))
