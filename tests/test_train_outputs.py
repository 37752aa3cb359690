"""Output names, targets in output order, one objective per output, and the log names."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from train_cases import bce, binary_data

from jaxloss import zoo
from jaxloss.train import compile, objectives, outputs


@pytest.mark.parametrize(
    ("model_outputs", "names"),
    [({"b": 1, "a": 2}, ["a", "b"]), ([1, 2, 3], ["output_1", "output_2", "output_3"]), (1, [None])],
)
def test_outputs_are_named_as_keras_names_them(model_outputs, names):
    got, flat = outputs.name_outputs(model_outputs)
    assert got == names
    assert outputs.flatten_outputs(model_outputs, got) == flat


@pytest.mark.parametrize(
    ("y", "names", "message"),
    [
        ({"a": 1}, [None], "one output but `y` is a dict"),
        ({"a": 1}, ["a", "b"], r"lacks targets for outputs \['b'\]"),
        ([1], ["a", "b"], "a list of 2 arrays"),
    ],
)
def test_targets_that_do_not_match_the_outputs_raise(y, names, message):
    with pytest.raises(ValueError, match=message):
        outputs.y_in_output_order(y, names)


def test_targets_follow_the_output_order():
    assert outputs.y_in_output_order({"b": 2, "a": 1}, ["a", "b"]) == [1, 2]
    assert outputs.y_in_output_order((1, 2), ["a", "b"]) == [1, 2]


def spec(*shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def test_a_metric_in_both_lists_is_logged_weighted_the_second_time():
    built = outputs.build_objectives(
        [None], [spec(4, 1)], [np.zeros((4,), np.int32)],
        loss=objectives.resolve_loss("binary_crossentropy"), loss_weights=None,
        metrics=["accuracy"], weighted_metrics=["accuracy"],
    )
    assert [(m.name, m.weighted) for m in built[0].metrics] == [
        ("accuracy", False), ("weighted_accuracy", True)
    ]
    assert outputs.log_names(built) == ["loss", "accuracy", "weighted_accuracy"]


def test_an_output_without_loss_gets_no_loss_log():
    mse = objectives.resolve_loss("mse")
    built = outputs.build_objectives(
        ["a", "b", "c"], [spec(4, 1)] * 3, [np.zeros((4, 1), np.float32)] * 3,
        loss={"a": mse, "c": mse}, loss_weights=None, metrics={"b": ["mae"]}, weighted_metrics=None,
    )
    assert outputs.log_names(built) == ["loss", "a_loss", "c_loss", "b_mae"]
    with pytest.raises(ValueError, match="nothing to minimise"):
        outputs.build_objectives(
            ["a"], [spec(4, 1)], [np.zeros((4, 1))], loss=[None], loss_weights=None,
            metrics=None, weighted_metrics=None,
        )


def test_check_metric_names_fails_on_an_unknown_name():
    outputs.check_metric_names({"a": ["accuracy", "mae"], "b": None})
    with pytest.raises(ValueError, match="Unknown metric 'no_such_metric'"):
        outputs.check_metric_names([["mse"], ["no_such_metric"]])


def test_multi_output_reports_each_loss_and_the_weighted_total():
    class TwoHeads(nnx.Module):
        def __init__(self, rngs):
            self.binary = zoo.BinaryMLP(rngs=rngs)
            self.regression = zoo.Regressor(rngs=rngs)

        def __call__(self, x):
            return {"out1": self.binary(x), "out2": self.regression(x)}

    def mse(y_true, y_pred):
        return jnp.mean(jnp.square(y_true - y_pred), axis=-1)

    x, y = binary_data(50)
    target = x[:, 2].astype(np.float32)
    trainer = compile(
        TwoHeads(nnx.Rngs(0)), optimizer="adam", loss={"out1": bce, "out2": mse},
        loss_weights={"out1": 1.0, "out2": 0.5}, metrics={"out1": ["accuracy"]},
    )
    logs = trainer.evaluate(x, {"out1": y, "out2": target}, batch_size=16, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "out1_loss", "out2_loss", "out1_accuracy"]
    predictions = trainer.predict(x)
    p = np.clip(predictions["out1"][:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    out1 = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    out2 = np.mean((target - predictions["out2"][:, 0].astype(np.float64)) ** 2)
    assert logs["out1_loss"] == pytest.approx(out1, rel=1e-5)
    assert logs["out2_loss"] == pytest.approx(out2, rel=1e-5)
    assert logs["loss"] == pytest.approx(out1 + 0.5 * out2, rel=1e-5)
    history = trainer.fit(x, [y, target], epochs=2, batch_size=16, verbose=0)
    assert set(history.history) == set(logs)

