"""The names ``get`` and ``deserialize`` know: each loss joins where it is defined.

A leaf module: it imports no other part of :mod:`jaxloss.losses`, so that every
module may register into it. ``@register(aliases=...)`` above a class or function
is the only place its name and its other names are written.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CLASSES: dict[str, type] = {}
FUNCTIONS: dict[str, Callable[..., Any]] = {}
# Another name of a registered loss -> the name it is registered under.
ALIASES: dict[str, str] = {}


def register(
    *objects: type | Callable[..., Any], aliases: Iterable[str] | Mapping[str, str] = ()
) -> Any:
    """Make loss classes and functions findable by ``get``/``deserialize`` under their names.

    Used as a decorator, with the loss's other names in ``aliases``:

    >>> import jax.numpy as jnp
    >>> from jaxloss import losses
    >>> @losses.register(aliases=("cubic",))
    ... def cubic_error(y_true, y_pred):
    ...     return jnp.mean(jnp.abs(y_pred - y_true) ** 3, axis=-1)
    >>> losses.get("cubic") is losses.get("cubic_error") is cubic_error
    True

    or called with the objects, ``aliases`` then mapping each other name to the name
    of a registered object: ``register(my_loss, MyLoss, aliases={"ml": "my_loss"})``.

    Returns:
      Without objects, the decorator; with one object, that object (so that a bare
      ``@register`` works too); with several, ``None``.
    """
    if not objects:
        return lambda obj: register(obj, aliases=aliases)
    for obj in objects:
        if inspect.isclass(obj):
            CLASSES[obj.__name__] = obj
        else:
            FUNCTIONS[obj.__name__] = obj
    if isinstance(aliases, Mapping):
        ALIASES.update(aliases)
    elif aliases:
        if len(objects) != 1:
            raise ValueError(
                "A sequence of `aliases` names one object; with several objects pass a dict "
                f"{{alias: name}}, got aliases={aliases!r} for {len(objects)} objects."
            )
        ALIASES.update(dict.fromkeys(aliases, objects[0].__name__))
    return objects[0] if len(objects) == 1 else None


def names() -> list[str]:
    """Every name :func:`lookup` knows, for error messages."""
    return sorted({*CLASSES, *FUNCTIONS, *(a for a, t in ALIASES.items() if t in FUNCTIONS)})


def lookup(name: str, custom_objects: dict[str, Any] | None = None) -> Any:
    """The class or function registered as ``name`` (or found in ``custom_objects``)."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    name = ALIASES.get(name, name)
    if name in CLASSES:
        return CLASSES[name]
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    raise ValueError(
        f"Unknown loss identifier {name!r}. Valid names: {', '.join(names())}; "
        "or pass a Loss instance or class, a config dict or a callable."
    )
