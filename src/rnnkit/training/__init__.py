"""Training for any ``torch.nn.Module`` with Keras semantics.

The loop knows no model class: :func:`fit`, :func:`evaluate`, :func:`predict` and
:func:`train_on_batch` call ``module(*inputs)`` and compare its output with the targets through a
Keras-order loss ``loss(y_true, y_pred)``. Losses, metrics and optimizers are resolved by name
(``"mse"``, ``"accuracy"``, ``"adam"`` ...) with Keras defaults, and callbacks follow Keras's
names and semantics (``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau`` ...).

``fit(..., checkpoint_dir=..., resume="auto")`` writes atomic, verified checkpoints after every
epoch and resumes from the newest one exactly (:mod:`._checkpoint`).

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
from ._checkpoint import (
    Checkpoint,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMismatchError,
    NonFiniteWeightsError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
)
from ._distributed import (
    barrier,
    fit_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    is_rank_zero,
    launch,
    local_device,
    torchrun_command,
    under_torchrun,
    without_option,
)
from ._loggers import JSONLogger, TensorBoardLogger, default_loggers
from ._loop import NonFiniteLossError, evaluate, fit, predict, train_on_batch
from ._losses import Loss, get_loss
from ._metrics import Metric, get_metric
from ._optimizers import OptimizerSpec, build_optimizer, get_optimizer
from ._progress import Progress

__all__ = [
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "EarlyStopping",
    "History",
    "Loss",
    "Metric",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "NonFiniteWeightsError",
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
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "losses",
    "metrics",
    "optimizers",
    "predict",
    "read_checkpoint",
    "save_state_dict",
    "train_on_batch",
]

# distributed training and loggers (rnnkit.training._distributed, rnnkit.training._loggers)
__all__ += [
    "JSONLogger",
    "TensorBoardLogger",
    "barrier",
    "default_loggers",
    "fit_distributed",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_rank_zero",
    "launch",
    "local_device",
    "torchrun_command",
    "under_torchrun",
    "without_option",
]
