"""Worker: the sharded losses on a mesh spanning the processes, beside the one-device forms.

Every process builds the same inputs from one seed, lays them out as global arrays over all
devices, and computes values and gradients with the sharded losses (the gradients gathered
to every process); it writes them with the unsharded loss's on one local device.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from process_group import initialize

worker = initialize()

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxloss import (
    chunked_contrastive_loss,
    chunked_contrastive_loss_sharded,
    fused_linear_cross_entropy,
    fused_linear_cross_entropy_sharded,
)

assert jax.process_count() == 2 and jax.device_count() == 4, (jax.process_count(), jax.devices())
rng = np.random.default_rng(0)
N, H, V = 12, 8, 4 * 24
hidden = rng.normal(size=(N, H)).astype(np.float32)
weight = rng.normal(size=(H, V)).astype(np.float32)
bias = rng.normal(size=(V,)).astype(np.float32)
labels = rng.integers(0, V, size=N).astype(np.int32)
labels[5] = -100
B, D = 8, 6
queries = rng.normal(size=(B, D)).astype(np.float32)
keys = rng.normal(size=(B, D)).astype(np.float32)
where = np.ones(B, bool)
where[3] = False
cot = rng.normal(size=(B,)).astype(np.float32)
options = {"bias": None, "chunk_size": 16, "ignore_index": -100, "label_smoothing": 0.1,
           "z_loss": 1e-3, "logit_soft_cap": 5.0}

devices = np.array(jax.devices())  # process 0's devices first
meshes = {
    "vocab": (Mesh(devices, ("vocab",)), {}),
    # Tokens over the processes, vocabulary within each; then the other way round.
    "tokens_by_process": (Mesh(devices.reshape(2, 2), ("tokens", "vocab")),
                          {"token_axis": "tokens"}),
    "vocab_by_process": (Mesh(devices.reshape(2, 2), ("vocab", "tokens")),
                         {"token_axis": "tokens"}),
    # The gradients computed in the forward pass, the vocabulary across the processes.
    "forward_schedule": (Mesh(devices.reshape(2, 2), ("vocab", "tokens")),
                         {"token_axis": "tokens", "schedule": "forward"}),
}


def global_array(mesh, value, spec):
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def gathered(mesh, fn, *args):
    """``fn(*args)`` under jit with every output replicated, read on this process."""
    out = jax.jit(fn, out_shardings=NamedSharding(mesh, P()))(*args)
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), out)


results = {}
for name, (mesh, extra) in meshes.items():
    token_spec = P(extra.get("token_axis"))
    args = (global_array(mesh, hidden, token_spec), global_array(mesh, weight, P(None, "vocab")),
            global_array(mesh, bias, P("vocab")), global_array(mesh, labels, token_spec))

    def loss_fn(h, w, b, y, mesh=mesh, extra=extra):
        return fused_linear_cross_entropy_sharded(
            h, w, y, mesh=mesh, axis_name="vocab", **extra, **{**options, "bias": b})

    value, grads = gathered(mesh, jax.value_and_grad(loss_fn, argnums=(0, 1, 2)), *args)
    results[f"fused_{name}_loss"] = value
    for arg, grad in zip("hwb", grads):
        results[f"fused_{name}_d{arg}"] = grad

local = jax.local_devices()[0]
with jax.default_device(local):
    value, grads = jax.jit(jax.value_and_grad(
        lambda h, w, b, y: fused_linear_cross_entropy(h, w, y, **{**options, "bias": b}),
        argnums=(0, 1, 2)))(hidden, weight, bias, labels)
    results["fused_reference_loss"] = np.asarray(value)
    for arg, grad in zip("hwb", grads):
        results[f"fused_reference_d{arg}"] = np.asarray(grad)

mesh = Mesh(devices, ("batch",))
by_batch = P("batch")
contrastive_args = [global_array(mesh, x, by_batch) for x in (queries, keys, where, cot)]


def contrastive_objective(q, k, valid, c):
    loss = chunked_contrastive_loss_sharded(q, k, mesh=mesh, axis_name="batch", where=valid,
                                            temperature=0.5, chunk_size=1)
    return jnp.sum(loss * c), loss


(_, loss), grads = gathered(mesh, jax.value_and_grad(contrastive_objective, argnums=(0, 1),
                                                     has_aux=True), *contrastive_args)
results.update(contrastive_loss=loss, contrastive_dq=grads[0], contrastive_dk=grads[1])
with jax.default_device(local):
    def reference_objective(q, k):
        loss = chunked_contrastive_loss(q, k, where=where, temperature=0.5, chunk_size=1)
        return jnp.sum(loss * cot), loss

    (_, loss), grads = jax.jit(jax.value_and_grad(reference_objective, argnums=(0, 1),
                                                  has_aux=True))(queries, keys)
results.update(contrastive_reference_loss=np.asarray(loss),
               contrastive_reference_dq=np.asarray(grads[0]),
               contrastive_reference_dk=np.asarray(grads[1]))
np.savez(worker.out_dir / f"result-{worker.process_id}.npz", **results)
