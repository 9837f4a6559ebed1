"""Keras-semantics streaming metrics. See :mod:`rnnkit.training._metrics`."""

from ._metrics import (
    AutoAccuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    SparseCategoricalAccuracy,
    binary_accuracy,
    categorical_accuracy,
    get_metric,
    sparse_categorical_accuracy,
)

get = get_metric

__all__ = [
    "AutoAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "get_metric",
    "sparse_categorical_accuracy",
]
