"""Training for any ``torch.nn.Module`` with Keras semantics.

The loop knows no model class: :func:`fit`, :func:`evaluate`, :func:`predict` and
:func:`train_on_batch` call ``module(*inputs)`` and compare its output with the targets through a
Keras-order loss ``loss(y_true, y_pred)``. Losses, metrics and optimizers are resolved by name
(``"mse"``, ``"accuracy"``, ``"adam"`` ...) with Keras defaults, and callbacks follow Keras's
names and semantics (``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau`` ...).

This package imports nothing else of rnnkit.
"""

from . import callbacks, losses, metrics, optimizers
from ._callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
    TrainState,
    save_state_dict,
)
from ._loop import NonFiniteLossError, evaluate, fit, predict, train_on_batch
from ._losses import Loss, get_loss
from ._metrics import Metric, get_metric
from ._optimizers import OptimizerSpec, build_optimizer, get_optimizer
from ._progress import Progress

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "Loss",
    "Metric",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "OptimizerSpec",
    "Progress",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "TrainState",
    "build_optimizer",
    "callbacks",
    "evaluate",
    "fit",
    "get_loss",
    "get_metric",
    "get_optimizer",
    "losses",
    "metrics",
    "optimizers",
    "predict",
    "save_state_dict",
    "train_on_batch",
]
