"""Contrastive losses on embeddings: each example is compared with every other in the batch.

- :mod:`.infonce`: :func:`contrastive_loss`, InfoNCE and CLIP's symmetric form, with an
  explicit ``[B, B]`` similarity matrix;
- :mod:`.chunked`: :func:`chunked_contrastive_loss`, the same loss streamed over blocks of
  keys (no ``[B, B]`` matrix in the forward or the backward pass), and
  :func:`chunked_contrastive_loss_sharded`, over a device mesh;
- :mod:`.sigmoid`: :func:`sigmoid_contrastive_loss`, SigLIP's pairwise sigmoid loss;
- :mod:`.supervised`: :func:`supervised_contrastive_loss` (SupCon) and :func:`ntxent_loss`
  (optax's NT-Xent), positives given by labels;
- :mod:`.inputs`: the argument checks they share.

Every loss returns one value per example (a query, or an anchor); the caller reduces. An
example's loss depends on the whole batch, so a NaN in one embedding makes the loss of every
example it is compared with NaN.
"""
