"""Training for any ``torch.nn.Module`` with Keras semantics.

The loop knows no model class: :func:`fit`, :func:`evaluate`, :func:`predict` and
:func:`train_on_batch` call ``module(*inputs)`` and compare its output with the targets through a
Keras-order loss ``loss(y_true, y_pred)``. Losses, metrics and optimizers are resolved by name
(``"mse"``, ``"accuracy"``, ``"adam"`` ...) with Keras defaults, and callbacks follow Keras's
names and semantics (``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau`` ...).

``fit(..., checkpoint_dir=..., resume="auto")`` writes atomic, verified checkpoints after every
epoch and resumes from the newest one exactly (:mod:`.checkpoint`); ``fit(...,
distributed=True)`` trains data-parallel under torchrun (:mod:`.distributed`).

Modules: :mod:`.fitting` (fit, the loop), :mod:`.step` (one step, one evaluation pass),
:mod:`.inference` (evaluate, predict), :mod:`.options` (fit's arguments and their checks),
:mod:`.strategy` (one process or data-parallel), :mod:`.batches` (conversion, batching),
:mod:`.losses`, :mod:`.metrics`, :mod:`.optimizers` (+ :mod:`.keras_updates`),
:mod:`.progress`, :mod:`.loaders` (Datasets, DataLoaders, iterables), :mod:`.weighting`
(sample weights, class weights, output masks); packages :mod:`.callbacks`,
:mod:`.checkpoint`, :mod:`.distributed`.

This package imports nothing else of rnnkit.
"""

from . import callbacks, checkpoint, distributed, loaders, losses, metrics, optimizers, weighting
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    JSONLogger,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoardLogger,
    TerminateOnNaN,
    TrainState,
    default_loggers,
    save_state_dict,
)
from .checkpoint import (
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
from .distributed import (
    DataParallel,
    barrier,
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
from .fitting import NonFiniteLossError, fit, fit_distributed, train_on_batch
from .inference import evaluate, predict
from .keras_updates import KerasAdam, KerasAdamW, KerasRMSprop
from .losses import Loss, get_loss
from .metrics import Metric, get_metric
from .optimizers import OptimizerSpec, build_optimizer, get_optimizer
from .progress import Progress
from .strategy import OneProcess, Strategy

__all__ = [
    "CSVLogger",
    "Callback",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "DataParallel",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "KerasAdam",
    "KerasAdamW",
    "KerasRMSprop",
    "Loss",
    "Metric",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "NonFiniteWeightsError",
    "OneProcess",
    "OptimizerSpec",
    "Progress",
    "ReduceLROnPlateau",
    "Strategy",
    "TensorBoardLogger",
    "TerminateOnNaN",
    "TrainState",
    "barrier",
    "build_optimizer",
    "callbacks",
    "checkpoint",
    "default_loggers",
    "distributed",
    "evaluate",
    "fit",
    "fit_distributed",
    "get_loss",
    "get_metric",
    "get_optimizer",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_rank_zero",
    "latest_checkpoint",
    "launch",
    "list_checkpoints",
    "loaders",
    "load_checkpoint",
    "local_device",
    "losses",
    "metrics",
    "optimizers",
    "predict",
    "read_checkpoint",
    "save_state_dict",
    "torchrun_command",
    "train_on_batch",
    "under_torchrun",
    "weighting",
    "without_option",
]
