"""Data, a loss and a trainer shared by the training-loop tests."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxloss import zoo
from jaxloss.train import compile


def bce(y_true, y_pred):
    """Keras's binary cross-entropy (clipped at 1e-7), per example."""
    p = jnp.clip(y_pred, 1e-7, 1 - 1e-7)
    return -jnp.mean(y_true * jnp.log(p) + (1 - y_true) * jnp.log(1 - p), axis=-1)


def binary_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    return x, y


def binary_trainer(seed=0, **kwargs):
    kwargs.setdefault("optimizer", "adam")
    return compile(zoo.BinaryMLP(rngs=nnx.Rngs(seed)), loss=bce, metrics=["accuracy"], **kwargs)
