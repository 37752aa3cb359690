"""Chunked against explicit contrastive loss: compiled temporary memory and step time.

The forward+backward step ``value_and_grad`` over (queries, keys) of the mean CLIP loss
(``symmetric=True``) is compiled twice at each batch size: with
:func:`jaxloss.chunked_contrastive_loss` (keys streamed in blocks, no ``[B, B]`` logits)
and with :func:`jaxloss.contrastive_loss` (explicit logits, the reference). Memory comes from
XLA's ``compiled.memory_analysis()`` (compile only); time is measured at the batch sizes in
``--time``: one warm-up call, then ``--repeats`` calls of each interleaved (chunked,
explicit, chunked, ...) so that a change in the machine's load hits both alike. Wall time
(``perf_counter``) and the process's CPU time (``process_time``) are recorded. Against
``optax.losses.ntxent`` on SimCLR's batch (the ``2B`` embeddings of both views, each sample's
views one label): :func:`jaxloss.ntxent_loss` on that batch (the same loss), and the chunked
and explicit CLIP losses of the pair (another loss of the same inputs). optax's temporaries
grow as ``(2B)**2 D`` (its cosine similarities go through ``[2B, 2B, D]`` products; 25.8 GB
to run at ``B = 1024``, ``D = 512``), so its times are taken at small batches and its memory
beyond them from the compiler alone::

    python -m bench.studies.contrastive --batch 256 512 1024 2048 4096 --time 256 512

    python -m bench.studies.contrastive
    python -m bench.studies.contrastive --quick   # small shapes, seconds

Writes ``<machine>-<date>-<commit>.json`` and ``.md`` to ``--out``, by default
``bench/results/contrastive/``; both name the command that made them.
"""
