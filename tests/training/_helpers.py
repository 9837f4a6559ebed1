"""Small plain torch modules and data for the training tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class TtyStream(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


class Recorder(nn.Module):
    """Linear model that records, per forward, the first input column, train flag and dtype."""

    def __init__(self, n_in: int = 1, n_out: int = 1, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, dtype=dtype)
        self.calls: list[tuple[bool, Tensor, torch.dtype]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.calls.append((self.training, x[:, 0].detach().clone(), x.dtype))
        return self.linear(x)

    def seen(self, training: bool) -> list[float]:
        return [float(v) for t, xs, _ in self.calls if t == training for v in xs]


class Fixed(nn.Module):
    """Returns a fixed prediction per sample id (x[:, 0] holds the id); trains nothing useful
    (its one parameter gets a zero gradient), so epoch metrics can be hand-computed."""

    def __init__(self, predictions: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("table", torch.as_tensor(predictions, dtype=torch.float32))
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        ids = x[:, 0].long()
        return self.table[ids] + 0.0 * self.dummy


def regression_data(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    w = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype=np.float32)
    y = x @ w + 0.5
    return x, y.astype(np.float32)


def mlp(n_in: int = 4, n_out: int = 1, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, n_out))


def diverging_task() -> tuple[nn.Module, dict[str, Any]]:
    """Scalar model w*x, w=0, trained towards y=2x while validated against y=x: val_loss falls
    until w passes 1, then rises. Deterministic (no shuffling)."""
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    x = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
    kwargs: dict[str, Any] = {
        "x": x,
        "y": 2 * x,
        "validation_data": (x, x),
        "loss": "mse",
        "optimizer": torch.optim.SGD(module.parameters(), lr=0.3),
        "batch_size": 16,
        "shuffle": False,
        "verbose": 0,
    }
    return module, kwargs
