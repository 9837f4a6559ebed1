"""Weight initializers with Keras's names and definitions (fans computed as Keras does)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

Initializer = Callable[[Tensor], None]


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])  # Keras kernels are (..., in, out)
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


@torch.no_grad()
def glorot_uniform(t: Tensor) -> None:
    fan_in, fan_out = _fans(tuple(t.shape))
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    t.uniform_(-limit, limit)


@torch.no_grad()
def glorot_normal(t: Tensor) -> None:
    fan_in, fan_out = _fans(tuple(t.shape))
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978  # truncated normal
    torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)


@torch.no_grad()
def he_uniform(t: Tensor) -> None:
    fan_in, _ = _fans(tuple(t.shape))
    limit = math.sqrt(6.0 / fan_in)
    t.uniform_(-limit, limit)


@torch.no_grad()
def orthogonal(t: Tensor) -> None:
    if t.dim() < 2:
        raise ValueError(f"expected a weight of rank >= 2 for 'orthogonal', got {t.dim()}")
    flat = t.view(-1, t.shape[-1])
    torch.nn.init.orthogonal_(flat)


@torch.no_grad()
def zeros(t: Tensor) -> None:
    t.zero_()


@torch.no_grad()
def ones(t: Tensor) -> None:
    t.fill_(1.0)


@torch.no_grad()
def uniform(t: Tensor) -> None:
    """Keras ``RandomUniform`` default: U(-0.05, 0.05)."""
    t.uniform_(-0.05, 0.05)


@torch.no_grad()
def unit_uniform(t: Tensor) -> None:
    """U(0, 1): the IndRNN paper's recurrent weight initialisation."""
    t.uniform_(0.0, 1.0)


@torch.no_grad()
def normal(t: Tensor) -> None:
    """Keras ``RandomNormal`` default: N(0, 0.05)."""
    t.normal_(0.0, 0.05)


INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
    "uniform": uniform,
    "random_uniform": uniform,
    "unit_uniform": unit_uniform,
    "normal": normal,
    "random_normal": normal,
}


def get_initializer(name: str) -> Initializer:
    """Return the initializer named ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"expected an initializer name (str), got {type(name).__name__}")
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(
            f"expected an initializer in {sorted(INITIALIZERS)}, got {name!r}"
        ) from None
