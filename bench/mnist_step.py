"""Time one training step of the document's MNIST CNN: Flax NNX, jaxloss.nn and tf.keras.

The model (Conv32 3×3 relu, MaxPool 2×2, Conv64 3×3 relu, MaxPool 2×2, Flatten,
Dense128 relu, Dense10 softmax), Keras's sparse categorical cross-entropy on the
softmax probabilities and Adam (learning rate 1e-3, epsilon 1e-7), batch 128,
float32. One step is forward + backward + Adam update, and the loss is fetched
to the host after every step, as ``train_on_batch`` returns it. Peers:

- ``flax``: a straightforward Flax NNX CNN (``nnx.Conv``, ``nnx.max_pool``) with an
  ``@nnx.jit`` step, as in Flax's MNIST example;
- ``jaxloss.nn``: the same model on :func:`jaxloss.nn.conv2d_relu_max_pool_2x2`
  (pooling before bias and ReLU: the same values and gradients; im2col patches
  taken from the image's 2×2 phases so that one matrix product computes only the
  pooled positions, a mask backward for the maximum), same ``@nnx.jit`` step;
- ``jaxloss.nn im2col``: the previous form of that block, kept for comparison:
  :func:`jaxloss.nn.conv2d_im2col` then :func:`jaxloss.nn.max_pool_2x2`, then
  bias and ReLU, same ``@nnx.jit`` step;
- ``jaxloss.nn+jax.jit``: the same, stepped as a pure function of the split NNX
  state with ``jax.jit`` and donated buffers (no per-call graph traversal);
- ``keras.train_on_batch`` and ``keras.fit``: tf.keras (TensorFlow backend, its
  default ``jit_compile``, i.e. no XLA on CPU) on the document's model; ``fit`` runs
  ``--fit-steps`` batches per call and is reported per step.

All peers run in one process on the same CPU, interleaved: each round times
``--steps`` steps of every peer in a rotating order; the figure is the median
over rounds, and each peer's ratio to ``keras.train_on_batch`` is the median of
the per-round ratios. The first call (tracing and compilation) is timed apart
and excluded, as are ``--warmup`` further steps.

The allocator is whatever the process runs under: run it plainly for glibc
malloc, or with ``LD_PRELOAD`` set to a caching allocator. ``--allocators
glibc,glibc-tunables,mimalloc`` runs one child process per allocator and prints
one table: ``glibc`` (``LD_PRELOAD`` and ``GLIBC_TUNABLES`` removed),
``glibc-tunables`` (glibc with the command line's fallback,
:data:`jaxloss.cli.allocator.GLIBC_TUNABLES_SETTING`: blocks under 64 MiB from
the heap, 128 MiB trim threshold, transparent huge pages for mapped blocks),
``glibc-hugetlb`` (only ``glibc.malloc.hugetlb=1``), ``glibc-nommap``
(``glibc.malloc.mmap_max=0`` and no trimming: measured, not used, its heap
fragments), ``mimalloc`` and ``tcmalloc`` (found by
:func:`jaxloss.cli.allocator.find_allocator_library`). Each child also reports
its peak resident memory, and each peer its minor page faults per step.

TensorFlow is needed only here: ``python3 -m venv /work/venv-tf &&
/work/venv-tf/bin/pip install tensorflow-cpu jax flax optax cmeel-mimalloc``, then
from the repository root::

    /work/venv-tf/bin/python -m bench.mnist_step --allocators glibc,mimalloc --out FILE

Keep ``FILE`` out of ``bench/results/*.json`` itself (those are the suite's files, read
by notebook 06): the measured run is in ``bench/results/mnist_step/``.

Without TensorFlow the Keras peers are left out and the rest still runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench import machine
from bench.machine import GLIBC_SETTINGS

BATCH = 128
EPSILON = 1e-7  # Keras's backend epsilon: probability clipping and Adam's epsilon
LEARNING_RATE = 1e-3
REFERENCE = "keras.train_on_batch"

def make_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(BATCH, 28, 28, 1)).astype(np.float32) / 255.0
    labels = rng.integers(0, 10, size=(BATCH,)).astype(np.int32)
    return images, labels


@dataclasses.dataclass
class Peer:
    """One contender: ``run()`` performs ``steps_per_call`` training steps, returns the loss."""

    run: Callable[[], float]
    steps_per_call: int = 1


# --------------------------------------------------------------------------- JAX peers


def jax_peers(images: np.ndarray, labels: np.ndarray) -> dict[str, Peer]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from jaxloss.nn import conv2d_im2col, conv2d_relu_max_pool_2x2, max_pool_2x2

    def keras_sparse_categorical_cross_entropy(probs, targets):
        # Keras on probabilities: normalise, clip to [eps, 1 - eps], -log p[label]; batch mean.
        probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
        probs = jnp.clip(probs, EPSILON, 1.0 - EPSILON)
        picked = jnp.take_along_axis(probs, targets[:, None], axis=-1)[:, 0]
        return -jnp.mean(jnp.log(picked))

    class FlaxCNN(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            self.conv1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs)
            self.conv2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs)
            self.dense1 = nnx.Linear(5 * 5 * 64, 128, rngs=rngs)
            self.dense2 = nnx.Linear(128, 10, rngs=rngs)

        def __call__(self, x):
            x = nnx.max_pool(nnx.relu(self.conv1(x)), (2, 2), (2, 2), "VALID")
            x = nnx.max_pool(nnx.relu(self.conv2(x)), (2, 2), (2, 2), "VALID")
            x = x.reshape(x.shape[0], -1)
            return nnx.softmax(self.dense2(nnx.relu(self.dense1(x))))

    class ConvReluPool(nnx.Module):
        """Keras's Conv2D(3×3, activation="relu") followed by MaxPooling2D((2, 2))."""

        def __init__(self, in_channels: int, out_channels: int, rngs: nnx.Rngs):
            init = nnx.initializers.glorot_uniform()
            self.kernel = nnx.Param(init(rngs.params(), (3, 3, in_channels, out_channels)))
            self.bias = nnx.Param(jnp.zeros((out_channels,)))

        def __call__(self, x):
            return conv2d_relu_max_pool_2x2(x, self.kernel[...], self.bias[...])

    class Im2colConvReluPool(ConvReluPool):
        """The same block as ``max_pool_2x2(conv2d_im2col(x, w))``, then bias and ReLU."""

        def __call__(self, x):
            pooled = max_pool_2x2(conv2d_im2col(x, self.kernel[...]))
            return nnx.relu(pooled + self.bias[...])

    class JaxlossCNN(FlaxCNN):
        block = ConvReluPool

        def __init__(self, rngs: nnx.Rngs):
            super().__init__(rngs)
            self.conv1 = self.block(1, 32, rngs)
            self.conv2 = self.block(32, 64, rngs)

        def __call__(self, x):
            x = self.conv2(self.conv1(x))
            x = x.reshape(x.shape[0], -1)
            return nnx.softmax(self.dense2(nnx.relu(self.dense1(x))))

    class Im2colCNN(JaxlossCNN):
        block = Im2colConvReluPool

    def adam():
        return optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=EPSILON)

    def loss_fn(model, x, y):
        return keras_sparse_categorical_cross_entropy(model(x), y)

    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    nnx_step = nnx.jit(train_step)

    x, y = jnp.asarray(images), jnp.asarray(labels)

    # Same mathematics: with the same weights the models give the same loss and gradients.
    flax_model = FlaxCNN(nnx.Rngs(0))
    for ours in (JaxlossCNN(nnx.Rngs(0)), Im2colCNN(nnx.Rngs(0))):
        for name in ("conv1", "conv2"):
            for param in ("kernel", "bias"):
                getattr(getattr(ours, name), param)[...] = getattr(
                    getattr(flax_model, name), param
                )[...]
        for a, b in zip(
            jax.tree.leaves(nnx.value_and_grad(loss_fn)(flax_model, x, y)),
            jax.tree.leaves(nnx.value_and_grad(loss_fn)(ours, x, y)),
        ):
            np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5)

    def nnx_peer(model_cls):
        model = model_cls(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, adam(), wrt=nnx.Param)
        return lambda: float(nnx_step(model, optimizer, x, y))

    def functional_peer(model_cls):
        model = model_cls(nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, adam(), wrt=nnx.Param)
        graphdef, state = nnx.split((model, optimizer))

        @functools.partial(jax.jit, donate_argnums=0)
        def step(state, x, y):
            model, optimizer = nnx.merge(graphdef, state)
            loss = train_step(model, optimizer, x, y)
            return nnx.state((model, optimizer)), loss

        box = [state]

        def run() -> float:
            box[0], loss = step(box[0], x, y)
            return float(loss)

        return run

    return {
        "flax": Peer(nnx_peer(FlaxCNN)),
        "jaxloss.nn": Peer(nnx_peer(JaxlossCNN)),
        "jaxloss.nn+jax.jit": Peer(functional_peer(JaxlossCNN)),
        "jaxloss.nn im2col": Peer(nnx_peer(Im2colCNN)),
    }


# ------------------------------------------------------------------------- Keras peers


def keras_peers(
    images: np.ndarray, labels: np.ndarray, fit_steps: int
) -> tuple[dict[str, Peer], bool]:
    import keras
    import tensorflow as tf  # noqa: F401  (the peer is tf.keras: fail here if TF is absent)

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"tf.keras peer needs KERAS_BACKEND=tensorflow, got {keras.backend.backend()}"
        )

    def document_model():
        layers = keras.layers
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Flatten(),
                layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        return model

    on_batch = document_model()

    def train_on_batch() -> float:
        return float(on_batch.train_on_batch(images, labels)[0])

    fitted = document_model()
    fit_x = np.concatenate([images] * fit_steps)
    fit_y = np.concatenate([labels] * fit_steps)

    def fit() -> float:
        history = fitted.fit(fit_x, fit_y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return float(history.history["loss"][-1])

    peers = {"keras.train_on_batch": Peer(train_on_batch), "keras.fit": Peer(fit, fit_steps)}
    return peers, bool(on_batch.jit_compile)


# --------------------------------------------------------------------------- measuring


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(peers: dict[str, Peer], *, warmup: int, rounds: int, steps: int) -> dict:
    names = list(peers)
    first_call_s, losses = {}, {}
    for name in names:
        start = time.perf_counter()
        losses[name] = peers[name].run()
        first_call_s[name] = time.perf_counter() - start
    for name in names:
        for _ in range(warmup):
            peers[name].run()
    per_step_ms: dict[str, list[float]] = {name: [] for name in names}
    cpu_per_step_ms: dict[str, list[float]] = {name: [] for name in names}
    faults_per_step: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            peer = peers[name]
            calls = max(1, steps // peer.steps_per_call)
            start_faults = _minor_faults()
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                losses[name] = peer.run()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            done_steps = calls * peer.steps_per_call
            per_step_ms[name].append(1e3 * elapsed / done_steps)
            cpu_per_step_ms[name].append(1e3 * cpu / done_steps)
            faults_per_step[name].append((_minor_faults() - start_faults) / done_steps)
    result = {}
    for name in names:
        entry = {
            "median_ms": statistics.median(per_step_ms[name]),
            "median_cpu_ms": statistics.median(cpu_per_step_ms[name]),
            "min_ms": min(per_step_ms[name]),
            "median_minor_faults": statistics.median(faults_per_step[name]),
            "max_ms": max(per_step_ms[name]),
            "first_call_s": first_call_s[name],
            "last_loss": losses[name],
        }
        if REFERENCE in per_step_ms:
            entry["ratio_to_keras"] = statistics.median(
                ours / ref for ours, ref in zip(per_step_ms[name], per_step_ms[REFERENCE])
            )
            entry["cpu_ratio_to_keras"] = statistics.median(
                ours / ref
                for ours, ref in zip(cpu_per_step_ms[name], cpu_per_step_ms[REFERENCE])
                if ref > 0
            )
        result[name] = entry
    return result


def run_here(args: argparse.Namespace) -> dict:
    images, labels = make_batch()
    peers: dict[str, Peer] = {}
    notes = []
    if "keras" in args.peers:
        try:
            keras_side, jit_compile = keras_peers(images, labels, args.fit_steps)
        except ImportError as err:
            notes.append(f"tf.keras peers left out: {err}.")
        else:
            notes.append(f"tf.keras jit_compile={jit_compile}.")
            peers.update(keras_side)
    if "jax" in args.peers:
        peers.update(jax_peers(images, labels))
    import jax

    measured = measure(peers, warmup=args.warmup, rounds=args.rounds, steps=args.steps)
    return {
        "load_average_1min": os.getloadavg()[0],
        "allocator": machine.allocator_in_process(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine.describe(),
        "jax": jax.__version__,
        "batch": BATCH,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "notes": notes,
        "peers": measured,
    }


def run_children(args: argparse.Namespace) -> list[dict]:
    results = []
    for allocator in args.allocators.split(","):
        env = machine.allocator_environment(allocator, os.environ)
        if env is None:
            print(f"# {allocator}: no library found, skipped", file=sys.stderr)
            continue
        command = [sys.executable, "-m", "bench.mnist_step", "--json-only", *args.child_args]
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def markdown(results: list[dict]) -> str:
    lines = [
        (
            "| peer | allocator | median ms/step | ratio to keras.train_on_batch "
            "| CPU ms/step (all threads) | CPU ratio | minor faults/step | first call s |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for name, entry in result["peers"].items():
            ratio, cpu_ratio = entry.get("ratio_to_keras"), entry.get("cpu_ratio_to_keras")
            lines.append(
                f"| {name} | {result['allocator']} | {entry['median_ms']:.1f} "
                f"| {'' if ratio is None else f'{ratio:.2f}'} | {entry['median_cpu_ms']:.1f} "
                f"| {'' if cpu_ratio is None else f'{cpu_ratio:.2f}'} "
                f"| {entry.get('median_minor_faults', float('nan')):.0f} "
                f"| {entry['first_call_s']:.1f} |"
            )
    if results:
        first = results[0]
        lines.append("")
        lines.append(
            f"{machine.machine_label(first['machine'])}; batch {BATCH}, float32, "
            f"{first['rounds']} interleaved rounds of {first['steps_per_round']} steps per peer; "
            f"JAX {first['jax']}; 1-minute load average at the end: "
            f"{', '.join(str(round(r['load_average_1min'], 1)) for r in results)}; "
            "peak resident memory (MiB): "
            f"{', '.join(format(r.get('peak_rss_mib', float('nan')), '.0f') for r in results)}. "
            f"{' '.join(first['notes'])}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", default="jax,keras", help="comma list of: jax, keras")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per peer per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--fit-steps", type=int, default=10, help="batches per keras.fit call")
    parser.add_argument(
        "--allocators",
        default=None,
        help=f"e.g. glibc,glibc-tunables,mimalloc: one child process each; names: "
        f"{', '.join(GLIBC_SETTINGS)}, mimalloc, tcmalloc",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=None,
        help="pin the run (and its children) to this many of the usable CPUs, e.g. 1: "
        "XLA's and TensorFlow's thread pools then get one thread each",
    )
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON results here")
    args = parser.parse_args(argv)
    if args.cpus is not None:
        usable = sorted(os.sched_getaffinity(0))
        if not 1 <= args.cpus <= len(usable):
            parser.error(f"--cpus must be in [1, {len(usable)}], got {args.cpus}")
        # Before JAX or TensorFlow start: both size their thread pools from the affinity.
        os.sched_setaffinity(0, usable[: args.cpus])
    args.child_args = [
        f"--peers={args.peers}",
        f"--rounds={args.rounds}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--fit-steps={args.fit_steps}",
    ]
    if args.allocators:
        known = (*GLIBC_SETTINGS, "mimalloc", "tcmalloc")
        unknown = [name for name in args.allocators.split(",") if name not in known]
        if unknown:
            parser.error(f"--allocators: unknown {unknown}; known: {', '.join(known)}")
        results = run_children(args)
    else:
        results = [run_here(args)]
        if args.json_only:
            print(json.dumps(results[0]))
            return
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
