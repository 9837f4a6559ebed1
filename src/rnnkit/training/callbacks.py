"""Keras-style callbacks (``keras.callbacks`` names). See :mod:`rnnkit.training._callbacks`."""

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
from ._loggers import JSONLogger, TensorBoardLogger

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoardLogger",
    "TerminateOnNaN",
    "TrainState",
    "save_state_dict",
]
