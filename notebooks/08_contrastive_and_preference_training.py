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
# # Contrastive pre-training and preference training with jaxloss
#
# Three experiments with the modern losses:
#
# 1. **Contrastive pre-training on MNIST.** A small encoder sees two randomly augmented views
#    of each digit and learns, without labels, to map the two views of one image close together
#    and apart from the other images of the batch. We train it once with InfoNCE
#    (`jaxloss.contrastive_loss`, CLIP's symmetric form) and once with SigLIP's sigmoid loss
#    (`jaxloss.sigmoid_contrastive_loss`), and follow a *linear probe* (a least-squares
#    classifier fitted on the frozen features, scored on the test digits) over training,
#    against the same probe on the untrained encoder.
# 2. **The chunked loss's memory.** `jaxloss.chunked_contrastive_loss` computes the same loss
#    without ever forming the `[B, B]` similarity matrix; we compare the compiled temporary
#    memory of forward+backward against the batch size.
# 3. **A small DPO run.** A tiny next-token policy learns from synthetic preference pairs
#    (`jaxloss.dpo_loss` on `jaxloss.sequence_log_probs`, a frozen reference model), and we plot
#    the implicit reward margins (`jaxloss.dpo_rewards`) over training.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install jaxloss from GitHub
    %pip install -q "jaxloss[notebooks] @ git+https://github.com/jaxloss/jaxloss.git"

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import jaxloss
from jaxloss.data import load_mnist

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # small sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")
print("device:", jax.devices()[0].device_kind, f"({jax.default_backend()})")

# %% [markdown]
# ## 1. Contrastive pre-training of an MNIST encoder
#
# Data: full MNIST when available (Keras's cache or the installed package), else the offline
# subset of real digits; the cell prints which. The labels are used only by the probe.

# %%
(x_train, y_train), (x_test, y_test), source = load_mnist(allow_download="google.colab" in sys.modules)
print("MNIST source:", source)
num_unlabelled = 4096 if FAST else 32768
num_probe_train, num_probe_test = (1000, 1000) if FAST else (5000, 5000)
images = (x_train[:num_unlabelled].astype(np.float32) / 255.0)[..., None]  # [N, 28, 28, 1]
probe_train = (x_train[-num_probe_train:].astype(np.float32) / 255.0)[..., None], y_train[-num_probe_train:]
probe_test = (x_test[:num_probe_test].astype(np.float32) / 255.0)[..., None], y_test[:num_probe_test]
print(f"unlabelled images {images.shape}; probe: {num_probe_train} labelled training digits, "
      f"{num_probe_test} test digits")

# %% [markdown]
# ### Two augmented views
#
# Each view is a random crop (the digit shifted by up to a few pixels), a random change of
# stroke intensity, a random erased square (cutout) and a little pixel noise. The two views of
# one image are the positive pair; the other images of the batch are the negatives.

# %%
PAD, CUTOUT = 4, 10


def augment(rng, batch):
    """One random view of each [28, 28, 1] image of ``batch`` (NumPy, on the host)."""
    n = len(batch)
    padded = np.pad(batch[..., 0], ((0, 0), (PAD, PAD), (PAD, PAD)))
    dy, dx = rng.integers(0, 2 * PAD + 1, (2, n, 1, 1))
    pixels = np.arange(28)
    view = padded[np.arange(n)[:, None, None], dy + pixels[:, None], dx + pixels[None, :]]
    view = view * rng.uniform(0.6, 1.2, (n, 1, 1))
    cy, cx = rng.integers(0, 28 - CUTOUT + 1, (2, n, 1, 1))
    erased = ((pixels[:, None] >= cy) & (pixels[:, None] < cy + CUTOUT)
              & (pixels[None, :] >= cx) & (pixels[None, :] < cx + CUTOUT))
    view = np.where(erased, 0.0, view) + 0.1 * rng.standard_normal(view.shape)
    return np.clip(view, 0.0, 1.0).astype(np.float32)[..., None]


def two_views(rng, batch):
    return augment(rng, batch), augment(rng, batch)


view_a, view_b = two_views(np.random.default_rng(1), images[:6])
fig, axes = plt.subplots(3, 6, figsize=(9, 4.8))
for column in range(6):
    for row, picture in enumerate((images[column], view_a[column], view_b[column])):
        axes[row, column].imshow(np.asarray(picture)[..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[row, column].set(xticks=[], yticks=[], xlabel=f"image {column + 1}",
                              ylabel=("original", "view 1", "view 2")[row])
fig.suptitle("Two augmented views of six training digits (each column is one positive pair)")
plt.show()

# %% [markdown]
# ### The encoder
#
# A small network in plain JAX: a two-layer perceptron on the 784 pixels gives the
# 128-dimensional *representation* the probe reads; a projection head (ReLU, dense) maps it to
# the 32-dimensional *embedding* the loss sees, normalised to unit length. As in SimCLR, the
# probe reads the representation, not the embedding.

# %%
HIDDEN, REPRESENTATION, EMBEDDING = 256, 128, 32


def init_encoder(key):
    def dense(k, fan_in, fan_out):
        return {"w": jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in), "b": jnp.zeros(fan_out)}

    k1, k2, k3 = jax.random.split(key, 3)
    return {"layer1": dense(k1, 28 * 28, HIDDEN), "layer2": dense(k2, HIDDEN, REPRESENTATION),
            "head": dense(k3, REPRESENTATION, EMBEDDING)}


def represent(params, x):
    """[B, 28, 28, 1] images -> [B, REPRESENTATION] features."""
    h = jax.nn.relu(x.reshape(x.shape[0], -1) @ params["layer1"]["w"] + params["layer1"]["b"])
    return h @ params["layer2"]["w"] + params["layer2"]["b"]


def embed(params, x):
    z = jax.nn.relu(represent(params, x)) @ params["head"]["w"] + params["head"]["b"]
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


# %% [markdown]
# ### The linear probe
#
# Ridge regression of the one-hot labels on the standardised frozen features (a closed-form
# least-squares classifier), fitted on the labelled training digits and scored on test digits
# that neither the encoder nor the probe saw.

# %%
represent_jit = jax.jit(represent)


def probe_accuracy(params, ridge=1e-2):
    features = [np.asarray(represent_jit(params, jnp.asarray(x)), np.float64) for x, _ in (probe_train, probe_test)]
    mean, std = features[0].mean(0), features[0].std(0) + 1e-6
    train_f, test_f = [np.hstack([(f - mean) / std, np.ones((len(f), 1))]) for f in features]
    targets = np.eye(10)[probe_train[1]]
    weights = np.linalg.solve(train_f.T @ train_f + ridge * len(train_f) * np.eye(train_f.shape[1]),
                              train_f.T @ targets)
    return float(np.mean(np.argmax(test_f @ weights, 1) == probe_test[1]))


# %% [markdown]
# ### Training with InfoNCE and with SigLIP
#
# The same initial encoder, batches, views and optimizer (Adam) for both losses. InfoNCE's
# temperature is `0.1`; SigLIP's scale and bias are the paper's initial values (`10`, `-10`),
# kept fixed here. The probe is fitted every few steps.

# %%
batch_size = 128 if FAST else 256
num_steps = 150 if FAST else 2000
probe_every = 50 if FAST else 200

LOSSES = {
    "InfoNCE (contrastive_loss)": lambda z1, z2: jnp.mean(jaxloss.contrastive_loss(z1, z2, temperature=0.1)),
    "SigLIP (sigmoid_contrastive_loss)": lambda z1, z2: jnp.mean(jaxloss.sigmoid_contrastive_loss(z1, z2)),
}
optimizer = optax.adam(1e-3)
initial_params = init_encoder(jax.random.key(0))
untrained_accuracy = probe_accuracy(initial_params)
print(f"linear probe on the untrained encoder: test accuracy {untrained_accuracy:.3f}")


def make_step(loss_fn):
    def objective(params, first, second):
        return loss_fn(embed(params, first), embed(params, second))

    @jax.jit
    def step(params, opt_state, first, second):
        loss, grads = jax.value_and_grad(objective)(params, first, second)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


curves, trained = {}, {}
for name, loss_fn in LOSSES.items():
    step = make_step(loss_fn)
    params, opt_state = initial_params, optimizer.init(initial_params)
    rng = np.random.default_rng(0)  # the same batches and views for both losses
    losses_seen, probe_steps, probe_accuracies = [], [0], [untrained_accuracy]
    start = time.perf_counter()
    for index in range(1, num_steps + 1):
        first, second = two_views(rng, images[rng.choice(len(images), batch_size, replace=False)])
        params, opt_state, loss = step(params, opt_state, jnp.asarray(first), jnp.asarray(second))
        losses_seen.append(float(loss))
        if index % probe_every == 0 or index == num_steps:
            probe_steps.append(index)
            probe_accuracies.append(probe_accuracy(params))
    curves[name] = {"loss": losses_seen, "steps": probe_steps, "accuracy": probe_accuracies}
    trained[name] = params
    print(f"{name}: {num_steps} steps of batch {batch_size} in {time.perf_counter() - start:.1f} s; "
          f"loss {losses_seen[0]:.3f} -> {np.mean(losses_seen[-10:]):.3f}; "
          f"probe accuracy {probe_accuracies[-1]:.3f}")

# %%
fig, (ax_loss, ax_probe) = plt.subplots(1, 2, figsize=(12, 4.5))
for name, curve in curves.items():
    ax_loss.plot(np.arange(1, num_steps + 1), np.asarray(curve["loss"]) / curve["loss"][0], label=name)
    ax_probe.plot(curve["steps"], curve["accuracy"], "o-", label=name)
ax_probe.axhline(untrained_accuracy, color="0.4", linestyle=":", label="untrained encoder")
ax_loss.set(title="Training loss (relative to its first value)", xlabel="step", ylabel="loss / initial loss")
ax_probe.set(title=f"Linear-probe test accuracy ({num_probe_train} labelled digits)", xlabel="step",
             ylabel="accuracy")
ax_loss.legend()
ax_probe.legend()
plt.show()

# %% [markdown]
# Both losses improve the features over the random encoder. The claim, checked:

# %%
for name, curve in curves.items():
    gain = curve["accuracy"][-1] - untrained_accuracy
    print(f"{name}: probe accuracy {curve['accuracy'][-1]:.3f} against {untrained_accuracy:.3f} untrained "
          f"({gain:+.3f})")
    assert curve["accuracy"][-1] > untrained_accuracy
    assert np.mean(curve["loss"][-10:]) < curve["loss"][0]

# %% [markdown]
# ## 2. The chunked loss: memory against batch size
#
# `contrastive_loss` forms the `[B, B]` logits, and its backward pass keeps arrays of that
# size. `chunked_contrastive_loss` streams over blocks of keys with an online logsumexp and
# recomputes each block in the backward pass. First, both give the same values and gradients:

# %%
key_q, key_k = jax.random.split(jax.random.key(2))
queries = jax.random.normal(key_q, (512, 64))
keys = queries + 0.5 * jax.random.normal(key_k, (512, 64))
queries, keys = [x / jnp.linalg.norm(x, axis=-1, keepdims=True) for x in (queries, keys)]


def full_loss(q, k):
    return jnp.mean(jaxloss.contrastive_loss(q, k))


def chunked_loss(q, k):
    return jnp.mean(jaxloss.chunked_contrastive_loss(q, k, chunk_size=128))


(value_full, grads_full) = jax.jit(jax.value_and_grad(full_loss, argnums=(0, 1)))(queries, keys)
(value_chunked, grads_chunked) = jax.jit(jax.value_and_grad(chunked_loss, argnums=(0, 1)))(queries, keys)
print(f"loss: full {float(value_full):.6f}, chunked {float(value_chunked):.6f}")
for name, a, b in (("loss", value_full, value_chunked), ("d queries", grads_full[0], grads_chunked[0]),
                   ("d keys", grads_full[1], grads_chunked[1])):
    relative = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))
    print(f"{name:9s} max relative difference {relative:.2e}")
    assert relative < 1e-4  # float32 rounding: the two sum the same terms in another order

# %% [markdown]
# Now the compiled temporary memory (`temp_size_in_bytes` of
# `jax.jit(...).lower(...).compile().memory_analysis()`: scratch besides inputs and outputs) of
# `jax.value_and_grad` with respect to queries and keys, embedding width 256, float32. Only
# compiled, never run, so large batches need no memory.

# %%
width = 256
batch_sizes = [1024, 8192] if FAST else [1024, 2048, 4096, 8192, 16384, 32768]
MiB = 2**20


def compiled_temp(fn, batch):
    spec = jax.ShapeDtypeStruct((batch, width), jnp.float32)
    compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(spec, spec).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def chunked_default(q, k):
    return jnp.mean(jaxloss.chunked_contrastive_loss(q, k))


memory = {"contrastive_loss": [compiled_temp(full_loss, b) for b in batch_sizes],
          "chunked_contrastive_loss": [compiled_temp(chunked_default, b) for b in batch_sizes]}
print(f"{'B':>6s} {'[B, B] float32':>15s} {'temp full':>11s} {'temp chunked':>13s} {'chunked/full':>13s}")
for index, batch in enumerate(batch_sizes):
    full, chunked = memory["contrastive_loss"][index], memory["chunked_contrastive_loss"][index]
    print(f"{batch:6d} {batch * batch * 4 / MiB:11.1f} MiB {full / MiB:7.1f} MiB {chunked / MiB:9.1f} MiB "
          f"{chunked / full:12.1%}")

# %%
fig, ax = plt.subplots(figsize=(8, 5))
b = np.array(batch_sizes)
ax.plot(b, np.asarray(memory["contrastive_loss"]) / MiB, "o-", label="jaxloss.contrastive_loss")
ax.plot(b, np.asarray(memory["chunked_contrastive_loss"]) / MiB, "s-", label="jaxloss.chunked_contrastive_loss")
ax.plot(b, b * b * 4 / MiB, "k:", label="size of the [B, B] float32 logits")
ax.set(title=f"Compiled temporary memory of forward+backward\nembedding width {width}, float32, "
       f"{jax.devices()[0].device_kind}", xlabel="batch size B", ylabel="MiB", xscale="log", yscale="log")
ax.legend()
plt.show()

# %% [markdown]
# The full loss's scratch grows with `B²`, the chunked loss's with `B` (one block of keys at a
# time). At the largest batch:

# %%
ratio = memory["chunked_contrastive_loss"][-1] / memory["contrastive_loss"][-1]
print(f"B = {batch_sizes[-1]}: chunked temporaries are {ratio:.2%} of the full loss's (target: below 10%)")
assert ratio < 0.10

# %% [markdown]
# ## 3. A small DPO run
#
# **The task.** Sequences of `T` tokens from a vocabulary of `V`; the first tokens are the
# prompt, the rest the response. A hidden preference: responses that *count up* (each token
# one more than the previous, modulo `V`) are preferred. Each preference pair has one prompt, a
# chosen response that counts up from the prompt's last token with a few random mistakes, and
# a rejected response of random tokens.
#
# **The models.** The policy is a bigram model (a `[V, V]` table of next-token logits, plus a
# bias per position); the reference is the same model after a short supervised warm-up on a
# mixture of both kinds of responses, and stays frozen. DPO trains the policy from the
# reference with `beta = 0.1`; `sequence_log_probs` sums the response tokens' log-probabilities
# (the prompt is masked out with `where`).

# %%
V, T, PROMPT = 16, 10, 3
num_pairs = 512 if FAST else 4096
dpo_steps = 120 if FAST else 1000
heldout_every = 10
beta = 0.1


def preference_pairs(rng, count, mistake_rate=0.2):
    prompts = rng.integers(0, V, (count, PROMPT))
    counting = (prompts[:, -1:] + np.arange(1, T - PROMPT + 1)) % V
    mistakes = rng.random(counting.shape) < mistake_rate
    chosen = np.where(mistakes, rng.integers(0, V, counting.shape), counting)
    rejected = rng.integers(0, V, (count, T - PROMPT))
    return np.hstack([prompts, chosen]), np.hstack([prompts, rejected])


rng = np.random.default_rng(3)
train_chosen, train_rejected = preference_pairs(rng, num_pairs)
heldout_chosen, heldout_rejected = preference_pairs(rng, 512)
response_mask = jnp.asarray(np.arange(T - 1) >= PROMPT - 1)  # predicting tokens 1..T-1; count the response
print(f"{num_pairs} training pairs, 512 held-out pairs; V = {V}, T = {T}, prompt {PROMPT} tokens")
print("a chosen response:  ", train_chosen[0], "\na rejected response:", train_rejected[0])


def policy_logits(params, tokens):
    """Next-token logits [B, T-1, V] for tokens[:, 1:], given tokens[:, :-1]."""
    return params["bigram"][tokens[:, :-1]] + params["position"][None]


def log_probs(params, tokens):
    return jaxloss.sequence_log_probs(policy_logits(params, tokens), tokens[:, 1:], where=response_mask[None])


def init_policy(key):
    return {"bigram": 0.01 * jax.random.normal(key, (V, V)), "position": jnp.zeros((T - 1, V))}


# The reference: a few steps of maximum likelihood on both kinds of responses.
warmup_data = jnp.asarray(np.vstack([train_chosen, train_rejected]))
reference = init_policy(jax.random.key(4))
sft_optimizer = optax.adam(0.05)
sft_state = sft_optimizer.init(reference)


@jax.jit
def sft_step(params, state):
    grads = jax.grad(lambda p: -jnp.mean(log_probs(p, warmup_data)))(params)
    updates, state = sft_optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state


for _ in range(50):
    reference, sft_state = sft_step(reference, sft_state)

# %%
dpo_optimizer = optax.adam(0.02)
chosen_tokens, rejected_tokens = jnp.asarray(train_chosen), jnp.asarray(train_rejected)
log_probs_jit = jax.jit(log_probs)
# The frozen reference: its log-probabilities are computed once and carry no gradient.
reference_chosen = jax.lax.stop_gradient(log_probs_jit(reference, chosen_tokens))
reference_rejected = jax.lax.stop_gradient(log_probs_jit(reference, rejected_tokens))


def dpo_objective(params):
    policy_chosen, policy_rejected = log_probs(params, chosen_tokens), log_probs(params, rejected_tokens)
    loss = jnp.mean(jaxloss.dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected,
                                     beta=beta))
    return loss, jaxloss.dpo_rewards(policy_chosen, policy_rejected, reference_chosen, reference_rejected,
                                     beta=beta)


@jax.jit
def dpo_step(params, state):
    (loss, rewards), grads = jax.value_and_grad(dpo_objective, has_aux=True)(params)
    updates, state = dpo_optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), state, loss, rewards


heldout = [jnp.asarray(tokens) for tokens in (heldout_chosen, heldout_rejected)]
heldout_reference = [log_probs_jit(reference, tokens) for tokens in heldout]


def heldout_margins(params):
    chosen_rewards, rejected_rewards = jaxloss.dpo_rewards(
        *[log_probs_jit(params, tokens) for tokens in heldout], *heldout_reference, beta=beta)
    return chosen_rewards - rejected_rewards


policy, dpo_state = reference, dpo_optimizer.init(reference)  # DPO starts from the reference
history = {"loss": [], "chosen": [], "rejected": [], "margin": [], "accuracy": [], "heldout accuracy": []}
heldout_steps = []
for index in range(1, dpo_steps + 1):
    policy, dpo_state, loss, (chosen_rewards, rejected_rewards) = dpo_step(policy, dpo_state)
    margin = chosen_rewards - rejected_rewards
    history["loss"].append(float(loss))
    history["chosen"].append(float(jnp.mean(chosen_rewards)))
    history["rejected"].append(float(jnp.mean(rejected_rewards)))
    history["margin"].append(float(jnp.mean(margin)))
    history["accuracy"].append(float(jnp.mean(margin > 0)))
    if index % heldout_every == 0 or index == dpo_steps:
        heldout_steps.append(index)
        history["heldout accuracy"].append(float(jnp.mean(heldout_margins(policy) > 0)))
print(f"DPO loss {history['loss'][0]:.4f} (log 2 = {np.log(2):.4f} at the reference) -> {history['loss'][-1]:.4f}")
print(f"mean reward margin {history['margin'][0]:.3f} -> {history['margin'][-1]:.3f}; preference accuracy "
      f"{history['accuracy'][-1]:.3f} (training pairs), {history['heldout accuracy'][-1]:.3f} (held-out pairs)")

# %%
steps = np.arange(1, dpo_steps + 1)
final_margins = np.asarray(heldout_margins(policy))
fig, (ax_rewards, ax_hist) = plt.subplots(1, 2, figsize=(12, 4.5))
ax_rewards.plot(steps, history["chosen"], label="chosen reward  β(log π - log π_ref)")
ax_rewards.plot(steps, history["rejected"], label="rejected reward")
ax_rewards.plot(steps, history["margin"], "k", label="margin (chosen - rejected)")
ax_rewards.axhline(0.0, color="0.6", linewidth=0.8)
ax_rewards.set(title="DPO implicit rewards over training (mean over training pairs)", xlabel="step",
               ylabel="reward")
ax_rewards.legend()
ax_hist.hist(np.asarray(heldout_margins(reference)), bins=30, alpha=0.6, label="reference (step 0)")
ax_hist.hist(final_margins, bins=30, alpha=0.6, label=f"policy after {dpo_steps} steps")
ax_hist.set(title="Reward margins of the held-out pairs", xlabel="chosen reward - rejected reward",
            ylabel="pairs")
ax_hist.legend()
plt.show()

# %% [markdown]
# At the reference every reward is zero and the loss is `log 2`. DPO widens the margin: the
# rejected responses' reward falls much faster than the chosen ones'. The loss sees only the
# difference, so the chosen reward may fall too, as is often seen in DPO training. The
# margins carry over to pairs the policy never saw. Checked:

# %%
assert abs(history["loss"][0] - np.log(2)) < 1e-3  # the first step is taken at the reference
assert history["loss"][-1] < 0.5 * np.log(2)
assert history["margin"][-1] > 0 and history["chosen"][-1] > history["rejected"][-1]
assert history["heldout accuracy"][-1] > 0.9
print(f"held-out pairs with a positive margin: {np.mean(final_margins > 0):.3f}; "
      f"median margin {np.median(final_margins):.3f}")
