"""``compile``/``fit``/``evaluate``/``predict`` for Flax NNX models with optax, shaped like Keras.

The document's Keras code maps line by line::

    model.compile(optimizer="adam", loss=..., metrics=["accuracy"])   # Keras
    trainer = compile(model, optimizer="adam", loss=..., metrics=["accuracy"])   # jaxloss
    history = trainer.fit(x_train, y_train, epochs=5, batch_size=32, validation_split=0.2)

A :class:`Trainer` holds the model, the optimizer state and one ``jax.jit`` of each
step of :mod:`jaxloss.train.steps` (how a step computes the loss, the metrics and
the update). Each step is traced once per batch shape and never again in later
epochs (``trace_counts`` counts the traces): a ragged last batch is padded (rows
repeated, ``mask`` 0) unless a loss reduces over the batch itself, pairs its
examples (``couples_examples``) or the model has batch statistics; the ragged batch
then compiles once more, still not once per epoch. The data reach the steps through
:mod:`jaxloss.train.preparation`, the outputs are named and given their objectives
by :mod:`jaxloss.train.outputs`; ``fit`` is the epoch loop around them.

The reported ``loss`` is the running mean of the batch totals weighted by batch
size, each output's ``<name>_loss`` is reported unweighted, and metrics are
``sum(value * w) / sum(w)`` over the epoch. Data parallelism, checkpoints and NaN
stops plug into this structure: the state is the pytree :class:`TrainState`, and
reductions are global sums divided by global counts (never a mean of per-shard
means). With several local devices each batch is split over a 1-D mesh and the
state replicated (``compile(..., mesh=...)``, :mod:`jaxloss.train.parallel`); under
``jax.distributed`` the mesh spans every process's devices, ``inputs`` says whether
each process passes the full arrays or its own rows, and only process 0 prints.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxloss.train import batching, checkpoint, objectives, optimizers, parallel, preparation, steps
from jaxloss.train import outputs as outputs_lib
from jaxloss.train.callbacks import Callback, CallbackList, History
from jaxloss.train.progress import ProgressBar, check_verbose
from jaxloss.train.steps import TrainState


def _host_copy(leaf: Any) -> Any:
    """A NumPy copy of an array; RNG keys (which NumPy cannot hold) as keys over copied data."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = np.array(jax.random.key_data(leaf))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    return np.array(leaf)


class Trainer:
    """A compiled model: ``fit``, ``evaluate``, ``predict`` (use :func:`compile` to build one).

    Args:
      model: a Flax NNX module; ``model(x)`` returns an array, or a dict/list of
        arrays for a multi-output model (list outputs are named ``output_1``, ...).
      optimizer: ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` (Keras defaults)
        or an ``optax.GradientTransformation``.
      loss: a name (resolved by :func:`jaxloss.losses.get`), a loss class or
        instance, or a function ``fn(y_true, y_pred)``; for several outputs a dict
        by output name or a list in output order (``None`` for an output without loss).
      metrics: list of names/functions (``"accuracy"`` resolved from shapes as in
        Keras); for several outputs a dict by output name, or a flat list applied
        to every output.
      loss_weights: scalar per output (dict or list), multiplies its loss in the total.
      weighted_metrics: like ``metrics`` but weighted by ``sample_weight``/``class_weight``
        (``metrics`` are not, as in Keras).
      mesh: data parallelism (:mod:`jaxloss.train.parallel`): ``"auto"`` (default)
        splits every batch of ``fit``/``evaluate``/``predict`` over all devices when
        there is more than one (under ``jax.distributed``: every process's devices);
        an ``int`` (first devices), a list of devices or a 1-D
        ``jax.sharding.Mesh`` chooses them; ``None`` turns it off. The resolved
        mesh is ``trainer.mesh`` (``None`` on one device: the one-device path).

    Raises:
      ValueError: for an unknown optimizer, loss or metric name, a missing loss,
        or loss/loss_weights structures that do not match the outputs (checked
        when the output structure is known, at the first ``fit``/``evaluate``).
    """

    def __init__(
        self,
        model: nnx.Module,
        optimizer: str | optax.GradientTransformation = "adam",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        mesh: parallel.MeshSpec = "auto",
    ):
        if loss is None:
            raise ValueError("`loss` is required: a name, a loss class or instance, or a function.")
        self.model = model
        self.mesh = parallel.resolve_mesh(mesh)
        self.optimizer = optimizers.get(optimizer)
        self._loss_spec = jax.tree.map(
            objectives.resolve_loss, loss, is_leaf=lambda leaf: not isinstance(leaf, (dict, list, tuple))
        )
        self._metrics_spec = metrics
        self._weighted_metrics_spec = weighted_metrics
        self._loss_weights_spec = loss_weights
        outputs_lib.check_metric_names(metrics)
        outputs_lib.check_metric_names(weighted_metrics)

        model.eval()
        eval_graphdef = nnx.graphdef(model)
        model.train()
        # Output names and objectives join the config when the outputs are known (`_build`).
        self._step_config = steps.StepConfig(nnx.graphdef(model), eval_graphdef, self.optimizer)
        self._has_batch_stats = bool(jax.tree.leaves(nnx.state(model, nnx.BatchStat)))
        self._opt_state = self.optimizer.init(nnx.state(model, nnx.Param))

        self.stop_training = False
        self.history: History | None = None
        self.trace_counts: collections.Counter[str] = collections.Counter()
        self._output_shapes: dict[Any, Any] = {}
        self._pad_ragged = True
        self._log_names: list[str] = []
        self._train_step = self._jit_step("train", steps.train_step, replicated_outputs=True)
        self._eval_step = self._jit_step("evaluate", steps.eval_step, replicated_outputs=True)
        self._predict_step = self._jit_step("predict", steps.predict_step, replicated_outputs=False)

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> TrainState:
        """The current :class:`TrainState` (read from the model and the optimizer).

        With a mesh it is replicated on every device (a no-op when it already is).
        """
        _, params, rest = nnx.split(self.model, nnx.Param, ...)
        return parallel.replicate(TrainState(params, rest, self._opt_state), self.mesh)

    @state.setter
    def state(self, state: TrainState) -> None:
        nnx.update(self.model, state.params, state.rest)
        self._opt_state = state.opt_state

    def get_weights(self) -> Any:
        """A host copy of the model's NNX state (parameters and other variables)."""
        return jax.tree.map(_host_copy, nnx.state(self.model))

    def set_weights(self, weights: Any) -> None:
        """Load a state from :meth:`get_weights` into the model."""
        nnx.update(self.model, jax.tree.map(jnp.asarray, weights))

    def restore(self, directory: str | os.PathLike, *, epoch: int | None = None) -> History:
        """Load a ``fit`` checkpoint (model and optimizer state) into this trainer; returns its history.

        The arrays are placed like the current state's. ``epoch`` picks a checkpoint
        by number of completed epochs (default: the latest). Use this to continue
        by hand or to ``predict`` with the checkpointed model (for a bare model:
        :func:`jaxloss.train.checkpoint.restore_model`).

        Raises:
          ValueError: no checkpoint (for ``epoch``) in ``directory``, or one written
            for another model or optimizer.
        """
        _, state, fit = checkpoint.restore_training_state(self.state, directory, epoch=epoch)
        self.state = state
        self.history = History()
        checkpoint.set_history(self.history, fit)
        return self.history

    # ------------------------------------------------------------------ build
    def _abstract_outputs(self, x: Any) -> Any:
        """Output shapes for an input batch (cached per input structure, shapes and dtypes)."""
        specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x)
        key = (jax.tree.structure(specs), tuple(jax.tree.leaves(specs)))
        if key in self._output_shapes:
            return self._output_shapes[key]
        graphdef, state = nnx.split(self.model)

        def call(state: Any, x: Any) -> Any:
            return nnx.merge(graphdef, state)(x)

        try:
            self._output_shapes[key] = jax.eval_shape(call, state, specs)
            return self._output_shapes[key]
        except (ValueError, TypeError, IndexError) as error:  # shape errors: re-raised naming the shapes
            shapes = jax.tree.map(lambda a: tuple(a.shape), x)
            raise ValueError(f"The model cannot be applied to `x` with shapes {shapes}: {error}") from error

    def _build(self, x_batch: Any, y: Any) -> list[np.ndarray]:
        """Build the objectives from the output structure on first use; return ``y`` in output order."""
        names, flat_outputs = outputs_lib.name_outputs(self._abstract_outputs(x_batch))
        ys = outputs_lib.y_in_output_order(y, names)
        built_names = self._step_config.output_names
        if built_names is None:
            built = outputs_lib.build_objectives(
                names, flat_outputs, ys, loss=self._loss_spec, loss_weights=self._loss_weights_spec,
                metrics=self._metrics_spec, weighted_metrics=self._weighted_metrics_spec,
            )
            self._pad_ragged = not self._has_batch_stats and outputs_lib.can_pad(built, flat_outputs, ys)
            self._log_names = outputs_lib.log_names(built)
            self._step_config = dataclasses.replace(
                self._step_config, output_names=names, objectives=built
            )
        elif names != built_names:
            raise ValueError(f"The model's outputs changed from {built_names} to {names}.")
        return ys

    def _jit_step(self, name: str, step: Callable, *, replicated_outputs: bool) -> Callable:
        """``step(config, *arrays)`` jitted once for this trainer; its traces count in ``trace_counts``.

        The config is read when the step is traced, after ``_build`` has completed it.
        """

        def traced(*arrays: Any) -> Any:
            self.trace_counts[name] += 1
            return step(self._step_config, *arrays)

        return parallel.jit(traced, self.mesh, replicated_outputs=replicated_outputs)

    # ------------------------------------------------------------------ host loop helpers
    def _new_accumulators(self) -> steps.Accumulators:
        return parallel.replicate(steps.new_accumulators(self._log_names), self.mesh)

    def _read_logs(self, accum: steps.Accumulators) -> dict[str, float]:
        return steps.read_logs(accum, self._log_names)

    def _batches(
        self, data: preparation.Arrays, order: np.ndarray, batch_size: int, inputs: str = "global"
    ) -> Any:
        return preparation.batches(
            data, order, batch_size, pad=self._pad_ragged, mesh=self.mesh, inputs=inputs
        )

    def _process_local(self, inputs: str) -> bool:
        """Whether each process passes only its own rows (and the mesh spans processes)."""
        return inputs == "process_local" and parallel.spans_processes(self.mesh)

    def _local_batch_size(self, batch_size: int, inputs: str) -> int:
        """The rows each process cuts from its arrays per batch: its share under ``process_local``."""
        if not self._process_local(inputs):
            return batch_size
        processes = parallel.num_processes(self.mesh)
        if batch_size % processes:
            raise ValueError(
                f"inputs='process_local': `batch_size={batch_size}` is the global batch and "
                f"must split evenly over the {processes} processes (each passes its share)."
            )
        return batch_size // processes

    def _check_unpadded_split(self, num_samples: int, local_batch: int, inputs: str) -> None:
        """Without padding, every process-local batch must split over the process's devices."""
        if self._pad_ragged or not self._process_local(inputs):
            return
        devices = parallel.local_device_count(self.mesh)
        sizes = {min(local_batch, num_samples), num_samples % local_batch or local_batch}
        if any(size % devices for size in sizes):
            raise ValueError(
                f"inputs='process_local': this loss or model cannot pad a batch, and local "
                f"batches of {sorted(sizes)} rows (of {num_samples} per process) do not split "
                f"over each process's {devices} devices; choose a `batch_size` whose share "
                f"per process and last batch are multiples of {devices}."
            )

    @staticmethod
    def _printing(verbose: int) -> int:
        """``verbose`` in process 0, 0 (silent) in the other processes."""
        return verbose if jax.process_index() == 0 else 0

    def _agree(self, where: str, error: ValueError | None, values: Mapping[str, Any]) -> None:
        parallel.check_processes_agree(self.mesh, values, error, where=where)

    def _train_epoch(
        self, state: TrainState, data: preparation.Arrays, order: np.ndarray, batch_size: int,
        callbacks: CallbackList, checkpointer: checkpoint.EpochCheckpointer | checkpoint.NoCheckpoints,
        progress: ProgressBar, inputs: str = "global",
    ) -> tuple[TrainState, steps.Accumulators]:
        """One pass over ``data`` in ``order`` (or until a callback stops training)."""
        accum = self._new_accumulators()
        checkpointer.begin_epoch()
        for step, batch in enumerate(self._batches(data, order, batch_size, inputs)):
            callbacks.on_train_batch_begin(step)
            state, accum = self._train_step(state, accum, batch)
            checkpointer.step_done(accum["loss"])
            progress.step_done(step + 1)
            if callbacks.needs_batch_logs or progress.wants_update(step + 1):
                batch_logs = self._read_logs(accum)
                progress.update(step + 1, batch_logs)
                callbacks.on_train_batch_end(step, batch_logs)
            if self.stop_training:
                break
        return state, accum

    def _evaluate(
        self, data: preparation.Arrays, batch_size: int, verbose: int, inputs: str = "global"
    ) -> dict[str, float]:
        state = self.state
        accum = self._new_accumulators()
        progress = ProgressBar(batching.num_batches(data.num_samples, batch_size), verbose)
        order = np.arange(data.num_samples)
        for step, batch in enumerate(self._batches(data, order, batch_size, inputs), 1):
            accum = self._eval_step(state, accum, batch)
            progress.step_done(step)
            if progress.wants_update(step):
                progress.update(step, self._read_logs(accum))
        logs = self._read_logs(accum)
        progress.update(progress.target, logs, final=True)
        return logs

    # ------------------------------------------------------------------ public API
    def fit(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        seed: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        keep_checkpoints: int = checkpoint.DEFAULT_KEEP,
        inputs: parallel.Inputs = "global",
    ) -> History:
        """Train for ``epochs`` epochs; returns the :class:`History` (``history.history[...]``).

        Arguments follow ``keras.Model.fit``. ``validation_split`` takes the last
        fraction of the samples before shuffling; ``validation_data`` (``(x, y)`` or
        ``(x, y, sample_weight)``) takes precedence over it. ``class_weight`` maps a
        class index to a weight and becomes per-sample weights (single-output
        models only; not together with ``sample_weight``). The validation part of
        ``sample_weight`` weights the validation loss; ``class_weight`` does not.
        ``shuffle`` draws a new order each epoch from ``seed`` and the epoch number
        (reproducible and resumable).

        With ``checkpoint_dir``, the model's NNX state, the optimizer state and the
        history are saved with orbax after each complete epoch (the last
        ``keep_checkpoints`` are kept), and a directory that holds checkpoints is
        resumed from its latest one (``initial_epoch`` is then ignored): the result
        is bitwise identical to an uninterrupted run. A non-finite loss or state
        then stops training with a ``RuntimeWarning`` naming the epoch and step, and
        is never saved. See :mod:`jaxloss.train.checkpoint`.

        Under ``jax.distributed`` (a mesh that spans processes) every process calls
        ``fit`` with the same arguments. ``inputs="global"`` (default): every process
        passes the same full arrays, and places the rows of its own devices.
        ``inputs="process_local"``: each process passes its own rows (the same number
        in every process); ``batch_size`` is the global batch, each process cuts its
        share ``batch_size / num_processes`` from its rows (shuffled by ``seed`` and the
        epoch, as one process shuffles), and the global batch is the shares in process
        order; ``validation_split`` and ``validation_data`` are per process likewise.
        The history and the parameters are the same in every process; only process 0
        prints (progress and callbacks). With ``checkpoint_dir`` (a directory every
        process can reach) each process writes its part of each checkpoint.

        Raises:
          ValueError: before any training step, for mismatched lengths, a bad
            ``batch_size``/``validation_split``/``epochs``/``inputs``, unknown names, or
            a model output that does not fit the loss. Under ``jax.distributed`` also
            when the processes' settings or numbers of samples differ, or when a
            ``process_local`` batch cannot be split (the same error in every process).
        """
        inputs = parallel.check_inputs(inputs)
        error, agreed = None, {}
        try:
            batch_size = batching.check_batch_size(batch_size)
            validation_split = batching.check_validation_split(validation_split)
            verbose = check_verbose(verbose)
            preparation.check_epochs(epochs, initial_epoch)
            train, validation = preparation.fit_data(
                x, y, batch_size=batch_size, validation_split=validation_split,
                validation_data=validation_data, class_weight=class_weight,
                sample_weight=sample_weight, build=self._build,
            )
            local_batch = self._local_batch_size(batch_size, inputs)
            self._check_unpadded_split(train.num_samples, local_batch, inputs)
            if validation is not None:
                self._check_unpadded_split(validation.num_samples, local_batch, inputs)
            agreed = {
                "inputs": inputs, "batch_size": batch_size, "epochs": epochs,
                "initial_epoch": initial_epoch, "shuffle": shuffle, "seed": seed,
                "validation_split": validation_split,
                "the number of training samples": train.num_samples,
                "the number of validation samples": 0 if validation is None else validation.num_samples,
                "checkpointing": checkpoint_dir is not None, "keep_checkpoints": keep_checkpoints,
            }
            if inputs == "global":
                agreed["the training data"] = parallel.data_fingerprint(train)
                agreed["the validation data"] = parallel.data_fingerprint(validation)
        except ValueError as raised:
            error = raised
        self._agree("fit", error, agreed)
        steps_per_epoch = batching.num_batches(train.num_samples, local_batch)
        processes = parallel.num_processes(self.mesh) if self._process_local(inputs) else 1
        checkpointer = checkpoint.for_fit(
            checkpoint_dir, keep=keep_checkpoints, steps_per_epoch=steps_per_epoch,
            run={"seed": seed, "shuffle": shuffle, "batch_size": batch_size,
                 "num_samples": train.num_samples * processes},
        )
        printing = self._printing(verbose)
        self.history = history = History()
        history.params = {"verbose": verbose, "epochs": epochs, "steps": steps_per_epoch}
        callback_list = CallbackList(
            [history, *(callbacks or [])], model=self, quiet=jax.process_index() != 0
        )
        self.stop_training = False
        callback_list.on_train_begin()
        state, resumed_at = checkpointer.resume(self.state, history, printing, callback_list.callbacks)
        self.state = state
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch if resumed_at is None else resumed_at, epochs):
            callback_list.on_epoch_begin(epoch)
            if printing:
                print(f"Epoch {epoch + 1}/{epochs}")
            progress = ProgressBar(steps_per_epoch, printing)
            order = preparation.epoch_order(train.num_samples, shuffle=shuffle, seed=seed, epoch=epoch)
            state, accum = self._train_epoch(
                state, train, order, local_batch, callback_list, checkpointer, progress, inputs
            )
            self.state = state
            logs = self._read_logs(accum)
            if validation is not None:
                val_logs = self._evaluate(validation, local_batch, verbose=0, inputs=inputs)
                logs.update({f"val_{name}": value for name, value in val_logs.items()})
            progress.update(progress.target, logs, final=True)
            callback_list.on_epoch_end(epoch, logs)
            state = self.state  # as the callbacks left it
            if not checkpointer.end_epoch(epoch, state, history, callback_list.callbacks):
                self.stop_training = True
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return history

    def evaluate(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int = 32,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        return_dict: bool = False,
        inputs: parallel.Inputs = "global",
    ) -> float | list[float] | dict[str, float]:
        """Loss (with regularization) and metrics on ``(x, y)``, as ``keras.Model.evaluate``.

        Returns the loss alone when there are no other logs, else
        ``[loss, *metrics]`` in log order, or a dict with ``return_dict=True``.
        ``inputs`` is as for :meth:`fit`: the values are those of all processes' rows,
        the same in every process.
        """
        inputs = parallel.check_inputs(inputs)
        error, agreed = None, {}
        try:
            batch_size = batching.check_batch_size(batch_size)
            verbose = check_verbose(verbose)
            if y is None:
                raise ValueError("`y` is required to evaluate the loss.")
            data = preparation.arrays(x, y, sample_weight, batch_size, self._build)
            local_batch = self._local_batch_size(batch_size, inputs)
            self._check_unpadded_split(data.num_samples, local_batch, inputs)
            agreed = {"inputs": inputs, "batch_size": batch_size,
                      "the number of samples": data.num_samples}
            if inputs == "global":
                agreed["the data"] = parallel.data_fingerprint(data)
        except ValueError as raised:
            error = raised
        self._agree("evaluate", error, agreed)
        logs = self._evaluate(data, local_batch, self._printing(verbose), inputs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(
        self, x: Any, *, batch_size: int = 32, verbose: int | str = 0,
        inputs: parallel.Inputs = "global",
    ) -> Any:
        """Model outputs for ``x`` as NumPy arrays (same structure as ``model(x)``).

        Under ``jax.distributed`` every process gets the whole result: with
        ``inputs="process_local"`` (as for :meth:`fit`) the outputs of every
        process's rows, process 0's first.
        """
        inputs = parallel.check_inputs(inputs)
        error, agreed = None, {}
        try:
            batch_size = batching.check_batch_size(batch_size)
            verbose = check_verbose(verbose)
            x = jax.tree.map(lambda a: batching.as_array(a, "x"), x)
            n = batching.check_lengths(x, None, None)
            self._abstract_outputs(batching.take(x, slice(0, min(batch_size, n))))
            local_batch = self._local_batch_size(batch_size, inputs)
            agreed = {"inputs": inputs, "batch_size": batch_size, "the number of samples": n}
            if inputs == "global":
                agreed["the data"] = parallel.data_fingerprint(x)
        except ValueError as raised:
            error = raised
        self._agree("predict", error, agreed)
        local = self._process_local(inputs)
        shares = parallel.process_order(self.mesh) if local else [0]
        multiple = parallel.local_device_count(self.mesh) if local else parallel.num_devices(self.mesh)
        state = self.state
        progress = ProgressBar(batching.num_batches(n, local_batch), self._printing(verbose))
        chunks: dict[int, list[Any]] = {process: [] for process in shares}
        for step, (index, n_real) in enumerate(
            batching.batch_indices(np.arange(n), local_batch, True, multiple), 1
        ):
            x_batch = parallel.put_batch(batching.take(x, index), self.mesh, inputs)
            out = jax.tree.map(np.asarray, self._predict_step(state.params, state.rest, x_batch))
            # Each process's share of the global batch (one share unless process_local).
            for position, process in enumerate(shares):
                start = position * len(index)
                chunks[process].append(jax.tree.map(lambda a, s=start, k=n_real: a[s : s + k], out))
            progress.step_done(step)
        progress.update(progress.target, {}, final=True)
        ordered = [chunk for process in sorted(chunks) for chunk in chunks[process]]
        return jax.tree.map(lambda *parts: np.concatenate(parts), *ordered)


def compile(model: nnx.Module, *args: Any, **kwargs: Any) -> Trainer:
    """Keras's ``model.compile(...)`` for an NNX model: returns a :class:`Trainer`.

    Args:
      model, optimizer, loss, metrics, loss_weights, weighted_metrics: as :class:`Trainer`.
      mesh: data parallelism: ``"auto"`` splits every batch over all devices (every
        process's under ``jax.distributed``) when there are several, ``None`` keeps
        one device (see :class:`Trainer` and :mod:`jaxloss.train.parallel`).

    Returns:
      The :class:`Trainer`; ``trainer.mesh`` is the resolved mesh (``None`` on one device).

    >>> import numpy as np
    >>> from flax import nnx
    >>> from jaxloss import zoo
    >>> trainer = compile(zoo.Regressor(rngs=nnx.Rngs(0)), optimizer="adam",
    ...                   loss=zoo.asymmetric_weighted_mse, metrics=["mae"])
    >>> x = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32)
    >>> history = trainer.fit(x, x[:, 0], epochs=2, batch_size=32, verbose=0)
    >>> sorted(history.history)
    ['loss', 'mae']
    >>> trainer.predict(x[:3]).shape
    (3, 1)
    >>> compile(zoo.Regressor(rngs=nnx.Rngs(0)), loss="mse", mesh=None).mesh is None
    True
    """
    return Trainer(model, *args, **kwargs)


# The arguments are written once, in Trainer's constructor; compile shows them as its own.
compile.__signature__ = inspect.signature(Trainer).replace(return_annotation="Trainer")
