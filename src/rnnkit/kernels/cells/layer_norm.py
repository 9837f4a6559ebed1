"""haste's layer-normalised LSTM and GRU (``layers._norm_cells`` holds the reference step).

``x W`` and ``h U`` are each layer-normalised and scaled (gains ``gamma`` (2, gates * units))
before the biases are added, so no bias enters the input projection; the LSTM also normalises
the new cell state before its activation (``gamma_h``, ``beta_h``). The fused CPU engine runs
them on the split kernels (``_nb_ext``, ``cells._ext``); no Triton kernels, PyTorch op or ONNX
step yet.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._nb_ext import LN_EPS
from ._base import CellSpec, NormGains
from ._ext import ExtGRUKernels, ExtLSTMKernels


def _normalized_input(xp: Tensor, gamma: Tensor) -> Tensor:
    return F.layer_norm(xp, xp.shape[-1:], eps=LN_EPS) * gamma[0]  # (batch, time, G)


class _LayerNormSpec(CellSpec):
    gated = True
    layer_norm = True
    torch_missing = "torch has no layer-normalised RNN module"

    def input_bias(self, bias: Tensor | None) -> Tensor | None:
        return None  # the whole bias is added after the normalisation, in the step


class LayerNormLSTMSpec(ExtLSTMKernels, _LayerNormSpec):
    """Norm weights (gamma (2, 4u), gamma_h (u,), beta_h (u,)); zoneout, no projection."""

    name = "layer_norm_lstm"
    gates = 4
    gate_order = ("i", "f", "c", "o")
    n_states = 2
    keras_layer = "LayerNormLSTM"
    ext_options = frozenset({"zoneout"})

    def norm_shapes(self, units: int) -> tuple[tuple[int, ...], ...]:
        return ((2, 4 * units), (units,), (units,))

    def ext_input(self, xp: Tensor, bias: Tensor | None, norm: tuple[Tensor, ...]) -> Tensor:
        xn = _normalized_input(xp, norm[0])
        return xn if bias is None else xn + bias

    def ext_norm(self, norm: tuple[Tensor, ...]) -> NormGains:
        return norm[0][1], norm[1], norm[2]


class LayerNormGRUSpec(ExtGRUKernels, _LayerNormSpec):
    """The ``reset_after=True`` form only (bias (2, 3u): input and recurrent rows); norm weights
    (gamma (2, 3u),)."""

    name = "layer_norm_gru"
    gates = 3
    gate_order = ("z", "r", "h")
    keras_layer = "LayerNormGRU"

    def bias_shape(self, units: int) -> tuple[int, ...]:
        return (2, self.gates * units)

    def recurrent_bias(self, bias: Tensor | None) -> Tensor | None:
        return None if bias is None else bias[1]

    def norm_shapes(self, units: int) -> tuple[tuple[int, ...], ...]:
        return ((2, 3 * units),)

    def ext_input(self, xp: Tensor, bias: Tensor | None, norm: tuple[Tensor, ...]) -> Tensor:
        xn = _normalized_input(xp, norm[0])
        return xn if bias is None else xn + bias[0]

    def ext_norm(self, norm: tuple[Tensor, ...]) -> NormGains:
        return norm[0][1], None, None


LAYER_NORM_LSTM = LayerNormLSTMSpec()
LAYER_NORM_GRU = LayerNormGRUSpec()
