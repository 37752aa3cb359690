"""Where jaxloss.losses deliberately differs from Keras 3, and the extensions beyond Keras.

Each test pins our behaviour and, where cheap, shows what Keras does instead.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from jaxloss import losses


@pytest.mark.standard_promotion
def test_msle_keeps_precision_for_small_values():
    """We use log1p; Keras's log(1 + x) loses about 1e-4 relative for values near 1e-4."""
    y_true = np.array([[1e-4, 2e-3]], np.float32)
    y_pred = np.array([[3e-4, 1e-3]], np.float32)
    exact = np.mean((np.log1p(y_pred.astype(np.float64)) - np.log1p(y_true.astype(np.float64))) ** 2)
    ours = float(losses.MeanSquaredLogarithmicError()(y_true, y_pred))
    theirs = float(keras.losses.MeanSquaredLogarithmicError()(y_true, y_pred))
    assert abs(ours - exact) / exact < 1e-5
    assert abs(theirs - exact) / exact > 1e-5


@pytest.mark.standard_promotion
@pytest.mark.parametrize("from_logits", [True, False])
def test_out_of_range_sparse_label_gives_nan(from_logits):
    """Keras silently gives 0 for a label outside [0, C); we give NaN (cannot raise under jit)."""
    y_pred = np.full((2, 3), 1 / 3, np.float32)
    labels = np.array([0, 7])
    ours = losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="none")
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="none")
    result = np.asarray(jax.jit(ours)(labels, y_pred))
    np.testing.assert_allclose(result[0], np.log(3), rtol=1e-6)
    assert np.isnan(result[1])
    assert np.asarray(theirs(labels, y_pred))[1] == 0.0


@pytest.mark.standard_promotion
def test_generalized_cross_entropy_bad_labels():
    """Out-of-range labels give NaN (Keras: 1/q); [batch, 1] labels are squeezed (Keras
    broadcasts them to a [batch, batch] loss)."""
    y_pred = np.array([[0.25, 0.75, 0.0], [0.5, 0.25, 0.25]], np.float32)
    ours = losses.CategoricalGeneralizedCrossEntropy(reduction="none")
    result = np.asarray(ours(np.array([1, 3]), y_pred))
    np.testing.assert_allclose(result[0], (1 - np.sqrt(0.75)) / 0.5, rtol=1e-6)
    assert np.isnan(result[1])
    column = np.asarray(ours(np.array([[1], [0]]), y_pred))
    np.testing.assert_allclose(column, (1 - np.sqrt([0.75, 0.5])) / 0.5, rtol=1e-6)
    theirs = keras.losses.CategoricalGeneralizedCrossEntropy(reduction="none")
    assert np.asarray(theirs(np.array([[1], [0]]), y_pred)).shape == (2, 2)


@pytest.mark.standard_promotion
def test_cosine_similarity_gradient_is_finite_at_zero():
    """Keras's gradient at a zero prediction is NaN; ours is the clamped formula's, -t/eps."""
    y_true = np.array([[1.0, 0.0]], np.float32)
    ours = jax.grad(lambda p: losses.CosineSimilarity()(y_true, p))(jnp.zeros((1, 2)))
    np.testing.assert_allclose(ours, [[-1e7, 0.0]], rtol=1e-6)
    theirs = jax.grad(lambda p: keras.losses.CosineSimilarity()(y_true, p))(jnp.zeros((1, 2)))
    assert np.all(np.isnan(theirs))


def test_configs_keep_every_argument():
    """Keras's Huber and CosineSimilarity configs drop delta and axis; ours keep them."""
    assert losses.Huber.from_config(losses.Huber(delta=0.3).get_config()).delta == 0.3
    assert losses.CosineSimilarity.from_config(losses.CosineSimilarity(axis=1).get_config()).axis == 1
    assert "delta" not in keras.losses.Huber(delta=0.3).get_config()


# ------------------------------------------------------------ beyond Keras


def _bce(y, p, pos_weight=1.0):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(pos_weight * y * np.log(p) + (1 - y) * np.log1p(-p))


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_weighted_binary_crossentropy(from_logits, label_smoothing):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, (4, 3)).astype(np.float32)
    probs = rng.uniform(0.01, 0.99, (4, 3)).astype(np.float32)
    y_pred = np.log(probs) - np.log1p(-probs) if from_logits else probs
    loss = losses.WeightedBinaryCrossentropy(
        pos_weight=3.0, from_logits=from_logits, label_smoothing=label_smoothing, reduction="none"
    )
    smoothed = y_true * (1 - label_smoothing) + label_smoothing / 2
    expected = _bce(smoothed, probs, pos_weight=3.0).mean(-1)
    np.testing.assert_allclose(jax.jit(loss)(y_true, y_pred), expected, rtol=1e-5)
    plain = losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    same = losses.WeightedBinaryCrossentropy(
        pos_weight=1.0, from_logits=from_logits, label_smoothing=label_smoothing
    )
    np.testing.assert_allclose(same(y_true, y_pred), plain(y_true, y_pred), rtol=1e-5)


@pytest.mark.parametrize("from_logits", [False, True])
def test_class_weights(from_logits):
    rng = np.random.default_rng(1)
    weights = np.array([1.0, 4.0, 0.5], np.float32)
    labels = rng.integers(0, 3, (5,))
    probs = rng.uniform(0.1, 1.0, (5, 3)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    y_pred = np.log(probs) if from_logits else probs
    nll = -np.log(probs.astype(np.float64)[np.arange(5), labels])
    sparse = losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, class_weights=weights, reduction="none"
    )
    np.testing.assert_allclose(sparse(labels, y_pred), weights[labels] * nll, rtol=1e-5)
    smoothing = 0.3
    soft = np.eye(3)[labels] * (1 - smoothing) + smoothing / 3
    dense = losses.CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=smoothing, class_weights=weights, reduction="none"
    )
    expected = -np.sum(weights * soft * np.log(probs.astype(np.float64)), axis=-1)
    np.testing.assert_allclose(dense(np.eye(3)[labels], y_pred), expected, rtol=1e-5)
    grad = jax.grad(lambda p: jnp.sum(dense(np.eye(3)[labels], p)))(jnp.asarray(y_pred))
    assert np.all(np.isfinite(grad))


@pytest.mark.standard_promotion
def test_focal_from_logits_stays_exact_at_extreme_logits():
    """Keras applies sigmoid/softmax, then clips to [1e-7, 1 - 1e-7]: a confidently wrong
    logit of 30 costs it at most -log(1e-7) = 16.1; ours follows the exact formula."""
    y_true = np.array([[1.0, 0.0]], np.float32)
    logits = np.array([[-30.0, 30.0]], np.float32)
    exact = (1 - 1 / (1 + np.exp(30.0))) ** 2 * np.logaddexp(0.0, 30.0)  # both entries alike
    ours = losses.BinaryFocalCrossentropy(from_logits=True)(y_true, logits)
    np.testing.assert_allclose(ours, exact, rtol=1e-6)
    theirs = keras.losses.BinaryFocalCrossentropy(from_logits=True)(y_true, logits)
    np.testing.assert_allclose(theirs, -np.log(1e-7), rtol=1e-2)

    one_hot = np.array([[1.0, 0.0, 0.0]], np.float32)
    scores = np.array([[-30.0, 30.0, 0.0]], np.float32)
    log_p = -30.0 - np.logaddexp.reduce([-30.0, 30.0, 0.0])
    exact = 0.25 * (1 - np.exp(log_p)) ** 2 * -log_p
    ours = losses.CategoricalFocalCrossentropy(from_logits=True)(one_hot, scores)
    np.testing.assert_allclose(ours, exact, rtol=1e-6)
    theirs = keras.losses.CategoricalFocalCrossentropy(from_logits=True)(one_hot, scores)
    np.testing.assert_allclose(theirs, 0.25 * -np.log(1e-7), rtol=1e-2)
    grad = jax.grad(lambda x: losses.CategoricalFocalCrossentropy(from_logits=True)(one_hot, x))(
        jnp.asarray(scores * 1e3)
    )
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_focal_is_the_one_hot_loss(from_logits):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, (3, 5))
    scores = rng.normal(size=(3, 5, 4)).astype(np.float32)
    y_pred = scores if from_logits else np.asarray(jax.nn.softmax(scores))
    kwargs = {"alpha": 0.4, "gamma": 1.5, "from_logits": from_logits, "reduction": "none"}
    sparse = losses.SparseCategoricalFocalCrossentropy(**kwargs)
    dense = losses.CategoricalFocalCrossentropy(**kwargs)
    np.testing.assert_allclose(sparse(labels, y_pred), dense(np.eye(4)[labels], y_pred), rtol=1e-5)
    ignored = labels.copy()
    ignored[0] = 3
    mean = losses.SparseCategoricalFocalCrossentropy(
        alpha=0.4, gamma=1.5, from_logits=from_logits, ignore_class=3
    )(ignored, y_pred)
    keep = ignored != 3
    per_example = np.asarray(dense(np.eye(4)[ignored], y_pred))
    np.testing.assert_allclose(mean, per_example[keep].mean(), rtol=1e-5)
    bad = losses.SparseCategoricalFocalCrossentropy(from_logits=from_logits, reduction="none")
    result = np.asarray(bad(np.array([0, 9]), y_pred[0, :2]))
    assert np.isfinite(result[0]) and np.isnan(result[1])
