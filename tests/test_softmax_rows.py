"""Softmax row statistics (jaxloss._src.softmax_rows) against a float64 log-sum-exp."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss._src import softmax_rows

F32_MAX = float(np.finfo(np.float32).max)

FORMS = {
    "two_pass": softmax_rows.two_pass_row_statistics,
    "one_pass": softmax_rows.one_pass_row_statistics,
    "per_platform": softmax_rows.row_max_and_log_sum_exp,
    "precise": softmax_rows.precise_row_statistics,
}

ROWS = np.array(
    [
        [2.0, 0.0, -1.0, 0.5, 3.0],
        [-F32_MAX, F32_MAX, 0.0, 1.0, -1.0],  # spans float32's whole range
        [F32_MAX, F32_MAX, 0.0, -F32_MAX, 5.0],  # tied at the maximum
        [20.0, 0.0, 0.0, 0.0, -3.0],  # one class dominates: L is tiny
        [1.0, 1.0, 1.0, 1.0, 1.0],  # fully masked below
        [-1e30, -2e30, -3e30, 4.0, -1e38],
    ],
    np.float32,
)
MASK = np.ones(ROWS.shape, bool)
MASK[0, 4] = MASK[5, 3] = False
MASK[4] = False


def _reference(rows, mask):
    """``(m, L)`` in float64 over the unmasked classes; (0, 0) for a fully masked row."""
    maxima, logs = [], []
    for row, kept in zip(np.asarray(rows, np.float64), mask):
        if not kept.any():
            maxima.append(0.0), logs.append(0.0)
            continue
        maximum = row[kept].max()
        maxima.append(maximum)
        logs.append(np.log(np.sum(np.exp(row[kept] - maximum))))
    return np.array(maxima)[:, None], np.array(logs)[:, None]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("masked", [False, True])
def test_statistics_match_float64(form, masked):
    mask = MASK if masked else np.ones(ROWS.shape, bool)
    row_max, log_sum_exp = jax.jit(FORMS[form], static_argnums=2)(
        jnp.asarray(ROWS), jnp.asarray(mask) if masked else None, 1
    )
    want_max, want_log = _reference(ROWS, mask)
    np.testing.assert_array_equal(row_max, want_max.astype(np.float32))
    # The default forms resolve L to ~1e-7 absolute; the precise form to float32's relative
    # precision, so the dominated row's L = 4 exp(-20) ~ 8e-9 is checked relatively there.
    atol = 0.0 if form == "precise" else 2e-7
    np.testing.assert_allclose(log_sum_exp, want_log, rtol=2e-6, atol=atol)


@pytest.mark.parametrize("form", FORMS)
def test_gradient_of_the_log_sum_exp_is_the_softmax(form):
    logits, mask = jnp.asarray(ROWS), jnp.asarray(MASK)

    def log_sum_exp(logits):
        row_max, log_sum_exp = FORMS[form](logits, mask, 1)
        return jnp.sum(jnp.where(MASK.any(axis=1, keepdims=True), row_max + log_sum_exp, 0.0))

    grad = jax.jit(jax.grad(log_sum_exp))(logits)
    row_max, log_sum_exp = FORMS[form](logits, mask, 1)
    softmax = softmax_rows.softmax_from_statistics(logits, mask, row_max, log_sum_exp)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[4], 0.0)  # the fully masked row
    np.testing.assert_array_equal(softmax[~MASK], 0.0)
    np.testing.assert_allclose(grad, softmax, rtol=1e-6, atol=1e-7)
    active = np.asarray(softmax_rows.active_rows(mask, 1))[:, 0]
    np.testing.assert_allclose(np.sum(softmax, axis=1), active.astype(np.float32), rtol=1e-6)


def test_the_class_axis_may_be_any_axis():
    logits = jnp.asarray(ROWS[:4])
    for form in FORMS.values():
        across, along = form(logits.T, None, 0), form(logits, None, 1)
        np.testing.assert_array_equal(across[0].T, along[0])
        np.testing.assert_allclose(across[1].T, along[1], rtol=1e-6)


def test_one_pass_statistics_of_empty_and_extreme_rows():
    logits = jnp.array([[-jnp.inf, -jnp.inf, -jnp.inf],
                        [-F32_MAX, F32_MAX, 0.0],
                        [1.0, 1.0, 1.0]], jnp.float32)
    weights = jnp.array([[0, 0, 0], [1, 1, 1], [1, 1, 1]], jnp.float32)
    row_max, log_sum_exp = softmax_rows.online_row_statistics(logits, weights, 1)
    np.testing.assert_array_equal(row_max, [0.0, F32_MAX, 1.0])
    np.testing.assert_allclose(log_sum_exp, [0.0, 0.0, np.log(3.0)], rtol=1e-7)


def test_half_gap_does_not_overflow():
    logits = jnp.array([[-F32_MAX, F32_MAX]], jnp.float32)
    half = softmax_rows.half_gap(logits, softmax_rows.row_max(logits, None, 1))
    np.testing.assert_allclose(half, [[-F32_MAX, 0.0]], rtol=1e-7)


@pytest.mark.parametrize("masked", [False, True])
def test_rest_of_the_row_matches_float64_to_relative_precision(masked):
    mask = MASK if masked else np.ones(ROWS.shape, bool)
    row_max, rest, log_sum_exp, inv_sum = jax.jit(
        softmax_rows.row_max_and_rest, static_argnums=2
    )(jnp.asarray(ROWS), jnp.asarray(mask) if masked else None, 1)
    want_max, want_log = _reference(ROWS, mask)
    want_rest = np.expm1(want_log)  # sum(exp(x - m)) - 1, in float64
    np.testing.assert_array_equal(row_max, want_max.astype(np.float32))
    # Relative precision also for the dominated row, whose rest is ~8e-9.
    np.testing.assert_allclose(rest, want_rest, rtol=2e-6)
    np.testing.assert_allclose(log_sum_exp, want_log, rtol=2e-6)
    np.testing.assert_allclose(inv_sum, 1 / (1 + want_rest), rtol=2e-6)


def test_finite_row_max_is_zero_for_rows_without_a_finite_maximum():
    logits = jnp.array([[-jnp.inf, -jnp.inf], [jnp.inf, 0.0], [jnp.nan, 1.0], [1.0, 2.0]])
    np.testing.assert_array_equal(
        softmax_rows.finite_row_max(logits, None, 1), [[0.0], [0.0], [0.0], [2.0]]
    )


def test_fused_two_pass_row_statistics_agree_with_the_two_pass_form():
    x = np.array([[1.0, 3.0, -2.0], [-np.inf, 0.5, 0.5], [0.0, 0.0, 0.0]], np.float32)
    mask = np.array([[True, True, False], [True, True, True], [False, False, False]])
    for m in (None, mask):
        want = softmax_rows.two_pass_row_statistics(jnp.asarray(x), m, axis=1)
        fused = softmax_rows.fused_two_pass_row_statistics(jnp.asarray(x), m, axis=1)
        got = softmax_rows.empty_rows_to_zero(*fused)
        rows = slice(None) if m is not None else slice(0, 2)  # row 2 unmasked is not empty
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g)[rows], np.asarray(w)[rows], rtol=1e-6)
    # A fully masked row: finite pair before settling, (0, 0) after.
    m, lse = softmax_rows.fused_two_pass_row_statistics(jnp.asarray(x), mask, axis=1)
    assert np.isfinite(m[2, 0]) and np.isfinite(lse[2, 0]) and lse[2, 0] < -40
    assert [float(v[2, 0]) for v in softmax_rows.empty_rows_to_zero(m, lse)] == [0.0, 0.0]
