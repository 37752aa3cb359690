"""Data parallel fit/evaluate/predict: 8 CPU devices (a subprocess) against one device.

The test process has one device, so ``mesh="auto"`` takes the one-device path
here; the same cases run in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, where every batch is split
over 8 devices. Losses in History, final parameters, evaluate() and predict()
must agree to float32 rounding, and the subprocess checks that batches really
reach the step split over the mesh while the state is replicated.
"""

import json
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxloss import losses, zoo
from jaxloss.train import compile, parallel

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TwoHeads(nnx.Module):
    """A multi-output model: a regression head "a" and a 3-class logit head "b"."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.body = nnx.Linear(20, 8, rngs=rngs)
        self.a = nnx.Linear(8, 1, rngs=rngs)
        self.b = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        hidden = jax.nn.relu(self.body(x))
        return {"a": self.a(hidden), "b": self.b(hidden)}


class Embedder(nnx.Module):
    """Unit-norm 4-dimensional embeddings of 20 features (for the Circle loss)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(20, 4, rngs=rngs)

    def __call__(self, x):
        hidden = self.linear(x)
        return hidden / jnp.linalg.norm(hidden, axis=-1, keepdims=True)


class Normalized(nnx.Module):
    """Dense -> BatchNorm -> relu -> Dense(sigmoid): batch statistics over the global batch."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(20, 8, use_bias=False, rngs=rngs)  # a bias would cancel out
        self.norm = nnx.BatchNorm(8, momentum=0.5, rngs=rngs)
        self.out = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return jax.nn.sigmoid(self.out(jax.nn.relu(self.norm(self.hidden(x)))))


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    return x, y


def cases():
    """name -> (trainer, fit keyword arguments, (x, y) for evaluate/predict, evaluate batch)."""
    x, y = data(64)
    x_val, y_val = data(24, seed=1)
    x37, y37 = data(37, seed=2)
    weights = np.where(np.arange(37) % 3 == 0, 0.0, 1.0 + np.arange(37) / 37).astype(np.float32)
    three_classes = (np.abs(x37[:, 2]) * 2).astype(np.int32) % 3
    return {
        # 8 divides 16: no padding on either side.
        "divisible": (
            compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss=losses.BinaryCrossentropy(),
                    metrics=["accuracy"]),
            {"x": x, "y": y, "epochs": 2, "batch_size": 16, "validation_data": (x_val, y_val)},
            (x_val, y_val), 16,
        ),
        # 29 training samples (16 + 13 padded to 16) with zero weights; validation 8.
        "ragged_weights": (
            compile(zoo.BinaryMLP(rngs=nnx.Rngs(1)), loss="binary_crossentropy",
                    weighted_metrics=["accuracy"]),
            {"x": x37, "y": y37, "epochs": 2, "batch_size": 16, "validation_split": 0.2,
             "sample_weight": weights},
            (x37, y37), 16,
        ),
        # Batch 10 does not divide 8: every batch is padded to 16 on the mesh; L2 terms.
        "class_weight": (
            compile(zoo.L2MLP(rngs=nnx.Rngs(2)), loss="binary_crossentropy", metrics=["accuracy"]),
            {"x": x37, "y": y37, "epochs": 2, "batch_size": 10, "class_weight": {0: 1.0, 1: 3.0}},
            (x37, y37), 10,
        ),
        # Fewer samples than the batch size: one batch of 5, padded to 8 on the mesh.
        "small": (
            compile(zoo.BinaryMLP(rngs=nnx.Rngs(3)), loss="binary_crossentropy",
                    metrics=["accuracy"]),
            {"x": x[:5], "y": y[:5], "epochs": 3, "batch_size": 32},
            (x[:5], y[:5]), 32,
        ),
        # A loss that reduces over the batch itself cannot be padded: the 5-sample batch
        # is replicated, the 16-sample batches are split.
        "scalar_loss": (
            compile(zoo.Regressor(rngs=nnx.Rngs(4)), loss=zoo.asymmetric_weighted_mse,
                    metrics=["mae"]),
            {"x": x37, "y": x37[:, 0], "epochs": 2, "batch_size": 16},
            (x37, x37[:, 0]), 16,
        ),
        # Batch 12: padded to 16 on the mesh; head "b" ignores class 2 (a masked reduction).
        "multi_output": (
            compile(TwoHeads(rngs=nnx.Rngs(5)),
                    loss={"a": "mse", "b": losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                           ignore_class=2)},
                    loss_weights={"a": 0.5, "b": 1.0}, metrics={"b": ["accuracy"]}),
            {"x": x37, "y": {"a": x37[:, :1], "b": three_classes}, "epochs": 2, "batch_size": 12},
            (x37, {"a": x37[:, :1], "b": three_classes}), 12,
        ),
        # Batch statistics: never padded; means and variances over the global batch.
        "batch_norm": (
            compile(Normalized(rngs=nnx.Rngs(7)), loss="binary_crossentropy", metrics=["accuracy"]),
            {"x": x37, "y": y37, "epochs": 2, "batch_size": 16},
            (x37, y37), 16,
        ),
    }


def run_cases():
    """Train and evaluate every case; JSON-ready results (lists of floats)."""
    results = {}
    for name, (trainer, fit_kwargs, (x_eval, y_eval), eval_batch) in cases().items():
        history = trainer.fit(verbose=0, **fit_kwargs)
        params = jax.tree.leaves(jax.tree.map(np.asarray, nnx.state(trainer.model)))
        results[name] = {
            "history": history.history,
            "params": [np.ravel(leaf).astype(np.float64).tolist() for leaf in params],
            "evaluate": trainer.evaluate(x_eval, y_eval, batch_size=eval_batch, verbose=0,
                                         return_dict=True),
            "predict": [np.ravel(leaf).tolist() for leaf in jax.tree.leaves(
                trainer.predict(x_eval, batch_size=eval_batch))],
            "trace_counts": dict(trainer.trace_counts),
        }
    return results


def check_placement():
    """On 8 devices: batches reach the jitted step split, the state stays replicated."""
    assert jax.local_device_count() == 8, jax.local_devices()
    x, y = data(37, seed=2)
    trainer = compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="binary_crossentropy")
    assert trainer.mesh.shape == {"data": 8}
    seen = []
    train_step = trainer._train_step

    def recording_step(state, accum, batch):
        seen.append((batch, state, accum))
        return train_step(state, accum, batch)

    trainer._train_step = recording_step
    trainer.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(seen) == 6  # 16, 16, 5 padded to 16; two epochs
    for batch, state, accum in seen:
        for leaf in jax.tree.leaves(batch):
            assert leaf.sharding.spec == jax.sharding.PartitionSpec("data"), leaf.sharding
            assert len(leaf.sharding.device_set) == 8
            assert {shard.data.shape[0] for shard in leaf.addressable_shards} == {2}
        for leaf in jax.tree.leaves((state, accum)):
            assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
    for leaf in jax.tree.leaves(nnx.state(trainer.model)):
        assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
    assert trainer.trace_counts == {"train": 1}  # the padded batch has the same shape
    # Explicit choices: 4 devices, or off.
    assert compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="mse", mesh=4).mesh.size == 4
    assert compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="mse", mesh=None).mesh is None


def check_checkpoint_resume():
    """On 8 devices: a run resumed from its epoch-1 checkpoint ends bitwise like one run."""
    x, y = data(37, seed=2)

    def run(directory, epochs):
        trainer = compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="binary_crossentropy")
        trainer.fit(x, y, epochs=epochs, batch_size=16, verbose=0, checkpoint_dir=directory)
        return trainer

    with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as split:
        uninterrupted = run(whole, 2)
        run(split, 1)
        resumed = run(split, 2)  # restores epoch 1 onto the mesh, trains epoch 2
    assert resumed.trace_counts == {"train": 1}
    for leaf in jax.tree.leaves(resumed.state):
        assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
    for got, expected in zip(jax.tree.leaves(resumed.state), jax.tree.leaves(uninterrupted.state)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


SUBPROCESS_MAIN = """
import json, sys
import jax
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
sys.path.insert(0, "tests")
import test_parallel
test_parallel.check_placement()
test_parallel.check_checkpoint_resume()
print("RESULTS" + json.dumps(test_parallel.run_cases()))
"""


@pytest.fixture(scope="module")
def results():
    """(8-device results from the subprocess, one-device results from this process)."""
    assert jax.local_device_count() == 1
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT, KERAS_BACKEND="jax")
    process = subprocess.Popen([sys.executable, "-c", SUBPROCESS_MAIN], env=env, cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        single = json.loads(json.dumps(run_cases()))  # meanwhile, as the subprocess prints it
        stdout, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-4000:]
    (line,) = [line for line in stdout.splitlines() if line.startswith("RESULTS")]
    return json.loads(line[len("RESULTS"):]), single


@pytest.mark.parametrize("name", list(cases()))
def test_eight_devices_match_one_device(name, results):
    mesh, single = results[0][name], results[1][name]
    assert mesh["history"].keys() == single["history"].keys()
    for key, values in single["history"].items():
        np.testing.assert_allclose(mesh["history"][key], values, rtol=1e-5, err_msg=key)
    for got, expected in zip(mesh["params"], single["params"], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert mesh["evaluate"].keys() == single["evaluate"].keys()
    for key, value in single["evaluate"].items():
        assert mesh["evaluate"][key] == pytest.approx(value, rel=1e-5), key
    for got, expected in zip(mesh["predict"], single["predict"], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert mesh["trace_counts"]["train"] == single["trace_counts"]["train"]


class Linear3(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(4, 3, rngs=rngs)

    def __call__(self, x):
        return self.linear(x)


@pytest.mark.parametrize("loss", [
    losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
    losses.SparseCategoricalFocalCrossentropy(from_logits=True, alpha=1.0, gamma=0.0,
                                              ignore_class=-1),
], ids=["crossentropy", "focal_alpha_1_gamma_0"])
@pytest.mark.parametrize("weighted", [False, True])
def test_padded_rows_leave_a_masked_reduction_exact(loss, weighted):
    """ignore_class losses divide by the valid entries of the real rows, not of the padding."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(13, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 1, -1, 0, 2, 1, 1, -1, -1, 2, 0], np.int32)
    weights = np.linspace(0.0, 2.0, 13).astype(np.float32) if weighted else None
    trainer = compile(Linear3(rngs=nnx.Rngs(0)), loss=loss)
    logits = trainer.predict(x).astype(np.float64)
    log_softmax = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    valid = y != -1
    per_example = np.where(valid, -log_softmax[np.arange(13), np.where(valid, y, 0)], 0.0)
    w = np.ones(13) if weights is None else weights.astype(np.float64)

    def keras_batch_loss(rows):  # sum over the batch's valid entries / their number
        return np.sum((per_example * w)[rows]) / np.sum(valid[rows])

    # Batches of 8 and 5 (the second padded to 8 with three repeated, valid rows).
    expected = (8 * keras_batch_loss(slice(0, 8)) + 5 * keras_batch_loss(slice(8, 13))) / 13
    got = trainer.evaluate(x, y, batch_size=8, sample_weight=weights, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)


def test_a_loss_with_in_batch_pairs_is_never_padded():
    """Circle pairs the rows of a batch: repeated padding rows would be extra pairs."""
    x, _ = data(13, seed=5)
    y = np.random.default_rng(5).integers(0, 3, size=13).astype(np.int32)
    loss = losses.Circle()
    trainer = compile(Embedder(rngs=nnx.Rngs(0)), loss=loss)
    embeddings = trainer.predict(x)

    def batch_loss(rows):  # the loss of the unpadded batch, as Keras evaluates it
        return float(loss(y[rows], embeddings[rows]))

    expected = (8 * batch_loss(slice(0, 8)) + 5 * batch_loss(slice(8, 13))) / 13
    assert trainer.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_resolve_mesh_arguments():
    device = jax.local_devices()[0]
    assert parallel.resolve_mesh("auto") is None  # one local device: the one-device path
    assert parallel.resolve_mesh(1) is None
    assert parallel.resolve_mesh(False) is None
    assert parallel.resolve_mesh([device]).shape == {"data": 1}
    explicit = jax.make_mesh((1,), ("batch",))  # Explicit axes by default: made Auto
    resolved = parallel.resolve_mesh(explicit)
    assert resolved.axis_names == ("batch",)
    assert resolved.axis_types == (jax.sharding.AxisType.Auto,)
    with pytest.raises(ValueError, match="1-D"):
        parallel.resolve_mesh(jax.make_mesh((1, 1), ("a", "b")))
    with pytest.raises(ValueError, match="local devices"):
        parallel.resolve_mesh(2)
    with pytest.raises(ValueError, match="'auto'"):
        parallel.resolve_mesh("all")


def test_one_device_trainer_keeps_the_plain_path():
    trainer = compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="binary_crossentropy")
    assert trainer.mesh is None
    x, y = data(20)
    trainer.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for leaf in jax.tree.leaves(trainer.state):
        assert isinstance(leaf.sharding, jax.sharding.SingleDeviceSharding)
    assert trainer.trace_counts == {"train": 1}
