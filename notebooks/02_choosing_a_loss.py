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
# # Choosing a loss
#
# The document's advice for regression is "MSE, MAE or Huber, depending on how sensitive to
# outliers you want to be". This notebook makes that concrete with jaxloss's kernels:
#
# 1. the regression losses and their gradients plotted against the error;
# 2. cross-entropy against focal loss over the probability of the true class, for several values
#    of the focusing parameter gamma (the curves of Figure 1 of Lin et al. 2017, "Focal Loss for
#    Dense Object Detection");
# 3. the document's first exercise: fit the same model to data with outliers under each loss
#    and compare the fits on clean test data.
#
# Every number in the text comes from a cell's output.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install jaxloss from GitHub
    %pip install -q "jaxloss[notebooks] @ git+https://github.com/jaxloss/jaxloss.git"

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import jaxloss

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # small sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")

# %% [markdown]
# ## Regression losses against the error
#
# jaxloss's regression kernels are elementwise: `loss(predictions, targets)` returns one value
# per element and the caller reduces (the mean over the last axis is Keras's
# `MeanSquaredError`, `MeanAbsoluteError`, `Huber`, `LogCosh`). We evaluate each on a grid of
# errors `e = prediction - target` and take its gradient with `jax.grad`, mapped over the grid
# with `jax.vmap`.

# %%
errors = jnp.linspace(-4.0, 4.0, 401)
zeros = jnp.zeros_like(errors)

regression_losses = {
    "squared error (MSE)": jaxloss.squared_error,
    "absolute error (MAE)": jaxloss.absolute_error,
    **{
        f"Huber, delta={delta}": (lambda p, t, d=delta: jaxloss.huber_loss(p, t, delta=d))
        for delta in (0.5, 1.0, 2.0)
    },
    "log-cosh": jaxloss.log_cosh,
}




@jax.jit
def loss_and_gradient_curves(errors):
    """Each loss and its derivative d loss / d prediction at each error, for a target of 0."""
    curves = {}
    for name, loss in regression_losses.items():
        gradient = jax.vmap(jax.grad(lambda e, loss=loss: loss(e, jnp.zeros_like(e))))
        curves[name] = (loss(errors, jnp.zeros_like(errors)), gradient(errors))
    return curves


curves = loss_and_gradient_curves(errors)

fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(12, 4.5))
for name in regression_losses:  # (jit returns dicts with sorted keys)
    value, gradient = curves[name]
    ax_loss.plot(errors, value, label=name)
    ax_grad.plot(errors, gradient, label=name)
ax_loss.set(title="Regression losses", xlabel="error e = prediction - target", ylabel="loss")
ax_loss.set_ylim(0, 8)
ax_grad.set(
    title="Their gradients (what the optimizer sees)",
    xlabel="error e = prediction - target",
    ylabel="d loss / d prediction",
)
ax_loss.legend()
ax_grad.legend()
plt.show()

# %% [markdown]
# The gradient is what moves the parameters. The squared error's gradient grows with the
# error, so one large error can dominate a batch; the absolute error's is constant; Huber's is
# the squared error's up to `delta` and then saturates at `delta`; log-cosh's (`tanh e`) is a
# smooth version of the same saturation. The gradients at a few errors:

# %%
probe_errors = [0.1, 1.0, 3.0, 10.0]
print(f"{'gradient at error':24s}" + "".join(f"{e:>10}" for e in probe_errors))
probe_curves = loss_and_gradient_curves(jnp.array(probe_errors))
for name in regression_losses:
    gradient = probe_curves[name][1]
    print(f"{name:24s}" + "".join(f"{float(g):10.4f}" for g in gradient))

# %% [markdown]
# ## Cross-entropy against focal loss
#
# For a binary label, let `p_t` be the probability the model gives the true class. Cross-entropy
# is `-log(p_t)`; the focal loss multiplies it by `(1 - p_t) ** gamma`, which shrinks the loss of
# well-classified examples (`p_t` near 1) and leaves badly classified ones almost untouched, so
# that the many easy examples of an imbalanced problem stop dominating the gradient. With
# `gamma = 0` it is the cross-entropy. We evaluate `jaxloss.sigmoid_focal_loss` at the logit whose
# sigmoid is `p_t`, with label 1 and no class balancing (`alpha=None`), as in the paper's figure.

# %%
gammas = (0.0, 0.5, 1.0, 2.0, 5.0)
p_t = jnp.linspace(0.001, 0.999, 500)
logits_for_p_t = jnp.log(p_t) - jnp.log1p(-p_t)
ones = jnp.ones_like(p_t)


@jax.jit
def focal_curves(logits):
    labels = jnp.ones_like(logits)
    return jnp.stack(
        [jaxloss.sigmoid_focal_loss(logits, labels, alpha=None, gamma=gamma) for gamma in gammas]
    )


curves_focal = focal_curves(logits_for_p_t)
cross_entropy = jaxloss.sigmoid_binary_cross_entropy(logits_for_p_t, ones)
assert jnp.allclose(curves_focal[0], cross_entropy, rtol=1e-5)  # gamma = 0 is the cross-entropy

fig, ax = plt.subplots(figsize=(7, 4.5))
for gamma, curve in zip(gammas, curves_focal):
    label = f"gamma = {gamma:g}" + (" (cross-entropy)" if gamma == 0 else "")
    ax.plot(p_t, curve, label=label)
ax.axvspan(0.6, 1.0, color="0.9", label="well-classified examples")
ax.set(title="Focal loss against the probability of the true class\n(after Lin et al. 2017, Figure 1)",
       xlabel="probability of the ground-truth class, p_t", ylabel="loss", ylim=(0, 5))
ax.legend()
plt.show()

# %% [markdown]
# How much the focal term shrinks the loss relative to cross-entropy, at a few values of `p_t`:

# %%
probe_p_t = jnp.array([0.1, 0.5, 0.9, 0.968, 0.99])
probe_logits = jnp.log(probe_p_t) - jnp.log1p(-probe_p_t)
probe_focal = focal_curves(probe_logits)
print(f"{'p_t':>6s}" + "".join(f"{f'gamma={g:g}':>12s}" for g in gammas[1:]) + "   (cross-entropy / focal loss)")
for i, p in enumerate(probe_p_t):
    ratios = probe_focal[0, i] / probe_focal[1:, i]
    print(f"{float(p):6.3f}" + "".join(f"{float(r):12.4g}" for r in ratios))
gamma_two = gammas.index(2.0)
print(f"\nwith gamma = 2 an example at p_t = 0.9 gets {float(probe_focal[0, 2] / probe_focal[gamma_two, 2]):.0f}x "
      f"less loss than with cross-entropy, one at p_t = 0.968 about "
      f"{float(probe_focal[0, 3] / probe_focal[gamma_two, 3]):.0f}x less")

# %% [markdown]
# ## The document's exercise: regression with outliers
#
# "Experiment with different loss functions on a regression problem and compare their
# performance." We draw a linear relation with Gaussian noise, corrupt a fraction of the
# training targets with large positive errors (a broken sensor, say), fit the same linear model
# under each loss with optax, and measure each fit on clean test data.

# %%
rng = np.random.default_rng(0)
num_train = 200 if FAST else 1000
outlier_fraction = 0.1
true_slope, true_intercept, noise = 2.0, 1.0, 0.5


def draw(n):
    x = rng.uniform(-3.0, 3.0, size=n).astype(np.float32)
    y = (true_slope * x + true_intercept + noise * rng.normal(size=n)).astype(np.float32)
    return x, y


x_train, y_train = draw(num_train)
x_test, y_test = draw(1000)
is_outlier = rng.random(num_train) < outlier_fraction
y_train = np.where(is_outlier, y_train + rng.uniform(10.0, 20.0, size=num_train), y_train)
y_train = y_train.astype(np.float32)
print(f"{num_train} training points, {int(is_outlier.sum())} of them outliers; 1000 clean test points")

# %%
num_steps = 200 if FAST else 500


optimizer = optax.adam(0.05)


def fit(loss, x, y):
    """Full-batch Adam on (slope, intercept) minimising the mean of ``loss``; with the history."""

    def objective(params):
        return jnp.mean(loss(params[0] * x + params[1], y))

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), value

    params = jnp.zeros(2, jnp.float32)
    (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), None, num_steps)
    return params, history


@jax.jit
def fit_each_loss(x, y):
    return {name: fit(loss, x, y) for name, loss in regression_losses.items()}


fits = fit_each_loss(x_train, y_train)

print(f"true line: slope {true_slope}, intercept {true_intercept}\n")
print(f"{'loss':24s} {'slope':>8s} {'intercept':>10s} {'test RMSE':>10s} {'test MAE':>9s}")
test_rmse = {}
for name in regression_losses:
    params = fits[name][0]
    residuals = params[0] * x_test + params[1] - y_test
    test_rmse[name] = float(jnp.sqrt(jnp.mean(residuals**2)))
    print(
        f"{name:24s} {float(params[0]):8.3f} {float(params[1]):10.3f} "
        f"{test_rmse[name]:10.3f} {float(jnp.mean(jnp.abs(residuals))):9.3f}"
    )
best = min(test_rmse, key=test_rmse.get)
worst = max(test_rmse, key=test_rmse.get)
print(f"\nbest on clean test data: {best} (RMSE {test_rmse[best]:.3f}); "
      f"worst: {worst} (RMSE {test_rmse[worst]:.3f}); noise floor {noise}")
assert worst == "squared error (MSE)", "the text below says the squared error fits worst"

# %%
fig, (ax_fit, ax_rmse) = plt.subplots(1, 2, figsize=(12, 4.5))
ax_fit.scatter(x_train[~is_outlier], y_train[~is_outlier], s=6, c="0.6", label="training data")
ax_fit.scatter(x_train[is_outlier], y_train[is_outlier], s=10, c="crimson", label="outliers")
grid = np.linspace(-3.0, 3.0, 2)
for name in regression_losses:
    params = fits[name][0]
    ax_fit.plot(grid, params[0] * grid + params[1], label=name)
ax_fit.plot(grid, true_slope * grid + true_intercept, "k--", label="true line")
ax_fit.set(title="Linear fits under each loss", xlabel="x", ylabel="y")
ax_fit.legend(fontsize=8)
names = list(regression_losses)
ax_rmse.barh(names, [test_rmse[name] for name in names], color=[f"C{i}" for i in range(len(names))])
ax_rmse.axvline(noise, color="k", linestyle="--", label="noise level (best possible RMSE)")
ax_rmse.invert_yaxis()
ax_rmse.set(title="Error on clean test data", xlabel="test RMSE", ylabel="training loss")
ax_rmse.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The outliers all push upwards, so a loss whose gradient grows with the error (the squared
# error) lifts the whole line towards them, and its test error is the largest in the table.
# The losses whose gradient saturates (absolute error, Huber, log-cosh) give each outlier a
# bounded pull and stay close to the true line. Huber's `delta` sets where the saturation
# starts: a smaller `delta` is more robust, a larger one behaves more like the squared error
# on the clean points.
