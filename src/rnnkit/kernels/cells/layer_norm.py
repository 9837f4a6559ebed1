"""haste's layer-normalised LSTM and GRU (``layers._norm_cells`` holds the step).

``x W`` and ``h U`` are each layer-normalised and scaled (gains ``gamma`` (2, gates * units))
before the biases are added, so no bias enters the input projection; the LSTM also normalises
the new cell state before its activation (``gamma_h``, ``beta_h``). They run on the reference
loop: no fused or Triton kernels, no PyTorch op, no ONNX step yet.
"""

from __future__ import annotations

from torch import Tensor

from ._base import CellSpec


class _LayerNormSpec(CellSpec):
    gated = True
    torch_missing = "torch has no layer-normalised RNN module"

    def input_bias(self, bias: Tensor | None) -> Tensor | None:
        return None  # the whole bias is added after the normalisation, in the step


class LayerNormLSTMSpec(_LayerNormSpec):
    name = "layer_norm_lstm"
    gates = 4
    gate_order = ("i", "f", "c", "o")
    n_states = 2
    keras_layer = "LayerNormLSTM"


class LayerNormGRUSpec(_LayerNormSpec):
    """The ``reset_after=True`` form only (bias (2, 3u): input and recurrent rows)."""

    name = "layer_norm_gru"
    gates = 3
    gate_order = ("z", "r", "h")
    keras_layer = "LayerNormGRU"

    def bias_shape(self, units: int) -> tuple[int, ...]:
        return (2, self.gates * units)


LAYER_NORM_LSTM = LayerNormLSTMSpec()
LAYER_NORM_GRU = LayerNormGRUSpec()
