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
# # Imbalanced classification: weighted cross-entropy, class weights and focal loss
#
# The document's table recommends "weighted crossentropy, focal loss" for imbalanced
# classification, and one of its exercises asks to train on an imbalanced set with weighted
# binary cross-entropy. Here we train the same small network on a binary problem with about one
# positive for fifty negatives, under four losses:
#
# 1. plain binary cross-entropy (`sigmoid_binary_cross_entropy`);
# 2. weighted binary cross-entropy: positives weighted by `pos_weight = negatives / positives`
#    (PyTorch's `pos_weight`, the document's "weighted crossentropy");
# 3. class weights: every example weighted by `n / (2 n_class)` (scikit-learn's "balanced"
#    weights, what Keras's `class_weight=` applies);
# 4. focal loss (`sigmoid_focal_loss`, `alpha=0.25`, `gamma=2`, the defaults of Lin et al. 2017);
#
# and compare them with threshold-free metrics from scikit-learn, the area under the
# precision-recall curve (average precision) and the ROC AUC, and with precision and recall at
# the default threshold of one half.

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
from sklearn.datasets import make_classification
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.model_selection import train_test_split

import jaxloss

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # small sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")

# %% [markdown]
# ## The data
#
# scikit-learn's `make_classification`: 20 features of which 5 are informative, few positives
# and a little label noise, split into training and test sets with the same class ratio.

# %%
num_examples = 6000 if FAST else 40000
features, labels = make_classification(
    n_samples=num_examples,
    n_features=20,
    n_informative=5,
    n_redundant=5,
    weights=[0.985, 0.015],
    class_sep=0.8,
    flip_y=0.005,
    random_state=0,
)
x_train, x_test, y_train, y_test = train_test_split(
    features.astype(np.float32), labels.astype(np.float32), test_size=0.3, stratify=labels, random_state=0
)
num_pos, num_neg = int(y_train.sum()), int(len(y_train) - y_train.sum())
print(f"training set: {len(y_train)} examples, {num_pos} positive, {num_neg} negative "
      f"(1:{num_neg / num_pos:.0f}); test set: {len(y_test)} examples, {int(y_test.sum())} positive")
assert num_neg / num_pos >= 20

# %% [markdown]
# ## Four losses on the same model
#
# Each loss is the mean over the batch of a jaxloss per-example kernel on the model's logits.

# %%
pos_weight = num_neg / num_pos
class_weight = {0: len(y_train) / (2 * num_neg), 1: len(y_train) / (2 * num_pos)}
print(f"pos_weight = {pos_weight:.2f}; class weights: negative {class_weight[0]:.3f}, positive {class_weight[1]:.3f}")


def plain_bce(logits, y):
    return jnp.mean(jaxloss.sigmoid_binary_cross_entropy(logits, y))


def weighted_bce(logits, y):
    return jnp.mean(jaxloss.sigmoid_binary_cross_entropy(logits, y, pos_weight=jnp.float32(pos_weight)))


def class_weighted_bce(logits, y):
    weights = jnp.where(y == 1, class_weight[1], class_weight[0])
    return jnp.mean(weights * jaxloss.sigmoid_binary_cross_entropy(logits, y))


def focal(logits, y):
    return jnp.mean(jaxloss.sigmoid_focal_loss(logits, y, alpha=0.25, gamma=2.0))


objectives = {
    "plain BCE": plain_bce,
    "weighted BCE (pos_weight)": weighted_bce,
    "class weights (balanced)": class_weighted_bce,
    "focal (alpha=0.25, gamma=2)": focal,
}

# %% [markdown]
# The model: 20 → 32 (relu) → 32 (relu) → 1 logit, the same initialisation for every loss, trained
# with Adam on mini-batches of 256.

# %%
hidden = 32
num_steps = 400 if FAST else 3000
batch_size = 256


def init_params(key):
    k1, k2, k3 = jax.random.split(key, 3)
    glorot = jax.nn.initializers.glorot_uniform()
    return {
        "w1": glorot(k1, (20, hidden)), "b1": jnp.zeros(hidden),
        "w2": glorot(k2, (hidden, hidden)), "b2": jnp.zeros(hidden),
        "w3": glorot(k3, (hidden, 1)), "b3": jnp.zeros(1),
    }


def logits_of(params, x):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    h = jax.nn.relu(h @ params["w2"] + params["b2"])
    return (h @ params["w3"] + params["b3"])[:, 0]


optimizer = optax.adam(1e-3)


def train(objective, key):
    init_key, data_key = jax.random.split(key)
    params = init_params(init_key)

    def step(carry, batch_key):
        params, state = carry
        index = jax.random.randint(batch_key, (batch_size,), 0, len(x_train))
        x, y = jnp.asarray(x_train)[index], jnp.asarray(y_train)[index]
        loss, grads = jax.value_and_grad(lambda p: objective(logits_of(p, x), y))(params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    keys = jax.random.split(data_key, num_steps)
    (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), keys)
    return params, history


@jax.jit
def train_all(key):
    return {name: train(objective, key) for name, objective in objectives.items()}


trained = train_all(jax.random.key(0))
probabilities = {name: np.asarray(jax.nn.sigmoid(logits_of(trained[name][0], x_test))) for name in objectives}

# %% [markdown]
# ## Results on the test set

# %%
rows = {}
for name in objectives:
    p = probabilities[name]
    predicted = p >= 0.5
    rows[name] = {
        "average precision": average_precision_score(y_test, p),
        "ROC AUC": roc_auc_score(y_test, p),
        "precision@0.5": precision_score(y_test, predicted, zero_division=0),
        "recall@0.5": recall_score(y_test, predicted, zero_division=0),
        "mean predicted p": float(np.mean(p)),
    }
columns = list(next(iter(rows.values())))
print(f"{'loss':29s}" + "".join(f"{c:>19s}" for c in columns))
for name, row in rows.items():
    print(f"{name:29s}" + "".join(f"{row[c]:19.3f}" for c in columns))
print(f"{'(share of positives)':29s}" + " " * 19 * 4 + f"{y_test.mean():19.3f}")
best_ap = max(rows, key=lambda n: rows[n]["average precision"])
best_auc = max(rows, key=lambda n: rows[n]["ROC AUC"])
print(f"\nhighest average precision: {best_ap}; highest ROC AUC: {best_auc}")
print(f"a random ranking has average precision {y_test.mean():.3f} and ROC AUC 0.5")

# %%
fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(12, 4.8))
for name in objectives:
    precision, recall, _ = precision_recall_curve(y_test, probabilities[name])
    ax_pr.plot(recall, precision, label=f"{name} (AP {rows[name]['average precision']:.3f})")
    fpr, tpr, _ = roc_curve(y_test, probabilities[name])
    ax_roc.plot(fpr, tpr, label=f"{name} (AUC {rows[name]['ROC AUC']:.3f})")
ax_pr.axhline(y_test.mean(), color="k", linestyle=":", label="random ranking")
ax_roc.plot([0, 1], [0, 1], "k:", label="random ranking")
ax_pr.set(title="Precision-recall on the test set", xlabel="recall", ylabel="precision")
ax_roc.set(title="ROC on the test set", xlabel="false positive rate", ylabel="true positive rate")
ax_pr.legend(fontsize=8)
ax_roc.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %%
fig, ax = plt.subplots(figsize=(8, 4.5))
bins = np.linspace(0, 1, 41)
for name in objectives:
    ax.hist(probabilities[name][y_test == 1], bins=bins, histtype="step", linewidth=1.5, label=name)
ax.set(title="Predicted probability of the positive test examples", xlabel="predicted probability",
       ylabel="positive test examples")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Reading the results:
#
# - The threshold-free metrics (average precision, ROC AUC) measure how well each model *ranks*
#   positives above negatives; the table and curves above show how close the four losses are on
#   this problem.
# - The weights mostly move the *threshold*: with `pos_weight` or balanced class weights the
#   model's probabilities are inflated for the rare class (compare "mean predicted p" with the
#   share of positives), so at a threshold of one half they trade precision for recall. If you need
#   calibrated probabilities, train with plain cross-entropy, or re-calibrate afterwards.
# - `pos_weight` and balanced class weights define the same objective up to a constant factor
#   (the ratio of the two class weights equals `pos_weight`), which Adam's scale invariance makes
#   nearly irrelevant, so their rows nearly coincide.
# - The focal loss down-weights easy examples instead of a whole class; with `alpha=0.25` it
#   even gives the rare positives *less* weight, as in Lin et al., where the focusing term does
#   the balancing.

# %%
ratio = class_weight[1] / class_weight[0]
print(f"class-weight ratio {ratio:.4f} equals pos_weight {pos_weight:.4f}: {np.isclose(ratio, pos_weight)}")
gap = abs(rows["weighted BCE (pos_weight)"]["average precision"] - rows["class weights (balanced)"]["average precision"])
print(f"average precision, pos_weight vs balanced class weights: differ by {gap:.4f}")
assert gap < 0.02
for name in ("weighted BCE (pos_weight)", "class weights (balanced)"):
    assert rows[name]["mean predicted p"] > rows["plain BCE"]["mean predicted p"]
    assert rows[name]["recall@0.5"] >= rows["plain BCE"]["recall@0.5"]
print("weighted losses: higher mean predicted probability and recall at one half than plain BCE (asserted)")
