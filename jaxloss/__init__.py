"""jaxloss: JAX-accelerated, numerically stable loss functions.

The functional kernels follow optax's conventions: ``loss(logits_or_predictions,
labels_or_targets, *, hyperparameters)``, one value per example, no hidden
reduction, and a ``where=`` mask. The Keras-compatible classes live in
:mod:`jaxloss.losses`, the training loop in :mod:`jaxloss.train`.
"""

__version__ = "0.1.0"

from jaxloss._src.regression import absolute_error as absolute_error
from jaxloss._src.regression import huber_loss as huber_loss
from jaxloss._src.regression import log_cosh as log_cosh
from jaxloss._src.regression import squared_error as squared_error
