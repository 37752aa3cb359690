"""The Loss base class: reductions, sample weights, masks, dtypes, configs, get(), custom losses."""

import inspect

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.losses.loss import reduce_weighted_values as keras_reduce_weighted_values

from jaxloss import losses
from jaxloss.losses import _registry

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def asymmetric_mse(y_true, y_pred):
    """The document's custom loss: underestimates cost 1.5 e^2, overestimates 0.5 e^2."""
    error = y_true - y_pred
    under = 1.5 * jnp.square(jnp.maximum(0.0, error))
    over = 0.5 * jnp.square(jnp.maximum(0.0, -error))
    return jnp.mean(under + over)


def asymmetric_mse_reference(y_true, y_pred):
    error = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return np.mean(np.where(error > 0, 1.5, 0.5) * error**2)


# ----------------------------------------------------------------- reduction rules


@pytest.mark.standard_promotion
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("values_shape", "weight_shape", "mask_shape"),
    [
        ((4,), None, (4,)),
        ((4,), (4,), (4,)),
        ((4,), (4, 1), (4,)),
        ((4, 1), (4,), None),
        ((4, 3), (4, 3), (4, 3)),
        ((4, 3), (4, 1), (4, 3)),
        ((4, 3, 1), (4, 3), None),
        ((), (4,), None),
        ((0,), None, None),
    ],
)
def test_reduce_weighted_values_matches_keras(reduction, values_shape, weight_shape, mask_shape):
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 2, values_shape).astype(np.float32)
    weight = None if weight_shape is None else rng.uniform(0, 2, weight_shape).astype(np.float32)
    mask = None if mask_shape is None else rng.integers(0, 2, mask_shape).astype(bool)
    expected = keras_reduce_weighted_values(values, weight, mask, reduction, "float32")
    actual = losses.reduce_weighted_values(values, weight, mask, reduction, "float32")
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean"])
def test_all_masked_gives_zero_not_nan(reduction):
    values = jnp.ones((3,))
    loss = losses.reduce_weighted_values(values, mask=jnp.zeros((3,), bool), reduction=reduction)
    assert loss == 0.0
    grad = jax.grad(
        lambda v: losses.reduce_weighted_values(v, mask=jnp.zeros((3,), bool), reduction=reduction)
    )(values)
    assert np.all(np.isfinite(grad))


def test_per_sample_weights_on_sequences_align_with_the_batch_axis():
    """Deliberate difference: Keras 3 raises here; we scale each sequence (tf.keras 2's rule)."""
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)
    weight = np.array([0.5, 2.0, 0.0, 1.0], np.float32)
    loss = losses.MeanSquaredError(reduction="sum")(y_true, y_pred, sample_weight=weight)
    per_step = np.mean((y_true.astype(np.float64) - y_pred) ** 2, axis=-1)
    np.testing.assert_allclose(loss, np.sum(per_step * weight[:, None]), rtol=1e-6)
    with jax.numpy_rank_promotion("allow"), pytest.raises(ValueError, match="Incompatible shapes"):
        keras.losses.MeanSquaredError()(y_true, y_pred, sample_weight=weight)


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("reduction", ["auto", "avg", "", 0, "SUM"])
def test_unknown_reduction_lists_the_choices(reduction):
    with pytest.raises(ValueError, match=r"Invalid `reduction`=.*sum_over_batch_size"):
        losses.MeanSquaredError(reduction=reduction)


def test_unknown_identifier_lists_the_names():
    with pytest.raises(ValueError, match=r"Unknown loss identifier 'nope'.*mean_squared_error"):
        losses.get("nope")
    with pytest.raises(ValueError, match="Could not interpret"):
        losses.get(42)
    with pytest.raises(ValueError, match="not a Loss class"):
        losses.get(dict)


@pytest.mark.parametrize(
    ("true_shape", "pred_shape"), [((4,), (4, 3)), ((4, 3), (4, 2)), ((2, 3), (3, 2))]
)
def test_unmatched_shapes_name_both(true_shape, pred_shape):
    with pytest.raises(ValueError, match=rf"y_true.shape=\({true_shape[0]}.*y_pred.shape="):
        losses.MeanSquaredError()(jnp.zeros(true_shape), jnp.zeros(pred_shape))


def test_unmatched_sample_weight_names_both_shapes():
    with pytest.raises(ValueError, match=r"sample_weight` of shape \(3,\).*\(4,\)"):
        losses.MeanAbsoluteError()(jnp.zeros((4, 2)), jnp.ones((4, 2)), sample_weight=jnp.ones(3))


def test_bad_dtype_and_q():
    with pytest.raises(ValueError, match="Invalid `dtype`='int32'"):
        losses.MeanSquaredError(dtype="int32")


# -------------------------------------------------------------------------- dtypes


def test_dtype_casts_inputs_and_result():
    y_true = jnp.array([[0.0, 1.0]], jnp.float16)
    y_pred = jnp.array([[0.5, 0.25]], jnp.bfloat16)
    assert losses.MeanSquaredError()(y_true, y_pred).dtype == jnp.float32
    loss = losses.MeanSquaredError(dtype="bfloat16")(y_true, y_pred)
    assert loss.dtype == jnp.bfloat16
    assert losses.MeanSquaredError(dtype=jnp.bfloat16).dtype == "bfloat16"
    np.testing.assert_allclose(float(loss), 0.40625, rtol=1e-2)


# ------------------------------------------------------------- get and serialize


def _all_loss_classes():
    return sorted(
        (
            cls
            for name, cls in _registry.CLASSES.items()
            if name not in ("Loss", "LossFunctionWrapper")
        ),
        key=lambda cls: cls.__name__,
    )


@pytest.mark.parametrize("cls", _all_loss_classes(), ids=lambda cls: cls.__name__)
def test_config_round_trip(cls):
    parameters = inspect.signature(cls).parameters
    loss = cls(reduction="sum", name="custom_name")
    config = loss.get_config()
    assert set(config) == set(parameters), "get_config reports every constructor argument"
    clone = cls.from_config(config)
    assert clone.get_config() == config
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == config


@pytest.mark.parametrize("cls", _all_loss_classes(), ids=lambda cls: cls.__name__)
def test_keras_defaults_and_names(cls):
    keras_cls = getattr(keras.losses, cls.__name__, None)
    if keras_cls is None:
        pytest.skip(f"{cls.__name__} is an extension beyond Keras")
    ours = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    theirs = {k: p.default for k, p in inspect.signature(keras_cls).parameters.items()}
    assert {k: v for k, v in ours.items() if k in theirs} == theirs
    assert set(theirs) <= set(ours)


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("mse", "mean_squared_error"),
        ("MSE", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("mape", "mean_absolute_percentage_error"),
        ("msle", "mean_squared_logarithmic_error"),
        ("kld", "kl_divergence"),
        ("kullback_leibler_divergence", "kl_divergence"),
        ("logcosh", "log_cosh"),
        ("huber", "huber"),
        ("categorical_hinge", "categorical_hinge"),
    ],
)
def test_get_function_names_and_aliases(identifier, expected):
    fn = losses.get(identifier)
    assert fn is getattr(losses, expected)
    assert getattr(losses, identifier) is fn


def test_get_accepts_classes_instances_configs_callables():
    assert losses.get(None) is None
    assert isinstance(losses.get("Huber"), losses.Huber)
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    instance = losses.Huber(delta=3.0)
    assert losses.get(instance) is instance
    assert losses.get({"class_name": "Huber", "config": {"delta": 3.0}}).delta == 3.0
    keras_config = keras.losses.serialize(keras.losses.Dice(axis=(1, 2), reduction="sum"))
    dice = losses.get(keras_config)
    assert isinstance(dice, losses.Dice) and dice.axis == [1, 2] and dice.reduction == "sum"
    assert losses.get(asymmetric_mse) is asymmetric_mse
    assert losses.deserialize(losses.serialize(losses.mse)) is losses.mean_squared_error
    custom = losses.serialize(asymmetric_mse)
    assert losses.deserialize(custom, {"asymmetric_mse": asymmetric_mse}) is asymmetric_mse


# ---------------------------------------------------------------- custom losses


def test_plain_function_works_like_a_builtin():
    rng = np.random.default_rng(2)
    y_true = rng.normal(size=(8,)).astype(np.float32)
    y_pred = rng.normal(size=(8, 1)).astype(np.float32)
    loss = losses.LossFunctionWrapper(losses.get(asymmetric_mse))
    expected = asymmetric_mse_reference(y_true[:, None], y_pred)
    np.testing.assert_allclose(jax.jit(loss)(y_true, y_pred), expected, rtol=1e-6)
    grad = jax.grad(lambda p: loss(y_true, p))(y_pred)
    error = y_true[:, None].astype(np.float64) - y_pred
    np.testing.assert_allclose(grad, -2 * np.where(error > 0, 1.5, 0.5) * error / 8, rtol=1e-5)
    config = loss.get_config()
    assert config["fn"] == "asymmetric_mse"
    losses.register(asymmetric_mse)
    try:
        clone = losses.LossFunctionWrapper.from_config(config)
    finally:
        del _registry.FUNCTIONS["asymmetric_mse"]
    assert clone.fn is asymmetric_mse


@pytest.mark.standard_promotion
def test_subclass_overriding_call_matches_keras():
    class Ours(losses.Loss):
        def call(self, y_true, y_pred):
            return jnp.sum(jnp.abs(y_true - y_pred) ** 3, axis=-1)

    class Theirs(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return keras.ops.sum(keras.ops.abs(y_true - y_pred) ** 3, axis=-1)

    rng = np.random.default_rng(3)
    y_true, y_pred = rng.normal(size=(2, 4, 3)).astype(np.float32)
    weight = rng.uniform(size=(4,)).astype(np.float32)
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            Ours(reduction=reduction)(y_true, y_pred, weight),
            Theirs(reduction=reduction)(y_true, y_pred, weight),
            rtol=1e-6,
        )
    assert Ours().name.startswith("ours")


def test_attributes_and_repr():
    loss = losses.Huber(delta=2.0)
    assert (
        loss.delta == 2.0 and loss.reduction == "sum_over_batch_size" and loss.name == "huber_loss"
    )
    with pytest.raises(AttributeError):
        _ = loss.alpha
    assert "Huber" in repr(loss)
