"""The steps as plain functions: loss and metrics of a padded batch, the update, accumulation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from train_cases import binary_data, binary_trainer

from jaxloss.train import objectives, outputs, steps

LEARNING_RATE = 0.1


def linear_config(model):
    """A StepConfig for a one-output regression model with mse, mae and a weighted mae."""
    model.eval()
    eval_graphdef = nnx.graphdef(model)
    model.train()
    built = outputs.build_objectives(
        [None], [jax.ShapeDtypeStruct((4, 1), jnp.float32)], [np.zeros((4, 1), np.float32)],
        loss=objectives.resolve_loss("mse"), loss_weights=None,
        metrics=["mae"], weighted_metrics=["mae"],
    )
    return steps.StepConfig(
        nnx.graphdef(model), eval_graphdef, optax.sgd(LEARNING_RATE), [None], built
    )


def padded_batch():
    """Three real rows and a padding row, with sample weights."""
    rng = np.random.default_rng(0)
    return steps.Batch(
        rng.normal(size=(4, 3)).astype(np.float32),
        [rng.normal(size=(4, 1)).astype(np.float32)],
        np.array([1.0, 2.0, 0.5, 7.0], np.float32),
        np.array([1.0, 1.0, 1.0, 0.0], np.float32),
    )


def hand_logs(model, batch):
    """The logs of the real rows in float64: Keras's weighted mse over the batch size, maes."""
    kernel = np.asarray(model.kernel[...], np.float64)
    bias = np.asarray(model.bias[...], np.float64)
    error = (batch.x.astype(np.float64) @ kernel + bias - batch.ys[0])[:3, 0]
    weight = batch.sample_weight[:3].astype(np.float64)
    return {
        "loss": np.sum(weight * error**2) / 3,
        "mae": np.mean(np.abs(error)),
        "weighted_mae": np.sum(weight * np.abs(error)) / np.sum(weight),
    }


def linear_case():
    """A linear model's config, log names and initial state, and the padded batch."""
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    config = linear_config(model)
    _, params, rest = nnx.split(model, nnx.Param, ...)
    state = steps.TrainState(params, rest, config.optimizer.init(params))
    return model, config, outputs.log_names(config.objectives), state, padded_batch()


def test_eval_step_gives_the_logs_of_the_real_rows():
    model, config, names, state, batch = linear_case()
    accum = steps.eval_step(config, state, steps.new_accumulators(names), batch)
    logs = steps.read_logs(accum, names)
    for name, expected in hand_logs(model, batch).items():
        assert logs[name] == pytest.approx(expected, rel=1e-5), name
    twice = steps.read_logs(steps.eval_step(config, state, accum, batch), names)
    assert twice == pytest.approx(logs, rel=1e-6)  # sums and counts both double


def test_train_step_is_one_sgd_step_on_the_real_rows_jitted_or_not():
    _, config, names, state, batch = linear_case()

    def hand_loss(params):
        error = (batch.x @ params["kernel"] + params["bias"][None, :] - batch.ys[0])[:3, 0]
        return jnp.sum(batch.sample_weight[:3] * error**2) / 3

    plain = {"kernel": state.params["kernel"][...], "bias": state.params["bias"][...]}
    grads = jax.grad(hand_loss)(plain)
    expected = {name: plain[name] - LEARNING_RATE * grads[name] for name in plain}
    accum = steps.new_accumulators(names)
    eager = steps.train_step(config, state, accum, batch)
    jitted = jax.jit(functools.partial(steps.train_step, config))(state, accum, batch)
    for new_state, new_accum in (eager, jitted):
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(new_state.params[name][...], expected[name], rtol=1e-5, atol=1e-6)
        assert steps.read_logs(new_accum, names)["loss"] == pytest.approx(
            float(hand_loss(plain)), rel=1e-5
        )


def test_predict_step_runs_the_model_in_evaluation_mode():
    model = nnx.Sequential(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), nnx.Dropout(0.9, rngs=nnx.Rngs(1)))
    config = linear_config(model)
    _, params, rest = nnx.split(model, nnx.Param, ...)
    x = np.ones((4, 3), np.float32)
    model.eval()
    np.testing.assert_array_equal(steps.predict_step(config, params, rest, x), model(x))


def test_accuracy_equals_a_hand_count():
    x, y = binary_data(100, seed=3)
    trainer = binary_trainer()
    trainer.fit(x, y, epochs=1, batch_size=16, verbose=0)
    probabilities = trainer.predict(x, batch_size=7)
    hand_count = np.mean((probabilities[:, 0] > 0.5).astype(np.int32) == y)
    logs = trainer.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(hand_count, abs=1e-7)
    p = np.clip(probabilities[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    hand_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert logs["loss"] == pytest.approx(hand_loss, rel=1e-5)


def test_padding_gives_the_loss_of_the_smaller_batch():
    x, y = binary_data(40)
    trainer = binary_trainer()
    def loss(x, y, batch_size):
        return trainer.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)["loss"]

    alone = loss(x[32:], y[32:], batch_size=8)
    padded = loss(np.concatenate([x[32:], x[32:]]), np.concatenate([y[32:], y[32:]]), batch_size=12)
    assert padded == pytest.approx(alone, rel=1e-6)  # 8 + (8 real, 4 padded)
    ragged = loss(x, y, batch_size=32)  # 32 + (8 real, 24 padded)
    assert ragged == pytest.approx((32 * loss(x[:32], y[:32], 32) + 8 * alone) / 40, rel=1e-6)
