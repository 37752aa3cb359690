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
# # Large-vocabulary cross-entropy without the logits: memory against vocabulary size
#
# A language model's loss is the softmax cross-entropy of `hidden @ weight` (hidden states
# `[N, H]`, output projection `[H, V]`) against the next tokens. Computed directly, the logits
# `[N, V]` exist in memory, and autodiff keeps more of that size for the backward pass.
# `jaxloss.fused_linear_cross_entropy` never forms them: for a scalar loss (the mean here) it
# streams over blocks of tokens, each with all its logits, and computes the gradients in the
# forward pass (`schedule="forward"`, the default there); with `schedule="recompute"` it
# streams over chunks of the vocabulary with an online logsumexp, keeps one number per token
# for the backward pass and recomputes each chunk's logits there. Either way no `[N, V]`
# array ever exists.
#
# This notebook measures, for a growing vocabulary, the temporary memory XLA allocates for the
# compiled forward+backward pass (gradients with respect to `hidden` and `weight`) of both
# versions, the fused one with `schedule="recompute"`. It only compiles (`jax.jit(...).lower(...).compile().memory_analysis()`), so it
# needs no memory for the arrays themselves and runs on any machine.

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

import jaxloss

FAST = os.environ.get("JAXLOSS_NOTEBOOK_FAST") == "1"  # fewer vocabulary sizes for the tests
print(f"jaxloss {jaxloss.__version__}, jax {jax.__version__}, fast mode: {FAST}")
print("device:", jax.devices()[0].device_kind, f"({jax.default_backend()})")

# %% [markdown]
# ## The two versions agree
#
# First, on a small problem, the fused loss and its gradients equal the unfused computation
# (explicit logits, then jaxloss's sparse softmax cross-entropy).


# %%
def unfused_loss(hidden, weight, labels):
    logits = hidden @ weight
    return jnp.mean(jaxloss.sparse_softmax_cross_entropy(logits, labels))


def fused_loss(hidden, weight, labels):
    # The vocabulary stream, whose chunk stops growing at 32 MiB; the default for a mean,
    # "forward", sizes its token blocks from a share of the logits instead.
    return jaxloss.fused_linear_cross_entropy(hidden, weight, labels, schedule="recompute")


key_h, key_w, key_y = jax.random.split(jax.random.key(0), 3)
small_hidden = jax.random.normal(key_h, (64, 32))
small_weight = jax.random.normal(key_w, (32, 1000)) * 0.1
small_labels = jax.random.randint(key_y, (64,), 0, 1000)
value_and_grads = {
    name: jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(small_hidden, small_weight, small_labels)
    for name, fn in (("unfused", unfused_loss), ("fused", fused_loss))
}
(loss_u, (gh_u, gw_u)), (loss_f, (gh_f, gw_f)) = value_and_grads["unfused"], value_and_grads["fused"]
print(f"loss: unfused {float(loss_u):.6f}, fused {float(loss_f):.6f}")
for name, a, b in (("loss", loss_u, loss_f), ("d hidden", gh_u, gh_f), ("d weight", gw_u, gw_f)):
    relative = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))
    print(f"{name:9s} max relative difference {relative:.2e}")
    assert relative < 1e-5

# %% [markdown]
# ## Compiled temporary memory against vocabulary size
#
# `N` tokens and hidden size `H` as in the fused loss's specification; float32
# throughout. For each vocabulary size we compile `jax.value_and_grad` of both versions with
# respect to `hidden` and `weight` and read `temp_size_in_bytes` (scratch memory besides the
# inputs and outputs) from the compiled executable's `memory_analysis()`.

# %%
num_tokens, hidden_size = 8192, 1024
vocab_sizes = [8192, 32768, 65536] if FAST else [4096, 8192, 16384, 32768, 65536, 131072, 262144]
MiB = 2**20


def compiled_memory(fn, vocab_size):
    args = (
        jax.ShapeDtypeStruct((num_tokens, hidden_size), jnp.float32),
        jax.ShapeDtypeStruct((hidden_size, vocab_size), jnp.float32),
        jax.ShapeDtypeStruct((num_tokens,), jnp.int32),
    )
    compiled = jax.jit(jax.value_and_grad(fn, argnums=(0, 1))).lower(*args).compile()
    analysis = compiled.memory_analysis()
    return {"temp": analysis.temp_size_in_bytes, "output": analysis.output_size_in_bytes,
            "argument": analysis.argument_size_in_bytes}


memory = {"unfused": {}, "fused": {}}
for vocab_size in vocab_sizes:
    memory["unfused"][vocab_size] = compiled_memory(unfused_loss, vocab_size)
    memory["fused"][vocab_size] = compiled_memory(fused_loss, vocab_size)

print(f"N = {num_tokens} tokens, H = {hidden_size}, float32\n")
print(f"{'V':>7s} {'logits [N,V]':>13s} {'temp unfused':>13s} {'temp fused':>11s} {'fused/unfused':>14s} "
      f"{'inputs':>9s} {'outputs':>9s}")
for vocab_size in vocab_sizes:
    unfused, fused = memory["unfused"][vocab_size], memory["fused"][vocab_size]
    print(f"{vocab_size:7d} {num_tokens * vocab_size * 4 / MiB:10.0f} MiB {unfused['temp'] / MiB:9.0f} MiB "
          f"{fused['temp'] / MiB:7.0f} MiB {fused['temp'] / unfused['temp']:13.1%} "
          f"{fused['argument'] / MiB:5.0f} MiB {fused['output'] / MiB:5.0f} MiB")

# %%
v = np.array(vocab_sizes)
fig, ax = plt.subplots(figsize=(8, 5))
ax.plot(v, [memory["unfused"][n]["temp"] / MiB for n in vocab_sizes], "o-", label="unfused: logits, then cross-entropy")
ax.plot(v, [memory["fused"][n]["temp"] / MiB for n in vocab_sizes], "s-", label="jaxloss.fused_linear_cross_entropy")
ax.plot(v, num_tokens * v * 4 / MiB, "k:", label="size of the [N, V] float32 logits")
ax.plot(v, [memory["fused"][n]["output"] / MiB for n in vocab_sizes], "--", color="0.5",
        label="outputs (gradients of hidden and weight)")
ax.set(title=f"Compiled temporary memory of forward+backward\nN = {num_tokens}, H = {hidden_size}, float32, "
       f"{jax.devices()[0].device_kind}", xlabel="vocabulary size V", ylabel="MiB", xscale="log", yscale="log")
ax.legend()
plt.show()

# %% [markdown]
# The unfused version's scratch memory grows with `N × V`, like the logits; the fused version's
# is about one chunk of logits and the `[N, H]` accumulator of the gradient of `hidden`. The
# default chunk holds at most 1/24 of the logits and at most 32 MiB, so it grows with `V` until
# it reaches 32 MiB (here at `V = 24 × 1024`), then stays, whatever the vocabulary. The
# gradients of `hidden` and `weight` are outputs that both versions must produce. The specified
# shape:

# %%
reference_vocab = 65536
unfused_temp = memory["unfused"][reference_vocab]["temp"]
fused_temp = memory["fused"][reference_vocab]["temp"]
print(f"N = {num_tokens}, H = {hidden_size}, V = {reference_vocab}: temporary memory unfused "
      f"{unfused_temp / MiB:.0f} MiB, fused {fused_temp / MiB:.0f} MiB ({fused_temp / unfused_temp:.1%} of unfused; "
      f"the target is at most 10%)")
assert fused_temp <= 0.10 * unfused_temp
capped = [n for n in vocab_sizes if n >= 32768]  # where the chunk is 32 MiB
growth = {name: memory[name][capped[-1]]["temp"] / memory[name][capped[0]]["temp"] for name in memory}
print(f"from V = {capped[0]} to V = {capped[-1]} ({capped[-1] // capped[0]}x): "
      f"unfused temporary memory grows {growth['unfused']:.1f}x, fused {growth['fused']:.1f}x")
assert growth["fused"] < 1.5 and growth["unfused"] > 0.5 * capped[-1] / capped[0]
