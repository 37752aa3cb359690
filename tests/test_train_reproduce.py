"""The training reproductions behind `python -m jaxloss reproduce binary|custom|mnist|l2`."""

import math

import numpy as np
import pytest

from jaxloss import cli, reproduce


def test_best_constant_satisfies_the_first_order_condition():
    y = np.random.default_rng(0).normal(size=500)
    c, value = reproduce.best_constant_asymmetric_mse(y)
    # d/dc mean(1.5 (y-c)_+^2 + 0.5 (c-y)_+^2) = -3 mean((y-c)_+) + mean((c-y)_+) = 0
    gradient = -3.0 * np.mean(np.maximum(y - c, 0)) + np.mean(np.maximum(c - y, 0))
    assert abs(gradient) < 1e-6
    error = y - c
    expected = np.mean(1.5 * np.maximum(error, 0) ** 2 + 0.5 * np.maximum(-error, 0) ** 2)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("p", "expected"), [(0.5, math.log(2)), (0.25, 0.5623351446188083)])
def test_binary_entropy(p, expected):
    assert reproduce.binary_entropy(p) == pytest.approx(expected, rel=1e-12)


def test_cli_custom_trains_and_prints_the_comparison(capsys):
    assert cli.main(["reproduce", "custom", "--verbose", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["Epoch 1/3", lines[1]] and lines[1].startswith("32/32 ━")
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert lines[header].split()[:4] == ["run", "quantity", "document", "jaxloss"]
    rows = [line.split() for line in lines[header + 1 :]]
    assert [row[4] for row in rows] == ["0.8353", "0.8221", "0.8024"]
    ours = [float(row[5]) for row in rows]
    assert ours[2] < ours[0]  # the loss falls
    assert "best constant prediction" in lines[header + 1]
    assert [row[6] for row in rows[1:]] == ['"', '"']  # the same reason is not repeated


@pytest.mark.slow
def test_cli_all_runs_everything_and_ends_with_one_table(capsys):
    assert cli.main(["reproduce", "all", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    summary = out.split("== the document's training output and ours ==")[1].splitlines()[1:]
    assert summary[0].startswith("run ")
    assert {line.split()[0] for line in summary[1:]} == {"binary", "custom", "mnist", "l2"}
    assert "MNIST source:" in out and "Test accuracy:" in out
