"""The kernels' accelerator forms (jaxloss._src.platform), checked on the CPU.

On a GPU or TPU the softmax cross-entropies take their row statistics in one pass (an
online log-sum-exp) and the softmax focal loss runs its rows as one block; on a CPU two
passes and a loop over blocks. Here the accelerator forms are forced on the CPU and must
give the CPU forms' loss and gradient, also at the extremes; and lowering for CUDA must pick
them. (`JAXLOSS_TEST_FORMS=accelerator make test` runs the whole suite in these forms.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

import jaxloss
from jaxloss._src import platform

F32_MAX = float(np.finfo(np.float32).max)


def _in_forms(forms, function, *args):
    previous = platform.FORCED_FORMS
    platform.FORCED_FORMS = forms
    jax.clear_caches()  # the forced choice is not part of jit's cache key
    try:
        return jax.tree.map(np.asarray, function(*args))
    finally:
        platform.FORCED_FORMS = previous
        jax.clear_caches()


def _assert_forms_agree(function, *args, rtol=1e-5, atol=1e-6):
    on_cpu = _in_forms("cpu", function, *args)
    on_accelerator = _in_forms("accelerator", function, *args)
    for cpu_value, accelerator_value in zip(jax.tree.leaves(on_cpu),
                                            jax.tree.leaves(on_accelerator)):
        np.testing.assert_allclose(accelerator_value, cpu_value, rtol=rtol, atol=atol)
    return on_accelerator


def _logits(rng, shape, scale=3.0):
    return jnp.asarray(scale * rng.standard_normal(shape), jnp.float32)


def _extreme_rows(num_classes):
    """Rows spanning float32's range, ties at the max, one dominant class."""
    rows = np.zeros((4, num_classes), np.float32)
    rows[0, :] = -F32_MAX
    rows[0, 1] = F32_MAX
    rows[1, :2] = F32_MAX  # two classes tied at the largest float
    rows[2, :] = np.linspace(-1e30, 1e30, num_classes)
    rows[3, 0] = 200.0  # exp(x - m) underflows for the others
    return jnp.asarray(rows)


@pytest.mark.parametrize("num_classes", [1, 10, 1000])
def test_sparse_cross_entropy_forms_agree(rng, num_classes):
    logits = _logits(rng, (37, num_classes))
    labels = jnp.asarray(rng.integers(0, num_classes, 37), jnp.int32)

    def value_and_grad(logits, labels):
        return jax.jit(jax.value_and_grad(
            lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels).sum()))(logits)

    _assert_forms_agree(value_and_grad, logits, labels)
    _assert_forms_agree(jax.jit(jaxloss.sparse_softmax_cross_entropy), logits, labels)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_dense_cross_entropy_forms_agree_at_the_extremes(smoothing):
    logits = _extreme_rows(6)
    labels = jax.nn.one_hot(jnp.array([1, 0, 5, 3]), 6)

    def value_and_grad(logits, labels):
        def loss(x):
            return jaxloss.softmax_cross_entropy(x, labels, label_smoothing=smoothing).sum()

        return jax.jit(jax.value_and_grad(loss))(logits)

    loss, grad = _assert_forms_agree(value_and_grad, logits, labels)
    assert np.isfinite(grad).all()
    assert np.isfinite(loss)
    losses = _assert_forms_agree(jax.jit(jaxloss.softmax_cross_entropy), logits, labels)
    assert np.isfinite(losses).all()


def test_sparse_cross_entropy_forms_agree_at_the_extremes():
    logits = _extreme_rows(6)
    labels = jnp.array([1, 0, 5, 3], jnp.int32)
    value_and_grad = jax.jit(jax.value_and_grad(
        lambda x, y: jaxloss.sparse_softmax_cross_entropy(x, y).sum()))
    loss, grad = _assert_forms_agree(value_and_grad, logits, labels)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    # Against the float64 formula, row by row.
    rows = np.asarray(logits, np.float64)
    row_max = rows.max(axis=1)
    exact = (np.log(np.exp(rows - row_max[:, None]).sum(axis=1))
             + (row_max - rows[np.arange(4), np.asarray(labels)]))
    per_example = _in_forms("accelerator", jax.jit(jaxloss.sparse_softmax_cross_entropy),
                            logits, labels)
    np.testing.assert_allclose(per_example, exact, rtol=1e-6)


def test_masks_ignore_index_and_fully_masked_rows_agree(rng):
    logits = _logits(rng, (6, 9))
    where = jnp.asarray(rng.random((6, 9)) < 0.6).at[2].set(False).at[3].set(True)
    labels = jnp.array([0, 1, 2, 3, -100, 8], jnp.int32)
    labels = jnp.where(where[jnp.arange(6), jnp.clip(labels, 0)] | (labels < 0), labels, 0)
    where = where.at[jnp.arange(6), jnp.clip(labels, 0)].set(labels >= 0).at[2].set(False)

    def value_and_grad(logits, labels, where):
        def loss(x):
            sparse = jaxloss.sparse_softmax_cross_entropy(x, labels, where=where,
                                                          ignore_index=-100)
            dense = jaxloss.softmax_cross_entropy(
                x, jax.nn.one_hot(jnp.clip(labels, 0), 9) * where.astype(jnp.float32), where=where)
            return jnp.nansum(sparse) + jnp.sum(dense)

        return jax.jit(jax.value_and_grad(loss))(logits)

    loss, grad = _assert_forms_agree(value_and_grad, logits, labels, where)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert not grad[2].any()  # the fully masked row


def test_vmap_and_hessian_in_the_accelerator_forms(rng):
    logits = _logits(rng, (3, 4, 5))
    labels = jnp.asarray(rng.integers(0, 5, (3, 4)), jnp.int32)

    def batched(logits, labels):
        loss = jax.vmap(jaxloss.sparse_softmax_cross_entropy)(logits, labels)
        focal = jax.vmap(lambda x, y: jaxloss.softmax_focal_loss(x, jax.nn.one_hot(y, 5)))(
            logits, labels)
        return loss, focal

    _assert_forms_agree(jax.jit(batched), logits, labels)

    def hessian(row, label):
        return jax.hessian(lambda x: jaxloss.sparse_softmax_cross_entropy(x, label))(row)

    got = _assert_forms_agree(jax.jit(hessian), logits[0, 0], labels[0, 0])
    row = np.asarray(logits[0, 0], np.float64)
    probs = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
    np.testing.assert_allclose(got, np.diag(probs) - np.outer(probs, probs), atol=1e-6)


@pytest.mark.parametrize("shape", [(7, 3), (300, 2000)])
def test_softmax_focal_forms_agree(rng, shape):
    logits = _logits(rng, shape)
    labels = jax.nn.softmax(_logits(rng, shape), axis=-1)

    def value_and_grad(logits, labels):
        def loss(x, y):
            return jaxloss.softmax_focal_loss(x, y, alpha=0.25, gamma=2.0).sum()

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(logits, labels)

    _assert_forms_agree(value_and_grad, logits, labels, rtol=2e-5)


def _lowered_for(platform_name, function, *shapes):
    return export.export(jax.jit(function), platforms=[platform_name])(*shapes).mlir_module()


def test_lowering_for_cuda_picks_the_accelerator_forms():
    # Under JAXLOSS_TEST_FORMS (a whole-suite run in one form) the CPU lowering below is
    # forced to the accelerator forms too, so the contrast this test checks cannot exist.
    if platform.FORCED_FORMS is not None:
        pytest.skip(f"JAXLOSS_TEST_FORMS forces the {platform.FORCED_FORMS} forms everywhere")
    logits = jax.ShapeDtypeStruct((4096, 1000), jnp.float32)
    labels = jax.ShapeDtypeStruct((4096,), jnp.int32)

    def sparse(x, y):
        return jax.value_and_grad(lambda x: jaxloss.sparse_softmax_cross_entropy(x, y).mean())(x)

    def focal(x, y):
        return jax.value_and_grad(lambda x: jaxloss.softmax_focal_loss(x, y).mean())(x)

    # The online log-sum-exp is one reduction of two operands, (logits, weights), to two
    # per-row results; the CPU form reduces the logits twice, one result each.
    def two_result_reductions(module):
        return [line for line in module.splitlines()
                if ":2 = stablehlo.reduce(" in line and "tensor<4096x1000xf32>, " * 2 in line]

    assert len(two_result_reductions(_lowered_for("cuda", sparse, logits, labels))) == 1
    compiled_cpu_forms = _in_forms("cpu", lambda: _lowered_for("cuda", sparse, logits, labels))
    assert not two_result_reductions(str(compiled_cpu_forms))
    compiled_cpu = jax.jit(sparse).lower(logits, labels).compile().as_text()
    assert "conditional" not in compiled_cpu  # the platform choice is folded away
    assert "stablehlo.while" not in _lowered_for("cuda", focal, logits, logits)
    assert "stablehlo.while" in _lowered_for("cpu", focal, logits, logits)


def test_forced_forms_must_be_known():
    previous = platform.FORCED_FORMS
    platform.FORCED_FORMS = "tpu"
    jax.clear_caches()  # an earlier test may have traced the same call
    try:
        with pytest.raises(ValueError, match="FORCED_FORMS"):
            jax.jit(jaxloss.sparse_softmax_cross_entropy)(jnp.zeros((2, 3)), jnp.zeros(2, int))
    finally:
        platform.FORCED_FORMS = previous
        jax.clear_caches()
