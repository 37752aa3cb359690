"""A Keras-shaped training loop for Flax NNX models with optax.

``compile(model, optimizer=..., loss=..., metrics=...)`` returns a
:class:`Trainer` with ``fit``/``evaluate``/``predict``; layers that carry
regularizers, callbacks, optimizers by name, metrics and checkpoints
(:mod:`jaxloss.train.checkpoint`) live in the submodules.
"""

from jaxloss.train.callbacks import Callback as Callback
from jaxloss.train.callbacks import EarlyStopping as EarlyStopping
from jaxloss.train.callbacks import History as History
from jaxloss.train.callbacks import TerminateOnNaN as TerminateOnNaN
from jaxloss.train.checkpoint import restore_model as restore_model
from jaxloss.train.layers import Conv2D as Conv2D
from jaxloss.train.layers import Dense as Dense
from jaxloss.train.layers import regularization_loss as regularization_loss
from jaxloss.train.parallel import initialize_distributed as initialize_distributed
from jaxloss.train.regularizers import L1 as L1
from jaxloss.train.regularizers import L1L2 as L1L2
from jaxloss.train.regularizers import L2 as L2
from jaxloss.train.regularizers import l1 as l1
from jaxloss.train.regularizers import l1_l2 as l1_l2
from jaxloss.train.regularizers import l2 as l2
from jaxloss.train.steps import TrainState as TrainState
from jaxloss.train.trainer import Trainer as Trainer
from jaxloss.train.trainer import compile as compile
