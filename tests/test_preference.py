"""DPO, IPO, SimPO and sequence log-probabilities against float64 formulas and TRL's numbers."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import print_saved_residuals
from scipy.special import log_softmax

from jaxloss import dpo_loss, dpo_rewards, ipo_loss, sequence_log_probs, simpo_loss

# Four log-probabilities per pair (policy chosen, policy rejected, reference chosen, reference
# rejected), with margins h = 2, -1, 0.25, -10, 10.5, -2; the fourth pair near -1e4.
PC = np.array([-10.0, -3.5, -120.25, -1e4, -0.5, -7.0], np.float32)
PR = np.array([-12.0, -2.0, -118.0, -9990.0, -40.0, -7.0], np.float32)
RC = np.array([-11.0, -3.0, -119.5, -1e4 + 5, -1.0, -6.0], np.float32)
RR = np.array([-11.0, -2.5, -117.0, -9995.0, -30.0, -8.0], np.float32)
PAIRS = (PC, PR, RC, RR)

# TRL's DPOTrainer.dpo_loss per pair (before its batch mean), loss_type "sigmoid" and "ipo",
# on the pairs above: its formulas run in PyTorch 2.13 in float64.
TRL = {
    ("sigmoid", 0.1, 0.0): [0.5981388693815918, 0.7443966600735709, 0.6807253035255248,
                            1.3132616875182228, 0.3000584796176432, 0.7981388693815918],
    ("sigmoid", 0.5, 0.2): [0.5132616875182229, 0.8740769841801067, 0.6575990353171691,
                            4.006715348489118, 1.0552337981517432, 1.1132616875182229],
    ("ipo", 0.1, None): [9.0, 36.0, 22.5625, 225.0, 30.25, 49.0],
    ("ipo", 0.5, None): [1.0, 4.0, 0.5625, 121.0, 90.25, 9.0],
}


def _softplus(x):
    return np.logaddexp(0.0, x)


def _margin(pc, pr, rc, rr):
    pc, pr, rc, rr = (np.asarray(a, np.float64) for a in (pc, pr, rc, rr))
    return (pc - rc) - (pr - rr)


def _dpo(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0):
    h = beta * _margin(pc, pr, rc, rr)
    return (1 - label_smoothing) * _softplus(-h) + label_smoothing * _softplus(h)


def _ipo(pc, pr, rc, rr, beta=0.1):
    return (_margin(pc, pr, rc, rr) - 1 / (2 * beta)) ** 2


def _simpo(c, r, beta=2.0, gamma=0.5):
    return _softplus(gamma - beta * (np.float64(c) - np.float64(r)))


def _sigmoid(x):
    return np.exp(-_softplus(-x))


@jax.jit
def _values_and_grads(pc, pr, rc, rr):
    """Every loss and option of the tests in one compilation: values and the gradients in the
    four log-probabilities."""
    fns = {
        "dpo": dpo_loss,
        "dpo_smoothed": functools.partial(dpo_loss, beta=0.5, label_smoothing=0.2),
        "ipo": ipo_loss,
        "ipo_half": functools.partial(ipo_loss, beta=0.5),
        "simpo": lambda pc, pr, rc, rr: simpo_loss(pc, pr),
        "simpo_margin": lambda pc, pr, rc, rr: simpo_loss(pc, pr, beta=1.5, gamma=2.0),
    }
    out = {}
    for name, fn in fns.items():
        # Elementwise losses: the gradient of the sum is each pair's own gradient.
        total = lambda *args, fn=fn: jnp.sum(fn(*args))  # noqa: E731
        grads = jax.grad(total, argnums=(0, 1, 2, 3))(pc, pr, rc, rr)
        out[name] = (fn(pc, pr, rc, rr), grads)
    return out


def test_dpo_and_ipo_match_trl_and_the_float64_formula_with_gradients():
    out = _values_and_grads(*PAIRS)
    h = _margin(*PAIRS)
    np.testing.assert_allclose(out["dpo"][0], TRL[("sigmoid", 0.1, 0.0)], rtol=1e-6)
    np.testing.assert_allclose(out["dpo_smoothed"][0], TRL[("sigmoid", 0.5, 0.2)], rtol=1e-6)
    np.testing.assert_allclose(out["ipo"][0], TRL[("ipo", 0.1, None)], rtol=1e-6)
    np.testing.assert_allclose(out["ipo_half"][0], TRL[("ipo", 0.5, None)], rtol=1e-6)
    np.testing.assert_allclose(out["dpo"][0], _dpo(*PAIRS), rtol=1e-6)
    # d/dh, then the signs of h = (pc - rc) - (pr - rr).
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    for name, beta, eps in (("dpo", 0.1, 0.0), ("dpo_smoothed", 0.5, 0.2)):
        dh = beta * (_sigmoid(beta * h) - (1 - eps))
        for grad, sign in zip(out[name][1], signs):
            np.testing.assert_allclose(grad, sign * dh, rtol=1e-5, atol=1e-7)
    for name, beta in (("ipo", 0.1), ("ipo_half", 0.5)):
        dh = 2 * (h - 1 / (2 * beta))
        for grad, sign in zip(out[name][1], signs):
            np.testing.assert_allclose(grad, sign * dh, rtol=1e-5, atol=1e-4)


def test_simpo_matches_the_float64_formula_with_gradients():
    out = _values_and_grads(*PAIRS)
    for name, beta, gamma in (("simpo", 2.0, 0.5), ("simpo_margin", 1.5, 2.0)):
        loss, (d_chosen, d_rejected, d_rc, d_rr) = out[name]
        np.testing.assert_allclose(loss, _simpo(PC, PR, beta, gamma), rtol=1e-6)
        z = gamma - beta * (np.float64(PC) - np.float64(PR))
        np.testing.assert_allclose(d_chosen, -beta * _sigmoid(z), rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose(d_rejected, beta * _sigmoid(z), rtol=1e-5, atol=1e-30)
        assert np.all(d_rc == 0) and np.all(d_rr == 0)


def test_label_smoothing_one_half_is_symmetric_in_the_margin_and_smallest_at_zero():
    margins = np.array([-50.0, -3.0, -0.5, 0.0, 0.5, 3.0, 50.0], np.float32)
    zeros = np.zeros_like(margins)
    loss = jax.jit(functools.partial(dpo_loss, beta=0.3, label_smoothing=0.5))
    forward = np.asarray(loss(margins, zeros, zeros, zeros))
    backward = np.asarray(loss(-margins, zeros, zeros, zeros))
    np.testing.assert_allclose(forward, backward, rtol=1e-6)
    np.testing.assert_allclose(forward[3], np.log(2.0), rtol=1e-6)
    assert np.all(forward[margins != 0] > forward[3])
    np.testing.assert_allclose(forward, _dpo(margins, zeros, zeros, zeros, 0.3, 0.5), rtol=1e-6)


def test_dpo_rewards_are_the_implicit_rewards_of_the_loss():
    chosen, rejected = jax.jit(functools.partial(dpo_rewards, beta=0.5))(*PAIRS)
    np.testing.assert_allclose(chosen, 0.5 * (np.float64(PC) - np.float64(RC)), rtol=1e-6)
    np.testing.assert_allclose(rejected, 0.5 * (np.float64(PR) - np.float64(RR)), rtol=1e-6)
    np.testing.assert_allclose(
        dpo_loss(*PAIRS, beta=0.5), _softplus(np.float64(rejected) - chosen), rtol=1e-6
    )


def test_extreme_margins_give_the_exact_loss_and_finite_gradients():
    """Log-probabilities of -1e4 against 0 either way, and a margin at float32's edge."""
    pc = np.array([0.0, -1e4, 1.5e38, 0.0, -1e4, 1.5e38], np.float32)
    pr = np.array([-1e4, 0.0, -1.5e38, -1e4, 0.0, -1.5e38], np.float32)
    zeros = np.zeros(6, np.float32)
    out = _values_and_grads(pc, pr, zeros, zeros)
    for name in ("dpo", "dpo_smoothed", "simpo"):
        assert np.all(np.isfinite(np.asarray(out[name][1]))), (name, out[name][1])
    np.testing.assert_allclose(out["dpo"][0], _dpo(pc, pr, zeros, zeros), rtol=1e-6)
    np.testing.assert_allclose(
        out["dpo_smoothed"][0], _dpo(pc, pr, zeros, zeros, 0.5, 0.2), rtol=1e-6
    )
    np.testing.assert_allclose(out["ipo"][0][:2], _ipo(pc, pr, zeros, zeros)[:2], rtol=1e-6)


@jax.jit
def _mapped_and_half(pc, pr, rc, rr, spoiled):
    stacked = [jnp.stack([a, a[::-1]]) for a in (pc, pr, rc, rr)]
    half = [a.astype(jnp.bfloat16) for a in (pc, pr, rc, rr)]
    return {
        "mapped": jax.vmap(dpo_loss)(*stacked),
        "reversed": dpo_loss(*(a[::-1] for a in (pc, pr, rc, rr))),
        "half": (dpo_loss(*half), ipo_loss(*half), simpo_loss(half[0], half[1])),
        "upcast": (
            dpo_loss(*(h.astype(jnp.float32) for h in half)),
            ipo_loss(*(h.astype(jnp.float32) for h in half)),
            simpo_loss(half[0].astype(jnp.float32), half[1].astype(jnp.float32)),
        ),
        "spoiled": dpo_loss(spoiled, pr, rc, rr),
    }


def test_vmap_half_precision_and_nan():
    spoiled = PC.copy()
    spoiled[2] = np.nan
    out = _mapped_and_half(*PAIRS, spoiled)
    np.testing.assert_allclose(out["mapped"][0], _dpo(*PAIRS), rtol=1e-6)
    np.testing.assert_allclose(out["mapped"][1], out["reversed"], rtol=1e-6)
    for half, upcast in zip(out["half"], out["upcast"]):
        assert half.dtype == jnp.float32
        np.testing.assert_allclose(half, upcast, rtol=1e-6)
    loss = np.asarray(out["spoiled"])
    assert np.isnan(loss[2]) and np.isfinite(np.delete(loss, 2)).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: dpo_loss(PC, PR[:3], RC, RR),
         re.escape("policy_chosen_logps.shape=(6,) and policy_rejected_logps.shape=(3,)")),
        (lambda: dpo_loss(PC, PR, RC, RR[:, None]), "reference_rejected_logps.shape=\\(6, 1\\)"),
        (lambda: ipo_loss(PC.astype(np.int32), PR, RC, RR),
         "`policy_chosen_logps` must have a floating-point dtype"),
        (lambda: dpo_loss(*PAIRS, beta=0.0), r"`beta` must lie in \(0.0, inf\]"),
        (lambda: dpo_loss(*PAIRS, label_smoothing=0.6),
         r"`label_smoothing` must lie in \[0.0, 0.5\]"),
        (lambda: ipo_loss(*PAIRS, beta=-1.0), "`beta`"),
        (lambda: simpo_loss(PC, PR, gamma=-0.5), "`gamma`"),
        (lambda: simpo_loss(PC, PR[:2]), "policy_rejected_logps.shape=\\(2,\\)"),
        (lambda: dpo_rewards(*PAIRS, beta=float("nan")), "`beta`"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ sequence log-probs

B, T, V = 3, 5, 7


def _sequences():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(B, T, V)).astype(np.float32)
    labels = rng.integers(0, V, (B, T)).astype(np.int32)
    tokens = np.arange(T)[None, :] < np.array([[5], [3], [1]])  # lengths 5, 3, 1
    return logits, labels, tokens


def _ref_sequence_log_probs(logits, labels, tokens=None, average=False):
    log_probs = np.take_along_axis(log_softmax(np.float64(logits), -1), labels[..., None], -1)
    log_probs = log_probs[..., 0]
    tokens = np.ones(labels.shape, bool) if tokens is None else tokens
    total = np.sum(np.where(tokens, log_probs, 0.0), -1)
    return total / np.maximum(tokens.sum(-1), 1) if average else total


@functools.partial(jax.jit, static_argnames="average")
def _sequence_value_and_grad(logits, labels, tokens, average):
    def total(x):
        return jnp.sum(sequence_log_probs(x, labels, where=tokens, average=average))

    return sequence_log_probs(logits, labels, where=tokens, average=average), jax.grad(total)(
        logits
    )


@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs_values_and_gradients(average):
    logits, labels, tokens = _sequences()
    padded = np.where(tokens, labels, -100)  # a padding label, never read where masked
    value, grad = _sequence_value_and_grad(logits, padded, tokens, average)
    np.testing.assert_allclose(
        value, _ref_sequence_log_probs(logits, labels, tokens, average), rtol=1e-5
    )
    probs = np.exp(log_softmax(np.float64(logits), -1))
    want = (np.eye(V)[labels] - probs) * tokens[..., None]
    if average:
        want = want / tokens.sum(-1)[:, None, None]
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
    unmasked = jax.jit(sequence_log_probs, static_argnames="average")(
        logits, labels, average=average
    )
    np.testing.assert_allclose(unmasked, _ref_sequence_log_probs(logits, labels, None, average),
                               rtol=1e-5)


def test_sequence_log_probs_where_equals_slicing_and_empty_sequences_give_zero():
    logits, labels, tokens = _sequences()
    compiled = jax.jit(sequence_log_probs, static_argnames="average")
    masked = compiled(logits, labels, where=tokens)
    for row, length in enumerate((5, 3, 1)):
        sliced = compiled(logits[row : row + 1, :length], labels[row : row + 1, :length])
        np.testing.assert_allclose(masked[row], sliced[0], rtol=1e-6)
    empty = np.zeros((B, T), bool)
    assert np.all(np.asarray(compiled(logits, labels, where=empty, average=True)) == 0)


def test_sequence_log_probs_at_extreme_logits_and_bad_labels():
    logits, labels, tokens = _sequences()
    extreme = logits * np.float32(1e29)  # rows spanning +-1e30
    value, grad = _sequence_value_and_grad(extreme, labels, tokens, False)
    np.testing.assert_allclose(value, _ref_sequence_log_probs(extreme, labels, tokens), rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(grad)))
    bad = labels.copy()
    bad[1, 0] = V  # a counted token's label out of range spoils only its sequence
    out = np.asarray(_sequence_value_and_grad(logits, bad, tokens, False)[0])
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    half = jax.eval_shape(sequence_log_probs, logits.astype(jnp.bfloat16), labels)
    assert half.dtype == jnp.float32


def test_dpo_of_sequence_log_probs_has_finite_gradients_and_keeps_no_log_softmax(capsys):
    """End to end: DPO of the policy's sequences against a frozen reference, differentiated
    with respect to the policy's logits. The backward pass saves the logits themselves and
    per-token statistics: no [B, T, V] log-softmax among the residuals."""
    logits, labels, tokens = _sequences()
    reference = _ref_sequence_log_probs(logits[::-1], labels, tokens).astype(np.float32)

    def loss(policy):
        log_probs = sequence_log_probs(policy, labels, where=tokens)
        return jnp.sum(dpo_loss(log_probs[:2], log_probs[1:], reference[:2], reference[1:]))

    grad = np.asarray(jax.jit(jax.grad(loss))(logits))
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    assert np.all(grad[~tokens] == 0)
    print_saved_residuals(loss, jnp.asarray(logits))
    full = [line for line in capsys.readouterr().out.splitlines() if f"[{B},{T},{V}]" in line]
    assert len(full) == 1 and "from the argument" in full[0], full


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, y, m: sequence_log_probs(x[0, 0], y[0, 0]), r"token and a class axis"),
        (lambda x, y, m: sequence_log_probs(x, y[:, :2]), r"labels.shape=\(3, 2\)"),
        (lambda x, y, m: sequence_log_probs(x, y.astype(np.float32)), "integer"),
        (lambda x, y, m: sequence_log_probs(x.astype(np.int32), y), "`logits` must have a float"),
        (lambda x, y, m: sequence_log_probs(x, y, where=m[:, :2]), "`where` of shape \\(3, 2\\)"),
        (lambda x, y, m: sequence_log_probs(x, y, where=m.astype(np.int32)), "boolean"),
        (lambda x, y, m: sequence_log_probs(x, y, average=1), "`average` must be a bool"),
    ],
)
def test_sequence_log_probs_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(*_sequences())
