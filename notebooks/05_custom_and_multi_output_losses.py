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
# # Custom and multi-output losses
#
# Three of the document's exercises, with `jaxloss.losses` and the training loop `jaxloss.train`:
#
# 1. the document's custom loss, an asymmetric squared error that penalises under-estimates three
#    times more than over-estimates, as a plain function and as a `jaxloss.losses.Loss` subclass;
# 2. "a custom loss function that combines MSE with a regularization term", written by hand in a
#    plain optax loop and, equivalently, declared as `kernel_regularizer=l2(...)` on the layers;
# 3. "a model that uses different loss functions for different outputs": a two-output model with
#    a loss per output and loss weights.

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
from flax import nnx

import jaxloss
from jaxloss import losses, train, zoo
from jaxloss.data import document_regression
from jaxloss.train import Dense, l2, regularization_loss

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # small sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")

# %% [markdown]
# ## 1. The document's asymmetric loss
#
# The document's function, in JAX (`jaxloss.zoo.asymmetric_weighted_mse`):
#
# ```python
# def custom_loss(y_true, y_pred):
#     error = y_true - y_pred
#     under = 1.5 * jnp.square(jnp.maximum(0.0, error))   # prediction below the target
#     over = 0.5 * jnp.square(jnp.maximum(0.0, -error))   # prediction above the target
#     return jnp.mean(under + over)
# ```
#
# A plain function `f(y_true, y_pred)` works wherever a built-in loss does. The same rule as a
# `Loss` subclass returns one value per example from `call`, and inherits sample weights and the
# reductions from the base class:


# %%
class AsymmetricSquaredError(losses.Loss):
    """Squared error weighted ``under`` below the target and ``over`` above it."""

    def __init__(self, under=1.5, over=0.5, **kwargs):
        super().__init__(**kwargs)
        self.under, self.over = under, over

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        penalty = self.under * jnp.square(jnp.maximum(0.0, error)) + self.over * jnp.square(
            jnp.maximum(0.0, -error)
        )
        return jnp.mean(penalty, axis=-1)

    def get_config(self):
        return {**super().get_config(), "under": self.under, "over": self.over}


y_true = jnp.array([[1.0], [0.0], [2.0]])
y_pred = jnp.array([[0.0], [2.0], [2.5]])
print("plain function:        ", float(zoo.asymmetric_weighted_mse(y_true, y_pred)))
print("Loss subclass:         ", float(AsymmetricSquaredError()(y_true, y_pred)))
print("with sample weights:   ", float(AsymmetricSquaredError()(y_true, y_pred, sample_weight=jnp.array([1.0, 0.0, 1.0]))))
print("reduction='none':      ", AsymmetricSquaredError(reduction="none")(y_true, y_pred))
assert np.isclose(zoo.asymmetric_weighted_mse(y_true, y_pred), AsymmetricSquaredError()(y_true, y_pred))

# %% [markdown]
# The document trains its regressor (20 → 10 relu → 1) on its synthetic set (`jaxloss.data`
# replays its NumPy draws) with Adam and batch 32 for 3 epochs. We train the same model twice,
# with the squared error and with the asymmetric loss, for more epochs (printed below) so that both
# settle, and look at the sign of the errors.

# %%
x_reg, y_reg = document_regression()
print(f"document regression set: x {x_reg.shape}, y {y_reg.shape}")
asymmetric_epochs = 10 if FAST else 30  # the document: 3; more lets both models settle


def fit_regressor(name, loss, seed=0):
    trainer = train.compile(zoo.Regressor(rngs=nnx.Rngs(seed)), optimizer="adam", loss=loss)
    history = trainer.fit(x_reg, y_reg, epochs=asymmetric_epochs, batch_size=32, verbose=0)
    losses_per_epoch = history.history["loss"]
    print(f"{name:46s} loss {losses_per_epoch[0]:.4f} after epoch 1, "
          f"{losses_per_epoch[-1]:.4f} after epoch {asymmetric_epochs}")
    return trainer


mse_trainer = fit_regressor("losses.MeanSquaredError()", losses.MeanSquaredError())
asym_trainer = fit_regressor("zoo.asymmetric_weighted_mse (the document's)", zoo.asymmetric_weighted_mse)

residuals = {
    "mean squared error": mse_trainer.predict(x_reg)[:, 0] - y_reg,
    "asymmetric loss": asym_trainer.predict(x_reg)[:, 0] - y_reg,
}
under_fraction = {name: float(np.mean(r < 0)) for name, r in residuals.items()}
for name, r in residuals.items():
    print(f"{name:20s} mean prediction - target {np.mean(r):+.3f}, under-estimates {under_fraction[name]:.1%}")
assert under_fraction["asymmetric loss"] < under_fraction["mean squared error"]

fig, ax = plt.subplots(figsize=(7, 4))
bins = np.linspace(-4, 4, 41)
for name, r in residuals.items():
    ax.hist(r, bins=bins, alpha=0.6, label=name)
ax.axvline(0.0, color="k", linewidth=1, label="prediction = target")
ax.set(title="Prediction errors on the training set", xlabel="prediction - target", ylabel="examples")
ax.legend()
plt.show()

# %% [markdown]
# The asymmetric loss makes under-estimates (left of zero) more expensive, so the model shifts its
# predictions upwards and under-estimates less often (the cell prints both fractions and asserts
# the order). The document's targets are pure noise, independent of `x`, so the model can only
# learn such a shift; on data with signal the same loss biases every prediction upwards.

# %% [markdown]
# ## 2. MSE plus a regularization term
#
# A regression set with few examples and many features, where a small network overfits. First the
# exercise as written: a loss that is the mean squared error plus `l2` times the sum of squared
# kernel weights, in a plain optax loop. Then the same objective declared on the layers, as Keras
# does (`kernel_regularizer=l2(0.01)` adds `0.01 * sum(kernel**2)`): the training loop adds it to
# the loss it optimises and reports.

# %%
rng = np.random.default_rng(0)
num_features, num_train, num_val = 20, 100, 1000
true_weights = np.zeros(num_features, np.float32)
true_weights[:3] = [1.0, -2.0, 0.5]


def draw(n):
    x = rng.normal(size=(n, num_features)).astype(np.float32)
    y = (x @ true_weights + 0.5 * rng.normal(size=n)).astype(np.float32)
    return x, y


x_small, y_small = draw(num_train)
x_val, y_val = draw(num_val)


class RegularizedMLP(nnx.Module):
    """20 -> 32 (relu) -> 1, with an optional l2 penalty on both kernels."""

    def __init__(self, l2_factor=0.0, *, rngs):
        regularizer = l2(l2_factor) if l2_factor else None
        self.hidden = Dense(num_features, 32, activation="relu", kernel_regularizer=regularizer, rngs=rngs)
        self.output = Dense(32, 1, kernel_regularizer=regularizer, rngs=rngs)

    def __call__(self, x):
        return self.output(self.hidden(x))


def mse_plus_l2(model, x, y, l2_factor):
    """The exercise's loss: mean squared error + l2_factor * (sum of squared kernel weights)."""
    mse = jnp.mean(jaxloss.squared_error(model(x)[:, 0], y))
    penalty = sum(jnp.sum(layer.kernel[...] ** 2) for layer in (model.hidden, model.output))
    return mse + l2_factor * penalty


# A plain optax loop on that loss.
l2_factor = 0.01
model = RegularizedMLP(rngs=nnx.Rngs(0))  # no regularizer declared: the loss adds the term
optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)


@nnx.jit
def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(mse_plus_l2)(model, x, y, l2_factor)
    optimizer.update(model, grads)
    return loss


for step in range(50 if FAST else 300):
    hand_written_loss = train_step(model, optimizer, x_small, y_small)
print(f"plain optax loop, full batch: final loss (MSE + l2 term) {float(hand_written_loss):.4f}")

# The same objective declared on the layers: the loss the loop reports is MSE + regularization.
declared = RegularizedMLP(l2_factor, rngs=nnx.Rngs(0))
trainer = train.compile(declared, optimizer="adam", loss=losses.MeanSquaredError())
reported = trainer.evaluate(x_small, y_small, batch_size=num_train, verbose=0)
by_hand = float(jnp.mean(jaxloss.squared_error(declared(x_small)[:, 0], y_small)) + regularization_loss(declared))
print(f"declared regularizers: reported loss {reported:.6f}, MSE + l2 term by hand {by_hand:.6f}")
assert np.isclose(reported, by_hand, rtol=1e-5)

# %% [markdown]
# How much regularization? We train the declared version for several `l2` factors and compare the
# error on held-out data (`val_mse`, the plain squared error, without the penalty).

# %%
l2_factors = [0.0, 0.01, 0.1] if FAST else [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
regularization_epochs = 30 if FAST else 300
sweep = {}
for factor in l2_factors:
    model = RegularizedMLP(factor, rngs=nnx.Rngs(0))
    trainer = train.compile(model, optimizer="adam", loss=losses.MeanSquaredError(), metrics=["mse"])
    history = trainer.fit(
        x_small, y_small, epochs=regularization_epochs, batch_size=32, validation_data=(x_val, y_val), verbose=0
    )
    sweep[factor] = {
        "train_mse": history.history["mse"][-1],
        "val_mse": history.history["val_mse"][-1],
        "weight_norm": float(jnp.sqrt(sum(jnp.sum(layer.kernel[...] ** 2) for layer in (model.hidden, model.output)))),
    }

print(f"{'l2 factor':>9s} {'train MSE':>10s} {'held-out MSE':>13s} {'kernel norm':>12s}")
for factor, row in sweep.items():
    print(f"{factor:9g} {row['train_mse']:10.4f} {row['val_mse']:13.4f} {row['weight_norm']:12.3f}")
best_factor = min(sweep, key=lambda f: sweep[f]["val_mse"])
print(f"lowest held-out error at l2 = {best_factor:g}; noise variance (the floor) = {0.5**2:g}")

fig, (ax_err, ax_norm) = plt.subplots(1, 2, figsize=(11, 4))
factors = np.array(l2_factors)
plot_x = np.where(factors == 0, factors[factors > 0].min() / 3, factors)  # place l2 = 0 on the log axis
ax_err.plot(plot_x, [sweep[f]["train_mse"] for f in l2_factors], "o-", label="training MSE")
ax_err.plot(plot_x, [sweep[f]["val_mse"] for f in l2_factors], "o-", label="held-out MSE")
ax_err.axhline(0.25, color="k", linestyle="--", label="noise variance")
ax_err.set(title=f"Squared error after {regularization_epochs} epochs", xlabel="l2 factor (leftmost point: 0)",
           ylabel="mean squared error", xscale="log")
ax_err.legend()
ax_norm.plot(plot_x, [sweep[f]["weight_norm"] for f in l2_factors], "o-", label="all kernels")
ax_norm.set(title="Size of the weights", xlabel="l2 factor (leftmost point: 0)", ylabel="kernel norm", xscale="log")
ax_norm.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# With too small a factor the network fits the training set's noise (training error far below the
# held-out error); with too large a factor it cannot fit the signal either. The table gives the
# factor with the lowest held-out error on this data.

# %% [markdown]
# ## 3. Two outputs, two losses, loss weights
#
# A model with a shared trunk and two heads: a regression head (`value`, trained with the squared
# error) and a classification head (`is_high`, a sigmoid trained with binary cross-entropy). As in
# Keras, `loss` and `loss_weights` are dicts keyed by output name; the reported `loss` is the
# weighted sum of the per-output losses, which are reported too.


# %%
class TwoHeads(nnx.Module):
    def __init__(self, *, rngs):
        self.trunk = Dense(num_features, 16, activation="relu", rngs=rngs)
        self.value = Dense(16, 1, rngs=rngs)
        self.is_high = Dense(16, 1, activation="sigmoid", rngs=rngs)

    def __call__(self, x):
        hidden = self.trunk(x)
        return {"value": self.value(hidden), "is_high": self.is_high(hidden)}


num_multi = 512 if FAST else 4000
x_multi = rng.normal(size=(num_multi, num_features)).astype(np.float32)
value = (x_multi @ true_weights + 0.3 * rng.normal(size=num_multi)).astype(np.float32)
is_high = (x_multi[:, 3] - x_multi[:, 4] + 0.3 * rng.normal(size=num_multi) > 0).astype(np.float32)
targets = {"value": value, "is_high": is_high}

loss_weights = {"value": 1.0, "is_high": 0.5}
trainer = train.compile(
    TwoHeads(rngs=nnx.Rngs(0)),
    optimizer="adam",
    loss={"value": losses.MeanSquaredError(), "is_high": losses.BinaryCrossentropy()},
    loss_weights=loss_weights,
    metrics={"is_high": ["accuracy"]},
)
multi_epochs = 3 if FAST else 20
history = trainer.fit(x_multi, targets, epochs=multi_epochs, batch_size=64, validation_split=0.2, verbose=2)
logs = trainer.evaluate(x_multi, targets, batch_size=num_multi, verbose=0, return_dict=True)
print("\nlogs:", {name: round(v, 4) for name, v in logs.items()})
weighted_sum = sum(loss_weights[name] * logs[f"{name}_loss"] for name in loss_weights)
print(f"loss {logs['loss']:.6f} = 1.0 * value_loss + 0.5 * is_high_loss = {weighted_sum:.6f}")
assert np.isclose(logs["loss"], weighted_sum, rtol=1e-5)

# %% [markdown]
# The loss weights decide how much each head's error counts in the shared trunk's gradient. We
# train the same model with several weights on the classification head and record each head's
# held-out loss.

# %%
class_weights_grid = [0.1, 10.0] if FAST else [0.01, 0.1, 1.0, 10.0, 100.0]
weight_sweep = {}
for weight in class_weights_grid:
    trainer = train.compile(
        TwoHeads(rngs=nnx.Rngs(0)),
        optimizer="adam",
        loss={"value": losses.MeanSquaredError(), "is_high": losses.BinaryCrossentropy()},
        loss_weights={"value": 1.0, "is_high": weight},
        metrics={"is_high": ["accuracy"]},
    )
    history = trainer.fit(x_multi, targets, epochs=multi_epochs, batch_size=64, validation_split=0.2, verbose=0)
    weight_sweep[weight] = {name: values[-1] for name, values in history.history.items()}

print(f"{'is_high weight':>14s} {'val value MSE':>14s} {'val is_high BCE':>16s} {'val is_high acc':>16s}")
for weight, row in weight_sweep.items():
    print(f"{weight:14g} {row['val_value_loss']:14.4f} {row['val_is_high_loss']:16.4f} {row['val_is_high_accuracy']:16.4f}")

fig, (ax_value, ax_class) = plt.subplots(1, 2, figsize=(11, 4))
ax_value.plot(class_weights_grid, [weight_sweep[w]["val_value_loss"] for w in class_weights_grid], "o-",
              color="C0", label="value head")
ax_value.set(title="Regression head", xlabel="loss weight of the is_high head",
             ylabel="held-out squared error", xscale="log")
ax_class.plot(class_weights_grid, [weight_sweep[w]["val_is_high_loss"] for w in class_weights_grid], "s-",
              color="C1", label="is_high head")
ax_class.set(title="Classification head", xlabel="loss weight of the is_high head",
             ylabel="held-out binary cross-entropy", xscale="log")
for ax in (ax_value, ax_class):
    ax.legend()
fig.suptitle(f"Each head's held-out loss after {multi_epochs} epochs (value head weight 1)")
plt.tight_layout()
plt.show()
