"""The Keras 3 compatible ``Loss`` base class and the wrapper for loss functions.

``Loss.__call__(y_true, y_pred, sample_weight=None)`` casts both inputs to the
loss's ``dtype``, calls :meth:`Loss.call` for the per-example losses, asks
:meth:`Loss.compute_mask` which entries count, and hands everything to
:func:`jaxloss.losses.reduce_weighted_values`. Subclasses override ``call`` (and
``compute_mask`` when some entries must be left out), exactly as in Keras.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxloss._src.reduction import (
    check_reduction,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
)
from jaxloss.losses._registry import lookup, register

EPSILON = 1e-7  # Keras's backend.epsilon(): the clipping bound of every Keras loss
_FLOATING_DTYPES = ("float16", "bfloat16", "float32", "float64")
_NAME_COUNTS: dict[str, int] = {}


def _standardize_dtype(dtype: Any) -> str:
    """The name of a floating dtype (``None`` is Keras's default ``"float32"``)."""
    if dtype is None:
        return "float32"
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    if name is None:
        try:
            name = jnp.dtype(dtype).name
        except TypeError:
            name = None
    if name not in _FLOATING_DTYPES:
        raise ValueError(
            f"Invalid `dtype`={dtype!r}. Expected one of {', '.join(_FLOATING_DTYPES)} or None."
        )
    return name


def _auto_name(class_name: str) -> str:
    """A unique snake_case name for an unnamed instance: ``my_loss``, ``my_loss_1``, ..."""
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def as_float_array(x: jax.typing.ArrayLike, dtype: Any = None) -> jax.Array:
    """``x`` as a JAX array of ``dtype``, or of its own floating dtype (float32 otherwise)."""
    x = jnp.asarray(x)
    if dtype is not None:
        return x.astype(dtype)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


@register
class Loss:
    """Base class of the Keras-compatible losses.

    Args:
      name: name of the instance; defaults to the snake_case class name.
      reduction: ``"sum_over_batch_size"`` (default: sum divided by the number of
        loss entries), ``"sum"``, ``"mean"`` (same as ``"sum_over_batch_size"``),
        ``"mean_with_sample_weight"`` (sum divided by the sum of the sample
        weights), or ``"none"``/``None`` (no reduction).
      dtype: dtype of the computation (``"float32"`` when ``None``); both inputs
        are cast to it before ``call``.

    Subclass it and override ``call(y_true, y_pred)`` to return per-example losses;
    sample weights, masks and the reduction are then handled here:

    >>> import jax.numpy as jnp
    >>> from jaxloss.losses import Loss
    >>> class Cubed(Loss):
    ...     def call(self, y_true, y_pred):
    ...         return jnp.mean(jnp.abs(y_pred - y_true) ** 3, axis=-1)
    >>> Cubed()(jnp.zeros((2, 2)), jnp.array([[1.0, 2.0], [0.0, 0.0]]))
    Array(2.25, dtype=float32)
    """

    #: True when an example's loss depends on the other examples of the batch
    #: (in-batch pairs, as :class:`Circle`): ``jaxloss.train`` then never pads such
    #: a batch with repeated rows, which would count as extra pairs.
    couples_examples: bool = False

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ):
        self.name = name or _auto_name(type(self).__name__)
        self.reduction = check_reduction(reduction)
        self._dtype = _standardize_dtype(dtype)

    @property
    def dtype(self) -> str:
        """The dtype the inputs are cast to and the loss is computed in."""
        return self._dtype

    def __call__(
        self,
        y_true: Any,
        y_pred: Any,
        sample_weight: jax.typing.ArrayLike | None = None,
    ) -> jax.Array:
        """The reduced loss (or the weighted per-example losses for ``reduction="none"``)."""
        y_true = jax.tree.map(lambda x: as_float_array(x, self.dtype), y_true)
        y_pred = jax.tree.map(lambda x: as_float_array(x, self.dtype), y_pred)
        losses = self.call(y_true, y_pred)
        mask = self.compute_mask(y_true, y_pred, losses)
        return reduce_weighted_values(
            losses,
            sample_weight=sample_weight,
            mask=mask,
            reduction=self.reduction,
            dtype=self.dtype,
        )

    def call(self, y_true: Any, y_pred: Any) -> jax.Array:
        """Per-example losses; subclasses implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call(y_true, y_pred)`.")

    def compute_mask(self, y_true: Any, y_pred: Any, losses: jax.Array) -> jax.Array | None:
        """Boolean array (shape of ``losses``) of the entries that count, or ``None`` for all."""
        return None

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as plain Python values."""
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """A new instance from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def _plain(value: Any) -> Any:
    """Arrays in a config become (nested) lists so that configs are JSON-like."""
    if isinstance(value, (np.ndarray, jax.Array)):
        return np.asarray(value).tolist()
    return value


@register
class LossFunctionWrapper(Loss):
    """A :class:`Loss` made from a function ``fn(y_true, y_pred, **kwargs)``.

    ``call`` matches the ranks of ``y_true`` and ``y_pred`` (Keras's rule: a
    trailing axis of size 1 is squeezed or added) and calls ``fn``. The keyword
    arguments are stored, reported by ``get_config`` and readable as attributes
    (``BinaryCrossentropy().from_logits``).

    >>> import jax.numpy as jnp
    >>> from jaxloss.losses import LossFunctionWrapper
    >>> def asymmetric_mse(y_true, y_pred, under=2.0):
    ...     error = y_true - y_pred
    ...     return jnp.mean(jnp.where(error > 0, under, 1.0) * error**2, axis=-1)
    >>> loss = LossFunctionWrapper(asymmetric_mse, under=4.0)
    >>> loss(jnp.array([[1.0, 1.0]]), jnp.array([[0.0, 2.0]]))
    Array(2.5, dtype=float32)
    """

    def __init__(
        self,
        fn: Callable[..., jax.Array],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def __getattr__(self, attribute: str) -> Any:
        kwargs = self.__dict__.get("_fn_kwargs", {})
        if attribute in kwargs:
            return kwargs[attribute]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

    def call(self, y_true: Any, y_pred: Any) -> jax.Array:
        if isinstance(y_true, jax.Array) and isinstance(y_pred, jax.Array):
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update({key: _plain(value) for key, value in self._fn_kwargs.items()})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        config = dict(config)
        if isinstance(config.get("fn"), str):
            config["fn"] = lookup(config["fn"])
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}({getattr(self.fn, '__name__', self.fn)}, {self._fn_kwargs})>"
        )


def constructor_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """A wrapper class's constructor arguments, from its ``locals()``, to pass on whole.

    Its Keras-shaped signature then stays the one list of its arguments:
    ``super().__init__(fn, **constructor_arguments(locals()))``, called before the
    constructor defines a name of its own (rebinding an argument is fine). ``self``,
    and the ``__class__`` that ``super()`` adds to ``locals()``, are left out.
    """
    return {name: value for name, value in arguments.items() if name not in ("self", "__class__")}


def match_pair(
    y_true: jax.typing.ArrayLike, y_pred: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """Cast ``y_true`` to ``y_pred``'s floating dtype and match their shapes, or raise.

    Keras's rank rule is applied first (a trailing axis of size 1 is squeezed or
    added); the shapes must then be equal (Keras would broadcast them silently).
    """
    y_pred = as_float_array(y_pred)
    y_true = as_float_array(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape (up to a trailing axis of size 1), "
            f"got y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}."
        )
    return y_true, y_pred
