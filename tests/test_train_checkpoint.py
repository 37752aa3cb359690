"""Checkpoints of ``fit``: resume bitwise exactly (also after a real SIGKILL), atomic saves, NaN stops."""

import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxloss.train import Callback, EarlyStopping, TerminateOnNaN, checkpoint, compile

BATCH_SIZE = 16
NUM_SAMPLES = 96  # in-process runs: 6 full steps per epoch, one compiled step per trainer
STEPS = 6



class Net(nnx.Module):
    """A model with every kind of NNX state: parameters, batch statistics, a dropout RNG stream."""

    def __init__(self, seed):
        rngs = nnx.Rngs(params=seed, dropout=seed + 1)
        self.hidden = nnx.Linear(8, 16, rngs=rngs)
        self.norm = nnx.BatchNorm(16, rngs=rngs)
        self.dropout = nnx.Dropout(0.25, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(self.dropout(nnx.relu(self.norm(self.hidden(x)))))


def data(n):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, :1] * 0.5 - x[:, 1:2] ** 2).astype(np.float32)
    return x, y


def flat_state(model):
    """Every array of the model's NNX state by path (RNG keys as their raw data)."""
    return {
        jax.tree_util.keystr(path): np.asarray(
            jax.random.key_data(leaf) if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
        )
        for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(model))
    }


class AtStep(Callback):
    """Calls ``action(self)`` before the given step of the given epoch (here and in the child)."""

    def __init__(self, epoch, step, action):
        self.at, self.epoch, self.action = (epoch, step), None, action

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.action(self)


# A child process: trains Net for 3 epochs on 100 samples (7 steps per epoch, the last
# ragged) on a mesh of 2 CPU devices, maybe killed, and writes its final state and history.
CHILD_SOURCE = """
import json, os, signal, sys

import numpy as np

mode, directory, out, tests = sys.argv[1:5]
sys.path.insert(0, tests)
from test_train_checkpoint import AtStep, Net, data, flat_state  # noqa: E402
from jaxloss.train import Callback, compile  # noqa: E402


def sigkill(callback):
    # No cleanup, no flush: as a crash or an out-of-memory kill.
    os.kill(os.getpid(), signal.SIGKILL)


callbacks = []
if mode == "kill-mid-epoch":
    callbacks = [AtStep(epoch=2, step=3, action=sigkill)]
elif mode == "kill-while-saving":
    # Die after the checkpoint of epoch 2 is written but before orbax renames it into place.
    from orbax.checkpoint._src.path import atomicity

    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def finalize_or_die(self, *args, **kwargs):
        if self.get_final().name == "2":
            os.kill(os.getpid(), signal.SIGKILL)
        return await finalize(self, *args, **kwargs)

    atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die

class Placement(Callback):
    # Where the model's arrays are when the first epoch of this process starts (after a restore).
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "seen"):
            sharding = self.model.model.out.kernel[...].sharding
            self.seen = [epoch, len(sharding.device_set), sharding.is_fully_replicated]


placement = Placement()
callbacks.append(placement)
x, y = data(100)
trainer = compile(Net(seed=0), optimizer="adam", loss="mse")
history = trainer.fit(
    x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks,
    checkpoint_dir=None if directory == "-" else directory,
)
np.savez(out, **flat_state(trainer.model))
with open(out + ".json", "w") as f:
    json.dump({
        "history": history.history, "epoch": history.epoch, "traces": trainer.trace_counts,
        "placement": placement.seen,
    }, f)
"""


@pytest.fixture(scope="module")
def compilation_cache(tmp_path_factory):
    """A persistent compilation cache shared by the child processes (each compiles the same step)."""
    return tmp_path_factory.mktemp("jax_cache")


def _run_child(tmp_path, cache, mode, directory, out):
    script = tmp_path / "child.py"
    script.write_text(CHILD_SOURCE)
    env = {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    return subprocess.run(
        [sys.executable, str(script), mode, str(directory), str(out), os.path.dirname(__file__)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_killed_run_resumes_to_bitwise_identical_parameters(tmp_path, tmp_path_factory):
    """Two runs killed with SIGKILL, the resumed end of the run, and an uninterrupted run."""
    cache = tmp_path_factory.mktemp("jax_cache")
    directory = tmp_path / "checkpoints"
    killed_while_saving = _run_child(tmp_path, cache, "kill-while-saving", directory, tmp_path / "_.npz")
    assert killed_while_saving.returncode == -signal.SIGKILL, killed_while_saving.stderr
    assert sorted(os.listdir(directory)) == ["1", "2.orbax-checkpoint-tmp"]  # 2: half-written
    assert checkpoint.saved_epochs(directory) == [1]

    # Resumes after epoch 1, redoes epoch 2 (its save replaces the half-written one) and dies
    # in the middle of epoch 3.
    killed_mid_epoch = _run_child(tmp_path, cache, "kill-mid-epoch", directory, tmp_path / "_.npz")
    assert killed_mid_epoch.returncode == -signal.SIGKILL, killed_mid_epoch.stderr
    assert sorted(os.listdir(directory)) == ["1", "2"]

    resumed = _run_child(tmp_path, cache, "resume", directory, tmp_path / "resumed.npz")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(os.listdir(directory)) == ["2", "3"]  # the last 2 are kept
    uninterrupted = _run_child(tmp_path, cache, "plain", "-", tmp_path / "uninterrupted.npz")
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    final, reference = (dict(np.load(tmp_path / f"{name}.npz")) for name in ("resumed", "uninterrupted"))
    log, reference_log = (
        json.loads((tmp_path / f"{name}.npz.json").read_text()) for name in ("resumed", "uninterrupted")
    )
    assert sorted(final) == sorted(reference)
    assert any("dropout" in name and "key" in name for name in final)  # RNG state is compared too
    for name in reference:
        np.testing.assert_array_equal(final[name], reference[name], err_msg=name)
    assert log["history"] == reference_log["history"]  # restored epochs, then the trained one
    assert log["epoch"] == [0, 1, 2]
    assert log["traces"] == {"train": 2}  # full and ragged batch (batch norm: no padding), once each
    assert log["placement"] == [2, 2, True]  # restored (epoch 3 starts) replicated on 2 devices


def _trainer(seed=0, optimizer="adam"):
    return compile(Net(seed=seed), optimizer=optimizer, loss="mse")


def _fit(trainer, directory, epochs, **kwargs):
    x, y = data(NUM_SAMPLES)
    kwargs.setdefault("batch_size", BATCH_SIZE)
    kwargs.setdefault("verbose", 0)
    return trainer.fit(x, y, epochs=epochs, checkpoint_dir=directory, **kwargs)


class _Record(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, logs=None):
        self.states[epoch + 1] = flat_state(self.model.model)


@pytest.fixture(scope="module")
def four_epochs(tmp_path_factory):
    """A checkpointed run of 4 epochs (all checkpoints kept), its history and state after each epoch."""
    directory = tmp_path_factory.mktemp("four_epochs")
    record = _Record()
    history = _fit(_trainer(), directory, epochs=4, keep_checkpoints=4, callbacks=[record])
    return directory, history, record.states


def _copy(four_epochs, tmp_path, epochs):
    """A checkpoint directory that holds the given checkpoints of ``four_epochs``."""
    for epoch in epochs:
        shutil.copytree(four_epochs[0] / str(epoch), tmp_path / str(epoch))
    return tmp_path


def _assert_state(model, expected):
    state = flat_state(model)
    assert sorted(state) == sorted(expected)
    for name in state:
        np.testing.assert_array_equal(state[name], expected[name], err_msg=name)


def test_resume_continues_history_ignores_leftovers_and_keeps_last_k(tmp_path, four_epochs, capsys):
    _, reference_history, states = four_epochs
    directory = _copy(four_epochs, tmp_path, [1, 2])
    leftover = directory / "3.orbax-checkpoint-tmp"  # as left by a process killed while saving
    leftover.mkdir()
    (leftover / "garbage").write_text("half written")
    assert checkpoint.saved_epochs(directory) == [1, 2]

    resumed = _trainer(seed=5)  # other initial weights: all of them come from the checkpoint
    history = _fit(resumed, directory, epochs=4, keep_checkpoints=3)
    _assert_state(resumed.model, states[4])
    assert history.history == reference_history.history
    assert history.epoch == [0, 1, 2, 3]
    assert sorted(os.listdir(directory)) == ["2", "3", "4"]
    assert resumed.trace_counts == {"train": 1}  # the restored state does not retrace

    done = _trainer(seed=6)
    again = _fit(done, directory, epochs=4, verbose=2)  # every epoch is done: nothing is trained
    assert again.epoch == [0, 1, 2, 3] and done.trace_counts == {}
    assert capsys.readouterr().out == f"Restored {directory / '4'}: 4 epochs done.\n"
    _assert_state(done.model, states[4])


@pytest.mark.parametrize("mesh", [None, "one device"])
def test_restored_arrays_are_placed_like_the_state_they_replace(four_epochs, mesh):
    trainer = compile(
        Net(seed=3), optimizer="adam", loss="mse", mesh=None if mesh is None else jax.devices()[:1]
    )
    before = trainer.state
    epochs, state, fit = checkpoint.restore_training_state(before, four_epochs[0], epoch=2)
    assert epochs == 2 and fit["history_epochs"] == [0, 1]
    assert jax.tree.structure(state) == jax.tree.structure(before)
    for old, new in zip(jax.tree.leaves(before), jax.tree.leaves(state)):
        assert (new.dtype, new.shape, new.sharding) == (old.dtype, old.shape, old.sharding)


def test_restore_model_for_inference_and_trainer_restore_by_epoch(four_epochs):
    directory, history, states = four_epochs
    model = Net(seed=9)
    assert checkpoint.restore_model(model, directory) == 4
    _assert_state(model, states[4])
    model.eval()
    assert np.isfinite(np.asarray(model(data(NUM_SAMPLES)[0]))).all()

    trainer = _trainer(seed=4)
    restored = trainer.restore(directory, epoch=1)
    assert restored.epoch == [0] and restored.history["loss"] == history.history["loss"][:1]
    _assert_state(trainer.model, states[1])
    with pytest.raises(ValueError, match=r"No checkpoint for epoch 5 .*saved: \[1, 2, 3, 4\]"):
        trainer.restore(directory, epoch=5)


def _stop_training(callback):
    callback.model.stop_training = True


def test_an_epoch_stopped_early_is_not_saved(tmp_path):
    _fit(_trainer(), tmp_path, epochs=3, callbacks=[AtStep(epoch=1, step=2, action=_stop_training)])
    assert checkpoint.saved_epochs(tmp_path) == [1]


def _never_improving(restore_best_weights=False):
    # Only the first epoch counts as an improvement: training stops after 1 + patience epochs.
    return EarlyStopping(
        monitor="loss", patience=3, min_delta=1e9, restore_best_weights=restore_best_weights
    )


def test_early_stopping_state_is_checkpointed_and_resumed(tmp_path):
    whole = _fit(_trainer(), tmp_path / "whole", epochs=10, callbacks=[_never_improving()])
    assert whole.epoch == [0, 1, 2, 3]
    _fit(_trainer(), tmp_path / "split", epochs=2, callbacks=[_never_improving()])
    stopping = _never_improving()
    resumed = _fit(_trainer(), tmp_path / "split", epochs=10, callbacks=[stopping])
    # Without the saved patience count it would restart at epoch 2 and stop at epoch 5.
    assert resumed.epoch == whole.epoch
    assert (stopping.best_epoch, stopping.stopped_epoch) == (0, 3)
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-6)
    with open(tmp_path / "split" / "4" / "fit" / "metadata") as f:
        saved = json.load(f)["callbacks"]
    assert saved == [{"class": "EarlyStopping", "state": {
        "monitor": "loss", "best": whole.history["loss"][0], "best_epoch": 0, "wait": 3,
        "stopped_epoch": 3}}]


def test_resumed_restore_best_weights_warns_when_the_best_epoch_is_before_the_resume(tmp_path):
    _fit(_trainer(), tmp_path, epochs=2, callbacks=[_never_improving(restore_best_weights=True)])
    with pytest.warns(RuntimeWarning, match=r"the best epoch \(1\) came before this fit resumed"):
        history = _fit(
            _trainer(), tmp_path, epochs=10, callbacks=[_never_improving(restore_best_weights=True)]
        )
    assert history.epoch == [0, 1, 2, 3]


def test_a_changed_monitor_is_an_error_on_resume(tmp_path):
    _fit(_trainer(), tmp_path, epochs=1, callbacks=[_never_improving()])
    with pytest.raises(ValueError, match="monitored 'loss', this one monitors 'val_loss'"):
        _fit(_trainer(), tmp_path, epochs=3, callbacks=[EarlyStopping(monitor="val_loss")])


def _nan_after(updates):
    """SGD whose learning rate turns NaN at update ``updates``: from then on the state is NaN."""
    return optax.sgd(lambda count: jnp.where(count >= updates, jnp.nan, 1e-2))


@pytest.mark.parametrize(
    "updates, message",
    [
        (STEPS + 2, r"Epoch 2, step 4/6: the training loss is nan"),
        (STEPS - 1, r"Epoch 1, step 6/6: the loss is finite but the updated parameters"),
    ],
)
def test_a_non_finite_epoch_stops_training_and_keeps_the_last_good_checkpoint(
    tmp_path, updates, message
):
    trainer = _trainer(optimizer=_nan_after(updates))
    good_epochs = updates // STEPS
    if good_epochs:
        _fit(trainer, tmp_path, epochs=good_epochs)
        good = {name: (tmp_path / "1" / name).stat().st_mtime_ns for name in os.listdir(tmp_path / "1")}
    kept = rf"last good checkpoint, .*{good_epochs}, is kept" if good_epochs else "no checkpoint was saved"
    with pytest.warns(RuntimeWarning, match=rf"{message}.*Training stopped; .*{kept}"):
        history = _fit(trainer, tmp_path, epochs=4)
    assert len(history.epoch) == good_epochs + 1  # the bad epoch is logged, then training stops
    assert not np.isfinite(trainer.state.params["out"]["kernel"][...]).all()
    assert checkpoint.saved_epochs(tmp_path) == list(range(1, good_epochs + 1))
    if good_epochs:
        assert {n: (tmp_path / "1" / n).stat().st_mtime_ns for n in os.listdir(tmp_path / "1")} == good
        restored = _trainer(seed=1, optimizer=_nan_after(updates))
        restored.restore(tmp_path)
        assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(restored.state.params))


def test_terminate_on_nan_with_checkpoints(tmp_path, capsys):
    trainer = _trainer(optimizer=_nan_after(STEPS + 2))
    with pytest.warns(RuntimeWarning, match=r"Epoch 2, step 4/6: the training loss is nan"):
        _fit(trainer, tmp_path, epochs=3, callbacks=[TerminateOnNaN()])
    assert "Epoch 2, batch 3: Invalid loss, terminating training" in capsys.readouterr().out
    assert checkpoint.saved_epochs(tmp_path) == [1]


def test_resuming_with_other_settings_or_another_model_is_an_error(tmp_path, four_epochs):
    directory = _copy(four_epochs, tmp_path, [1])
    with pytest.raises(ValueError, match=r"other settings: batch_size=16 \(now 32\)"):
        _fit(_trainer(), directory, epochs=2, batch_size=32)
    with pytest.raises(ValueError, match=r"other settings: seed=0 \(now 1\)"):
        _fit(_trainer(), directory, epochs=2, seed=1)
    with pytest.raises(ValueError, match=r"its 'opt_state' has 13 arrays, this one 6"):
        _trainer(optimizer=optax.sgd(0.1, momentum=0.9)).restore(directory)
    other = compile(nnx.Linear(8, 1, rngs=nnx.Rngs(0)), optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="does not fit this model"):
        other.restore(directory)
    assert checkpoint.saved_epochs(directory) == [1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"checkpoint_dir": 3}, "`checkpoint_dir` must be a path"),
        ({"keep_checkpoints": 0}, "`keep_checkpoints` must be an integer >= 1"),
    ],
)
def test_bad_checkpoint_arguments(tmp_path, kwargs, message):
    kwargs.setdefault("checkpoint_dir", tmp_path)
    x, y = data(NUM_SAMPLES)
    with pytest.raises(ValueError, match=message):
        _trainer().fit(x, y, epochs=1, verbose=0, **kwargs)
    with pytest.raises(ValueError, match="No checkpoint in"):
        checkpoint.restore_model(Net(seed=0), tmp_path / "empty")


def test_without_orbax_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)  # makes `import orbax.checkpoint` fail
    x, y = data(NUM_SAMPLES)
    with pytest.raises(ImportError, match="pip install orbax-checkpoint"):
        _trainer().fit(x, y, epochs=1, verbose=0, checkpoint_dir=tmp_path)
