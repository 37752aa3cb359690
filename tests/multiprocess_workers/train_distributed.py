"""Worker: ``jaxloss.train`` under ``jax.distributed`` (2 processes x 2 CPU devices).

Modes (the first extra argument):

* ``parity``: ``fit``/``evaluate``/``predict`` with ``inputs="global"`` and
  ``inputs="process_local"`` on the 4-device mesh, and the same runs on this process's
  one device (``mesh=None``) as the reference; then the bad setups, each caught and
  recorded. Writes ``parity-<process>.json``.
* ``checkpoint <dir> [kill]``: ``fit`` with ``checkpoint_dir``; with ``kill`` process 1
  kills itself (SIGKILL) in the middle of the second epoch. Without it, after the
  (resumed) run, an uninterrupted run without checkpoints. Writes ``checkpoint-<process>.json``.
* ``never_joins``: initialization with a short ``initialization_timeout`` (the parent
  starts only this process).
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--process-id", type=int, required=True)
parser.add_argument("--num-processes", type=int, required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out-dir", type=Path, required=True)
parser.add_argument("mode")
parser.add_argument("rest", nargs="*")
args = parser.parse_args()
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jaxloss.train import initialize_distributed

initialize_distributed(
    f"127.0.0.1:{args.port}", args.num_processes, args.process_id,
    initialization_timeout=3 if args.mode == "never_joins" else 60,
    heartbeat_timeout=5 if "kill" in args.rest else 60,  # the survivor's wait after the kill
)

import jax
import numpy as np
from flax import nnx

from jaxloss import zoo
from jaxloss.train import Callback, compile

PROCESS = jax.process_index()


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)


def new_trainer(mesh="auto", model=zoo.BinaryMLP, loss="binary_crossentropy"):
    metrics = ["accuracy"] if model is zoo.BinaryMLP else None
    return compile(model(rngs=nnx.Rngs(0)), loss=loss, metrics=metrics, mesh=mesh)


def flat_params(trainer):
    return [np.ravel(leaf).astype(np.float64).tolist()
            for leaf in jax.tree.leaves(jax.tree.map(np.asarray, nnx.state(trainer.model, nnx.Param)))]


def outcome(trainer, history, x_eval, y_eval, batch_size, inputs):
    return {
        "history": history.history,
        "params": flat_params(trainer),
        "evaluate": trainer.evaluate(x_eval, y_eval, batch_size=batch_size, verbose=0,
                                     return_dict=True, inputs=inputs),
        "predict": np.ravel(trainer.predict(x_eval, batch_size=batch_size, inputs=inputs)).tolist(),
    }


class Says(Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(f"callback says: epoch {epoch + 1} done")


def error_of(call):
    try:
        call()
    except ValueError as error:
        return str(error)
    return None


def parity():
    results = {}
    trainer = new_trainer()
    results["mesh"] = {"size": trainer.mesh.size,
                       "processes": sorted({d.process_index for d in trainer.mesh.devices.flat})}
    # Global inputs: 38 samples, validation 20 %: batches of 10 padded to 12 on 4 devices.
    x, y = data(38)
    x_val, y_val = data(13, seed=1)
    settings = {"epochs": 2, "batch_size": 10, "validation_split": 0.2}
    history = trainer.fit(x, y, verbose=2, callbacks=[Says()], **settings)
    results["global"] = outcome(trainer, history, x_val, y_val, 6, "global")
    reference = new_trainer(mesh=None)
    history = reference.fit(x, y, verbose=0, **settings)
    results["global_reference"] = outcome(reference, history, x_val, y_val, 6, "global")

    # Process-local inputs: global batches of 8 = 4 rows of each process, in process order.
    x, y = data(40, seed=2)
    blocks = np.arange(40).reshape(5, 2, 4)  # [batch, process, row]
    mine = blocks[:, PROCESS].ravel()
    x_eval, y_eval = data(14, seed=3)  # 7 rows per process
    eval_mine = np.arange(7) + 7 * PROCESS
    trainer = new_trainer()
    history = trainer.fit(x[mine], y[mine], epochs=2, batch_size=8, shuffle=False, verbose=0,
                          inputs="process_local")
    results["local"] = outcome(trainer, history, x_eval[eval_mine], y_eval[eval_mine], 4,
                               "process_local")
    reference = new_trainer(mesh=None)
    history = reference.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    results["local_reference"] = {
        "history": history.history, "params": flat_params(reference),
        "predict": np.ravel(reference.predict(x_eval)).tolist(),
    }

    # Bad setups: each must raise a ValueError in every process, before any step.
    bad = new_trainer()
    fewer = mine[:-1] if PROCESS == 1 else mine
    results["errors"] = {
        "lengths": error_of(lambda: bad.fit(x[fewer], y[fewer], batch_size=8, verbose=0,
                                            inputs="process_local")),
        "batch_split": error_of(lambda: bad.fit(x[mine], y[mine], batch_size=7, verbose=0,
                                                inputs="process_local")),
        "seed": error_of(lambda: bad.fit(x, y, batch_size=8, verbose=0, seed=PROCESS)),
        "global_data": error_of(lambda: bad.fit(x + PROCESS, y, batch_size=8, verbose=0)),
        "one_process": error_of(lambda: bad.fit(x, y[: 40 - PROCESS], batch_size=8, verbose=0)),
        "unpadded_split": error_of(lambda: new_trainer(
            model=zoo.Regressor, loss=zoo.asymmetric_weighted_mse,  # reduces over the batch: no padding
        ).fit(x[mine], x[mine, 0], batch_size=6, verbose=0, inputs="process_local")),
    }
    # After the errors the processes still run their collectives together.
    results["after_errors"] = trainer.evaluate(x_eval[eval_mine], y_eval[eval_mine], batch_size=4,
                                               verbose=0, return_dict=True, inputs="process_local")
    (args.out_dir / f"parity-{PROCESS}.json").write_text(json.dumps(results))


class KillProcessOne(Callback):
    """SIGKILL process 1 at the third batch of the second epoch."""

    def __init__(self):
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if PROCESS == 1 and self.epoch == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


def checkpointed():
    directory, *kill = args.rest
    x, y = data(32, seed=4)
    trainer = new_trainer()
    history = trainer.fit(x, y, epochs=3, batch_size=8, verbose=1, checkpoint_dir=directory,
                          callbacks=[KillProcessOne()] if kill else None)
    uninterrupted = new_trainer()
    expected = uninterrupted.fit(x, y, epochs=3, batch_size=8, verbose=0)
    (args.out_dir / f"checkpoint-{PROCESS}.json").write_text(json.dumps({
        "history": history.history, "epochs": history.epoch, "params": flat_params(trainer),
        "uninterrupted_history": expected.history, "uninterrupted_params": flat_params(uninterrupted),
    }))


if args.mode == "parity":
    parity()
elif args.mode == "checkpoint":
    checkpointed()
