"""Focal losses (Lin et al. 2017): sigmoid, softmax and sparse softmax from logits,
and the Keras probability-space forms.

- :mod:`.sigmoid`: :func:`sigmoid_focal_loss`, elementwise from logits;
- :mod:`.softmax`: :func:`softmax_focal_loss`, dense labels over a class axis;
- :mod:`.sparse_softmax`: :func:`sparse_softmax_focal_loss`, integer labels;
- :mod:`.probability`: :func:`binary_focal_cross_entropy` and
  :func:`categorical_focal_cross_entropy`, from probabilities as Keras computes them;
- :mod:`.modulation`: the modulating factor ``(1 - p_t) ** gamma`` they share;
- :mod:`.inputs`: the argument preparation they share.

The logit forms are :func:`jax.custom_vjp` kernels whose forward and backward passes
are closed formulas in log space, written in differentiable ``jax.numpy`` so that
reverse-over-reverse (``jax.grad(jax.grad(f))``, ``jax.jacrev``) works. Forward mode
(``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``) is not defined for a ``custom_vjp`` and
raises ``TypeError``; use ``jax.jacrev(jax.jacrev(f))`` for Hessians.

Stability: the focal factor ``(1 - p_t) ** gamma`` is formed from ``log(1 - p_t)``
computed without cancellation, and the gradient is written so that
``gamma * (1 - p_t) ** (gamma - 1)`` (infinite for ``gamma < 1`` as ``p_t -> 1``) never
appears on its own. For every finite input the logit gradient is finite and the loss
is finite unless its true value exceeds the float's range (a softmax whose logits span
more than the largest float, e.g. ``[3e38, -3e38]`` with the label on the small one).

dtypes: float16/bfloat16 inputs are computed in float32 and the loss is float32;
otherwise the loss has the logits' floating dtype. Gradients come back in the
inputs' dtypes. Scalar hyperparameters given as Python numbers are compiled in
(``gamma=2`` becomes a square, not a power); given as arrays they are traced and
differentiable (``jax.grad`` with respect to ``alpha`` or ``gamma`` is exact).

Speed: the softmax focal loss runs over blocks of about 2 MiB of rows in a loop on a CPU, so
that its several elementwise passes stay in cache, and over all rows at once on a GPU or TPU,
where such a loop would launch hundreds of small kernels one after another
(:mod:`jaxloss._src.row_tiling`; on an NVIDIA H200 the loop took 4.63× the time of one
block forward+backward at 4096 × 32000: ``bench/results/platform_forms/gpu.json``).
"""
