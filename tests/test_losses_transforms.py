"""Every jaxloss.losses class under jax.jit, jax.grad and jax.vmap, gradients checked against Keras."""

import jax
import jax.numpy as jnp
import keras
import losses_cases
import numpy as np
import pytest
from losses_cases import CROSSENTROPY_CASES, FOCAL_CASES, REGRESSION_CASES

from jaxloss import losses

# One case per class and input kind (probabilities or logits) keeps the compilations few;
# tests/test_losses_parity.py covers the other arguments.
CASES = {}
for _case in REGRESSION_CASES + CROSSENTROPY_CASES + FOCAL_CASES:
    CASES.setdefault((_case.name, _case.kwargs.get("from_logits", False)), _case)
CASES = {case.id: case for case in CASES.values()}


def _inputs(case, seed):
    shape = case.layouts[0][0]
    return case.make(np.random.default_rng(seed), *shape)


@pytest.mark.standard_promotion
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_jit_vmap_grad(case):
    ours = getattr(losses, case.name)(**case.kwargs)
    theirs = getattr(keras.losses, case.name)(**case.kwargs)
    pairs = [_inputs(case, seed) for seed in (0, 1)]
    y_true = jnp.stack([jnp.asarray(t) for t, _ in pairs])
    y_pred = jnp.stack([jnp.asarray(p) for _, p in pairs])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(ours, argnums=1)))(y_true, y_pred)
    assert np.all(np.isfinite(grads)) == case.finite_grad
    for i, (t, p) in enumerate(pairs):
        np.testing.assert_allclose(values[i], ours(t, p), rtol=1e-6, atol=1e-7)
        if not case.finite_grad:
            continue
        reference = jax.grad(lambda p_, t=t: theirs(t, p_))
        if case.name == "CTC":  # Keras's eager scan recompiles at every step: jit it once
            reference = jax.jit(reference)
        expected = reference(p)
        np.testing.assert_allclose(grads[i], expected, rtol=1e-4, atol=1e-6)


EXTENSIONS = {
    "WeightedBinaryCrossentropy": ({"pos_weight": 3.0}, "binary_probs"),
    "WeightedBinaryCrossentropy(from_logits)": (
        {"pos_weight": 0.5, "from_logits": True},
        "binary_logits",
    ),
    "CategoricalCrossentropy(class_weights)": (
        {"class_weights": [1.0, 2.0, 0.5, 1.0, 3.0]},
        "categorical_probs",
    ),
    "SparseCategoricalCrossentropy(class_weights)": (
        {"class_weights": [1.0, 2.0, 0.5, 1.0, 3.0], "from_logits": True},
        "sparse_logits",
    ),
    "SparseCategoricalFocalCrossentropy": (
        {"from_logits": True, "ignore_class": 2},
        "sparse_logits",
    ),
    "SparseCategoricalFocalCrossentropy(probs)": ({"gamma": 1.0}, "distributions_sparse"),
}


@pytest.mark.parametrize("label", EXTENSIONS)
def test_extensions_under_jit_vmap_grad(label):
    """The classes beyond Keras: jit(vmap(value_and_grad)) equals the eager loss, finite gradients."""
    kwargs, make = EXTENSIONS[label]
    loss = getattr(losses, label.split("(")[0])(**kwargs)
    pairs = [getattr(losses_cases, make)(np.random.default_rng(seed), 4, 5) for seed in (0, 1)]
    y_true = jnp.stack([jnp.asarray(t) for t, _ in pairs])
    y_pred = jnp.stack([jnp.asarray(p) for _, p in pairs])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(loss, argnums=1)))(y_true, y_pred)
    assert np.all(np.isfinite(grads))
    for i, (t, p) in enumerate(pairs):
        np.testing.assert_allclose(values[i], loss(t, p), rtol=1e-6, atol=1e-7)
