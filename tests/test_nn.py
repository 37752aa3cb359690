"""jaxloss.nn against lax.conv_general_dilated, flax.nnx.max_pool and float64 formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxloss.nn import conv2d_im2col, conv2d_relu_max_pool_2x2, max_pool_2x2

CONV_SHAPES = [  # (x shape NHWC, kernel shape HWIO)
    ((2, 7, 6, 1), (3, 3, 1, 4)),
    ((3, 5, 8, 3), (2, 3, 3, 5)),
    ((1, 4, 4, 2), (4, 4, 2, 1)),
]


def _conv_reference_f64(x, kernel, bias):
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[:2], axis=(1, 2))
    # windows: (n, out_h, out_w, c, k_h, k_w)
    return np.einsum("nijcab,abco->nijo", windows, kernel) + bias


def _lax_conv(x, kernel, bias):
    y = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + bias.reshape(1, 1, 1, -1)


@pytest.mark.parametrize("x_shape, kernel_shape", CONV_SHAPES)
def test_conv_matches_formula_and_lax_in_value_and_gradient(x_shape, kernel_shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape)
    kernel = rng.normal(size=kernel_shape)
    bias = rng.normal(size=kernel_shape[-1:])
    args32 = [jnp.asarray(a, jnp.float32) for a in (x, kernel, bias)]

    got = jax.jit(conv2d_im2col)(*args32)
    np.testing.assert_allclose(got, _conv_reference_f64(x, kernel, bias), rtol=1e-5, atol=1e-5)

    cotangent = jnp.asarray(rng.normal(size=got.shape), jnp.float32)

    def pulled_back(conv):
        return jax.jit(lambda *a: jax.vjp(conv, *a)[1](cotangent))(*args32)

    for ours, theirs, name in zip(pulled_back(conv2d_im2col), pulled_back(_lax_conv), "xkb"):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4, err_msg=name)
    # Kernel gradient against float64: sum over positions of patch * cotangent.
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel_shape[:2], axis=(1, 2))
    want_dk = np.einsum("nijcab,nijo->abco", windows, np.asarray(cotangent, np.float64))
    np.testing.assert_allclose(pulled_back(conv2d_im2col)[1], want_dk, rtol=1e-4, atol=1e-4)


def test_conv_without_bias_and_in_bfloat16():
    x = jnp.ones((1, 3, 3, 2), jnp.bfloat16)
    y = conv2d_im2col(x, jnp.ones((2, 2, 2, 3), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and y.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(np.asarray(y, np.float32), 8.0)


@pytest.mark.parametrize(
    "x_shape, kernel_shape, bias_shape, message",
    [
        ((1, 5, 5), (3, 3, 1, 2), None, "`x` must be"),
        ((1, 5, 5, 2), (3, 3, 1, 2), None, "expects 1 input channels"),
        ((1, 2, 5, 1), (3, 3, 1, 2), None, "larger than the image"),
        ((1, 5, 5, 1), (3, 3, 1, 2), (3,), "`bias` must be"),
    ],
)
def test_conv_bad_input(x_shape, kernel_shape, bias_shape, message):
    bias = None if bias_shape is None else jnp.zeros(bias_shape)
    with pytest.raises(ValueError, match=message):
        conv2d_im2col(jnp.zeros(x_shape), jnp.zeros(kernel_shape), bias)


def _flax_pool(x):
    return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")


@pytest.mark.parametrize("shape", [(2, 4, 6, 3), (3, 11, 11, 2), (1, 5, 2, 1)])
def test_pool_matches_flax_and_formula_in_value_and_gradient(shape):
    rng = np.random.default_rng(1)
    x64 = rng.normal(size=shape)
    x = jnp.asarray(x64, jnp.float32)
    out_h, out_w = shape[1] // 2, shape[2] // 2
    want = x64[:, : 2 * out_h, : 2 * out_w].reshape(shape[0], out_h, 2, out_w, 2, shape[3])
    got = jax.jit(max_pool_2x2)(x)
    np.testing.assert_allclose(got, want.max(axis=(2, 4)), rtol=1e-6)
    np.testing.assert_array_equal(got, jax.jit(_flax_pool)(x))

    cotangent = jnp.asarray(rng.normal(size=got.shape), jnp.float32)
    ours = jax.jit(lambda v: jax.vjp(max_pool_2x2, v)[1](cotangent)[0])(x)
    theirs = jax.jit(lambda v: jax.vjp(_flax_pool, v)[1](cotangent)[0])(x)
    np.testing.assert_array_equal(ours, theirs)


def test_pool_ties_send_gradient_to_first_maximum_like_flax():
    # Windows with ties in every pattern: all equal, top row, diagonal, last pair.
    window_sets = np.array(
        [[[1, 1], [1, 1]], [[2, 2], [0, 1]], [[0, 3], [3, 0]], [[0, 1], [4, 4]]], np.float32
    )
    x = jnp.asarray(np.concatenate(window_sets, axis=1).reshape(1, 2, 8, 1))
    ours = jax.grad(lambda v: max_pool_2x2(v).sum())(x)
    theirs = jax.grad(lambda v: _flax_pool(v).sum())(x)
    np.testing.assert_array_equal(ours, theirs)
    first_only = np.array([[1, 0, 1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0]], np.float32)
    np.testing.assert_array_equal(ours[0, :, :, 0], first_only)


def test_pool_nan_window_gives_nan():
    x = jnp.zeros((1, 2, 2, 1)).at[0, 1, 0, 0].set(jnp.nan)
    assert np.isnan(max_pool_2x2(x)).all()


@pytest.mark.parametrize("shape", [(4, 4, 1), (1, 1, 4, 1), (1, 4, 1, 1)])
def test_pool_bad_shape(shape):
    with pytest.raises(ValueError, match="height, width >= 2"):
        max_pool_2x2(jnp.zeros(shape))


def test_pool_rejects_integers():
    with pytest.raises(ValueError, match="floating-point"):
        max_pool_2x2(jnp.zeros((1, 2, 2, 1), jnp.int32))


@pytest.mark.parametrize(
    "x_shape, kernel_shape",
    [
        ((2, 8, 9, 3), (3, 3, 3, 5)),  # odd last convolution column: dropped by the pooling
        ((3, 7, 7, 1), (2, 2, 1, 4)),
        ((2, 13, 13, 8), (3, 3, 8, 6)),  # the document's second block (odd 11x11 output)
        ((1, 5, 6, 2), (4, 5, 2, 3)),  # a 2x2 convolution output: one window
    ],
)
def test_fused_block_equals_keras_order(x_shape, kernel_shape):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=kernel_shape), jnp.float32)
    # Large negative and positive biases: whole windows below zero, and ties at the ReLU.
    bias = jnp.asarray(np.linspace(-4.0, 1.0, kernel_shape[-1]), jnp.float32)
    # Quantised input makes tied maxima inside windows common.
    x = jnp.round(x)

    def keras_order(x, kernel, bias):
        return _flax_pool(jax.nn.relu(_lax_conv(x, kernel, bias)))

    fused = jax.jit(conv2d_relu_max_pool_2x2)(x, kernel, bias)
    plain = jax.jit(lambda *a: max_pool_2x2(jax.nn.relu(conv2d_im2col(*a))))(x, kernel, bias)
    # Same values; the fused block sums each patch in another order (float rounding only).
    np.testing.assert_allclose(fused, plain, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(fused, jax.jit(keras_order)(x, kernel, bias), rtol=1e-5, atol=1e-5)

    cotangent = jnp.asarray(rng.normal(size=fused.shape), jnp.float32)

    def pulled_back(block):
        return jax.jit(lambda *a: jax.vjp(block, *a)[1](cotangent))(x, kernel, bias)

    theirs = pulled_back(keras_order)
    for ours, want, name in zip(pulled_back(conv2d_relu_max_pool_2x2), theirs, "xkb"):
        np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4, err_msg=name)


def test_fused_block_bad_bias():
    with pytest.raises(ValueError, match="`bias` must be"):
        conv2d_relu_max_pool_2x2(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 2)), jnp.zeros(3))
