"""Keras-semantics losses, called in Keras order ``loss(y_true, y_pred)``.
See :mod:`rnnkit.training._losses`."""

from ._losses import (
    EPSILON,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    get_loss,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
)

get = get_loss
mse = mean_squared_error
mae = mean_absolute_error

__all__ = [
    "EPSILON",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "get_loss",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_crossentropy",
]
