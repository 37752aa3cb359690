"""Distillation losses (forward KL, reverse KL, generalised JSD) against float64 formulas."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import log_softmax

from jaxloss import (
    distillation_loss,
    jensen_shannon_distillation_loss,
    losses,
    reverse_distillation_loss,
)
from jaxloss.train import objectives

LOSSES = {
    "forward": distillation_loss,
    "reverse": reverse_distillation_loss,
    "jsd": jensen_shannon_distillation_loss,
}


def _log_p(logits, temperature):
    with np.errstate(invalid="ignore"):
        return log_softmax(np.float64(logits) / temperature, axis=-1)


def _kl(log_a, log_b):
    """sum a (log a - log b), with 0 log 0 = 0."""
    a = np.exp(log_a)
    with np.errstate(invalid="ignore"):
        terms = np.where(a > 0, a * (log_a - log_b), 0.0)
    return terms.sum(-1)


def _reference(name, student, teacher, temperature, beta=0.5):
    log_q, log_p = _log_p(student, temperature), _log_p(teacher, temperature)
    if name == "forward":
        loss = _kl(log_p, log_q)
    elif name == "reverse":
        loss = _kl(log_q, log_p)
    else:
        with np.errstate(divide="ignore"):
            log_m = np.logaddexp(np.log(beta) + log_p, np.log1p(-beta) + log_q)
        loss = beta * _kl(log_p, log_m) + (1 - beta) * _kl(log_q, log_m)
    return temperature**2 * loss


def _numeric_grads(name, student, teacher, temperature, beta=0.5, step=1e-6):
    """Central differences of the summed float64 reference, in both arguments."""
    grads = []
    for argument in (0, 1):
        args = [np.float64(student), np.float64(teacher)]
        grad = np.zeros_like(args[argument])
        for index in np.ndindex(grad.shape):
            up = [a.copy() for a in args]
            down = [a.copy() for a in args]
            up[argument][index] += step
            down[argument][index] -= step
            grad[index] = (
                _reference(name, *up, temperature, beta).sum()
                - _reference(name, *down, temperature, beta).sum()
            ) / (2 * step)
        grads.append(grad)
    return grads


def _all_losses(student, teacher, temperature=1.0, beta=0.5, axis=-1, where=None):
    """Each loss and its gradients in both arguments, in one compilation (the temperature
    and beta traced: one for all their values; every argument passed, so that jit's cache
    sees one signature)."""
    return _compiled_losses(student, teacher, temperature, beta, axis, where)


@functools.partial(jax.jit, static_argnums=4)
def _compiled_losses(student, teacher, temperature, beta, axis, where):
    out = {}
    for name, fn in LOSSES.items():
        bound = functools.partial(fn, temperature=temperature, axis=axis, where=where)
        if name == "jsd":
            bound = functools.partial(bound, beta=beta)
        grads = jax.grad(lambda s, t, bound=bound: jnp.sum(bound(s, t)), argnums=(0, 1))(
            student, teacher
        )
        out[name] = (bound(student, teacher), grads)
    return out


def _logits(scale=2.0, shape=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=scale, size=(2, *shape))).astype(np.float32)


@pytest.mark.parametrize(("temperature", "beta"), [(1.0, 0.5), (2.0, 0.9), (0.5, 0.1)])
def test_values_and_gradients_match_float64(temperature, beta):
    student, teacher = _logits()
    out = _all_losses(student, teacher, temperature=temperature, beta=beta)
    for name in LOSSES:
        loss, (d_student, d_teacher) = out[name]
        want = _reference(name, student, teacher, temperature, beta)
        np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6, err_msg=name)
        want_student, want_teacher = _numeric_grads(name, student, teacher, temperature, beta)
        np.testing.assert_allclose(d_student, want_student, rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(d_teacher, want_teacher, rtol=1e-4, atol=1e-5, err_msg=name)
    # The closed form of the forward KL's gradient in the student's logits: T (q - p).
    p = np.exp(_log_p(teacher, temperature))
    q = np.exp(_log_p(student, temperature))
    np.testing.assert_allclose(out["forward"][1][0], temperature * (q - p), rtol=1e-5, atol=1e-7)


def test_temperature_one_equals_the_kl_divergence_of_the_softmaxes():
    """optax's KL with log-targets on log-softmaxes, and the float64 sum, at T = 1."""
    student, teacher = _logits()
    loss = _all_losses(student, teacher)["forward"][0]
    direct = jax.jit(
        lambda s, t: optax.losses.kl_divergence_with_log_targets(
            jax.nn.log_softmax(s), jax.nn.log_softmax(t)
        )
    )(student, teacher)
    np.testing.assert_allclose(loss, direct, rtol=1e-5, atol=1e-7)
    p = np.exp(_log_p(teacher, 1.0))
    q = np.exp(_log_p(student, 1.0))
    np.testing.assert_allclose(loss, np.sum(p * np.log(p / q), -1), rtol=1e-5, atol=1e-7)


def test_jensen_shannon_is_symmetric_at_one_half_and_bounded_by_log_2():
    student, teacher = _logits(scale=30.0)
    forward = _all_losses(student, teacher)["jsd"][0]
    swapped = _all_losses(teacher, student)["jsd"][0]
    np.testing.assert_allclose(forward, swapped, rtol=1e-5)
    assert np.all(np.asarray(forward) <= np.log(2.0) + 1e-6)
    assert np.all(np.asarray(forward) > 0)


def test_low_temperature_and_large_logits_give_finite_gradients():
    """T = 0.01 turns logits of +-1e3 into +-1e5: loss within float32 of the float64 value,
    gradients finite in both arguments."""
    student, teacher = _logits(scale=1e3)
    out = _all_losses(student, teacher, temperature=0.01)
    for name in LOSSES:
        loss, grads = out[name]
        want = _reference(name, student, teacher, 0.01)
        scale = 16 * np.finfo(np.float32).eps * 0.01 * np.abs(np.stack([student, teacher])).max()
        np.testing.assert_allclose(loss, want, rtol=1e-5, atol=scale, err_msg=name)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), name


def test_minus_infinity_logits_are_classes_of_probability_zero():
    """A -inf teacher logit adds nothing to the forward KL (0 log 0) and makes the reverse KL
    inf where the student gives that class mass; the JSD stays finite; -inf in both at one
    class is that class sliced away; gradients finite wherever the loss is."""
    student, teacher = _logits()
    teacher_zero = teacher.copy()
    teacher_zero[:, 2] = -np.inf
    out = _all_losses(student, teacher_zero)
    for name in ("forward", "jsd"):
        loss, grads = out[name]
        np.testing.assert_allclose(
            loss, _reference(name, student, teacher_zero, 1.0), rtol=1e-5, atol=1e-6
        )
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), name
        assert np.all(np.asarray(grads[1])[:, 2] == 0)
    assert np.all(np.asarray(out["reverse"][0]) == np.inf)

    both = student.copy()
    both[:, 2] = -np.inf
    out = _all_losses(both, teacher_zero)
    kept = [0, 1, 3, 4]
    for name in LOSSES:
        sliced = [a[:, kept] for a in (student, teacher)]
        np.testing.assert_allclose(
            out[name][0], _reference(name, *sliced, 1.0), rtol=1e-5, atol=1e-6
        )
        d_student, d_teacher = out[name][1]
        for grad, want in zip((d_student, d_teacher), _numeric_grads(name, *sliced, 1.0)):
            np.testing.assert_allclose(np.asarray(grad)[:, kept], want, rtol=1e-4, atol=1e-5)
            assert np.all(np.asarray(grad)[:, 2] == 0)


def test_where_equals_slicing_and_drops_examples():
    """Masked classes are sliced away (values and gradients against the float64 formula on
    the sliced logits); a [..., 1]-style mask gives whole examples loss 0 and gradient 0."""
    student, teacher = _logits()
    classes = np.array([True, True, False, True, False])
    rows = np.array([[True], [False], [True], [False]])
    mask = np.broadcast_to(classes, student.shape) & rows
    out = _all_losses(student, teacher, where=mask)
    full = _all_losses(student, teacher)
    sliced = [a[:, classes] for a in (student, teacher)]
    for name in LOSSES:
        loss = np.asarray(out[name][0])
        want = np.where(rows[:, 0], _reference(name, *sliced, 1.0), 0.0)
        np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6)
        for grad, want in zip(out[name][1], _numeric_grads(name, *sliced, 1.0)):
            grad = np.asarray(grad)
            np.testing.assert_allclose(grad[rows[:, 0]][:, classes], want[rows[:, 0]],
                                       rtol=1e-4, atol=1e-5)
            assert np.all(grad[:, ~classes] == 0) and np.all(grad[~rows[:, 0]] == 0)
        assert np.all(np.asarray(full[name][0])[~rows[:, 0]] > 0)


def test_rows_without_a_distribution_give_nan_and_masked_rows_zero():
    student, teacher = _logits()
    teacher[1] = -np.inf  # the teacher has no distribution in row 1
    student[2] = -np.inf  # nor the student in row 2
    student[3, 0] = np.nan
    out = _all_losses(student, teacher)
    for name in LOSSES:
        loss = np.asarray(out[name][0])
        assert np.isnan(loss[1:]).all() and np.isfinite(loss[0]), (name, loss)
    mask = np.broadcast_to(np.array([[True], [False], [False], [True]]), student.shape)
    masked = np.asarray(_all_losses(student, teacher, where=mask)["forward"][0])
    assert masked[1] == 0 and masked[2] == 0 and np.isnan(masked[3])


@jax.jit
def _axis_vmap_and_half(student, teacher):
    half = [a.astype(jnp.bfloat16) for a in (student, teacher)]
    return {
        name: (
            fn(student.T, teacher.T, axis=0),
            jax.vmap(fn)(jnp.stack([student, student[::-1]]), jnp.stack([teacher, teacher[::-1]])),
            fn(*half),
            fn(*(h.astype(jnp.float32) for h in half)),
        )
        for name, fn in LOSSES.items()
    }


def test_axis_vmap_and_half_precision():
    student, teacher = _logits()
    out = _all_losses(student, teacher)
    mapped = _axis_vmap_and_half(student, teacher)
    for name in LOSSES:
        transposed, stacked, half, upcast = mapped[name]
        np.testing.assert_allclose(transposed, out[name][0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(stacked[0], out[name][0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(
            stacked[1], np.asarray(out[name][0])[::-1], rtol=1e-6, atol=1e-7
        )
        assert half.dtype == jnp.float32
        np.testing.assert_allclose(half, upcast, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize(
    ("kwargs", "change", "match"),
    [
        ({}, lambda s, t: (s, t[:, :3]), r"student_logits.shape=\(4, 5\) and teacher_logits.shape"),
        ({}, lambda s, t: (s.astype(np.int32), t), "`student_logits` must have a floating"),
        ({}, lambda s, t: (s, t.astype(np.int32)), "`teacher_logits` must have a floating"),
        ({"temperature": 0.0}, None, r"`temperature` must lie in \(0.0, inf\]"),
        ({"axis": 2}, None, "`axis`=2 is out of range"),
        ({"where": np.ones((4, 2), bool)}, None, r"`where` of shape \(4, 2\)"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(name, kwargs, change, match):
    student, teacher = _logits()
    if change is not None:
        student, teacher = change(student, teacher)
    with pytest.raises(ValueError, match=match):
        LOSSES[name](student, teacher, **kwargs)


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5, float("nan")])
def test_jensen_shannon_beta_outside_the_open_unit_interval_raises(beta):
    student, teacher = _logits()
    with pytest.raises(ValueError, match=r"`beta` must lie in \(0.0, 1.0\)"):
        jensen_shannon_distillation_loss(student, teacher, beta=beta)


# ------------------------------------------------------------------ Keras layer


def test_keras_class_function_form_and_training_loss():
    """y_true the teacher's logits, y_pred the student's; the mean of the per-example loss;
    found by name, serialised, and accepted by the training loop's compile."""
    student, teacher = _logits()
    loss = losses.Distillation(temperature=2.0)
    want = _reference("forward", student, teacher, 2.0)

    @jax.jit
    def both_forms(t, s):
        value, grad = jax.value_and_grad(lambda t, s: loss(t, s), argnums=(0, 1))(t, s)
        return value, grad, losses.distillation(t, s, temperature=2.0)

    value, grad, per_example = both_forms(teacher, student)
    np.testing.assert_allclose(value, want.mean(), rtol=1e-5)
    np.testing.assert_allclose(per_example, want, rtol=1e-5)
    assert np.all(np.asarray(grad[0]) == 0)  # the teacher is held constant
    assert np.all(np.isfinite(np.asarray(grad[1]))) and np.any(np.asarray(grad[1]) != 0)
    assert losses.get("distillation") is losses.distillation
    restored = losses.deserialize(losses.serialize(loss))
    assert isinstance(restored, losses.Distillation) and restored.temperature == 2.0
    assert isinstance(objectives.resolve_loss("Distillation"), losses.Distillation)
