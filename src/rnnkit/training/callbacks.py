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

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "TrainState",
    "save_state_dict",
]
