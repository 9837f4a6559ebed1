"""Layer-normalised LSTM and GRU cells, as haste (LMNT's CUDA RNN library) defines them.

Each row of the input projection ``x W`` and of the recurrent product ``h U`` is normalised on
its own (zero mean, unit variance over all gates, eps 1e-5) and scaled by a learned gain
(``gamma`` (2, gates * units): row 0 for ``x W``, row 1 for ``h U``; no shift), and only then are
the biases added. The LSTM also normalises the new cell state before its activation, with gain
``gamma_h`` and shift ``beta_h`` (units,); the carried ``c`` is the unnormalised one. Gains start
at one, shifts at zero. Gate orders are Keras's (LSTM i, f, c, o; GRU z, r, h with
``reset_after=True``); zoneout and recurrent dropout work as for the plain cells.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from ..kernels import CellKind
from ..kernels.cells.layer_norm import LN_EPS
from ._base import register
from ._cells import GRUCell, LSTMCell, dropped


def normalized(v: Tensor) -> Tensor:
    """Each row of ``v`` (..., n) to zero mean and unit variance (biased variance, eps 1e-5)."""
    return F.layer_norm(v, v.shape[-1:], eps=LN_EPS)


@register
class LayerNormLSTMCell(LSTMCell):
    """haste's LayerNormLSTM step: ``z = LN(x W) g_x + LN((h * m) U) g_h + b``;
    ``c' = f c + i act(z_c)``; ``h' = o act(LN(c') gamma_h + beta_h)``."""

    kind: ClassVar[CellKind] = "layer_norm_lstm"
    gamma: Tensor
    gamma_h: Tensor
    beta_h: Tensor

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        if kwargs.get("proj_size"):
            raise ValueError(
                f"expected no proj_size for a LayerNormLSTM, got {kwargs['proj_size']}"
            )
        kwargs.pop("proj_size", None)
        super().__init__(units, unit_forget_bias=unit_forget_bias, **kwargs)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self.add_weight("gamma", (2, self.gates * self.units), "ones")
        self.add_weight("gamma_h", (self.units,), "ones")
        self.add_weight("beta_h", (self.units,), "zeros")

    def gate_preactivations(self, xp: Tensor, h: Tensor, rec_mask: Tensor | None) -> Tensor:
        rec = dropped(h, rec_mask) @ self.recurrent_kernel  # (batch, 4 * units)
        z = normalized(xp) * self.gamma[0] + normalized(rec) * self.gamma[1]
        return z if self.bias is None else z + self.bias

    def cell_output(self, c: Tensor) -> Tensor:
        return self.act(normalized(c) * self.gamma_h + self.beta_h)

    def norm_weights(self) -> tuple[Tensor, ...]:
        return (self.gamma, self.gamma_h, self.beta_h)

    def call_options(self, training: bool) -> dict[str, Any]:
        return {**super().call_options(training), "norm_weights": self.norm_weights()}


@register
class LayerNormGRUCell(GRUCell):
    """haste's LayerNormGRU step (``reset_after=True`` form): ``(xz, xr, xh) = LN(x W) g_x + b_in``,
    ``(rz, rr, rh) = LN((h * m) U) g_h + b_rec``; then the GRU gates and
    ``h' = z h + (1 - z) act(xh + r rh)``."""

    kind: ClassVar[CellKind] = "layer_norm_gru"
    gamma: Tensor

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        if reset_after is not True:
            raise ValueError(f"expected reset_after=True for a LayerNormGRU, got {reset_after!r}")
        super().__init__(units, reset_after=True, **kwargs)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self.add_weight("gamma", (2, self.gates * self.units), "ones")

    def input_part(self, xp: Tensor) -> Tensor:
        xn = normalized(xp) * self.gamma[0]  # (batch, 3 * units)
        return xn if self.bias is None else xn + self.bias[0]

    def recurrent_part(self, hm: Tensor) -> Tensor:
        rec = normalized(hm @ self.recurrent_kernel) * self.gamma[1]  # (batch, 3 * units)
        return rec if self.bias is None else rec + self.bias[1]

    def norm_weights(self) -> tuple[Tensor, ...]:
        return (self.gamma,)

    def call_options(self, training: bool) -> dict[str, Any]:
        return {**super().call_options(training), "norm_weights": self.norm_weights()}
