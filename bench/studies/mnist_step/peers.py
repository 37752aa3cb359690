"""The contenders: the document's CNN in Flax NNX and on jaxloss.nn, and in tf.keras."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxloss.nn import conv2d_im2col, conv2d_relu_max_pool_2x2, max_pool_2x2

# Read when keras_peers imports Keras: the tf.keras peers run on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 128
EPSILON = 1e-7  # Keras's backend epsilon: probability clipping and Adam's epsilon
LEARNING_RATE = 1e-3
REFERENCE = "keras.train_on_batch"
"""The peer every ratio is taken to."""


def make_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(BATCH, 28, 28, 1)).astype(np.float32) / 255.0
    labels = rng.integers(0, 10, size=(BATCH,)).astype(np.int32)
    return images, labels


@dataclasses.dataclass
class Peer:
    """One contender: ``run()`` performs ``steps_per_call`` training steps, returns the loss."""

    run: Callable[[], float]
    steps_per_call: int = 1



def jax_peers(images: np.ndarray, labels: np.ndarray) -> dict[str, Peer]:
    def keras_sparse_categorical_cross_entropy(probs, targets):
        # Keras on probabilities: normalise, clip to [eps, 1 - eps], -log p[label]; batch mean.
        probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
        probs = jnp.clip(probs, EPSILON, 1.0 - EPSILON)
        picked = jnp.take_along_axis(probs, targets[:, None], axis=-1)[:, 0]
        return -jnp.mean(jnp.log(picked))

    class FlaxCNN(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.conv1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs)
            self.conv2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs)
            self.dense1 = nnx.Linear(5 * 5 * 64, 128, rngs=rngs)
            self.dense2 = nnx.Linear(128, 10, rngs=rngs)

        def __call__(self, x):
            x = nnx.max_pool(nnx.relu(self.conv1(x)), (2, 2), (2, 2), "VALID")
            x = nnx.max_pool(nnx.relu(self.conv2(x)), (2, 2), (2, 2), "VALID")
            x = x.reshape(x.shape[0], -1)
            return nnx.softmax(self.dense2(nnx.relu(self.dense1(x))))

    class ConvReluPool(nnx.Module):
        """Keras's Conv2D(3×3, activation="relu") followed by MaxPooling2D((2, 2))."""

        def __init__(self, in_channels: int, out_channels: int, rngs: nnx.Rngs):
            init = nnx.initializers.glorot_uniform()
            self.kernel = nnx.Param(init(rngs.params(), (3, 3, in_channels, out_channels)))
            self.bias = nnx.Param(jnp.zeros((out_channels,)))

        def __call__(self, x):
            return conv2d_relu_max_pool_2x2(x, self.kernel[...], self.bias[...])

    class Im2colConvReluPool(ConvReluPool):
        """The same block as ``max_pool_2x2(conv2d_im2col(x, w))``, then bias and ReLU."""

        def __call__(self, x):
            pooled = max_pool_2x2(conv2d_im2col(x, self.kernel[...]))
            return nnx.relu(pooled + self.bias[...])

    class JaxlossCNN(FlaxCNN):
        block = ConvReluPool

        def __init__(self, rngs: nnx.Rngs):
            super().__init__(rngs)
            self.conv1 = self.block(1, 32, rngs)
            self.conv2 = self.block(32, 64, rngs)

        def __call__(self, x):
            x = self.conv2(self.conv1(x))
            x = x.reshape(x.shape[0], -1)
            return nnx.softmax(self.dense2(nnx.relu(self.dense1(x))))

    class Im2colCNN(JaxlossCNN):
        block = Im2colConvReluPool

    def adam():
        return optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=EPSILON)

    def loss_fn(model, x, y):
        return keras_sparse_categorical_cross_entropy(model(x), y)

    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    nnx_step = nnx.jit(train_step)

    x, y = jnp.asarray(images), jnp.asarray(labels)

    # Same mathematics: with the same weights the models give the same loss and gradients.
    flax_model = FlaxCNN(nnx.Rngs(0))
    for ours in (JaxlossCNN(nnx.Rngs(0)), Im2colCNN(nnx.Rngs(0))):
        for name in ("conv1", "conv2"):
            for param in ("kernel", "bias"):
                getattr(getattr(ours, name), param)[...] = getattr(
                    getattr(flax_model, name), param
                )[...]
        for a, b in zip(
            jax.tree.leaves(nnx.value_and_grad(loss_fn)(flax_model, x, y)),
            jax.tree.leaves(nnx.value_and_grad(loss_fn)(ours, x, y)),
        ):
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5)

    def nnx_peer(model_cls):
        model = model_cls(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, adam(), wrt=nnx.Param)
        return lambda: float(nnx_step(model, optimizer, x, y))

    def functional_peer(model_cls):
        model = model_cls(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, adam(), wrt=nnx.Param)
        graphdef, state = nnx.split((model, optimizer))

        @functools.partial(jax.jit, donate_argnums=0)
        def step(state, x, y):
            model, optimizer = nnx.merge(graphdef, state)
            loss = train_step(model, optimizer, x, y)
            return nnx.state((model, optimizer)), loss

        box = [state]

        def run() -> float:
            box[0], loss = step(box[0], x, y)
            return float(loss)

        return run

    return {
        "flax": Peer(nnx_peer(FlaxCNN)),
        "jaxloss.nn": Peer(nnx_peer(JaxlossCNN)),
        "jaxloss.nn+jax.jit": Peer(functional_peer(JaxlossCNN)),
        "jaxloss.nn im2col": Peer(nnx_peer(Im2colCNN)),
    }


def keras_peers(
    images: np.ndarray, labels: np.ndarray, fit_steps: int
) -> tuple[dict[str, Peer], bool]:
    # Optional (the bench extra): without TensorFlow, run_here leaves these peers out.
    import keras
    import tensorflow as tf  # noqa: F401  (the peer is tf.keras: fail here if TF is absent)

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"tf.keras peer needs KERAS_BACKEND=tensorflow, got {keras.backend.backend()}"
        )

    def document_model():
        layers = keras.layers
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Flatten(),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        return model

    on_batch = document_model()

    def train_on_batch() -> float:
        return float(on_batch.train_on_batch(images, labels)[0])

    fitted = document_model()
    fit_x = np.concatenate([images] * fit_steps)
    fit_y = np.concatenate([labels] * fit_steps)

    def fit() -> float:
        history = fitted.fit(fit_x, fit_y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return float(history.history["loss"][-1])

    peers = {"keras.train_on_batch": Peer(train_on_batch), "keras.fit": Peer(fit, fit_steps)}
    return peers, bool(on_batch.jit_compile)
