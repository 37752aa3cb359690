"""The training loop: fit/evaluate/predict, traces, progress output, callbacks, bad input."""

import inspect
import io
import re

import jax
import numpy as np
import optax
import pytest
from flax import nnx
from train_cases import bce, binary_data, binary_trainer

from jaxloss import zoo
from jaxloss.train import Callback, EarlyStopping, TerminateOnNaN, Trainer, compile, progress
from jaxloss.train.optimizers import keras_adam


def test_binary_mlp_loss_falls_and_history_has_every_epoch():
    x, y = binary_data(256)
    trainer = binary_trainer(optimizer=keras_adam(learning_rate=3e-2))
    history = trainer.fit(x, y, epochs=5, batch_size=16, validation_split=0.25, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 5 for values in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8


def test_ragged_last_batch_is_traced_once():
    x, y = binary_data(70)  # 56 train (32 + 24) and 14 validation samples
    trainer = binary_trainer()
    trainer.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    assert trainer.trace_counts == {"train": 1, "evaluate": 1}  # validation: one batch of 14
    trainer.evaluate(x, y, batch_size=32, verbose=0)  # 32, 32, 6 padded to 32: a new shape
    trainer.fit(x, y, epochs=1, batch_size=32, verbose=0)  # 32, 32, 6 padded: the known shape
    assert trainer.trace_counts == {"train": 1, "evaluate": 2}


def test_scalar_returning_loss_compiles_the_ragged_shape_once():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(70, 20)).astype(np.float32)
    y = x[:, :3].sum(axis=1)
    trainer = compile(zoo.Regressor(rngs=nnx.Rngs(0)), optimizer="adam", loss=zoo.asymmetric_weighted_mse)
    history = trainer.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert trainer.trace_counts["train"] == 2  # shapes 32 and 6, whatever the number of epochs
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_output_format(capsys, verbose):
    x, y = binary_data(80)
    binary_trainer().fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=verbose)
    lines = capsys.readouterr().out.splitlines()
    number = r"\d\.\d{4}"
    logs = rf"loss: {number} - accuracy: {number} - val_loss: {number} - val_accuracy: {number}"
    if verbose == 1:
        step = rf"2/2 ━{{20}} \d+s \d+(us|ms|s)/step - {logs}"
    else:
        step = rf"2/2 - \d+s - \d+(us|ms|s)/step - {logs}"
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(step, lines[1]) and re.fullmatch(step, lines[3]), lines


def test_live_bar_redraws_in_place_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    stream = Terminal()
    bar = progress.ProgressBar(target=3, verbose=1, stream=stream)
    for step in (1, 2, 3):
        bar.step_done(step)
        bar.update(step, {"loss": 0.5}, final=step == 3)
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 3 and frames[-1].endswith("\n")
    assert frames[0].startswith("1/3 " + "━" * 6 + "─" * 14 + " ")
    assert frames[0].rstrip().endswith(" - loss: 0.5000")
    # A final line shorter than an earlier frame is padded with spaces to erase it.
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step - loss: 0.5000 *\n", frames[-1])


def test_verbose_zero_prints_nothing(capsys):
    x, y = binary_data(40)
    binary_trainer().fit(x, y, epochs=1, verbose=0)
    binary_trainer().evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = binary_data(64)

    class Perturb(Callback):
        """Makes every epoch after the first worse, so the first epoch is the best."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch > 0:
                weights = self.model.get_weights()
                weights["output"]["bias"][...] = weights["output"]["bias"][...] + 3.0
                self.model.set_weights(weights)

    trainer = binary_trainer(optimizer=optax.sgd(0.0))
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = trainer.fit(
        x, y, epochs=10, validation_split=0.25, callbacks=[Perturb(), stopper], verbose=0
    )
    assert len(history.history["loss"]) == 3  # best at epoch 0, two epochs of patience
    assert stopper.stopped_epoch == 2 and stopper.best_epoch == 0
    assert float(trainer.model.output.bias[...][0]) == 0.0  # epoch 0's (untrained) bias


def test_get_and_set_weights_copy_models_with_rng_state():
    # A model holding RNG keys (Dropout's stream): NumPy cannot hold keys, they stay keys.
    class DropoutNet(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(params=0, dropout=1)
            self.dense = nnx.Linear(3, 1, rngs=rngs)
            self.dropout = nnx.Dropout(0.5, rngs=rngs)

        def __call__(self, x):
            return self.dense(self.dropout(x))

    trainer = compile(DropoutNet(), optimizer="adam", loss="mse")
    saved = trainer.get_weights()
    kernel = np.array(trainer.model.dense.kernel[...])
    trainer.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), epochs=2, verbose=0)
    assert not np.array_equal(trainer.model.dense.kernel[...], kernel)
    trainer.set_weights(saved)
    np.testing.assert_array_equal(trainer.model.dense.kernel[...], kernel)
    key = trainer.model.dropout.rngs.key[...]
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def test_early_stopping_min_delta_and_mode():
    stopper = EarlyStopping(monitor="val_accuracy", min_delta=0.1)
    assert stopper.mode == "max"
    assert stopper._is_improvement(0.75, 0.6) and not stopper._is_improvement(0.65, 0.6)
    with pytest.raises(ValueError, match="pass mode"):
        EarlyStopping(monitor="val_something")


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    x, y = binary_data(96)
    x[40] = np.nan  # second batch of 32
    seen = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = binary_trainer().fit(
        x, y, epochs=3, batch_size=32, shuffle=False, callbacks=[TerminateOnNaN(), Record()], verbose=0
    )
    assert seen == [0, 1]
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
    assert "Epoch 1, batch 1: Invalid loss, terminating training" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": np.zeros(9)}, "same number of samples"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": -0.1}, "validation_split"),
        ({"epochs": 0}, "epochs"),
        ({"sample_weight": np.ones(3)}, "sample_weight"),
        ({"class_weight": {0: 1.0}, "sample_weight": np.ones(10)}, "not both"),
        ({"y": np.zeros((10, 3), np.float32)}, "does not fit the loss"),
        ({"x": np.zeros((10, 7), np.float32)}, "cannot be applied"),
    ],
)
def test_bad_fit_arguments_raise_before_training(kwargs, message):
    x, y = binary_data(10)
    trainer = binary_trainer()
    arguments = {"x": x, "y": y, "verbose": 0, **kwargs}
    before = trainer.get_weights()
    with pytest.raises(ValueError, match=message):
        trainer.fit(arguments.pop("x"), arguments.pop("y"), **arguments)
    assert trainer.trace_counts["train"] == 0
    np.testing.assert_array_equal(trainer.get_weights()["hidden"]["kernel"][...], before["hidden"]["kernel"][...])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "no_such_loss"}, "no_such_loss"),
        ({"loss": None}, "loss"),
        ({"loss": bce, "metrics": ["no_such_metric"]}, "Unknown metric"),
        ({"loss": bce, "optimizer": "adagrad2"}, "Unknown optimizer"),
        ({"loss": 3}, "A loss must be"),
    ],
)
def test_bad_compile_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), **kwargs)


def test_compile_takes_the_trainers_arguments():
    assert inspect.signature(compile).parameters == inspect.signature(Trainer).parameters
    trainer = compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), "sgd", "mse", ["mae"], mesh=None)
    assert isinstance(trainer, Trainer) and trainer.mesh is None
    x, y = binary_data(8)
    assert list(trainer.evaluate(x, y, verbose=0, return_dict=True)) == ["loss", "mae"]


def test_library_losses_resolve_by_name_class_and_instance():
    from jaxloss import losses

    x, y = binary_data(40)
    results = []
    for loss in ("binary_crossentropy", losses.BinaryCrossentropy, losses.BinaryCrossentropy(), bce):
        trainer = compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), optimizer="adam", loss=loss)
        results.append(trainer.evaluate(x, y, batch_size=16, verbose=0))
    assert results[1] == results[0] and results[2] == results[0]
    assert results[3] == pytest.approx(results[0], rel=1e-6)


@pytest.mark.parametrize(
    ("loss", "labels", "message"),
    [
        ("binary_crossentropy", np.zeros((12, 3), np.float32), "does not fit the loss"),
        ("sparse_categorical_crossentropy", np.zeros((12, 10), np.float32), "does not fit the loss"),
        ("categorical_crossentropy", np.zeros((12,), np.int32), "does not fit the loss"),
    ],
)
def test_output_shape_that_does_not_fit_a_library_loss(loss, labels, message):
    class TenClasses(nnx.Module):
        def __init__(self, rngs):
            self.dense = zoo.Dense(20, 10, activation="softmax", rngs=rngs)

        def __call__(self, x):
            return self.dense(x)

    x, _ = binary_data(12)
    model = zoo.BinaryMLP(rngs=nnx.Rngs(0)) if loss == "binary_crossentropy" else TenClasses(nnx.Rngs(0))
    with pytest.raises(ValueError, match=message):
        compile(model, optimizer="adam", loss=loss).fit(x, labels, verbose=0)


def test_dropout_and_batch_norm_models_train_and_evaluate_in_their_modes():
    class Regularized(nnx.Module):
        def __init__(self, rngs):
            self.dense = zoo.Dense(20, 8, activation="relu", rngs=rngs)
            self.norm = nnx.BatchNorm(8, rngs=rngs)
            self.dropout = nnx.Dropout(0.5, rngs=rngs)
            self.output = zoo.Dense(8, 1, activation="sigmoid", rngs=rngs)

        def __call__(self, x):
            return self.output(self.dropout(self.norm(self.dense(x))))

    x, y = binary_data(70)
    model = Regularized(nnx.Rngs(0))
    trainer = compile(model, optimizer="adam", loss=bce)
    trainer.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert trainer.trace_counts["train"] == 2  # batch statistics: the ragged batch is not padded
    assert not np.allclose(model.norm.mean[...], 0.0)  # running statistics were updated
    first = trainer.evaluate(x, y, verbose=0)
    assert trainer.evaluate(x, y, verbose=0) == first  # evaluation is deterministic (no dropout)
