"""MinGRU and MinLSTM cells (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read the input only, never the previous state, so a whole sequence is a linear
recurrence ``h_t = a_t h_{t-1} + b_t`` that the "scan" engine solves in parallel over time
(:mod:`rnnkit.kernels._scan`); ``step`` is the same cell one step at a time (streaming, the loop
engine). The candidate activation is the paper's ``g(v) = v + 1/2`` for ``v >= 0``, else
``sigmoid(v)`` (positive, as the log-space scan needs). Weights: ``kernel`` (features, gates *
units) and ``bias`` (gates * units,); there is no recurrent kernel (a (units, 0) placeholder
that is not a weight), so recurrent dropout does not apply.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..kernels import CellKind
from ._base import register
from ._cells import RecurrentCell, States


def candidate(v: Tensor) -> Tensor:
    """The paper's ``g``: ``v + 1/2`` for ``v >= 0``, else ``sigmoid(v)``."""
    return torch.where(v >= 0, F.relu(v) + 0.5, torch.sigmoid(v))


class MinCell(RecurrentCell):
    """Shared weights and config of the min cells (no activation or recurrent weights)."""

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation="linear",
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )

    def build(self, input_shape: Any) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"expected a known feature size (last axis), got {input_shape}")
        self.add_weight("kernel", (features, self.gates * self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.gates * self.units,), self.bias_initializer)
        no_weights = torch.empty(self.units, 0, dtype=self.dtype)  # (units, 0)
        self.register_buffer("recurrent_kernel", no_weights, persistent=False)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for shared_only in ("activation", "recurrent_initializer"):
            config.pop(shared_only)
        return config


@register
class MinGRUCell(MinCell):
    """``z = sigmoid(x W_z + b_z)``; ``h' = (1 - z) h + z g(x W_h + b_h)`` (gates z, h)."""

    kind: ClassVar[CellKind] = "min_gru"

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        k, v = xp.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        h = (1.0 - z) * states[0] + z * candidate(v)
        return h, (h,)


@register
class MinLSTMCell(MinCell):
    """``f, i = sigmoid(x W_f + b_f), sigmoid(x W_i + b_i)``;
    ``h' = f / (f + i) h + i / (f + i) g(x W_h + b_h)`` (gates f, i, h)."""

    kind: ClassVar[CellKind] = "min_lstm"

    def step(
        self, xp: Tensor, states: States, rec_mask: Tensor | None = None
    ) -> tuple[Tensor, States]:
        kf, ki, v = xp.chunk(3, dim=-1)
        diff = F.softplus(-kf) - F.softplus(-ki)  # log(i / f), without rounding f + i
        h = torch.sigmoid(-diff) * states[0] + torch.sigmoid(diff) * candidate(v)
        return h, (h,)
