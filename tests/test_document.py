"""The document's five loss examples: jaxloss equals float64 mathematics and Keras 3."""

import math

import numpy as np
import pytest

from jaxloss import cli, document

EXAMPLES = {f"{e.section}-{e.keras_class}": e for e in document.EXAMPLES}


def exact_value(example):
    """The example's loss in float64, from the textbook formula (Keras's mean over the batch)."""
    t, p = np.asarray(example.y_true, np.float64), np.asarray(example.y_pred, np.float64)
    if example.keras_class == "MeanSquaredError":
        return np.mean((p - t) ** 2)
    if example.keras_class == "BinaryCrossentropy":
        return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    if example.keras_class == "CategoricalCrossentropy":
        return -np.mean(np.sum(t * np.log(p / p.sum(-1, keepdims=True)), axis=-1))
    if example.keras_class == "SparseCategoricalCrossentropy":
        rows = np.arange(len(t))
        return -np.mean(np.log(p[rows, t.astype(int)] / p.sum(-1)))
    if example.keras_class == "Huber":
        e = np.abs(p - t)
        return np.mean(np.where(e <= 1.0, 0.5 * e**2, e - 0.5))
    raise AssertionError(example.keras_class)


@pytest.mark.parametrize("key", EXAMPLES)
def test_value_equals_float64_mathematics(key):
    example = EXAMPLES[key]
    assert math.isclose(document.compute(example), exact_value(example), rel_tol=1e-6)


@pytest.mark.standard_promotion
@pytest.mark.parametrize("key", EXAMPLES)
def test_value_equals_keras(key):
    import keras

    example = EXAMPLES[key]
    loss = getattr(keras.losses, example.keras_class)()
    expected = float(loss(np.asarray(example.y_true), np.asarray(example.y_pred)))
    assert math.isclose(document.compute(example), expected, rel_tol=1e-6)


def test_the_printed_values_that_are_wrong():
    # Exact values: 0.0375, 0.2990, 0.3122, 0.3122, 1.0275, 0.3888; printed ones differ.
    wrong = [document.document_is_wrong(e) for e in document.EXAMPLES]
    assert wrong == [abs(e.printed - exact_value(e)) > 0.5e-4 for e in document.EXAMPLES]
    assert all(wrong)


# `reproduce all` also trains the document's models: tests/test_train_reproduce.py runs it.
@pytest.mark.parametrize("argv", [[], ["reproduce"], ["reproduce", "losses"]])
def test_cli_prints_the_examples(argv, capsys):
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for example in document.EXAMPLES:
        line = next(line for line in out.splitlines() if example.name in line)
        assert f"{example.printed:.4f}" in line
        assert f"{exact_value(example):.6f}" in line
        assert "document is wrong" in line


def test_cli_rejects_unknown_reproduction():
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "nonsense"])
