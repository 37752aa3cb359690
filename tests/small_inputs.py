"""Two-row inputs that are valid for every kind of loss: the baseline that the input-rule and
checked-mode tests spoil one argument of at a time."""

import jax
import jax.numpy as jnp

LOGITS = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.1, 0.3]])
PROBS = jax.nn.softmax(LOGITS)
ONE_HOT = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
LABELS = jnp.array([0, 1])
POSITIVE = PROBS + 0.5
