"""Activations by Keras name. Only named activations can be saved in a model's JSON config."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

Activation = Callable[[Tensor], Tensor]


def _linear(x: Tensor) -> Tensor:
    return x


def _hard_sigmoid(x: Tensor) -> Tensor:
    return F.relu6(x + 3.0) / 6.0  # Keras 3 definition


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


def _log_softmax(x: Tensor) -> Tensor:
    return torch.log_softmax(x, dim=-1)


def _leaky_relu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)  # Keras 3's default negative_slope


def _hard_silu(x: Tensor) -> Tensor:
    return x * _hard_sigmoid(x)


def _mish(x: Tensor) -> Tensor:
    return x * torch.tanh(F.softplus(x))


def _hard_tanh(x: Tensor) -> Tensor:
    return torch.clamp(x, -1.0, 1.0)


def _tanh_shrink(x: Tensor) -> Tensor:
    return x - torch.tanh(x)


ACTIVATIONS: dict[str, Activation] = {
    "linear": _linear,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "relu": torch.relu,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "swish": F.silu,
    "silu": F.silu,
    "exponential": torch.exp,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "relu6": F.relu6,
    "leaky_relu": _leaky_relu,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
    "mish": _mish,
    "hard_tanh": _hard_tanh,
    "tanh_shrink": _tanh_shrink,
    "log_sigmoid": F.logsigmoid,
}


def get_activation(name: str | None) -> Activation:
    """Return the activation function named ``name`` (``None`` means linear)."""
    if name is None:
        return _linear
    if not isinstance(name, str):
        raise TypeError(f"expected an activation name (str), got {type(name).__name__}")
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"expected an activation in {sorted(ACTIVATIONS)}, got {name!r}") from None
