"""Fused against unfused linear + cross-entropy: compiled temporary memory and step time.

For each vocabulary size the forward+backward step ``value_and_grad`` over (hidden, weight)
is compiled three times: with :func:`jaxloss.fused_linear_cross_entropy`, and with the
explicit ``[N, V]`` logits followed by :func:`jaxloss.sparse_softmax_cross_entropy`
("unfused", the reference) or by a plain ``jax.nn.logsumexp`` cross-entropy
("unfused_logsumexp"). Memory comes from XLA's ``compiled.memory_analysis()`` (compile
only, so every vocabulary size is cheap); time is measured for the vocabularies listed in
``--time``: one warm-up call, then ``--repeats`` calls of each function interleaved (fused,
unfused, unfused_logsumexp, fused, ...) so that a change in the machine's load hits them
alike. Wall time (``perf_counter``) and the process's CPU time (``process_time``, less
sensitive to other processes on a shared machine) are recorded. Part of ``make bench``::

    python -m bench.studies.fused_linear_cross_entropy
    python -m bench.studies.fused_linear_cross_entropy --quick   # small shapes, seconds

Writes ``fused_linear_cross_entropy.json`` and ``.md`` to ``--out``, by default
``bench/results/fused_linear_cross_entropy/`` (the suite's readers take
``bench/results/*.json`` to be its own reports).

The PyTorch side, on a CUDA device: Liger-Kernel's and Cut Cross-Entropy's fused linear
cross-entropies and plain PyTorch at the same shapes
(:mod:`bench.studies.fused_linear_cross_entropy.torch_peers`)::

    python -m bench.studies.fused_linear_cross_entropy.torch_peers [--vocab 65536] \\
        [--dtype float32 bfloat16]

Everything on one GPU at Liger-Kernel's shape (N = 16384, H = 4096, V = 131072, bfloat16 and
float32), each step's time against explicit logits or plain PyTorch and against the device's
peak, in one command (:mod:`bench.studies.fused_linear_cross_entropy.gpu`, whose docstring
says how to bring the peers to a machine without a network)::

    python -m bench.studies.fused_linear_cross_entropy.gpu
    python -m bench.studies.fused_linear_cross_entropy.gpu --quick --no-torch   # any device
"""
