"""Callbacks with Keras's hooks: ``History``, ``EarlyStopping``, ``TerminateOnNaN``.

A callback's ``model`` is the :class:`~jaxloss.train.Trainer`; it can read and set
``get_weights()``/``set_weights()`` and stop training with ``model.stop_training = True``.
Logs are plain ``dict[str, float]``: running means over the epoch so far in
``on_train_batch_end``, the epoch's values (with ``val_*``) in ``on_epoch_end``.

A callback with state that must survive a resumed ``fit`` (``checkpoint_dir``) returns it from
``get_state()`` as JSON-compatible values and takes it back in ``set_state()``; ``fit`` saves
it with each checkpoint and hands it back after ``on_train_begin`` when it resumes.
``EarlyStopping`` does so for its best value, best epoch and patience count.

Under ``jax.distributed`` every process runs every hook (the logs are the same in
all of them), but what the hooks print reaches the output in process 0 only.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

Logs = dict[str, float]

# Metrics that improve upwards; everything else monitored in "auto" mode must be a loss-like name.
_UPWARD_METRICS = ("acc", "accuracy", "auc", "precision", "recall")
_DOWNWARD_METRICS = ("loss", "mse", "mae", "mean_squared_error", "mean_absolute_error")


class Callback:
    """Base class: override any hook; the defaults do nothing."""

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: Logs | None = None) -> None: ...

    def on_train_end(self, logs: Logs | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def get_state(self) -> dict[str, Any] | None:
        """JSON-compatible state to save in a ``fit`` checkpoint; None (the default): none."""
        return None

    def set_state(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`get_state` returned, when ``fit`` resumes from a checkpoint."""

    @property
    def needs_batch_logs(self) -> bool:
        """True when ``on_train_batch_end`` is overridden: the loop then fetches logs per step."""
        return type(self).on_train_batch_end is not Callback.on_train_batch_end


class CallbackList:
    """The callbacks of one ``fit``, in order: each hook calls that hook of every callback.

    With ``quiet`` (the processes other than process 0 under ``jax.distributed``) the
    hooks run with ``sys.stdout`` discarded.
    """

    def __init__(self, callbacks: Sequence[Callback], model: Any, *, quiet: bool = False):
        self.callbacks = list(callbacks)
        self.quiet = quiet
        for callback in self.callbacks:
            callback.set_model(model)
        # Fixed for the run: whether the loop must fetch the logs after every step.
        self.needs_batch_logs = any(callback.needs_batch_logs for callback in self.callbacks)

    @contextlib.contextmanager
    def _output(self) -> Iterator[None]:
        if not self.quiet:
            yield
            return
        with contextlib.redirect_stdout(io.StringIO()):
            yield

    def on_train_begin(self) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_train_begin()

    def on_epoch_begin(self, epoch: int) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_epoch_begin(epoch)

    def on_train_batch_begin(self, batch: int) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_train_batch_begin(batch)

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: Logs) -> None:
        with self._output():
            for callback in self.callbacks:
                callback.on_train_end(logs)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is a list, one value per epoch."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class TerminateOnNaN(Callback):
    """Stop training as soon as the running loss is NaN or infinite (checked after every batch).

    Prints ``Epoch E, batch B: Invalid loss, terminating training`` (1-based epoch,
    0-based batch as Keras counts them); the epoch's logs then hold the NaN. With
    ``fit(checkpoint_dir=...)`` that epoch is not saved and the last good checkpoint
    stays (:mod:`jaxloss.train.checkpoint`).
    """

    def __init__(self) -> None:
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {self.epoch + 1}, batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras's rule).

    An epoch improves on the best value when ``current - min_delta < best`` (mode
    ``"min"``) or ``current + min_delta > best`` (mode ``"max"``); ``"auto"`` picks
    ``"max"`` for accuracy-like names and ``"min"`` for losses. With
    ``restore_best_weights=True`` the weights of the best epoch are put back when
    training ends (also when it ran all its epochs), as Keras 3 does.

    Args:
      monitor: log name, e.g. ``"val_loss"`` or ``"val_accuracy"``.
      min_delta: smallest change that counts as an improvement (>= 0).
      patience: epochs without improvement before stopping.
      verbose: 1 prints when it stops and when it restores weights.
      mode: ``"auto"``, ``"min"`` or ``"max"``.
      baseline: training stops unless the monitor improves on this value.
      restore_best_weights: restore the best epoch's weights at the end.
      start_from_epoch: epochs to wait before monitoring starts.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"`mode` must be 'auto', 'min' or 'max', got {mode!r}.")
        if patience < 0:
            raise ValueError(f"`patience` must be >= 0, got {patience}.")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.verbose = verbose
        self.mode = self._resolve_mode(monitor, mode)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.best: float | None = None
        self.best_weights: Any = None
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0

    @staticmethod
    def _resolve_mode(monitor: str, mode: str) -> str:
        if mode != "auto":
            return mode
        name = monitor.removeprefix("val_")
        if name.endswith(_UPWARD_METRICS):
            return "max"
        if name.endswith(_DOWNWARD_METRICS):
            return "min"
        raise ValueError(
            f"EarlyStopping cannot tell whether {monitor!r} should rise or fall; "
            "pass mode='min' or mode='max'."
        )

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best, self.best_weights, self.best_epoch = None, None, 0
        self.wait, self.stopped_epoch = 0, 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            available = ", ".join(logs or {})
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs ({available})."
            )
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None and self.best is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_state(self) -> dict[str, Any]:
        """The best value and epoch, the epochs waited and the stop epoch (not the weights)."""
        return {
            "monitor": self.monitor,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Resume where the checkpoint left off: training stops at the same epoch as without
        the interruption. The best epoch's weights are not in checkpoints: with
        ``restore_best_weights``, if the best epoch came before the resume, ``on_train_end``
        warns and keeps the final weights."""
        if state.get("monitor") != self.monitor:
            raise ValueError(
                f"The checkpoint's EarlyStopping monitored {state.get('monitor')!r}, this one "
                f"monitors {self.monitor!r}."
            )
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is None and self.best is not None:
            warnings.warn(
                f"EarlyStopping(restore_best_weights=True): the best epoch ({self.best_epoch + 1}) "
                "came before this fit resumed from its checkpoint, and checkpoints do not hold "
                "the best epoch's weights: the final weights are kept.",
                RuntimeWarning,
                stacklevel=2,
            )
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

