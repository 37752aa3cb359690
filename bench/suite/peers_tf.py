"""The TensorFlow peer: TensorFlow's own ops (``tf.nn.*``), inside a ``tf.function`` graph.

Cross-entropies use ``tf.nn.sparse_softmax_cross_entropy_with_logits``,
``tf.nn.softmax_cross_entropy_with_logits`` and ``tf.nn.sigmoid_cross_entropy_with_logits``;
MSE, Huber and the focal losses are written from their formulas in TensorFlow operations.
Forward+backward is ``tf.GradientTape`` gradient of the mean loss, traced once (the trace time
is reported as the compile time). TensorFlow is optional: it is imported inside the
functions, where a missing one raises the ImportError the worker records as "not installed".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.common.timing import Entry
from bench.suite import cases as cases_lib

PEERS = ("tensorflow",)
FRAMEWORK = "tensorflow"


def versions() -> dict:
    import tensorflow as tf

    return {"tensorflow": tf.__version__,
            "devices": [device.name for device in tf.config.list_logical_devices()],
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


def on_accelerator() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def configure_threads(threads: int) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _sigmoid_focal(logits, labels):
    import tensorflow as tf

    alpha, gamma = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA
    probs = tf.sigmoid(logits)
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    p_t = probs * labels + (1 - probs) * (1 - labels)
    alpha_t = alpha * labels + (1 - alpha) * (1 - labels)
    return alpha_t * tf.pow(1 - p_t, gamma) * cross_entropy


def _softmax_focal(logits, labels):
    import tensorflow as tf

    alpha, gamma = cases_lib.FOCAL_ALPHA, cases_lib.FOCAL_GAMMA
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    focal = -alpha * tf.pow(1 - tf.exp(log_probs), gamma) * labels * log_probs
    return tf.reduce_sum(focal, axis=-1)


def _huber(predictions, targets):
    import tensorflow as tf

    delta = cases_lib.HUBER_DELTA
    error = tf.abs(predictions - targets)
    return tf.where(error <= delta, 0.5 * tf.square(error), delta * (error - 0.5 * delta))


def _kernel(family: str) -> Callable:
    import tensorflow as tf

    return {
        "sparse_softmax_cross_entropy":
            lambda x, y: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
        "softmax_cross_entropy":
            lambda x, y: tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x),
        "softmax_focal_loss": _softmax_focal,
        "sigmoid_binary_cross_entropy":
            lambda x, y: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x),
        "sigmoid_focal_loss": _sigmoid_focal,
        "squared_error": lambda x, y: tf.math.squared_difference(x, y),
        "huber_loss": _huber,
    }[family]


def prepare_inputs(arrays: dict) -> dict:
    import tensorflow as tf

    return {name: tf.constant(array) for name, array in arrays.items()}


def make_entry(peer: str, case: cases_lib.Case, mode: str, inputs: dict) -> Entry:
    import tensorflow as tf

    kernel = _kernel(case.family)
    first, second = (inputs[name] for name in case.input_names())

    if mode == "forward":
        @tf.function(jit_compile=False)
        def graph(x, y):
            return tf.reduce_mean(kernel(x, y))
    else:
        @tf.function(jit_compile=False)
        def graph(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = tf.reduce_mean(kernel(x, y))
            return value, tape.gradient(value, x)

    start = time.perf_counter()
    concrete = graph.get_concrete_function(first, second)
    compile_s = time.perf_counter() - start

    def call():
        out = concrete(first, second)
        # TensorFlow's block_until_ready: fetch the scalar loss and one element of the
        # gradient to the host, which waits for the ops that produce them.
        if mode == "forward":
            return out.numpy()
        return out[0].numpy(), out[1][-1, -1].numpy()

    def check():
        out = concrete(first, second)
        if mode == "forward":
            return float(out), None
        return float(out[0]), float(tf.reduce_sum(tf.abs(out[1])))

    return Entry(call=call, loss=check, compile_s=compile_s, temp_bytes=None)
