"""The gradient filter of jaxloss.fused_linear_cross_entropy: the loss unchanged, the gradients
within the documented bound of float64 ones, labels always counted, and its input rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import fused_linear_cross_entropy, fused_linear_cross_entropy_sharded
from jaxloss._src import fused

HEAD = 64  # the columns most labels come from: the other tiles can hold no label
EPS = 2**-6


@pytest.fixture(autouse=True)
def float32_products():
    """float32-exact products on a GPU too (the default on a CPU)."""
    with jax.default_matmul_precision("highest"):
        yield


def peaked_inputs(seed=0, num_tokens=40, hidden_dim=64, vocab_size=301, scale=10.0):
    """Hidden states pointing at one column each, so that each softmax is concentrated there.
    Most tokens point at their label in the first ``HEAD`` columns; four point at a head
    column other than their label, a tail column of small probability in the last tile
    (``[237, 301)`` with chunks of 64), which would be skippable but for those labels."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(hidden_dim, vocab_size)) / np.sqrt(hidden_dim)
    labels = rng.integers(0, HEAD, size=num_tokens)
    target = labels.copy()
    labels[:4] = [250, 262, 280, 300]
    h = scale * w[:, target].T + 0.3 * rng.normal(size=(num_tokens, hidden_dim))
    b = 0.1 * rng.normal(size=(vocab_size,))
    return (jnp.asarray(h, jnp.float32), jnp.asarray(w, jnp.float32),
            jnp.asarray(b, jnp.float32), jnp.asarray(labels, jnp.int32))


def float64_grads(h, w, b, y, *, z_loss=0.0, logit_soft_cap=None):
    """The mean loss's exact gradients, the logits' gradient ``d_z`` and each token's
    logsumexp cotangent ``g_n`` (float64)."""
    h, w, b = (np.asarray(x, np.float64) for x in (h, w, b))
    y = np.asarray(y)
    r = h @ w + b
    z = r if logit_soft_cap is None else logit_soft_cap * np.tanh(r / logit_soft_cap)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    probs = np.exp(z - lse[:, None])
    g = (1 + 2 * z_loss * lse) / len(y)
    d_z = g[:, None] * probs - np.eye(w.shape[1])[y] / len(y)
    if logit_soft_cap is not None:
        d_z = d_z * (1 - (z / logit_soft_cap) ** 2)
    return (d_z @ w.T, h.T @ d_z, d_z.sum(0)), d_z, g


def filter_bounds(h, w, y, d_z, g, eps):
    """The docstring's bound over every entry a tile could skip (``|d_z| <= eps |g_n|``, not
    the label): ``sum_j |d_z_nj| |w_j|`` per token, ``sum_n |d_z_nj| |h_n|`` per column, at
    most ``|g_n| sum_j p_nj |w_j|`` and ``sum_n |g_n| p_nj |h_n|``."""
    h, w = np.asarray(h, np.float64), np.asarray(w, np.float64)
    skippable = ((np.abs(d_z) <= eps * np.abs(g)[:, None])
                 & (np.arange(w.shape[1])[None, :] != np.asarray(y)[:, None]))
    p = np.where(skippable, np.abs(d_z), 0.0)
    return p @ np.linalg.norm(w, axis=0), np.linalg.norm(h, axis=1) @ p


def grads_of(h, w, b, y, **options):
    def loss_fn(h, w, b):
        return fused_linear_cross_entropy(h, w, y, bias=b, **options)
    return jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2)))(h, w, b)


OPTIONS = {"plain": {}, "z_loss": {"z_loss": 1e-2}, "soft_cap": {"logit_soft_cap": 20.0}}
TILES = {"chunk": 64, "token_blocks": (16, 64)}


@pytest.mark.parametrize("schedule", ["forward", "recompute"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("tiles", TILES)
def test_gradients_within_bound_and_loss_unchanged(monkeypatch, schedule, options, tiles):
    """Filtered gradients differ from float64 by at most the bound (plus float32 rounding),
    some tiles are skipped, ``d bias`` and the loss are those of no filter."""
    if tiles == "token_blocks":
        monkeypatch.setattr(fused, "default_tiles", lambda *shape: TILES[tiles])
        monkeypatch.setattr(fused, "forward_tiles", lambda *shape: TILES[tiles])
    chunk_size = TILES[tiles] if tiles == "chunk" else None
    h, w, b, y = peaked_inputs()
    common = dict(schedule=schedule, chunk_size=chunk_size, **OPTIONS[options])
    loss, (d_h, d_w, d_b) = grads_of(h, w, b, y, gradient_filter=EPS, **common)
    plain_loss, _ = grads_of(h, w, b, y, **common)
    (e_h, e_w, e_b), d_z, g = float64_grads(h, w, b, y, **OPTIONS[options])
    bound_h, bound_w = filter_bounds(h, w, y, d_z, g, EPS)
    rounding_h = 1e-5 * np.max(np.abs(e_h))
    rounding_w = 1e-5 * np.max(np.abs(e_w))
    assert np.all(np.linalg.norm(np.asarray(d_h, np.float64) - e_h, axis=1)
                  <= bound_h + rounding_h)
    assert np.all(np.linalg.norm(np.asarray(d_w, np.float64) - e_w, axis=0)
                  <= bound_w + rounding_w)
    # Something was skipped: the filtered gradient is off by more than rounding somewhere.
    assert np.max(np.abs(np.asarray(d_w, np.float64) - e_w)) > 10 * rounding_w
    np.testing.assert_allclose(d_b, e_b, rtol=1e-5, atol=1e-5 * np.max(np.abs(e_b)))
    assert float(loss) == float(plain_loss)


@pytest.mark.parametrize("schedule", ["forward", "recompute"])
def test_labels_always_counted(schedule):
    """The four tokens whose labels have a small probability sit, with those labels, in a
    tile that holds no other entry above ``eps``: their label columns' weight gradients are
    float64's within the bound, which is far below what dropping a label would change."""
    h, w, b, y = peaked_inputs()
    _, (_, d_w, _) = grads_of(h, w, b, y, gradient_filter=EPS, schedule=schedule,
                              chunk_size=64)
    (_, e_w, _), d_z, g = float64_grads(h, w, b, y)
    _, bound_w = filter_bounds(h, w, y, d_z, g, EPS)
    tail = np.asarray(y[:4])
    probs = d_z / g[:, None] + np.eye(w.shape[1])[np.asarray(y)]
    assert np.all(probs[:4, tail].diagonal() < EPS)
    label_terms = np.abs(g[:4]) * np.linalg.norm(np.asarray(h[:4], np.float64), axis=1)
    allowed = bound_w[tail] + 1e-5 * np.max(np.abs(e_w))
    assert np.all(allowed < label_terms / 10)
    assert np.all(np.linalg.norm(np.asarray(d_w, np.float64)[:, tail] - e_w[:, tail], axis=0)
                  <= allowed)


@pytest.mark.parametrize("schedule", ["forward", "recompute"])
def test_zero_is_no_filter_and_tiny_eps_matches(schedule):
    """``gradient_filter=0`` gives the unfiltered results bit for bit; an ``eps`` below
    every softmax entry skips nothing (the filtered streams, to rounding)."""
    h, w, b, y = peaked_inputs(scale=1.0)
    loss, grads = grads_of(h, w, b, y, schedule=schedule, chunk_size=64)
    zero_loss, zero_grads = grads_of(h, w, b, y, schedule=schedule, chunk_size=64,
                                     gradient_filter=0.0)
    assert float(loss) == float(zero_loss)
    for plain, zero in zip(grads, zero_grads):
        np.testing.assert_array_equal(plain, zero)
    _, d_z, g = float64_grads(h, w, b, y)
    tiny = float(np.min(np.abs(d_z) / g[:, None])) / 2
    _, tiny_grads = grads_of(h, w, b, y, schedule=schedule, chunk_size=64,
                             gradient_filter=tiny)
    for plain, filtered in zip(grads, tiny_grads):
        np.testing.assert_allclose(filtered, plain, rtol=1e-5, atol=1e-6)


def test_vmap_gives_the_same_filtered_gradients():
    """Under ``vmap`` the skip is a select: the same numbers as one call per batch entry."""
    h, w, b, y = peaked_inputs()

    def d_hidden(h, y):
        return jax.grad(lambda h: fused_linear_cross_entropy(
            h, w, y, chunk_size=64, gradient_filter=EPS))(h)

    batched = jax.jit(jax.vmap(d_hidden))(jnp.stack([h, h[::-1]]), jnp.stack([y, y[::-1]]))
    for i, (h_i, y_i) in enumerate([(h, y), (h[::-1], y[::-1])]):
        expected = jax.jit(d_hidden)(h_i, y_i)
        np.testing.assert_allclose(batched[i], expected, rtol=1e-5,
                                   atol=1e-5 * float(jnp.max(jnp.abs(expected))))


@pytest.mark.parametrize("schedule", [None, "forward"])
def test_sharded_one_device_mesh_matches_single_device(schedule):
    """On a 1 x 1 mesh the sharded loss filters the same tiles as the single-device one."""
    mesh = jax.make_mesh((1, 1), ("tokens", "vocab"))
    h, w, _, y = peaked_inputs()
    reduction = "sum" if schedule is None else "mean"

    def sharded(h, w):
        return fused_linear_cross_entropy_sharded(
            h, w, y, mesh=mesh, axis_name="vocab", token_axis="tokens", chunk_size=64,
            reduction=reduction, schedule="recompute" if schedule is None else schedule,
            gradient_filter=EPS)

    def single(h, w):
        return fused_linear_cross_entropy(
            h, w, y, chunk_size=64, reduction=reduction,
            schedule="recompute" if schedule is None else schedule, gradient_filter=EPS)

    actual = jax.tree.leaves(jax.jit(jax.value_and_grad(sharded, (0, 1)))(h, w))
    expected = jax.tree.leaves(jax.jit(jax.value_and_grad(single, (0, 1)))(h, w))
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("value, match", [
    (-0.1, r"`gradient_filter` must be None or a finite float in \[0, 1\), got -0.1"),
    (1.0, r"`gradient_filter` must be None or a finite float in \[0, 1\), got 1.0"),
    (float("nan"), r"`gradient_filter` must be .* got nan"),
    (float("inf"), r"`gradient_filter` must be .* got inf"),
])
def test_bad_gradient_filter_raises(value, match):
    h, w, _, y = peaked_inputs()
    with pytest.raises(ValueError, match=match):
        fused_linear_cross_entropy(h, w, y, gradient_filter=value)


def test_gradient_filter_with_label_smoothing_raises():
    h, w, _, y = peaked_inputs()
    with pytest.raises(ValueError, match="`gradient_filter` cannot be combined with "
                                         "`label_smoothing`.*gradient_filter=0.01"):
        fused_linear_cross_entropy(h, w, y, gradient_filter=0.01, label_smoothing=0.1)


def test_traced_gradient_filter_raises():
    h, w, _, y = peaked_inputs()
    with pytest.raises(ValueError, match="`gradient_filter` must be a concrete number"):
        jax.jit(lambda eps: fused_linear_cross_entropy(h, w, y, gradient_filter=eps))(0.01)
