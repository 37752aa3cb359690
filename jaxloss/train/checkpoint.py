"""Checkpoints for :meth:`Trainer.fit <jaxloss.train.Trainer.fit>`: save each epoch, resume exactly.

``trainer.fit(x, y, epochs=..., checkpoint_dir=path)`` writes, after every
completed epoch, one orbax checkpoint ``path/<epochs completed>/`` holding

* ``params``: the model's ``nnx.Param`` state;
* ``rest``: every other NNX variable (batch-norm statistics, the keys and counters
  of ``nnx.Rngs``, ...);
* ``opt_state``: the optax state (step count, moments, ...);
* ``fit``: JSON with the number of completed epochs, the settings that decide the
  shuffle order and the batches (``seed``, ``shuffle``, ``batch_size``, number of
  training samples) and the :class:`~jaxloss.train.History` so far.

Rules:

* **Atomic.** Orbax writes a checkpoint into ``<step>.orbax-checkpoint-tmp`` and
  renames it to ``<step>`` only when every file is written; a directory that is
  not renamed (a process killed while saving) is never restored, and is removed
  by the next save.
* **Resume.** When ``checkpoint_dir`` already holds checkpoints, ``fit`` restores
  the latest one (placed like the state it replaces: same shardings), continues at
  the next epoch and appends to the restored history. The shuffle order of an
  epoch depends only on ``(seed, epoch)``, so a run killed at any point (even in
  the middle of an epoch: that epoch is redone from its start) ends with
  parameters bitwise identical to an uninterrupted run. Resuming with a different
  ``seed``, ``shuffle``, ``batch_size`` or number of training samples is a
  ``ValueError``. Callback state is saved with each checkpoint and handed back on
  resume (``Callback.get_state``/``set_state``): ``EarlyStopping`` stops at the same epoch
  as an uninterrupted run. Its best epoch's weights are not saved: with
  ``restore_best_weights`` and a best epoch before the resume, a ``RuntimeWarning`` says
  that the final weights are kept.
* **Only complete, finite epochs are saved.** An epoch stopped early by a callback
  is not saved. When the training loss of an epoch is NaN or infinite, or the
  state after it holds a non-finite value, nothing is saved, training stops and a
  ``RuntimeWarning`` names the epoch and the first bad step; the last good
  checkpoint stays as it was (``Trainer.restore`` loads it back). The check costs
  no synchronisation per step: the running loss of each step is kept on the device
  and read only when the epoch's loss is non-finite.
* **Keep the last k.** ``keep_checkpoints`` (default 2) checkpoints are kept;
  older ones are deleted after a successful save.
* **Several processes** (``jax.distributed``): every process calls ``fit`` with the same
  directory (one that all of them can reach); each writes its part of the arrays and
  process 0 the metadata, and a crashed run is resumed by restarting every process.

For inference, :func:`restore_model` loads the parameters and other NNX state of
a checkpoint into a model, and :meth:`Trainer.restore <jaxloss.train.Trainer.restore>`
loads the full training state.

>>> import tempfile
>>> import numpy as np
>>> from flax import nnx
>>> from jaxloss import zoo
>>> from jaxloss.train import compile, checkpoint
>>> x = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.int32)
>>> directory = tempfile.mkdtemp()
>>> def new_trainer():
...     return compile(zoo.BinaryMLP(rngs=nnx.Rngs(0)), loss="binary_crossentropy")
>>> _ = new_trainer().fit(x, y, epochs=2, verbose=0, checkpoint_dir=directory)
>>> checkpoint.saved_epochs(directory)
[1, 2]
>>> history = new_trainer().fit(x, y, epochs=3, verbose=0, checkpoint_dir=directory)
>>> history.epoch   # epochs 0 and 1 restored, epoch 2 trained
[0, 1, 2]
>>> uninterrupted = new_trainer()
>>> _ = uninterrupted.fit(x, y, epochs=3, verbose=0)
>>> model = zoo.BinaryMLP(rngs=nnx.Rngs(1))
>>> checkpoint.restore_model(model, directory)
3
>>> bool(np.array_equal(model(x), uninterrupted.model(x)))
True
>>> new_trainer().restore(directory, epoch=2).history["loss"] == history.history["loss"][:2]
True
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

FORMAT_VERSION = 1
DEFAULT_KEEP = 2
_STATE_ITEMS = ("params", "rest", "opt_state")
# The settings that fix the shuffle order and the batches of every epoch.
_RUN_SETTINGS = ("seed", "shuffle", "batch_size", "num_samples")


def _orbax() -> Any:
    try:
        import orbax.checkpoint as ocp
    except ImportError as error:  # an optional dependency (the `test` and `examples` extras)
        raise ImportError(
            "Checkpoints need orbax: `pip install orbax-checkpoint` "
            "(or `pip install jaxloss[examples]`)."
        ) from error
    return ocp


def check_directory(directory: Any) -> str:
    """``directory`` as an absolute path, or ``ValueError`` if it names an existing file."""
    if not isinstance(directory, (str, os.PathLike)):
        raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
            f"`checkpoint_dir` must be a path, got {directory!r}."
        )
    path = os.path.abspath(os.fspath(directory))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"`checkpoint_dir` {path} exists and is not a directory.")
    return path


def check_keep(keep: Any) -> int:
    """``keep_checkpoints`` as an int >= 1, or ``ValueError``."""
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
        raise ValueError(f"`keep_checkpoints` must be an integer >= 1, got {keep!r}.")
    return int(keep)


def saved_epochs(directory: str | os.PathLike) -> list[int]:
    """The complete checkpoints in ``directory``, as numbers of completed epochs (ascending).

    Unfinished (temporary) checkpoint directories are not listed.
    """
    path = check_directory(directory)
    if not os.path.isdir(path):
        return []
    return sorted(_orbax().path.step.checkpoint_steps(path))


def _manager(path: str, keep: int | None = None, *, writable: bool = False) -> Any:
    ocp = _orbax()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=writable,
        enable_async_checkpointing=False,  # save() returns after the atomic rename
        cleanup_tmp_directories=writable,
    )
    return ocp.CheckpointManager(path, options=options)


def _abstract(tree: Any) -> Any:
    """Shapes, dtypes and shardings of ``tree``: the restore target (placed like ``tree``)."""
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding), tree
    )


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    checks = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def _leaf_paths(tree: Any) -> list[str]:
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(tree)]


def _check_fit(fit: Mapping[str, Any], targets: Mapping[str, Any], where: str) -> None:
    """The checkpoint's format and array paths must be this version's and the targets'."""
    if fit.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"The checkpoint {where} has format {fit.get('format')!r}; this version reads "
            f"format {FORMAT_VERSION}."
        )
    for name, tree in targets.items():
        saved, wanted = fit["leaves"].get(name, []), _leaf_paths(tree)
        if saved != wanted:
            first = next(
                (i for i, (a, b) in enumerate(zip(saved, wanted)) if a != b), min(len(saved), len(wanted))
            )
            raise ValueError(
                f"The checkpoint {where} does not fit this model and optimizer: its {name!r} has "
                f"{len(saved)} arrays, this one {len(wanted)}; first difference at array {first}: "
                f"{saved[first] if first < len(saved) else None!r} (saved) against "
                f"{wanted[first] if first < len(wanted) else None!r}."
            )


def _restore(
    path: str, epoch: int | None, targets: Mapping[str, Any]
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Restore the items ``targets`` (name -> like-tree) and the ``fit`` JSON of one checkpoint.

    Each item is stored as the list of its leaves; the ``fit`` JSON holds their
    paths, which must equal the target's (same model, same optimizer).
    """
    ocp = _orbax()
    available = saved_epochs(path)
    if not available:
        raise ValueError(f"No checkpoint in {path}.")
    if epoch is None:
        epoch = available[-1]
    elif epoch not in available:
        raise ValueError(f"No checkpoint for epoch {epoch} in {path}; saved: {available}.")
    where = os.path.join(path, str(epoch))
    manager = _manager(path)
    try:
        fit = dict(manager.restore(epoch, args=ocp.args.Composite(fit=ocp.args.JsonRestore())).fit)
        _check_fit(fit, targets, where)
        args = {
            name: ocp.args.StandardRestore(_abstract(jax.tree.leaves(tree)))
            for name, tree in targets.items()
            if fit["leaves"][name]  # an empty item (a model without other state) is not saved
        }
        try:
            restored = manager.restore(epoch, args=ocp.args.Composite(**args)) if args else {}
        except ValueError as error:  # same paths, other shapes or dtypes
            raise ValueError(f"The checkpoint {where} does not fit this model and optimizer: {error}") from error
    finally:
        manager.close()
    trees = {
        name: jax.tree.unflatten(jax.tree.structure(tree), restored[name]) if name in args else tree
        for name, tree in targets.items()
    }
    return epoch, trees, fit


def restore_model(model: nnx.Module, directory: str | os.PathLike, *, epoch: int | None = None) -> int:
    """Load the parameters and other NNX state of a ``fit`` checkpoint into ``model``.

    For inference: the optimizer state is not read. ``model`` must have the
    structure of the trained model; its arrays are replaced in place, placed like
    the ones they replace.

    Args:
      model: an NNX module built like the one that was trained.
      directory: the ``checkpoint_dir`` given to ``fit``.
      epoch: which checkpoint, as the number of completed epochs; default the latest.

    Returns:
      The number of completed epochs of the restored checkpoint.

    Raises:
      ValueError: no checkpoint (for ``epoch``) in ``directory``, or one of another model.

    The module docstring has a runnable example.
    """
    path = check_directory(directory)
    _, params, rest = nnx.split(model, nnx.Param, ...)
    epoch, restored, _ = _restore(path, epoch, {"params": params, "rest": rest})
    nnx.update(model, restored["params"], restored["rest"])
    return epoch


def restore_training_state(
    state: Any, directory: str | os.PathLike, *, epoch: int | None = None
) -> tuple[int, Any, dict[str, Any]]:
    """``(epochs_completed, state, fit_json)`` of a checkpoint; ``state`` gives structure and placement."""
    path = check_directory(directory)
    epoch, restored, fit = _restore(path, epoch, dict(zip(_STATE_ITEMS, state)))
    return epoch, type(state)(*(restored[name] for name in _STATE_ITEMS)), fit


def _callback_states(callbacks: Sequence[Any]) -> list[dict[str, Any]]:
    """``[{"class": name, "state": ...}]`` of the callbacks that have a state to save."""
    saved = []
    for callback in callbacks:
        state = callback.get_state()
        if state is not None:
            saved.append({"class": type(callback).__name__, "state": state})
    return saved


def _set_callback_states(callbacks: Sequence[Any], saved: Sequence[Mapping[str, Any]]) -> None:
    unused = list(saved)
    for callback in callbacks:
        match = next((entry for entry in unused if entry["class"] == type(callback).__name__), None)
        if match is not None:
            unused.remove(match)
            callback.set_state(dict(match["state"]))


def set_history(history: Any, fit: Mapping[str, Any]) -> None:
    """Put the history saved in a checkpoint's ``fit`` JSON into a :class:`History`."""
    history.history = {name: list(values) for name, values in fit["history"].items()}
    history.epoch = list(fit["history_epochs"])


class EpochCheckpointer:
    """What ``fit`` does with ``checkpoint_dir``: resume, watch each step's loss, save each epoch.

    Args:
      directory: the checkpoint directory (created when missing).
      keep: how many checkpoints to keep.
      run: the settings that fix the batches: ``seed``, ``shuffle``, ``batch_size``,
        ``num_samples``; a checkpoint written with other settings is not resumed.
      steps_per_epoch: number of train steps in a complete epoch.
    """

    def __init__(
        self, directory: str | os.PathLike, *, keep: int, run: Mapping[str, Any], steps_per_epoch: int
    ):
        _orbax()
        self.directory = check_directory(directory)
        self.keep = check_keep(keep)
        self.run = {name: run[name] for name in _RUN_SETTINGS}
        self.steps_per_epoch = steps_per_epoch
        self.last_saved: int | None = None
        self._running_losses: list[jax.Array] = []

    def resume(
        self, state: Any, history: Any, verbose: int, callbacks: Sequence[Any] = ()
    ) -> tuple[Any, int | None]:
        """Restore the latest checkpoint into ``(state, history)`` and the callbacks' states.

        Returns the state and the epoch to start at (None: nothing to resume). A saved callback
        state goes to the first callback of the same class that has not had one yet.
        """
        if not saved_epochs(self.directory):
            return state, None
        epoch, state, fit = restore_training_state(state, self.directory)
        different = {
            name: (fit["run"].get(name), value)
            for name, value in self.run.items()
            if fit["run"].get(name) != value
        }
        if different:
            details = ", ".join(f"{name}={saved!r} (now {now!r})" for name, (saved, now) in different.items())
            raise ValueError(
                f"`checkpoint_dir` {self.directory} holds a run with other settings: {details}. "
                "Resume with the same settings and data, or use a new directory."
            )
        set_history(history, fit)
        _set_callback_states(callbacks, fit.get("callbacks", []))
        self.last_saved = epoch
        if verbose:
            print(f"Restored {os.path.join(self.directory, str(epoch))}: {epoch} epochs done.")
        return state, epoch

    def begin_epoch(self) -> None:
        self._running_losses = []

    def step_done(self, running_loss: jax.Array) -> None:
        """Keep the step's running ``(loss_sum, count)`` (a device array; nothing is fetched)."""
        self._running_losses.append(running_loss)

    def end_epoch(self, epoch: int, state: Any, history: Any, callbacks: Sequence[Any] = ()) -> bool:
        """Save the state after a complete, finite epoch; False when training must stop (non-finite)."""
        problem = self._non_finite(epoch, state)
        if problem is not None:
            kept = (
                f"the last good checkpoint, {os.path.join(self.directory, str(self.last_saved))}, "
                "is kept"
                if self.last_saved is not None
                else f"no checkpoint was saved in {self.directory}"
            )
            warnings.warn(
                f"{problem}. Training stopped; nothing from epoch {epoch + 1} was saved and {kept}.",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
        if len(self._running_losses) == self.steps_per_epoch:
            self._save(epoch + 1, state, history, callbacks)
        return True

    def _non_finite(self, epoch: int, state: Any) -> str | None:
        if not self._running_losses:
            return None
        final = jax.device_get(self._running_losses[-1])
        if not math.isfinite(float(final[0])):
            sums = [float(value[0]) for value in jax.device_get(self._running_losses)]
            step = next(i for i, value in enumerate(sums) if not math.isfinite(value))
            kind = "nan" if math.isnan(sums[step]) else "inf"
            return (
                f"Epoch {epoch + 1}, step {step + 1}/{self.steps_per_epoch}: the training loss is "
                f"{kind}"
            )
        if not bool(_all_finite(tuple(state))):
            return (
                f"Epoch {epoch + 1}, step {len(self._running_losses)}/{self.steps_per_epoch}: the "
                "loss is finite but the updated parameters, optimizer or model state are not"
            )
        return None

    def _save(
        self, epochs_completed: int, state: Any, history: Any, callbacks: Sequence[Any] = ()
    ) -> None:
        ocp = _orbax()
        items = {
            name: ocp.args.StandardSave(jax.tree.leaves(tree))
            for name, tree in zip(_STATE_ITEMS, state)
            if jax.tree.leaves(tree)  # orbax refuses empty items
        }
        fit = {
            "format": FORMAT_VERSION,
            "leaves": {name: _leaf_paths(tree) for name, tree in zip(_STATE_ITEMS, state)},
            "epochs_completed": epochs_completed,
            "run": self.run,
            "history": history.history,
            "history_epochs": history.epoch,
            "callbacks": _callback_states(callbacks),
        }
        manager = _manager(self.directory, self.keep, writable=True)
        try:
            manager.save(epochs_completed, args=ocp.args.Composite(**items, fit=ocp.args.JsonSave(fit)))
            manager.wait_until_finished()
        finally:
            manager.close()
        self.last_saved = epochs_completed


class NoCheckpoints:
    """The checkpointer of a ``fit`` without ``checkpoint_dir``: nothing to resume, nothing saved."""

    def resume(
        self, state: Any, history: Any, verbose: int, callbacks: Sequence[Any] = ()
    ) -> tuple[Any, int | None]:
        return state, None

    def begin_epoch(self) -> None:
        pass

    def step_done(self, running_loss: jax.Array) -> None:
        pass

    def end_epoch(self, epoch: int, state: Any, history: Any, callbacks: Sequence[Any] = ()) -> bool:
        return True


def for_fit(
    directory: str | os.PathLike | None, *, keep: int, run: Mapping[str, Any], steps_per_epoch: int
) -> EpochCheckpointer | NoCheckpoints:
    """``fit``'s checkpointer: an :class:`EpochCheckpointer` for ``directory``, or :class:`NoCheckpoints`.

    Raises:
      ValueError: a bad ``directory`` or ``keep`` (checked only with a directory).
      ImportError: a directory without orbax installed.
    """
    if directory is None:
        return NoCheckpoints()
    return EpochCheckpointer(directory, keep=keep, run=run, steps_per_epoch=steps_per_epoch)
