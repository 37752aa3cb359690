"""fit's data before the steps: weights, the validation part, the epoch order, the batches."""

import numpy as np
import optax
import pytest
from train_cases import binary_data, binary_trainer

from jaxloss.train import preparation


def single_output(x_batch, y):
    return [y]


def fit_data(x, y, **kwargs):
    arguments = {"batch_size": 4, "validation_split": 0.0, "validation_data": None,
                 "class_weight": None, "sample_weight": None, **kwargs}
    return preparation.fit_data(x, y, build=single_output, **arguments)


def test_validation_split_takes_the_last_samples_and_their_own_weights():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10, dtype=np.int32) % 3
    weights = np.linspace(1.0, 2.0, 10).astype(np.float32)
    train, validation = fit_data(x, y, validation_split=0.3, sample_weight=weights)
    np.testing.assert_array_equal(train.x[:, 0], np.arange(7))
    np.testing.assert_array_equal(validation.x[:, 0], [7, 8, 9])
    np.testing.assert_array_equal(validation.sample_weight, weights[7:])
    train, validation = fit_data(x, y, validation_split=0.3, class_weight={0: 5.0})
    np.testing.assert_array_equal(train.sample_weight, np.where(y[:7] == 0, 5.0, 1.0))
    np.testing.assert_array_equal(validation.sample_weight, np.ones(3))  # training loss only


def test_validation_data_takes_precedence_and_keeps_its_weights():
    x, y = np.zeros((6, 2), np.float32), np.zeros((6,), np.int32)
    x_val, y_val = np.ones((3, 2), np.float32), np.ones((3,), np.int32)
    train, validation = fit_data(
        x, y, validation_split=0.5, validation_data=(x_val, y_val, np.full(3, 2.0))
    )
    assert train.num_samples == 6 and validation.num_samples == 3
    np.testing.assert_array_equal(validation.x, x_val)
    assert validation.sample_weight.dtype == np.float32 and set(validation.sample_weight) == {2.0}
    assert fit_data(x, y)[1] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validation_data": (np.zeros((2, 2)),)}, "validation_data"),
        ({"y": [np.zeros(6), np.zeros(6)], "class_weight": {0: 1.0}}, "single-output"),
        ({"y": None}, "`y` is required"),
        ({"validation_split": 0.9}, "leaves 0 for training and 6 for validation"),
    ],
)
def test_bad_data_arguments_raise(kwargs, message):
    arguments = {"y": np.zeros(6, np.int32), **kwargs}
    with pytest.raises(ValueError, match=message):
        fit_data(np.zeros((6, 2), np.float32), arguments.pop("y"), **arguments)


def test_epoch_order_depends_only_on_seed_and_epoch():
    def order(**kwargs):
        return preparation.epoch_order(50, **{"shuffle": True, "seed": 0, "epoch": 0, **kwargs})

    np.testing.assert_array_equal(order(), order())
    assert sorted(order()) == list(range(50))
    assert not np.array_equal(order(), order(epoch=1))
    assert not np.array_equal(order(), order(seed=1))
    np.testing.assert_array_equal(order(shuffle=False), np.arange(50))


@pytest.mark.parametrize("pad", [True, False])
def test_batches_pad_the_ragged_batch_with_masked_rows(pad):
    data = preparation.Arrays(
        np.arange(5, dtype=np.float32)[:, None], [np.arange(5, dtype=np.int32)], np.ones(5, np.float32)
    )
    batches = list(preparation.batches(data, np.arange(5), 3, pad=pad, mesh=None))
    assert [np.asarray(batch.x)[:, 0].tolist() for batch in batches] == (
        [[0, 1, 2], [3, 4, 3]] if pad else [[0, 1, 2], [3, 4]]
    )
    assert np.asarray(batches[-1].mask).tolist() == ([1.0, 1.0, 0.0] if pad else [1.0, 1.0])


def test_class_weight_and_sample_weight_are_the_same_weights():
    x, y = binary_data(48)
    weights = np.where(y == 1, 3.0, 0.5).astype(np.float32)
    by_class = binary_trainer(optimizer=optax.sgd(0.1)).fit(
        x, y, epochs=2, shuffle=False, class_weight={0: 0.5, 1: 3.0}, verbose=0
    )
    by_sample = binary_trainer(optimizer=optax.sgd(0.1)).fit(
        x, y, epochs=2, shuffle=False, sample_weight=weights, verbose=0
    )
    assert by_class.history == by_sample.history
