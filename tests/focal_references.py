"""Float64 NumPy references of the focal losses, written from their formulas, and the
helpers the focal test files share."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0]
F32_MAX = float(np.finfo(np.float32).max)
BIG = float(np.float32(3e38))


# ------------------------------------------------------------------ float64 references


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def sigmoid_focal_reference(logits, labels, alpha, gamma):
    """loss = alpha_t (1-p_t)^gamma ce and d loss/d z, in float64 log space.

    ce = y softplus(-z) + (1-y) softplus(z); 1-p_t = y sigmoid(-z) + (1-y) sigmoid(z);
    d/dz = alpha_t [gamma (1-p_t)^(gamma-1) (1-2y) sigmoid(z) sigmoid(-z) ce
                    + (1-p_t)^gamma ((1-y) sigmoid(z) - y sigmoid(-z))].
    Also returns the sum of the absolute values of the gradient's terms (its scale, for
    soft labels where the terms cancel).
    """
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ls_pos, ls_neg = _log_sigmoid(z), _log_sigmoid(-z)
        ce = y * -ls_pos + (1 - y) * -ls_neg
        log_q = np.logaddexp(np.log(y) + ls_neg, np.log1p(-y) + ls_pos)
        alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
        weight = np.exp(gamma * log_q)
        loss = alpha_t * weight * ce
        # (1-p_t)^(gamma-1) sigmoid(z) sigmoid(-z), formed in log space.
        focal = gamma * (1 - 2 * y) * np.exp((gamma - 1) * log_q + ls_pos + ls_neg) * ce
        plain_pos = (1 - y) * np.exp(ls_pos)
        plain_neg = y * np.exp(ls_neg)
        grad = alpha_t * (focal + weight * (plain_pos - plain_neg))
        scale = alpha_t * (np.abs(focal) + weight * (plain_pos + plain_neg))
    return loss, grad, scale


def softmax_focal_reference(logits, labels, alpha, gamma):
    """loss = -sum_c alpha_c y_c (1-p_c)^gamma log p_c and d loss/d z, in float64.

    d/dz_j = g_j (1-p_j) - p_j sum_{c!=j} g_c with g_c = alpha_c y_c f'(p_c) p_c,
    f'(p) p = (1-p)^gamma (gamma p log p / (1-p) - 1). 1-p_c is a leave-one-out sum.
    """
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    num_classes = z.shape[-1]
    z = z - z.max(-1, keepdims=True)
    log_norm = logsumexp(z, axis=-1, keepdims=True)
    log_p = z - log_norm
    p = np.exp(log_p)
    log_u = (
        np.stack([logsumexp(np.delete(z, c, axis=-1), axis=-1) for c in range(num_classes)], -1)
        - log_norm
    )
    u = np.exp(log_u)
    beta = (1.0 if alpha is None else np.asarray(alpha, np.float64)) * y
    weight = np.exp(gamma * log_u)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = -np.sum(np.where(beta == 0, 0.0, beta * weight * log_p), -1)
        ratio = np.where(u > 0, p * np.where(p > 0, log_p, 0.0) / u, -1.0)
    g = beta * weight * (gamma * ratio - 1)
    others = np.sum(g, -1, keepdims=True) - g  # exact for one-hot labels
    return loss, g * u - p * others


def close(got, want, rtol, scale=None):
    """|got - want| <= rtol * max(|want|, scale) wherever want is representable in float32."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    bound = np.abs(want) if scale is None else np.maximum(np.abs(want), scale)
    ok = np.abs(got - want) <= rtol * bound + 1e-36
    representable = np.isfinite(want) & (np.abs(want) <= F32_MAX)
    bad = ~ok & representable
    assert not bad.any(), (got[bad][:5], want[bad][:5])


def loss_and_grad(fn):
    """jit of (per-example loss, gradient of its sum with respect to the first argument)."""
    return jax.jit(lambda z, *args: (fn(z, *args), jax.grad(lambda w: jnp.sum(fn(w, *args)))(z)))


_COMPILED = {}


def compiled_loss_and_grad(loss, **hyperparameters):
    """:func:`loss_and_grad` compiled once per loss and hyperparameters (hypothesis sweeps)."""
    key = (loss.__name__, tuple(sorted(hyperparameters.items())))
    if key not in _COMPILED:
        _COMPILED[key] = loss_and_grad(lambda z, y: loss(z, y, **hyperparameters))
    return _COMPILED[key]


def one_hot(labels, num_classes):
    return np.eye(num_classes, dtype=np.float32)[labels]
