"""rnnkit: recurrent neural networks with Keras semantics on PyTorch.

>>> import rnnkit as rk
>>> from rnnkit import layers
>>> model = rk.Sequential(
...     [rk.Input((200, 3)), layers.LSTM(32), layers.Dense(12, activation="softmax")]
... )
>>> model.count_params()
4996
"""

from __future__ import annotations

import random as _random

import numpy as _np
import torch as _torch

from . import errors, io, kernels, layers, training
from .errors import DataFileError, ModelFileError, RnnkitError
from .io import export_onnx, from_torch, load_keras, to_torch
from .layers import Input
from .model import Model, Sequential, load_model, model_from_config
from .streaming import Streamer
from .training import (
    CheckpointCorruptError,
    CheckpointMismatchError,
    NonFiniteLossError,
    callbacks,
    losses,
    metrics,
    optimizers,
)

__version__ = "0.1.0"


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (weights, dropout, shuffling)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"expected an int seed, got {type(seed).__name__}")
    _random.seed(seed)
    _np.random.seed(seed % 2**32)
    _torch.manual_seed(seed)


__all__ = [
    "Streamer",
    "CheckpointCorruptError",
    "DataFileError",
    "ModelFileError",
    "RnnkitError",
    "errors",
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "Input",
    "Model",
    "Sequential",
    "__version__",
    "callbacks",
    "export_onnx",
    "from_torch",
    "io",
    "load_keras",
    "to_torch",
    "kernels",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "model_from_config",
    "optimizers",
    "set_seed",
    "training",
]
