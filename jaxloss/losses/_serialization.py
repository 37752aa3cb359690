"""Losses from and to names and configs: ``get``, ``serialize``, ``deserialize``, as in Keras 3."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from jaxloss.losses._base import Loss
from jaxloss.losses._registry import lookup, names


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
            "config": loss.get_config(),  # pyright: ignore[reportFunctionMemberAccess]
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
        return lookup(config, custom_objects)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Cannot deserialize {config!r}: expected a loss name or a dict with "
            "'class_name' and 'config'."
        )
    if config["class_name"] == "function":
        return lookup(config["config"], custom_objects)
    cls = lookup(config["class_name"], custom_objects)
    if not (inspect.isclass(cls) and issubclass(cls, Loss)):
        raise ValueError(f"{config['class_name']!r} is not a Loss class.")
    config = dict(config.get("config") or {})
    return cls.from_config(config)  # pyright: ignore[reportAttributeAccessIssue]


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
        obj = lookup(identifier)
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
        f"(one of {', '.join(names())}), a config dict, a Loss class or instance, or a callable."
    )
