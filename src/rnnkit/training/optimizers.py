"""Optimizers: Keras-style specs (``Adam``, ``AdamW``, ``SGD``, ``RMSprop``) built into torch
optimizers at fit time. See :mod:`rnnkit.training._optimizers`."""

from ._optimizers import (
    SGD,
    Adam,
    AdamW,
    KerasAdam,
    KerasAdamW,
    KerasRMSprop,
    OptimizerSpec,
    RMSprop,
    build_optimizer,
    get_optimizer,
)

get = get_optimizer

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "KerasAdam",
    "KerasAdamW",
    "KerasRMSprop",
    "OptimizerSpec",
    "RMSprop",
    "build_optimizer",
    "get",
    "get_optimizer",
]
