"""The training reproductions behind `python -m jaxloss reproduce binary|custom|mnist|l2`."""

import math

import numpy as np
import pytest

from jaxloss import reproduce


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


def test_custom_run_reports_the_documents_three_epochs(capsys):
    rows = reproduce.run_custom(reproduce.Options(verbose=0))
    assert [row.document for row in rows] == [0.8353, 0.8221, 0.8024]
    assert rows[-1].ours < rows[0].ours  # the loss falls
    table = reproduce.format_table(rows)
    assert table.splitlines()[0].split()[:4] == ["run", "quantity", "document", "jaxloss"]
    assert "0.8024" in table and "best constant prediction" in table
