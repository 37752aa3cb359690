"""Checked mode (`jaxloss.checks()`): value errors raised under jit, grad and vmap; free when off."""

import functools
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from small_inputs import LABELS, LOGITS, ONE_HOT, POSITIVE, PROBS

import jaxloss
from jaxloss import losses

# (loss, first argument, second argument, keyword arguments)
VALID = {
    "sigmoid_binary_cross_entropy": (LOGITS, ONE_HOT, {}),
    "binary_cross_entropy": (PROBS, ONE_HOT, {}),
    "softmax_cross_entropy": (LOGITS, ONE_HOT, {}),
    "sparse_softmax_cross_entropy": (LOGITS, LABELS, {}),
    "categorical_cross_entropy": (PROBS, ONE_HOT, {}),
    "sparse_categorical_cross_entropy": (PROBS, LABELS, {}),
    "sigmoid_focal_loss": (LOGITS, ONE_HOT, {}),
    "softmax_focal_loss": (LOGITS, ONE_HOT, {}),
    "sparse_softmax_focal_loss": (LOGITS, LABELS, {}),
    "binary_focal_cross_entropy": (PROBS, ONE_HOT, {}),
    "categorical_focal_cross_entropy": (PROBS, ONE_HOT, {}),
    "squared_error": (LOGITS, ONE_HOT, {}),
    "absolute_error": (LOGITS, ONE_HOT, {}),
    "huber_loss": (LOGITS, ONE_HOT, {}),
    "log_cosh": (LOGITS, ONE_HOT, {}),
    "kl_divergence": (PROBS, PROBS[::-1], {}),
    "poisson_loss": (POSITIVE, ONE_HOT, {}),
    "hinge_loss": (LOGITS, ONE_HOT, {}),
    "squared_hinge_loss": (LOGITS, ONE_HOT, {}),
    "categorical_hinge_loss": (LOGITS, ONE_HOT, {}),
    "absolute_percentage_error": (LOGITS, POSITIVE, {}),
    "squared_logarithmic_error": (POSITIVE, POSITIVE, {}),
    "dice_loss": (PROBS, ONE_HOT, {}),
    "tversky_loss": (PROBS, ONE_HOT, {}),
    "negative_cosine_similarity": (LOGITS, ONE_HOT, {}),
}

# (loss, which argument is bad, bad value placed at index (1, 2) or (1,), what the message names)
BAD = [
    ("sigmoid_binary_cross_entropy", 0, jnp.nan, "`logits` holds nan at index (1, 2)"),
    ("sigmoid_binary_cross_entropy", 1, 1.5, "`labels` holds 1.5 at index (1, 2), outside [0, 1]"),
    ("binary_cross_entropy", 0, 1.5, "`probs` holds 1.5 at index (1, 2), outside [0, 1]"),
    ("binary_cross_entropy", 1, -0.5, "`labels` holds -0.5 at index (1, 2), outside [0, 1]"),
    ("softmax_cross_entropy", 0, jnp.inf, "`logits` holds inf at index (1, 2)"),
    ("softmax_cross_entropy", 1, jnp.nan, "`labels` holds nan at index (1, 2)"),
    ("sparse_softmax_cross_entropy", 1, 3, "`labels` holds 3 at index (1,), outside [0, 3)"),
    ("sparse_softmax_cross_entropy", 1, -1, "`labels` holds -1 at index (1,), outside [0, 3)"),
    ("sparse_softmax_cross_entropy", 0, jnp.nan, "`logits` holds nan at index (1, 2)"),
    ("categorical_cross_entropy", 0, -0.25, "`probs` holds -0.25 at index (1, 2), negative"),
    ("categorical_cross_entropy", 1, jnp.inf, "`labels` holds inf at index (1, 2)"),
    ("sparse_categorical_cross_entropy", 1, 7, "`labels` holds 7 at index (1,), outside [0, 3)"),
    ("sparse_categorical_cross_entropy", 0, jnp.nan, "`probs` holds nan at index (1, 2)"),
    ("sigmoid_focal_loss", 1, 2.0, "`labels` holds 2.0 at index (1, 2), outside [0, 1]"),
    ("sigmoid_focal_loss", 0, -jnp.inf, "`logits` holds -inf at index (1, 2)"),
    ("softmax_focal_loss", 0, jnp.nan, "`logits` holds nan at index (1, 2)"),
    ("sparse_softmax_focal_loss", 1, 3, "`labels` holds 3 at index (1,), outside [0, 3)"),
    ("binary_focal_cross_entropy", 0, 1.25, "`probs` holds 1.25 at index (1, 2), outside [0, 1]"),
    ("binary_focal_cross_entropy", 1, -1.0, "`labels` holds -1.0 at index (1, 2), outside [0, 1]"),
    ("categorical_focal_cross_entropy", 0, -1.0, "`probs` holds -1.0 at index (1, 2), negative"),
    ("squared_error", 0, jnp.nan, "`predictions` holds nan at index (1, 2)"),
    ("absolute_error", 1, jnp.inf, "`targets` holds inf at index (1, 2)"),
    ("huber_loss", 0, -jnp.inf, "`predictions` holds -inf at index (1, 2)"),
    ("log_cosh", 1, jnp.nan, "`targets` holds nan at index (1, 2)"),
    ("kl_divergence", 0, 1.5, "`probs` holds 1.5 at index (1, 2), outside [0, 1]"),
    ("kl_divergence", 1, -0.5, "`targets` holds -0.5 at index (1, 2), outside [0, 1]"),
    ("poisson_loss", 0, -1.0, "`predictions` holds -1.0 at index (1, 2), negative"),
    ("hinge_loss", 0, jnp.nan, "`predictions` holds nan at index (1, 2)"),
    ("squared_hinge_loss", 1, jnp.inf, "`targets` holds inf at index (1, 2)"),
    ("categorical_hinge_loss", 0, -jnp.inf, "`predictions` holds -inf at index (1, 2)"),
    ("absolute_percentage_error", 1, jnp.nan, "`targets` holds nan at index (1, 2)"),
    ("squared_logarithmic_error", 0, jnp.inf, "`predictions` holds inf at index (1, 2)"),
    ("dice_loss", 0, jnp.nan, "`predictions` holds nan at index (1, 2)"),
    ("tversky_loss", 1, jnp.nan, "`targets` holds nan at index (1, 2)"),
    ("negative_cosine_similarity", 0, jnp.inf, "`predictions` holds inf at index (1, 2)"),
]


def _bad_arguments(name, position, value):
    first, second, kwargs = VALID[name]
    arguments = [first, second]
    bad = arguments[position]
    index = (1,) if bad.ndim == 1 else (1, 2)
    arguments[position] = bad.at[index].set(jnp.asarray(value, bad.dtype))
    return arguments, kwargs


def _raises_check(expected, function, *arguments):
    """Run `function` and assert that a checked-mode error with `expected` in it comes out."""
    with pytest.raises(Exception) as info:
        jax.block_until_ready(function(*arguments))
    assert jaxloss.raised_check_error(info.value), info.value
    assert expected in str(info.value), str(info.value)
    return str(info.value)


@pytest.mark.parametrize(("name", "position", "value", "expected"), BAD)
def test_bad_value_raises_under_jit_naming_loss_index_and_value(name, position, value, expected):
    arguments, kwargs = _bad_arguments(name, position, value)
    loss = getattr(jaxloss, name)
    with jaxloss.checks():
        message = _raises_check(expected, jax.jit(lambda a, b: loss(a, b, **kwargs)), *arguments)
    assert f"{name}: " in message


@pytest.mark.parametrize(("name", "position", "value", "expected"), BAD[::3])
def test_bad_value_raises_eagerly_as_check_error(name, position, value, expected):
    arguments, kwargs = _bad_arguments(name, position, value)
    with jaxloss.checks(), pytest.raises(jaxloss.CheckError, match=re.escape(expected)):
        getattr(jaxloss, name)(*arguments, **kwargs)


@pytest.mark.parametrize(("name", "position", "value", "expected"), BAD[::2])
def test_bad_value_raises_under_grad(name, position, value, expected):
    arguments, kwargs = _bad_arguments(name, position, value)
    loss = getattr(jaxloss, name)
    grad = jax.jit(jax.grad(lambda a, b: jnp.sum(loss(a, b, **kwargs))))
    with jaxloss.checks():
        _raises_check(expected, grad, *arguments)


@pytest.mark.parametrize(("name", "position", "value", "expected"), BAD[1::2])
def test_bad_value_raises_under_vmap_with_the_mapped_position_first(
    name, position, value, expected
):
    arguments, kwargs = _bad_arguments(name, position, value)
    loss = getattr(jaxloss, name)
    # vmap over the rows: the offending row is mapped position 1, its index follows.
    mapped = jax.jit(jax.vmap(lambda a, b: loss(a[None], b[None], **kwargs)))
    expected = expected.replace("(1, 2)", "(1, 0, 2)").replace("(1,)", "(1, 0)")
    with jaxloss.checks():
        _raises_check(expected, mapped, *arguments)


def test_vmap_of_grad_reports_once_with_the_batch_position():
    loss = jax.jit(jax.vmap(jax.grad(lambda x, y: jnp.sum(jaxloss.binary_cross_entropy(x, y)))))
    probs = PROBS.at[1, 0].set(2.0)
    with jaxloss.checks():
        _raises_check("`probs` holds 2.0 at index (1, 0), outside [0, 1]", loss, probs, ONE_HOT)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_inputs_pass_and_give_the_unchecked_values(name):
    first, second, kwargs = VALID[name]
    loss = getattr(jaxloss, name)
    expected = jax.jit(lambda a, b: loss(a, b, **kwargs))(first, second)
    with jaxloss.checks():
        checked = jax.jit(lambda a, b: loss(a, b, **kwargs))(first, second)
        grads = jax.jit(jax.grad(lambda a, b: jnp.sum(loss(a, b, **kwargs))))(first, second)
    np.testing.assert_array_equal(checked, expected)
    assert np.all(np.isfinite(grads))


@pytest.mark.parametrize("name", sorted(VALID))
def test_off_by_default_the_compiled_code_has_no_check(name):
    """Free when off: no host callback (nor anything feeding one) in the lowered program."""
    first, second, kwargs = VALID[name]
    loss = getattr(jaxloss, name)
    off = jax.jit(lambda a, b: loss(a, b, **kwargs)).lower(first, second).as_text()
    assert "callback" not in off
    with jaxloss.checks():
        on = jax.jit(lambda a, b: loss(a, b, **kwargs)).lower(first, second).as_text()
    assert "callback" in on
    with jaxloss.checks(), jaxloss.checks(False):
        nested_off = jax.jit(lambda a, b: loss(a, b, **kwargs)).lower(first, second).as_text()
    assert nested_off == off


def test_the_flag_is_part_of_the_jit_cache_key():
    loss = jax.jit(jaxloss.sparse_softmax_cross_entropy)
    labels = jnp.array([0, 5])
    assert np.isnan(loss(LOGITS, labels)[1])  # traced and cached unchecked: NaN
    with jaxloss.checks():
        _raises_check("`labels` holds 5 at index (1,)", loss, LOGITS, labels)
    assert np.isnan(loss(LOGITS, labels)[1])  # the unchecked compiled code again


def test_ignore_index_and_masked_elements_are_not_errors():
    with jaxloss.checks():
        loss = jax.jit(lambda x, y: jaxloss.sparse_softmax_cross_entropy(x, y, ignore_index=-100))(
            LOGITS, jnp.array([0, -100])
        )
        masked = jax.jit(lambda x, y, w: jaxloss.binary_cross_entropy(x, y, where=w))(
            PROBS.at[0, 0].set(7.0), ONE_HOT, jnp.array([[False, True, True], [True, True, True]])
        )
    assert np.isfinite(loss[0]) and loss[1] == 0
    assert masked[0, 0] == 0


def test_decorator_form():
    @jaxloss.checks()
    def total(probs, labels):
        return jnp.sum(jaxloss.binary_cross_entropy(probs, labels))

    _raises_check("`probs` holds 3.0", jax.jit(total), PROBS.at[0, 0].set(3.0), ONE_HOT)
    assert np.isfinite(total(PROBS, ONE_HOT))


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "expected"),
    [
        (
            losses.SparseCategoricalCrossentropy(from_logits=True),
            jnp.array([0, 4]),
            LOGITS,
            "sparse_softmax_cross_entropy: `labels` holds 4 at index (1,)",
        ),
        (
            losses.SparseCategoricalCrossentropy(),
            jnp.array([0, 4]),
            PROBS,
            "sparse_categorical_cross_entropy: `labels` holds 4 at index (1,)",
        ),
        (
            losses.BinaryCrossentropy(),
            ONE_HOT,
            PROBS.at[0, 1].set(1.5),
            "binary_cross_entropy: `probs` holds 1.5 at index (0, 1)",
        ),
        (
            losses.CategoricalFocalCrossentropy(),
            ONE_HOT,
            PROBS.at[1, 1].set(-0.5),
            "categorical_focal_cross_entropy: `probs` holds -0.5 at index (1, 1)",
        ),
        (
            losses.BinaryFocalCrossentropy(from_logits=True),
            ONE_HOT.at[0, 0].set(3.0),
            LOGITS,
            "`labels` holds 3.0 at index (0, 0), outside [0, 1]",
        ),
        (
            losses.MeanSquaredError(),
            ONE_HOT,
            LOGITS.at[1, 0].set(jnp.nan),
            "squared_error: `predictions` holds nan at index (1, 0)",
        ),
    ],
)
def test_keras_layer_classes_are_covered(loss, y_true, y_pred, expected):
    with jaxloss.checks():
        _raises_check(expected, jax.jit(loss), y_true, y_pred)


def test_the_environment_variable_turns_checked_mode_on_for_the_process():
    code = "from jaxloss._src.checks import checks_enabled; print(checks_enabled())"
    env = {**os.environ, "JAXLOSS_CHECKS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "True", out.stderr


def test_fused_linear_cross_entropy_labels_and_hidden():
    hidden, weight = jnp.ones((2, 4)), jnp.ones((4, 5))
    loss = jax.jit(lambda h, w, y: jaxloss.fused_linear_cross_entropy(h, w, y, ignore_index=-1))
    assert "callback" not in loss.lower(hidden, weight, jnp.array([0, 1])).as_text()
    with jaxloss.checks():
        assert np.isfinite(loss(hidden, weight, jnp.array([0, -1])))
        _raises_check(
            "`labels` holds 5 at index (1,), outside [0, 5)",
            loss,
            hidden,
            weight,
            jnp.array([0, 5]),
        )
        _raises_check(
            "`hidden` holds nan at index (0, 3)",
            loss,
            hidden.at[0, 3].set(jnp.nan),
            weight,
            jnp.array([0, 1]),
        )


def test_fit_inside_checks_raises_for_bad_labels_and_trains_again_after():
    """End to end: trainer -> Keras layer -> kernel; the index is into the batch the loss saw."""
    from flax import nnx

    from jaxloss import train, zoo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 20)).astype(np.float32)
    y = (rng.random((8, 1)) > 0.5).astype(np.float32)
    trainer = train.compile(
        zoo.BinaryMLP(rngs=nnx.Rngs(0)), optimizer="sgd", loss="binary_crossentropy"
    )
    bad_y = y.copy()
    bad_y[3] = 2.0

    def fit_bad_labels():
        return trainer.fit(x, bad_y, epochs=1, verbose=0, shuffle=False).history

    with jaxloss.checks():
        _raises_check("binary_cross_entropy: `labels` holds 2.0 at index (3, 0)", fit_bad_labels)
    assert np.isfinite(trainer.fit(x, y, epochs=1, verbose=0).history["loss"][0])


MESH_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np, jaxloss
from jax.sharding import Mesh, NamedSharding, PartitionSpec
mesh = Mesh(np.array(jax.devices()), ("data",))
put = lambda a: jax.device_put(a, NamedSharding(mesh, PartitionSpec("data")))
loss = jax.jit(lambda x, y: jnp.mean(jaxloss.sparse_softmax_cross_entropy(x, y)))
with jaxloss.checks():
    print(float(loss(put(jnp.zeros((8, 3))), put(jnp.zeros(8, jnp.int32)))))
    try:
        loss(put(jnp.zeros((8, 3))), put(jnp.array([0, 1, 2, 0, 1, 2, 7, 0]))).block_until_ready()
    except Exception as error:
        print(jax.device_count(), jaxloss.raised_check_error(error), "holds 7 at index (6,)" in str(error))
"""


def test_a_batch_sharded_over_four_devices_raises_on_every_device_without_hanging():
    """The callback runs on every device (partitioned), so no device waits in a collective
    for one that stopped: the error comes back instead of a hang or an abort."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    out = subprocess.run(
        [sys.executable, "-c", MESH_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.stdout.split() == ["1.0986123085021973", "4", "True", "True"], out.stderr[-2000:]


def test_ctc_and_circle_losses_check_their_scores():
    ctc = jax.jit(jaxloss.ctc_loss)
    circle = jax.jit(jaxloss.circle_loss)
    logits, labels = jnp.zeros((2, 4, 3)), jnp.array([[1, 2], [2, 1]])
    embeddings, classes = jnp.eye(4, 3), jnp.array([0, 0, 1, 1])
    assert "callback" not in ctc.lower(logits, labels).as_text()
    assert "callback" not in circle.lower(embeddings, classes).as_text()
    with jaxloss.checks():
        _raises_check(
            "ctc_loss: `logits` holds nan at index (1, 2, 0)",
            ctc,
            logits.at[1, 2, 0].set(jnp.nan),
            labels,
        )
        # Out-of-range labels raise; padded label positions may hold anything.
        _raises_check(
            "ctc_loss: `labels` holds 3 at index (0, 1), outside [0, 3)",
            ctc,
            logits,
            labels.at[0, 1].set(3),
        )
        padding = jnp.array([[0, 1], [0, 0]])
        padded = jax.jit(functools.partial(jaxloss.ctc_loss, label_paddings=padding))
        assert np.all(np.isfinite(padded(logits, labels.at[0, 1].set(-7))))
        _raises_check(
            "circle_loss: `embeddings` holds inf at index (3, 1)",
            circle,
            embeddings.at[3, 1].set(jnp.inf),
            classes,
        )
