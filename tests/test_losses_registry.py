"""The registry: every loss joins get() where it is defined; aliases; custom losses.

That the registry is a leaf and that no import cycle exists is checked in tests/test_layout.py.
"""

import inspect

import jax.numpy as jnp
import pytest

from jaxloss import losses
from jaxloss.losses import _registry

# The public names of jaxloss.losses that are machinery, not losses.
NOT_LOSSES = {
    "REDUCTIONS",
    "deserialize",
    "get",
    "reduce_weighted_values",
    "register",
    "serialize",
    "squeeze_or_expand_to_same_rank",
}
PUBLIC = {
    name: value
    for name, value in vars(losses).items()
    if not name.startswith("_") and name not in NOT_LOSSES and not inspect.ismodule(value)
}
LOSS_CLASSES = {name: cls for name, cls in PUBLIC.items() if inspect.isclass(cls)}
LOSS_FUNCTIONS = {name: fn for name, fn in PUBLIC.items() if inspect.isfunction(fn)}
BUILT_IN_ALIASES = sorted(alias for alias, name in _registry.ALIASES.items() if name in PUBLIC)


@pytest.fixture
def registry(monkeypatch):
    """The registry's tables, restored after the test."""
    for table in ("CLASSES", "FUNCTIONS", "ALIASES"):
        monkeypatch.setattr(_registry, table, dict(getattr(_registry, table)))
    return _registry


def test_public_names_are_losses_classes_or_functions():
    assert set(PUBLIC) == set(LOSS_CLASSES) | set(LOSS_FUNCTIONS)
    assert len(LOSS_CLASSES) > 20 and len(LOSS_FUNCTIONS) > 20


@pytest.mark.parametrize("name", sorted(LOSS_CLASSES))
def test_every_public_class_is_found_under_its_name(name):
    cls = LOSS_CLASSES[name]
    assert losses.deserialize(name) is cls
    if cls not in (losses.Loss, losses.LossFunctionWrapper):
        assert type(losses.get(name)) is cls


@pytest.mark.parametrize("name", sorted(LOSS_FUNCTIONS))
def test_every_public_function_is_found_under_its_name_and_round_trips(name):
    fn = LOSS_FUNCTIONS[name]
    assert losses.get(name) is fn
    assert losses.deserialize(losses.serialize(fn)) is fn


def test_the_keras_aliases_are_registered():
    expected = {"mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD"}
    assert expected | {"kullback_leibler_divergence", "logcosh", "bce", "BCE"} <= set(
        BUILT_IN_ALIASES
    )


@pytest.mark.parametrize("alias", BUILT_IN_ALIASES)
def test_every_alias_is_an_attribute_and_the_object_get_returns(alias):
    assert getattr(losses, alias) is losses.get(alias)
    assert getattr(losses, alias) is getattr(losses, _registry.ALIASES[alias])
    assert alias in dir(losses)


def test_a_class_defined_with_the_decorator_is_found(registry):
    @losses.register(aliases=("quartic",))
    class QuarticError(losses.Loss):
        def call(self, y_true, y_pred):
            return jnp.mean((y_pred - y_true) ** 4, axis=-1)

    assert isinstance(losses.get("QuarticError"), QuarticError)
    assert losses.deserialize("quartic") is QuarticError
    clone = losses.deserialize(losses.serialize(QuarticError(reduction="sum", name="q")))
    assert type(clone) is QuarticError and clone.get_config()["name"] == "q"
    assert clone(jnp.zeros((1, 2)), jnp.ones((1, 2))) == 1.0


def test_register_called_with_objects_and_an_alias_dict(registry):
    def cubic(y_true, y_pred):
        return jnp.mean(jnp.abs(y_pred - y_true) ** 3, axis=-1)

    class Cubic(losses.LossFunctionWrapper):
        def __init__(self, reduction="sum_over_batch_size", name="cubic", dtype=None):
            super().__init__(cubic, reduction=reduction, name=name, dtype=dtype)

    assert losses.register(cubic, Cubic, aliases={"cube": "cubic"}) is None
    assert losses.get("cube") is cubic and isinstance(losses.get("Cubic"), Cubic)
    assert losses.register(cubic) is cubic
    wrapper = losses.LossFunctionWrapper.from_config(losses.LossFunctionWrapper(cubic).get_config())
    assert wrapper.fn is cubic
    with pytest.raises(ValueError, match="with several objects pass a dict"):
        losses.register(cubic, Cubic, aliases=("c",))
