"""The vocabulary-parallel fused loss on a 2-D mesh (tokens x vocabulary), 8 CPU devices in a
subprocess, against the single-device function; its mesh arguments' input rules."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxloss import (
    fused_linear_cross_entropy,
    fused_linear_cross_entropy_sharded,
    sparse_softmax_cross_entropy,
)
from jaxloss._src import fused

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TWO_D_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    from jax.sharding import PartitionSpec as P
    from jaxloss import fused_linear_cross_entropy, fused_linear_cross_entropy_sharded
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(1)
    B, T, H, V = 2, 19, 16, 4 * 40  # 38 tokens, 19 per token shard; 40 columns per device
    h = jnp.asarray(rng.normal(size=(B, T, H)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(H, V)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(V,)), jnp.float32)
    y = jnp.asarray(rng.integers(0, V, size=(B, T)), jnp.int32).at[0, 3].set(-100)
    cot = jnp.asarray(rng.normal(size=(B, T)), jnp.float32)
    explicit = jax.make_mesh((2, 4), ("tokens", "vocab"))
    auto = jax.make_mesh((4, 2), ("vocab", "tokens"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
    cases = [
        (explicit, dict(reduction="mean", ignore_index=-100, label_smoothing=0.1, z_loss=1e-3,
                        logit_soft_cap=5.0)),
        (explicit, dict(reduction="none", ignore_index=-100)),
        (auto, dict(reduction="sum", ignore_index=-100, logit_soft_cap=3.0)),
        (auto, dict(reduction="mean", ignore_index=-100)),
        (explicit, dict(reduction="mean", ignore_index=-100, label_smoothing=0.1, z_loss=1e-3,
                        logit_soft_cap=5.0, schedule="forward")),
        (auto, dict(reduction="sum", ignore_index=-100, schedule="forward")),
    ]

    def close(a, e):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * np.max(np.abs(e)))

    for mesh, options in cases:
        def objective(loss_fn, h, w, b, **extra):
            if "schedule" in options:  # a scalar loss without its logsumexp
                loss = loss_fn(h, w, y, bias=b, chunk_size=16, **options, **extra)
                return loss, (loss, loss)
            loss, lse = loss_fn(h, w, y, bias=b, chunk_size=16, return_logsumexp=True,
                                **options, **extra)
            return jnp.sum(loss * cot) + jnp.sum(lse * cot) if loss.ndim else loss, (loss, lse)
        grad = lambda fn, **extra: jax.jit(jax.value_and_grad(
            lambda h, w, b: objective(fn, h, w, b, **extra), argnums=(0, 1, 2), has_aux=True))
        (_, (loss, lse)), grads = grad(fused_linear_cross_entropy_sharded, mesh=mesh,
                                       axis_name="vocab", token_axis="tokens")(h, w, b)
        (_, (e_loss, e_lse)), e_grads = grad(fused_linear_cross_entropy)(h, w, b)
        assert loss.shape == e_loss.shape and lse.shape == e_lse.shape, (loss.shape, lse.shape)
        close(loss, e_loss)
        close(lse, e_lse)
        for g, e in zip(grads, e_grads):
            close(g, e)
    # Per-token weights: values and gradients (the weights' too) equal one device's.
    token_weights = jnp.asarray(rng.uniform(0.0, 2.0, size=(B, T)), jnp.float32)
    weighted_cases = [(explicit, "mean", None), (explicit, "mean", "forward"),
                      (auto, "sum", "forward"), (auto, "none", None)]
    for mesh, reduction, schedule in weighted_cases:
        def weighted(loss_fn, h, w, b, t, **extra):
            loss = loss_fn(h, w, y, bias=b, weights=t, chunk_size=16, ignore_index=-100,
                           label_smoothing=0.1, reduction=reduction, schedule=schedule, **extra)
            return jnp.sum(loss * cot) if loss.ndim else loss
        grad = lambda fn, **extra: jax.jit(jax.value_and_grad(
            lambda h, w, b, t: weighted(fn, h, w, b, t, **extra), argnums=(0, 1, 2, 3)))
        loss, grads = grad(fused_linear_cross_entropy_sharded, mesh=mesh, axis_name="vocab",
                           token_axis="tokens")(h, w, b, token_weights)
        e_loss, e_grads = grad(fused_linear_cross_entropy)(h, w, b, token_weights)
        close(loss, e_loss)
        for g, e in zip(grads, e_grads):
            close(g, e)
    # The weight gradient stays split along the vocabulary; the tokens' losses along tokens.
    d_w = jax.jit(jax.grad(lambda w: fused_linear_cross_entropy_sharded(
        h, w, jnp.abs(y), mesh=explicit, axis_name="vocab", token_axis="tokens")))(w)
    close(d_w, jax.grad(lambda w: fused_linear_cross_entropy(h, w, jnp.abs(y)))(w))
    assert d_w.sharding.spec == P(None, "vocab"), d_w.sharding
    per_token = jax.jit(lambda h: fused_linear_cross_entropy_sharded(
        h, w, jnp.abs(y).reshape(-1), mesh=explicit, axis_name="vocab", token_axis="tokens",
        reduction="none"))(h.reshape(B * T, H))
    assert per_token.sharding.spec == P("tokens"), per_token.sharding
    close(per_token, fused_linear_cross_entropy(h, w, jnp.abs(y), reduction="none").reshape(-1))
    # All tokens ignored: the mean is 0, as on one device.
    assert float(fused_linear_cross_entropy_sharded(
        h, w, jnp.full((B, T), -100), mesh=explicit, axis_name="vocab", token_axis="tokens",
        ignore_index=-100)) == 0.0
    try:
        fused_linear_cross_entropy_sharded(h[:1], w, y[:1], mesh=auto, axis_name="vocab",
                                           token_axis="tokens")
    except ValueError as error:
        assert "token_axis" in str(error) and "divisible" in str(error), error
    else:
        raise AssertionError("no ValueError for 19 tokens over a token axis of size 2")
    print("2-D ok")
""")


def test_two_dimensional_mesh_on_eight_cpu_devices():
    """Tokens over one mesh axis, vocabulary over the other: values and gradients equal one
    device's, for every reduction, soft cap, smoothing, z-loss and ignored tokens."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, "-c", TWO_D_SCRIPT], check=False, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "2-D ok" in result.stdout


@pytest.mark.parametrize("mesh_kwargs,match", [
    ({"axis_name": "vocab", "token_axis": "batch"}, "`token_axis`='batch' is not an axis"),
    ({"axis_name": "vocab", "token_axis": "vocab"}, "must be different mesh axes"),
    ({"axis_name": "model", "token_axis": "tokens"}, "`axis_name`='model' is not an axis"),
    ({"axis_name": "vocab", "schedule": "forward", "reduction": "none"}, "`schedule`"),
    ({"axis_name": "vocab", "schedule": "fast"}, "`schedule`"),
    ({"axis_name": "vocab", "weights": jnp.ones((2,))}, "`weights` of shape"),
])
def test_bad_mesh_axes_raise(mesh_kwargs, match):
    mesh = jax.make_mesh((1, 1), ("tokens", "vocab"))
    h, w, y = jnp.zeros((4, 8)), jnp.zeros((8, 10)), jnp.zeros((4,), jnp.int32)
    with pytest.raises(ValueError, match=match):
        fused_linear_cross_entropy_sharded(h, w, y, mesh=mesh, **mesh_kwargs)


def test_one_device_two_dimensional_mesh_under_jit():
    """A 1 x 1 mesh: every reduction equals the single-device function under jit."""
    mesh = jax.make_mesh((1, 1), ("tokens", "vocab"))
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(6, 8)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(8, 10)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, size=6), jnp.int32)
    for reduction, schedule in [("mean", None), ("sum", None), ("none", None),
                                ("mean", "forward"), ("sum", "forward")]:
        def loss_fn(h, w, reduction=reduction, schedule=schedule):
            return fused_linear_cross_entropy_sharded(
                h, w, y, mesh=mesh, axis_name="vocab", token_axis="tokens", reduction=reduction,
                schedule=schedule)
        expected = fused_linear_cross_entropy(h, w, y, reduction=reduction)
        np.testing.assert_allclose(jax.jit(loss_fn)(h, w), expected, rtol=1e-6)
        if reduction != "none":  # both schedules' gradients, against float64 logits
            h64, w64 = np.asarray(h, np.float64), np.asarray(w, np.float64)
            logits = h64 @ w64
            probs = np.exp(logits - logits.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            d_logits = (probs - np.eye(10)[np.asarray(y)]) / (6.0 if reduction == "mean" else 1.0)
            d_h, d_w = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))(h, w)
            np.testing.assert_allclose(d_h, d_logits @ w64.T, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(d_w, h64.T @ d_logits, rtol=1e-5, atol=1e-6)


def test_one_device_mesh_with_token_blocks(monkeypatch):
    """Tiles of 4 tokens and 4 columns (remainders of 2 both ways) in place of the default:
    both schedules' loss and gradients equal those of explicit logits."""
    monkeypatch.setattr(fused, "default_tiles", lambda *shape: (4, 4))
    monkeypatch.setattr(fused, "forward_tiles", lambda *shape: (4, 4))
    mesh = jax.make_mesh((1, 1), ("tokens", "vocab"))
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(6, 8)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(8, 10)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, size=6), jnp.int32)

    def explicit(h, w):
        return jnp.mean(sparse_softmax_cross_entropy(h @ w, y))

    expected, expected_grads = jax.jit(jax.value_and_grad(explicit, argnums=(0, 1)))(h, w)
    for schedule in (None, "forward"):
        def loss_fn(h, w, schedule=schedule):
            return fused_linear_cross_entropy_sharded(
                h, w, y, mesh=mesh, axis_name="vocab", token_axis="tokens", schedule=schedule)
        loss, grads = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))(h, w)
        np.testing.assert_allclose(loss, expected, rtol=1e-6)
        for actual, e in zip(grads, expected_grads):
            np.testing.assert_allclose(actual, e, rtol=1e-5, atol=1e-6)
