"""``z_loss`` and ``logit_soft_cap`` of the plain softmax cross-entropies, against float64
references and against the fused loss, whose keywords of the same names they share."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxloss

NUM_CLASSES = 40  # above 32: sparse precise=True takes its label-exclusion form


def ref_loss_and_grad(logits, labels, *, mask=None, z_loss=0.0, cap=None):
    """Float64 ``sum_c y_c (lse(z) - z_c) + z_loss lse(z)**2`` with ``z = cap tanh(x / cap)``
    (or ``x``), the softmax over the unmasked classes, and its gradient in ``x``."""
    x = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    scaled = np.tanh(x / cap) if cap is not None else None
    z = x if cap is None else cap * scaled
    if mask is not None:
        z = np.where(mask, z, -np.inf)
        y = np.where(mask, y, 0.0)
    m = np.max(z, -1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), -1, keepdims=True))
    p = np.exp(z - lse)
    terms = np.where(y > 0, y * (lse - np.where(np.isfinite(z), z, 0.0)), 0.0)
    loss = np.sum(terms, -1) + z_loss * lse[..., 0] ** 2
    grad = p * (np.sum(y, -1, keepdims=True) + 2 * z_loss * lse) - y
    if cap is not None:
        grad = grad * (1 - scaled**2)
    return loss, grad


def _inputs():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(6, NUM_CLASSES)) * 8).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, size=6)
    return logits, labels


def _dense(labels, smoothing=0.0):
    one_hot = np.eye(NUM_CLASSES)[labels]
    return (one_hot * (1 - smoothing) + smoothing / NUM_CLASSES).astype(np.float32)


def _value_and_grad(fn, logits):
    @jax.jit
    def run(x):
        value, vjp = jax.vjp(fn, x)
        return value, vjp(jnp.ones_like(value))[0]

    return (np.asarray(a) for a in run(jnp.asarray(logits)))


# (z_loss, cap, extra keywords)
CASES = [
    (1e-2, None, {}),
    (0.0, 5.0, {}),
    (1e-2, 5.0, {}),
    (1e-2, 5.0, {"precise": True}),
    (1e-2, 5.0, {"label_smoothing": 0.1}),
    (1e-2, 5.0, {"where": np.arange(NUM_CLASSES) % 3 != 1}),
]


@pytest.mark.parametrize("form", ["dense", "sparse"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_against_float64(form, case):
    z_loss, cap, extra = CASES[case]
    logits, labels = _inputs()
    smoothing = extra.get("label_smoothing", 0.0)
    mask = extra.get("where")
    expected, expected_grad = ref_loss_and_grad(
        logits, _dense(labels, smoothing), mask=mask, z_loss=z_loss, cap=cap
    )
    kwargs = dict(extra, z_loss=z_loss, logit_soft_cap=cap)
    if form == "dense":
        fn = lambda x: jaxloss.softmax_cross_entropy(x, _dense(labels), **kwargs)  # noqa: E731
    else:
        if mask is not None:
            labels = np.where(mask[labels], labels, 0)  # a label on a masked class is NaN
            expected, expected_grad = ref_loss_and_grad(
                logits, _dense(labels, smoothing), mask=mask, z_loss=z_loss, cap=cap
            )
        fn = lambda x: jaxloss.sparse_softmax_cross_entropy(x, labels, **kwargs)  # noqa: E731
    value, grad = _value_and_grad(fn, logits)
    np.testing.assert_allclose(value, expected, rtol=2e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=2e-5, atol=1e-6)


def test_sparse_ignore_index_drops_the_z_loss_too():
    logits, labels = _inputs()
    labels = labels.copy()
    labels[[1, 4]] = -100
    value, grad = _value_and_grad(
        lambda x: jaxloss.sparse_softmax_cross_entropy(
            x, labels, ignore_index=-100, z_loss=1e-2, logit_soft_cap=5.0
        ),
        logits,
    )
    kept = labels != -100
    expected, expected_grad = ref_loss_and_grad(
        logits[kept], _dense(labels[kept]), z_loss=1e-2, cap=5.0
    )
    np.testing.assert_array_equal(value[~kept], 0.0)
    np.testing.assert_array_equal(grad[~kept], 0.0)
    np.testing.assert_allclose(value[kept], expected, rtol=2e-5)
    np.testing.assert_allclose(grad[kept], expected_grad, rtol=2e-5, atol=1e-6)


def test_same_numbers_as_the_fused_loss():
    rng = np.random.default_rng(1)
    hidden = rng.normal(size=(8, 16)).astype(np.float32)
    weight = (rng.normal(size=(16, NUM_CLASSES)) * 2).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, size=8)
    options = {"z_loss": 1e-2, "logit_soft_cap": 3.0, "label_smoothing": 0.1}

    @jax.jit
    def both(hidden):
        def fused(h):
            return jaxloss.fused_linear_cross_entropy(
                h, weight, labels, reduction="none", **options
            )

        def plain(h):
            return jaxloss.sparse_softmax_cross_entropy(h @ weight, labels, **options)

        return [jax.value_and_grad(lambda h, f=f: f(h).sum())(hidden) for f in (fused, plain)]

    (fused_sum, fused_grad), (plain_sum, plain_grad) = both(hidden)
    np.testing.assert_allclose(plain_sum, fused_sum, rtol=1e-5)
    np.testing.assert_allclose(plain_grad, fused_grad, rtol=1e-4, atol=1e-6)


def test_a_neg_inf_logit_stays_a_mask_under_the_soft_cap():
    logits, labels = _inputs()
    mask = np.arange(NUM_CLASSES) % 4 != 2
    labels = np.where(mask[labels], labels, 0)
    with_inf = np.where(mask, logits, -np.inf).astype(np.float32)
    options = {"z_loss": 1e-2, "logit_soft_cap": 5.0}
    for kernel, y in (
        (jaxloss.softmax_cross_entropy, _dense(labels)),
        (jaxloss.sparse_softmax_cross_entropy, labels),
    ):
        value, grad = _value_and_grad(lambda x, k=kernel, y=y: k(x, y, **options), with_inf)
        masked, masked_grad = _value_and_grad(
            lambda x, k=kernel, y=y: k(x, y, where=mask, **options), logits
        )
        np.testing.assert_allclose(value, masked, rtol=1e-6)
        np.testing.assert_allclose(grad, masked_grad, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(grad[:, ~mask], 0.0)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"z_loss": -1e-4}, "z_loss"),
        ({"logit_soft_cap": 0.0}, "logit_soft_cap"),
        ({"logit_soft_cap": -3.0}, "logit_soft_cap"),
        ({"z_loss": float("nan")}, "z_loss"),
    ],
)
@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_bad_keywords_raise(keywords, message, form):
    logits = jnp.zeros((2, 3))
    labels = jnp.zeros((2, 3)) if form == "dense" else jnp.zeros((2,), jnp.int32)
    kernel = (
        jaxloss.softmax_cross_entropy if form == "dense" else jaxloss.sparse_softmax_cross_entropy
    )
    with pytest.raises(ValueError, match=message):
        kernel(logits, labels, **keywords)


def test_traced_keywords_raise():
    with pytest.raises(ValueError, match="z_loss"):
        jax.jit(lambda z: jaxloss.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 3)), z_loss=z))(
            1e-4
        )
