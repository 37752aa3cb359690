"""The loop against Keras 3 (JAX backend) on small cases, from identical initial weights.

Compared: the per-epoch History (loss as Keras's batch-size-weighted running mean,
accuracy, val_* on the last fraction), the weights after training, class_weight and
sample_weight, a ragged last batch, Keras's Adam, and the regularization term.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxloss import zoo
from jaxloss.train import compile

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.standard_promotion


def bce(y_true, y_pred):
    """Keras's binary cross-entropy (clipped at 1e-7), per example."""
    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)
    return -jnp.mean(y_true * jnp.log(p) + (1 - y_true) * jnp.log(1 - p), axis=-1)


def dense_layers(model):
    return [module for _, module in nnx.iter_graph(model) if hasattr(module, "kernel")]


def keras_twin(model, units, activations, regularizers=None):
    """A keras.Sequential with the same architecture and weights as an NNX MLP."""
    layers = [keras.Input((20,))]
    for size, activation, regularizer in zip(units, activations, regularizers or [None] * len(units)):
        layers.append(keras.layers.Dense(size, activation=activation, kernel_regularizer=regularizer))
    twin = keras.Sequential(layers)
    ours = sorted(dense_layers(model), key=lambda layer: layer.kernel[...].shape[0], reverse=True)
    weights = []
    for layer in ours:
        weights += [np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])]
    twin.set_weights(weights)
    return twin


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    return x, rng.integers(0, 2, size=(n,)).astype(np.int32)


@pytest.mark.parametrize(
    ("optimizer", "weighting"),
    [
        ("sgd", None),
        ("adam", None),
        ("sgd", "class_weight"),
        ("adam", "sample_weight"),
    ],
)
def test_fit_matches_keras(optimizer, weighting):
    x, y = data(90)  # 72 train = 32 + 32 + 8 (ragged), 18 validation
    model = zoo.BinaryMLP(rngs=nnx.Rngs(1))
    twin = keras_twin(model, [10, 1], ["relu", "sigmoid"])
    kwargs = {}
    if weighting == "class_weight":
        kwargs["class_weight"] = {0: 0.3, 1: 2.0}
    elif weighting == "sample_weight":
        kwargs["sample_weight"] = np.random.default_rng(5).uniform(0.0, 3.0, size=90).astype(np.float32)
    fit_args = dict(epochs=2, batch_size=32, validation_split=0.2, shuffle=False, verbose=0, **kwargs)

    metrics = {"metrics": ["accuracy"], "weighted_metrics": ["binary_accuracy"]}
    twin.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(), **metrics)
    expected = twin.fit(x, y, **fit_args).history
    trainer = compile(model, optimizer=optimizer, loss=bce, **metrics)
    history = trainer.fit(x, y, **fit_args).history

    assert set(history) == set(expected)
    for name in expected:
        np.testing.assert_allclose(history[name], expected[name], rtol=2e-5, atol=1e-6, err_msg=name)
    ours = [np.asarray(v) for layer in dense_layers(model) for v in (layer.kernel[...], layer.bias[...])]
    np.testing.assert_allclose(
        np.concatenate([w.ravel() for w in ours]),
        np.concatenate([w.ravel() for w in twin.get_weights()]),
        rtol=1e-4, atol=1e-6,
    )


def test_evaluate_with_sample_weight_matches_keras():
    x, y = data(45, seed=2)
    weights = np.linspace(0.0, 2.0, 45).astype(np.float32)
    model = zoo.BinaryMLP(rngs=nnx.Rngs(4))
    twin = keras_twin(model, [10, 1], ["relu", "sigmoid"])
    metrics = {"metrics": ["accuracy"], "weighted_metrics": ["accuracy"]}
    twin.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(), **metrics)
    expected = twin.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0, return_dict=True)
    trainer = compile(model, optimizer="sgd", loss=bce, **metrics)
    logs = trainer.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0, return_dict=True)
    assert set(logs) == set(expected)
    for name in expected:
        assert logs[name] == pytest.approx(expected[name], rel=1e-5), name


def test_l2_regularized_loss_matches_keras_and_the_formula():
    x, y = data(64, seed=3)
    model = zoo.L2MLP(rngs=nnx.Rngs(2))
    l2 = keras.regularizers.l2(0.01)
    twin = keras_twin(model, [10, 10, 1], ["relu", "relu", "sigmoid"], [l2, l2, None])
    twin.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    trainer = compile(model, optimizer="adam", loss=bce, metrics=["accuracy"])

    logs = trainer.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    expected = twin.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(expected["loss"], rel=1e-5)

    kernels = [np.asarray(layer.kernel[...], np.float64) for layer in (model.hidden1, model.hidden2)]
    penalty = 0.01 * sum(np.sum(k**2) for k in kernels)
    p = np.clip(trainer.predict(x)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    data_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert logs["loss"] == pytest.approx(data_loss + penalty, rel=1e-5)

    fit_args = {"epochs": 2, "batch_size": 32, "shuffle": False, "verbose": 0}
    np.testing.assert_allclose(
        trainer.fit(x, y, **fit_args).history["loss"], twin.fit(x, y, **fit_args).history["loss"], rtol=2e-5
    )


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_optimizer_names_follow_keras_updates(name):
    from jaxloss.train import optimizers

    w0 = np.random.default_rng(0).normal(size=(5,)).astype(np.float32)
    variable = keras.Variable(w0)
    keras_optimizer = keras.optimizers.get(name)
    transformation = optimizers.get(name)
    params = jnp.asarray(w0)
    state = transformation.init(params)
    for _ in range(4):
        keras_optimizer.apply_gradients([(2.0 * variable.value + 1.0, variable)])
        updates, state = transformation.update(2.0 * params + 1.0, state, params)
        params = params + updates
    np.testing.assert_allclose(np.asarray(params), np.asarray(variable.value), rtol=1e-5, atol=1e-7)
