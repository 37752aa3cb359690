"""Parity of every jaxloss.losses class with Keras 3 (JAX backend), all reductions and weights."""

import keras
import numpy as np
import pytest
from losses_cases import CROSSENTROPY_CASES, FOCAL_CASES, REGRESSION_CASES, sample_weight

from jaxloss import losses

RTOL, ATOL = 1e-5, 1e-6


def _params(cases):
    for case in cases:
        for shape, kinds in case.layouts:
            for kind in kinds:
                yield pytest.param(case, shape, kind, id=f"{case.id}-{shape}-{kind}")


def assert_parity(case, shape, kind, seed=0):
    """Compare jaxloss with Keras for one input and weight layout, over every reduction."""
    rng = np.random.default_rng(seed)
    y_true, y_pred = case.make(rng, *shape)
    weight = sample_weight(kind, rng, np.shape(y_pred))
    for reduction in case.reductions:
        expected = getattr(keras.losses, case.name)(reduction=reduction, **case.kwargs)(
            y_true, y_pred, sample_weight=weight
        )
        actual = getattr(losses, case.name)(reduction=reduction, **case.kwargs)(
            y_true, y_pred, sample_weight=weight
        )
        expected, actual = np.asarray(expected), np.asarray(actual)
        assert actual.shape == expected.shape, reduction
        assert actual.dtype == expected.dtype, reduction
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=str(reduction))


@pytest.mark.standard_promotion
@pytest.mark.parametrize(("case", "shape", "kind"), list(_params(REGRESSION_CASES)))
def test_parity_regression_hinge_divergence_segmentation(case, shape, kind):
    assert_parity(case, shape, kind)


@pytest.mark.standard_promotion
@pytest.mark.parametrize(("case", "shape", "kind"), list(_params(CROSSENTROPY_CASES)))
def test_parity_crossentropy(case, shape, kind):
    assert_parity(case, shape, kind)


@pytest.mark.standard_promotion
@pytest.mark.parametrize(("case", "shape", "kind"), list(_params(FOCAL_CASES)))
def test_parity_focal(case, shape, kind):
    assert_parity(case, shape, kind)
