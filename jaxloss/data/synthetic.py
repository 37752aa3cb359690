"""The document's synthetic datasets, drawn exactly as the document draws them.

The document calls ``np.random.seed(42)`` once, at the top of its first
training example, and then draws every later dataset from the same global
``RandomState`` stream. A person running the document from top to bottom gets,
in this order::

    np.random.seed(42)
    x = np.random.normal(size=(1000, 20))        # binary example: x_train
    y = np.random.randint(0, 2, size=(1000,))    # binary example: y_train
    x = np.random.normal(size=(1000, 20))        # custom-loss regression: x_train
    y = np.random.normal(size=(1000,))           # custom-loss regression: y_train
    # (the MNIST example draws nothing from NumPy)
    x = np.random.normal(size=(1000, 20))        # L2 example: x_train
    y = np.random.randint(0, 2, size=(1000,))    # L2 example: y_train

Between these draws the document builds and fits Keras models on TensorFlow;
tf.keras draws weight initialisations and ``fit``'s shuffling from TensorFlow's
own generators, not from NumPy's global stream, so they do not move it. Each
function here replays that stream from the seed on a private
``np.random.RandomState(42)`` (bit-identical to the global legacy generator after
``np.random.seed(42)``) and never touches NumPy's global state.

Features come back as float32 (the document's float64 draws, rounded once),
class labels as int32 and regression targets as float32.
"""

from __future__ import annotations

import numpy as np

DOCUMENT_SEED = 42
NUM_EXAMPLES = 1000
NUM_FEATURES = 20


def _document_stream() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Replay every draw of the document after its single ``np.random.seed(42)``."""
    rng = np.random.RandomState(DOCUMENT_SEED)
    binary = (
        rng.normal(size=(NUM_EXAMPLES, NUM_FEATURES)),
        rng.randint(0, 2, size=(NUM_EXAMPLES,)),
    )
    regression = (
        rng.normal(size=(NUM_EXAMPLES, NUM_FEATURES)),
        rng.normal(size=(NUM_EXAMPLES,)),
    )
    l2 = (
        rng.normal(size=(NUM_EXAMPLES, NUM_FEATURES)),
        rng.randint(0, 2, size=(NUM_EXAMPLES,)),
    )
    return {"binary": binary, "regression": regression, "l2": l2}


def document_binary() -> tuple[np.ndarray, np.ndarray]:
    """The binary-classification set of the document's first training example.

    ``x ~ N(0, 1)`` of shape ``(1000, 20)`` and labels ``y ~ U{0, 1}`` of shape
    ``(1000,)``: the first two draws after ``np.random.seed(42)``. The labels are
    independent of ``x``, so no model can beat chance on held-out data (the
    document's accuracies near 0.5 are that).

    Returns:
      ``(x, y)``: float32 features ``(1000, 20)`` and int32 labels ``(1000,)``.

    Example:
      >>> from jaxloss.data import document_binary
      >>> x, y = document_binary()
      >>> x.shape, x.dtype, y.shape, y.dtype
      ((1000, 20), dtype('float32'), (1000,), dtype('int32'))
      >>> round(float(x[0, 0]), 6)  # np.random.seed(42); np.random.normal()
      0.496714
    """
    x, y = _document_stream()["binary"]
    return x.astype(np.float32), y.astype(np.int32)


def document_regression() -> tuple[np.ndarray, np.ndarray]:
    """The regression set of the document's custom-loss example.

    ``x ~ N(0, 1)`` of shape ``(1000, 20)`` and targets ``y ~ N(0, 1)`` of shape
    ``(1000,)``, drawn after :func:`document_binary`'s draws on the same stream
    (the document does not reseed).

    Returns:
      ``(x, y)``: float32 features ``(1000, 20)`` and float32 targets ``(1000,)``.

    Example:
      >>> from jaxloss.data import document_regression
      >>> x, y = document_regression()
      >>> x.shape, y.shape, y.dtype
      ((1000, 20), (1000,), dtype('float32'))
    """
    x, y = _document_stream()["regression"]
    return x.astype(np.float32), y.astype(np.float32)


def document_l2() -> tuple[np.ndarray, np.ndarray]:
    """The binary-classification set of the document's L2-regularisation example.

    Same recipe as :func:`document_binary`, but drawn third on the stream,
    after the regression set, so the numbers differ from the first set.

    Returns:
      ``(x, y)``: float32 features ``(1000, 20)`` and int32 labels ``(1000,)``.

    Example:
      >>> from jaxloss.data import document_l2
      >>> x, y = document_l2()
      >>> x.shape, y.shape, sorted(set(y.tolist()))
      ((1000, 20), (1000,), [0, 1])
    """
    x, y = _document_stream()["l2"]
    return x.astype(np.float32), y.astype(np.int32)
