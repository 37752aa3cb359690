"""Weight regularizers with Keras's coefficients.

A regularizer maps a weight array to a scalar penalty that the training loop
adds to the loss (and reports inside it, as Keras does):

* ``L1(l1)``: ``l1 * sum(|w|)``
* ``L2(l2)``: ``l2 * sum(w**2)`` (no factor 1/2: ``l2(0.01)`` adds ``0.01 * sum(w**2)``)
* ``L1L2(l1, l2)``: the sum of both.

Layers declare them (``Dense(..., kernel_regularizer=l2(0.01))``); see
:func:`jaxloss.train.layers.regularization_loss` for how the loop collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxloss._src import validation


class Regularizer:
    """Base class: a callable ``weights -> scalar penalty``."""

    def __call__(self, weights: jax.Array) -> jax.Array:
        raise NotImplementedError

    def get_config(self) -> dict[str, float]:
        raise NotImplementedError


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``.

    Args:
      l1: coefficient of the absolute-value term (>= 0). Keras's default is 0.
      l2: coefficient of the squared term (>= 0). Keras's default is 0.

    >>> import jax.numpy as jnp
    >>> float(L1L2(l1=0.1, l2=0.01)(jnp.array([1.0, -2.0])))
    0.35
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        validation.check_non_negative("l1", l1)
        validation.check_non_negative("l2", l2)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, weights: jax.Array) -> jax.Array:
        penalty = jnp.zeros((), jnp.result_type(weights))
        if self.l1:
            penalty = penalty + self.l1 * jnp.sum(jnp.abs(weights))
        if self.l2:
            penalty = penalty + self.l2 * jnp.sum(jnp.square(weights))
        return penalty

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(L1L2):
    """``l1 * sum(|w|)``; Keras's default coefficient is 0.01."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``; Keras's default coefficient is 0.01.

    >>> import jax.numpy as jnp
    >>> float(L2(0.01)(jnp.array([[1.0, 2.0], [3.0, 0.0]])))
    0.14
    """

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, float]:
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    """Keras alias: ``l1(0.01)`` is ``L1(0.01)``."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """Keras alias: ``l2(0.01)`` is ``L2(0.01)``."""
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras alias with Keras's defaults for this function: ``l1=l2=0.01``."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME: dict[str, Callable[[], Regularizer]] = {
    "l1": L1,
    "l2": L2,
    "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),
    "l1l2": lambda: L1L2(l1=0.01, l2=0.01),
}


def get(identifier: Any) -> Regularizer | Callable[[jax.Array], jax.Array] | None:
    """Resolve ``None``, a name (``"l1"``, ``"l2"``, ``"l1_l2"``), or a callable.

    Raises:
      ValueError: for an unknown name or a non-callable object.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(
                f"Unknown regularizer {identifier!r}; known names: {sorted(_BY_NAME)}."
            )
        return _BY_NAME[key]()
    if callable(identifier):
        return identifier
    raise ValueError(f"A regularizer must be a name or a callable, got {identifier!r}.")
