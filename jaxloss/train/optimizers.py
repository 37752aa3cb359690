"""Optimizers by name with Keras 3's defaults and update rules, as optax transformations.

=========  ==============================================================  ================
name       Keras default hyperparameters                                   built from
=========  ==============================================================  ================
adam       lr 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7                 :func:`keras_adam`
adamw      as adam, weight_decay 0.004 (decoupled, on every parameter)     :func:`keras_adam`
sgd        lr 0.01, momentum 0                                             ``optax.sgd``
rmsprop    lr 1e-3, rho 0.9, epsilon 1e-7 (inside the square root)        ``optax.rmsprop``
=========  ==============================================================  ================

Keras's Adam adds epsilon to ``sqrt(v)`` of the *uncorrected* second moment,
``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``, which is not
optax's ``m_hat / (sqrt(v_hat) + eps)``; :func:`scale_by_keras_adam` implements
Keras's form so that the first steps (where the two differ most) match Keras.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxloss._src import validation


class KerasAdamState(NamedTuple):
    """Step count and first/second moments."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_keras_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7
) -> optax.GradientTransformation:
    """Adam direction as Keras computes it (see module docstring); scale by ``-lr`` after it."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return KerasAdamState(jnp.zeros((), jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        del params
        count = state.count + 1
        mu = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), state.mu, updates)
        nu = jax.tree.map(lambda v, g: v + (jnp.square(g) - v) * (1 - b2), state.nu, updates)

        def direction(m, v):
            step = count.astype(m.dtype)
            correction = jnp.sqrt(1 - b2**step) / (1 - b1**step)
            return correction * m / (jnp.sqrt(v) + eps)

        return jax.tree.map(direction, mu, nu), KerasAdamState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def keras_adam(
    learning_rate: float = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
) -> optax.GradientTransformation:
    """Keras's ``Adam`` (or ``AdamW`` with ``weight_decay``: ``w -= lr * wd * w`` each step)."""
    validation.check_positive("learning_rate", learning_rate)
    validation.check_in_interval("beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
    validation.check_in_interval("beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
    validation.check_non_negative("epsilon", epsilon)
    chain = [scale_by_keras_adam(beta_1, beta_2, epsilon)]
    if weight_decay:
        validation.check_non_negative("weight_decay", weight_decay)
        chain.append(optax.add_decayed_weights(weight_decay))
    chain.append(optax.scale(-learning_rate))
    return optax.chain(*chain)


def get(identifier: str | optax.GradientTransformation) -> optax.GradientTransformation:
    """Resolve ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` or pass an optax transformation.

    >>> import optax
    >>> isinstance(get("adam"), optax.GradientTransformation)
    True

    Raises:
      ValueError: for an unknown name or an object that is not a GradientTransformation.
    """
    if isinstance(identifier, optax.GradientTransformation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key == "adam":
            return keras_adam()
        if key == "adamw":
            return keras_adam(weight_decay=0.004)
        if key == "sgd":
            return optax.sgd(0.01)
        if key == "rmsprop":
            return optax.rmsprop(1e-3, decay=0.9, eps=1e-7)
        raise ValueError(
            f"Unknown optimizer {identifier!r}; known names: ['adam', 'adamw', 'rmsprop', 'sgd'] "
            "(or pass an optax.GradientTransformation)."
        )
    raise ValueError(
        f"`optimizer` must be a name or an optax.GradientTransformation, got {identifier!r}."
    )
