"""Cross-entropy kernels: from logits (sigmoid, softmax) and from probabilities (Keras forms).

- :mod:`.softmax`: softmax cross-entropy with dense (one-hot or soft) labels;
- :mod:`.sparse_softmax`: softmax cross-entropy with integer labels;
- :mod:`.sigmoid`: sigmoid (binary) cross-entropy from logits;
- :mod:`.probability`: Keras's binary, categorical and sparse categorical cross-entropy from
  probabilities;
- :mod:`.log_probability`: the negative log-likelihood of integer labels given
  log-probabilities (PyTorch's ``nll_loss``), a plain gather without a custom backward pass;
- :mod:`.class_labels`: what the integer-label forms share (a safe class index, and the
  factor that zeroes ignored rows and turns invalid ones into NaN).

The softmax forms take their row statistics from :mod:`jaxloss._src.softmax_rows`, their
label smoothing from :mod:`jaxloss._src.label_smoothing` and their argument checks from
:mod:`jaxloss._src.validation`.

Every kernel but ``nll_loss`` is a :func:`jax.custom_vjp` with an analytic backward pass
that keeps only what it needs: the inputs and, for the softmax forms, two numbers per row
(the row maximum ``m`` and ``log(sum(exp(logits - m)))``). No array of the logits' size
is saved besides the inputs themselves, and the sparse forms never build a one-hot
of the labels.

Differentiation
    ``jax.grad``, ``jax.vjp`` and ``jax.jacrev`` use the analytic backward pass. The
    backward pass is itself written in differentiable ``jax.numpy``, so reverse over
    reverse works: ``jax.grad(jax.grad(f))`` and Hessians as
    ``jax.jacrev(jax.grad(f))`` are exact. Forward mode applied to the loss itself
    (``jax.jvp(f, ...)``, ``jax.jacfwd(f)``, ``jax.linearize(f, ...)``) is not defined
    for a ``custom_vjp`` and raises ``TypeError``. Forward over reverse works, because
    forward mode then differentiates the backward pass: ``jax.hessian(f)``
    (``jacfwd(jacrev(f))``) gives the same Hessian as ``jax.jacrev(jax.grad(f))``.

Numerical stability (float32, every finite input, logits up to +-3.4e38)
    The gradient with respect to the logits or probabilities is always finite. The
    loss is finite whenever its exact value is: terms that are linear in the logits
    are computed from ``(logits - m) / 2``, which cannot overflow even when a row
    spans -3.4e38 to 3.4e38, and are summed as non-negative parts (no cancellation).
    A loss whose exact value exceeds float32's largest number (e.g. the true class
    6e38 below the row's maximum) is ``inf``, as is the matching label gradient.
    Accuracy against a float64 reference: 1e-5 relative, with an absolute floor of
    about 1e-7 for the softmax forms by default (float32's resolution of
    ``log(sum(exp(x - m)))`` near 0): a confident correct prediction whose exact loss is
    below ~1e-7 can come out as 0, as in optax and PyTorch. ``precise=True`` removes the
    floor: ``log(sum(exp(x - m)))`` becomes ``log1p`` of a sum that never holds the
    dominant ``1`` (the sparse form leaves the label's class out, the dense form counts
    the classes tied at the max apart), and ``p - 1`` at the dominant class becomes
    ``expm1(log p)``; loss and gradient are then 1e-5 relative to float64 wherever the
    exact value is a normal float32 number. It costs extra work per logit on XLA:CPU
    (``bench/studies/precise_cost/``; figures in the docs' performance guide). The sigmoid
    form has no floor.

Speed
    Under ``jit``, with the forward and backward passes compiled together, XLA computes
    ``exp(logits - m)`` once and shares it between them (the jaxpr residuals stay
    per-row). The softmax forms' row statistics depend on the platform the code is
    compiled for (:mod:`jaxloss._src.platform`): on a CPU two passes over each row (the
    maximum, then the sum of exponentials), which XLA:CPU vectorises best; on a GPU or TPU
    one pass carrying both (an online log-sum-exp), so forward+backward reads the logits
    twice instead of three times (on an NVIDIA H200, sparse forward+backward, the CPU forms
    took 1.35× this form's time at 4096 × 32000 and 1.24× at 16384 × 131072:
    ``bench/results/platform_forms/gpu.json``). Figures for the CPU and the H200 against optax, PyTorch and
    Liger-Kernel are in the docs' performance guide.

dtypes
    float16 and bfloat16 inputs are read as such and computed in float32; the loss is
    float32 for them and the input's floating dtype otherwise. Gradients come back in
    each input's dtype.

Invalid values under ``jit``
    Shapes, dtypes and hyperparameters are checked at trace time (``ValueError``).
    An integer label outside ``[0, num_classes)`` that is not ``ignore_index``, or one
    pointing at a class masked out by ``where``, cannot be checked under ``jit``: that
    example's loss and gradient row are NaN, never a plausible finite number. Likewise a
    binary label or probability outside ``[0, 1]`` gives NaN for that element, and a
    negative or infinite score (or a negative label) in the categorical probability forms
    gives NaN for its row. Inside ``jaxloss.checks()`` each of these raises instead, naming
    the loss, the argument, the first offending index and the value.
"""
