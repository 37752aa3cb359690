"""Each of the document's models trains: a few steps on small data and the loss falls."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxloss import zoo
from jaxloss.train import compile, regularization_loss
from jaxloss.train.optimizers import keras_adam


def bce(y_true, y_pred):
    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)
    return -jnp.mean(y_true * jnp.log(p) + (1 - y_true) * jnp.log(1 - p), axis=-1)


def sparse_cce(y_true, y_pred):
    p = jnp.clip(y_pred / jnp.sum(y_pred, axis=-1, keepdims=True), 1e-7, 1 - 1e-7)
    labels = y_true.astype(jnp.int32)
    return -jnp.log(jnp.take_along_axis(p, labels[:, None], axis=-1)[:, 0])


def tabular(n=96, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, 20)).astype(np.float32)
    return x, (x[:, 0] - x[:, 3] > 0).astype(np.int32)


@pytest.mark.parametrize(
    ("model_class", "loss"),
    [(zoo.BinaryMLP, bce), (zoo.L2MLP, bce), (zoo.Regressor, zoo.asymmetric_weighted_mse)],
)
def test_tabular_models_learn(model_class, loss):
    x, y = tabular()
    target = y if loss is bce else x[:, 0] * 2.0
    trainer = compile(model_class(rngs=nnx.Rngs(0)), optimizer=keras_adam(learning_rate=2e-2), loss=loss)
    history = trainer.fit(x, target, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.85 * history.history["loss"][0]


def test_l2_model_reports_its_penalty_inside_the_loss():
    model = zoo.L2MLP(rngs=nnx.Rngs(0))
    kernels = [np.asarray(layer.kernel[...], np.float64) for layer in (model.hidden1, model.hidden2)]
    assert float(regularization_loss(model)) == pytest.approx(0.01 * sum(np.sum(k**2) for k in kernels), rel=1e-6)


def test_mnist_cnn_learns_a_toy_image_task():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=64).astype(np.int32)
    images = rng.uniform(0, 0.2, size=(64, 28, 28, 1)).astype(np.float32)
    for index, label in enumerate(labels):  # a bright quadrant tells the class
        row, col = divmod(int(label), 2)
        images[index, row * 14 : row * 14 + 14, col * 14 : col * 14 + 14] += 0.8
    trainer = compile(zoo.MnistCNN(rngs=nnx.Rngs(0)), optimizer="adam", loss=sparse_cce, metrics=["accuracy"])
    history = trainer.fit(images, labels, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert trainer.trace_counts["train"] == 1
