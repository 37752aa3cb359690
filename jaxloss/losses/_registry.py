"""Look losses up by name: ``get``, ``serialize`` and ``deserialize``, as in Keras 3."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from jaxloss.losses import (
    _cross_entropy,
    _divergence,
    _focal,
    _hinge,
    _metric_learning,
    _regression,
    _segmentation,
)
from jaxloss.losses._base import Loss, LossFunctionWrapper

_MODULES = (
    _regression,
    _hinge,
    _divergence,
    _cross_entropy,
    _focal,
    _segmentation,
    _metric_learning,
)

CLASSES: dict[str, type[Loss]] = {"Loss": Loss, "LossFunctionWrapper": LossFunctionWrapper}
FUNCTIONS: dict[str, Callable[..., Any]] = {}
for _module in _MODULES:
    CLASSES.update({cls.__name__: cls for cls in _module.CLASSES})
    FUNCTIONS.update({fn.__name__: fn for fn in _module.FUNCTIONS})

ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
}


def register(*objects: type[Loss] | Callable[..., Any], aliases: dict[str, str] = ()) -> None:
    """Make loss classes and functions findable by ``get``/``deserialize`` under their names."""
    for obj in objects:
        if inspect.isclass(obj):
            CLASSES[obj.__name__] = obj
        else:
            FUNCTIONS[obj.__name__] = obj
    ALIASES.update(dict(aliases))


def _names() -> list[str]:
    return sorted(set(CLASSES) | set(FUNCTIONS) | {a for a, t in ALIASES.items() if t in FUNCTIONS})


def _lookup(name: str, custom_objects: dict[str, Any] | None = None) -> Any:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    name = ALIASES.get(name, name)
    if name in CLASSES:
        return CLASSES[name]
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    raise ValueError(
        f"Unknown loss identifier {name!r}. Valid names: {', '.join(_names())}; "
        "or pass a Loss instance or class, a config dict or a callable."
    )


def serialize(loss: Loss | Callable[..., Any]) -> dict[str, Any]:
    """A JSON-like description of a loss instance or loss function, for :func:`deserialize`.

    >>> from jaxloss import losses
    >>> losses.serialize(losses.Huber(delta=2.0))["config"]["delta"]
    2.0
    >>> losses.serialize(losses.mean_squared_error)
    {'module': 'jaxloss.losses', 'class_name': 'function', 'config': 'mean_squared_error', 'registered_name': 'mean_squared_error'}
    """
    if isinstance(loss, Loss):
        return {
            "module": "jaxloss.losses",
            "class_name": type(loss).__name__,
            "config": loss.get_config(),
            "registered_name": None,
        }
    if callable(loss) and hasattr(loss, "__name__"):
        return {
            "module": "jaxloss.losses",
            "class_name": "function",
            "config": loss.__name__,
            "registered_name": loss.__name__,
        }
    raise ValueError(f"Cannot serialize {loss!r}: expected a Loss instance or a loss function.")


def deserialize(config: str | dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """The loss described by a name or by :func:`serialize`'s output (Keras's dicts work too).

    ``custom_objects`` maps names of user-defined classes or functions to them.
    """
    if isinstance(config, str):
        return _lookup(config, custom_objects)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize {config!r}: expected a loss name or a dict with "
            "'class_name' and 'config'."
        )
    if config["class_name"] == "function":
        return _lookup(config["config"], custom_objects)
    cls = _lookup(config["class_name"], custom_objects)
    if not (inspect.isclass(cls) and issubclass(cls, Loss)):
        raise ValueError(f"{config['class_name']!r} is not a Loss class.")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Loss | Callable[..., Any] | None:
    """A loss from a name, a config dict, a ``Loss`` class (instantiated) or instance, or a callable.

    >>> from jaxloss import losses
    >>> losses.get("mse") is losses.mean_squared_error
    True
    >>> losses.get({"class_name": "Huber", "config": {"delta": 2.0}}).delta
    2.0
    >>> losses.get(losses.MeanAbsoluteError).name
    'mean_absolute_error'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = _lookup(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj):
        if not issubclass(obj, Loss):
            raise ValueError(
                f"Could not interpret loss identifier {identifier!r}: not a Loss class."
            )
        return obj()
    if callable(obj):
        return obj
    raise ValueError(
        f"Could not interpret loss identifier {identifier!r}: expected a name "
        f"(one of {', '.join(_names())}), a config dict, a Loss class or instance, or a callable."
    )
