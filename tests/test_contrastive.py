"""The contrastive kernels against float64 formulas (InfoNCE/CLIP, SigLIP, SupCon) and optax.

The chunked form against the explicit one (values, gradients, compiled memory), and on 8
CPU devices (a subprocess) against one device.
"""

import functools
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from kernel_properties import numeric_grad
from property_cases import (
    ref_contrastive,
    ref_ntxent,
    ref_sigmoid_contrastive,
    ref_supervised_contrastive,
)

import jaxloss
import jaxloss.train
from jaxloss import (
    chunked_contrastive_loss,
    contrastive_loss,
    ntxent_loss,
    sigmoid_contrastive_loss,
    losses,
    supervised_contrastive_loss,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, D = 6, 4


@pytest.fixture(autouse=True)
def float32_products():
    """float32-exact matrix products (JAX's default on a CPU; reduced on a GPU)."""
    with jax.default_matmul_precision("highest"):
        yield


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def pair(rng):
    return _unit(rng.normal(size=(B, D))), _unit(rng.normal(size=(B, D)))


LABELS = np.array([0, 1, 0, 2, 1, 0], np.int32)  # label 2: an anchor without positives


# (kernel, float64 reference, hyperparameters): the second argument is keys or labels.
PAIR_KERNELS = [
    (contrastive_loss, ref_contrastive, {"temperature": 0.3}),
    (contrastive_loss, ref_contrastive, {"temperature": 0.3, "symmetric": False}),
    (chunked_contrastive_loss, ref_contrastive, {"temperature": 0.3, "chunk_size": 4}),
    (sigmoid_contrastive_loss, ref_sigmoid_contrastive, {"scale": 3.0, "bias": -1.0}),
]
LABEL_KERNELS = [
    (supervised_contrastive_loss, ref_supervised_contrastive, {"temperature": 0.3}),
    (ntxent_loss, ref_ntxent, {"temperature": 0.3}),
]


def _ids(case):
    fn, _, hparams = case
    return fn.__name__ + "".join(f"-{k}={v}" for k, v in hparams.items())


@pytest.mark.parametrize("case", PAIR_KERNELS + LABEL_KERNELS, ids=_ids)
def test_values_and_gradients_match_float64(case, pair):
    fn, reference, hparams = case
    queries, keys = pair
    second = keys if case in PAIR_KERNELS else LABELS
    bound = functools.partial(fn, **hparams)
    cotangent = np.linspace(0.5, 1.5, B)

    def objective(a, b):
        loss = bound(a, b)
        return jnp.sum(loss * cotangent.astype(np.float32)), loss

    argnums = (0, 1) if case in PAIR_KERNELS else (0,)
    (_, loss), grads = jax.jit(jax.value_and_grad(objective, argnums=argnums, has_aux=True))(
        queries, second)
    weighted = lambda a, b: cotangent * reference(a, b, **hparams)  # noqa: E731
    np.testing.assert_allclose(loss, reference(queries, second, **hparams), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0], numeric_grad(weighted, queries, second), rtol=1e-4,
                               atol=1e-5)
    if len(argnums) == 2:
        swapped = lambda b, a: weighted(a, b)  # noqa: E731
        np.testing.assert_allclose(grads[1], numeric_grad(swapped, keys, queries), rtol=1e-4,
                                   atol=1e-5)


def test_supervised_contrastive_of_an_anchor_without_positives_is_zero(pair):
    loss = jax.jit(supervised_contrastive_loss)(pair[0], LABELS)
    assert loss[3] == 0 and np.all(loss[LABELS != 2] > 0)
    assert float(jax.jit(ntxent_loss)(pair[0], LABELS)[3]) == 0.0


# ------------------------------------------------------------------- optax's NT-Xent


def test_ntxent_matches_optax_live(pair):
    """optax's scalar is the positive-count weighted mean of the per-anchor losses (groups of
    3, 2 and 1: uneven counts, and an anchor without positives)."""
    labels = LABELS
    embeddings = pair[0] * np.arange(1, B + 1, dtype=np.float32)[:, None]  # not unit norm
    counts = ((labels[:, None] == labels[None, :]).sum(1) - 1).astype(np.float32)

    def ours(e):
        return jnp.sum(counts * ntxent_loss(e, labels, temperature=0.1)) / counts.sum()

    with jax.numpy_dtype_promotion("standard"):  # optax mixes bool and int
        value, grad = jax.jit(jax.value_and_grad(
            lambda e: optax.losses.ntxent(e, labels, temperature=0.1)))(embeddings)
    ours_value, ours_grad = jax.jit(jax.value_and_grad(ours))(embeddings)
    np.testing.assert_allclose(ours_value, value, rtol=1e-6)
    np.testing.assert_allclose(ours_grad, grad, rtol=1e-5, atol=1e-7)


def test_ntxent_without_positive_pairs_is_zero_where_optax_gives_nan(pair):
    labels = np.arange(B, dtype=np.int32)
    with jax.numpy_dtype_promotion("standard"):
        assert np.isnan(jax.jit(optax.losses.ntxent)(pair[0], labels))
    np.testing.assert_array_equal(jax.jit(ntxent_loss)(pair[0], labels), 0.0)


# ---------------------------------------------------------------- chunked = explicit


@pytest.mark.parametrize(
    ("symmetric", "chunk_size", "masked"),
    [(True, 4, True), (False, None, True)],
)
def test_chunked_equals_explicit_values_and_gradients(rng, symmetric, chunk_size, masked):
    queries = jnp.asarray(rng.normal(size=(13, 5)), jnp.float32)
    keys = jnp.asarray(rng.normal(size=(13, 5)), jnp.float32)
    where = jnp.asarray(rng.random(13) > 0.3) if masked else None
    cotangent = jnp.asarray(rng.normal(size=13), jnp.float32)
    temperature = jnp.float32(0.5)  # traced: a learned temperature gets its gradient

    def value_and_grads(fn, **options):
        def objective(q, k, t):
            loss = fn(q, k, temperature=t, symmetric=symmetric, where=where, **options)
            return jnp.sum(loss * cotangent), loss
        return jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True))(
            queries, keys, temperature)

    (_, loss), grads = value_and_grads(chunked_contrastive_loss, chunk_size=chunk_size)
    (_, expected), expected_grads = value_and_grads(contrastive_loss)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_chunked_temporaries_are_under_a_tenth_of_explicit():
    """Compile only: forward+backward temporaries at B = 2048 with blocks of 128 keys."""
    spec = jax.ShapeDtypeStruct((2048, 64), jnp.float32)

    def temp_bytes(fn):
        step = jax.value_and_grad(lambda q, k: jnp.mean(fn(q, k)), argnums=(0, 1))
        return jax.jit(step).lower(spec, spec).compile().memory_analysis().temp_size_in_bytes

    explicit = temp_bytes(contrastive_loss)
    chunked = temp_bytes(functools.partial(chunked_contrastive_loss, chunk_size=128))
    assert explicit >= 2048 * 2048 * 4  # the logits are really there
    assert chunked <= 0.1 * explicit


# ------------------------------------------------------------------------ identities


@pytest.mark.parametrize("fn", [contrastive_loss, chunked_contrastive_loss])
def test_one_directional_loss_ignores_a_vector_added_to_every_key(pair, fn):
    """s_ij + q_i . c / tau is a shift of row i: its cross-entropy is unchanged."""
    queries, keys = pair
    shifted = keys + np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    loss = jax.jit(lambda k: fn(queries, k, temperature=0.2, symmetric=False))
    np.testing.assert_allclose(loss(shifted), loss(keys), rtol=1e-5, atol=1e-6)


IDENTICAL_CASES = {
    "contrastive": functools.partial(contrastive_loss, temperature=0.01),
    "chunked": functools.partial(chunked_contrastive_loss, temperature=0.01, chunk_size=2),
    "sigmoid": functools.partial(sigmoid_contrastive_loss, scale=100.0),
    "supervised": lambda e, k: supervised_contrastive_loss(e, jnp.asarray(LABELS),
                                                           temperature=0.01),
    "ntxent": lambda e, k: ntxent_loss(e, jnp.asarray(LABELS), temperature=0.01),
}


def test_identical_embeddings_at_temperature_0_01_have_finite_gradients():
    same = jnp.ones((B, D), jnp.float32) / 2.0

    @jax.jit
    def run(q, k):
        return {name: jax.value_and_grad(lambda q, k: jnp.sum(fn(q, k)), (0, 1))(q, k)
                for name, fn in IDENTICAL_CASES.items()}

    for name, (loss, grads) in run(same, same).items():
        assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads), name


@pytest.mark.parametrize("fn", [contrastive_loss, chunked_contrastive_loss,
                                sigmoid_contrastive_loss], ids=lambda fn: fn.__name__)
def test_where_equals_slicing(pair, fn):
    queries, keys = pair
    keep = np.array([True, False, True, True, False, True])
    bad_queries = queries.copy()
    bad_queries[1] = np.nan  # a masked example reaches no other loss or gradient
    def objective(q, k, where):
        loss = fn(q, k, where=where)
        return jnp.sum(loss), loss

    step = jax.jit(jax.value_and_grad(objective, has_aux=True))
    (value, loss), grad = step(bad_queries, keys, keep)
    (_, sliced), _ = step(queries[keep], keys[keep], np.ones(keep.sum(), bool))
    np.testing.assert_allclose(loss[keep], sliced, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(loss[~keep], 0.0)
    np.testing.assert_array_equal(grad[~keep], 0.0)
    np.testing.assert_allclose(value, jnp.sum(sliced), rtol=1e-6)


def test_vmap_and_half_inputs(pair):
    queries, keys = pair

    @jax.jit
    def run(q, k):
        stacked = jax.vmap(chunked_contrastive_loss)(jnp.stack([q, k]), jnp.stack([k, q]))
        half = [fn(q.astype(jnp.bfloat16), k.astype(jnp.bfloat16))
                for fn in (chunked_contrastive_loss, sigmoid_contrastive_loss)]
        upcast = [fn(q.astype(jnp.bfloat16).astype(jnp.float32),
                     k.astype(jnp.bfloat16).astype(jnp.float32))
                  for fn in (chunked_contrastive_loss, sigmoid_contrastive_loss)]
        return stacked, chunked_contrastive_loss(k, q), half, upcast

    stacked, swapped, half, upcast = run(queries, keys)
    np.testing.assert_allclose(stacked[1], swapped, rtol=1e-6)
    for got, want in zip(half, upcast):
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)


# ------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda q, k: contrastive_loss(q, k[:3]), re.escape("keys.shape=(3, 4)")),
        (lambda q, k: contrastive_loss(q[0], k[0]), r"`queries` must have shape \[batch, "),
        (lambda q, k: sigmoid_contrastive_loss(q.astype(jnp.int32), k), "floating-point"),
        (lambda q, k: contrastive_loss(q, k, temperature=0.0), "`temperature` must lie in"),
        (lambda q, k: sigmoid_contrastive_loss(q, k, scale=-1.0), "`scale` must lie in"),
        (lambda q, k: contrastive_loss(q, k, where=jnp.ones(4, bool)), r"`where` of shape"),
        (lambda q, k: chunked_contrastive_loss(q, k, chunk_size=0), "`chunk_size` must be"),
        (lambda q, k: supervised_contrastive_loss(q, LABELS[:3]),
         re.escape("got labels.shape=(3,)")),
        (lambda q, k: ntxent_loss(q, LABELS.astype(np.float32)), "integer class indices"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(pair, call, match):
    with pytest.raises(ValueError, match=match):
        call(*pair)


# ------------------------------------------------------------------------ 8 devices

SHARDED_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    from jaxloss import chunked_contrastive_loss, chunked_contrastive_loss_sharded
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    B, D = 8 * 5, 6  # 5 keys per device: blocks of 2, 2 and a remainder of 1
    q = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)
    where = jnp.asarray(rng.random(B) > 0.3)
    cot = jnp.asarray(rng.normal(size=(B,)), jnp.float32)
    explicit = jax.make_mesh((8,), ("batch",))
    # The explicit-axis layout is run by the one-device property case.
    auto = jax.make_mesh((2, 4), ("model", "batch"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    for mesh, options in [(auto, dict(symmetric=True, where=where))]:
        def run(fn, **extra):
            def objective(q, k, t):
                loss = fn(q, k, temperature=t, chunk_size=2, **options, **extra)
                return jnp.sum(loss * cot), loss
            return jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True))(
                q, k, jnp.float32(0.3))
        (_, loss), grads = run(chunked_contrastive_loss_sharded, mesh=mesh, axis_name="batch")
        (_, e_loss), e_grads = run(chunked_contrastive_loss)
        for a, e in zip((loss, *grads), (e_loss, *e_grads)):
            a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * np.max(np.abs(e)))
    bad_inputs = [(dict(axis_name="data"), "axis_name"),
                  (dict(queries=q[:12], keys=k[:12]), "divisible")]
    for bad, match in bad_inputs:
        kwargs = dict(queries=q, keys=k, mesh=explicit, axis_name="batch")
        kwargs.update(bad)
        try:
            chunked_contrastive_loss_sharded(**kwargs)
        except ValueError as error:
            assert match in str(error), error
        else:
            raise AssertionError(f"no ValueError for {bad}")
    print("sharded ok")
""")


def test_data_parallel_on_eight_cpu_devices():
    """shard_map over 8 host devices equals one device (values, gradients, temperature's)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "sharded ok" in result.stdout


# ------------------------------------------------------------------------ Keras layer


@pytest.mark.parametrize(
    ("loss", "reference"),
    [
        (losses.Contrastive(temperature=0.5), functools.partial(ref_contrastive, temperature=0.5)),
        (losses.SigmoidContrastive(), ref_sigmoid_contrastive),
    ],
    ids=["Contrastive", "SigmoidContrastive"],
)
def test_keras_classes_reduce_the_kernels_per_example_values(pair, loss, reference):
    """y_pred are the queries, y_true their keys; sample weights scale each example."""
    queries, keys = pair
    weights = np.linspace(0.0, 2.0, B).astype(np.float32)
    per_example = reference(queries, keys)
    np.testing.assert_allclose(jax.jit(loss)(keys, queries), per_example.mean(), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(loss)(keys, queries, weights),
                               (weights * per_example).mean(), rtol=1e-6)
    assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()


def test_keras_class_trains_in_jaxloss_train():
    """In-batch negatives: the ragged last batch is not padded with repeated rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    y = _unit(x[:, :4] + 0.1 * rng.normal(size=(40, 4)))
    trainer = jaxloss.train.compile(nnx.Linear(8, 4, rngs=nnx.Rngs(0)), optimizer="adam",
                                    loss=losses.SigmoidContrastive(), mesh=None)
    history = trainer.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
