"""haste's layer-normalised LSTM and GRU (``layers._norm_cells`` holds the reference step).

``x W`` and ``h U`` are each layer-normalised and scaled (gains ``gamma`` (2, gates * units))
before the biases are added, so no bias enters the input projection; the LSTM also normalises
the new cell state before its activation (``gamma_h``, ``beta_h``). The fused CPU engine runs
them on the split kernels (``_nb_ext``, ``cells._ext``); ONNX export normalises inside the
step (``ReduceMean``); no Triton kernels or PyTorch op yet.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._nb_ext import LN_EPS
from ._base import CellSpec, GraphBuilder, NormGains, OnnxWeights
from ._ext import ExtGRUKernels, ExtLSTMKernels


def _normalized_input(xp: Tensor, gamma: Tensor) -> Tensor:
    return F.layer_norm(xp, xp.shape[-1:], eps=LN_EPS) * gamma[0]  # (batch, time, G)


def _onnx_ln(b: GraphBuilder, x: str, gain: str) -> str:
    """``LN(x) gain`` over the last axis (ReduceMean: every opset rnnkit exports)."""
    d = b.op("Sub", [x, b.reduce("ReduceMean", x, [-1], 1)])
    var = b.reduce("ReduceMean", b.op("Mul", [d, d]), [-1], 1)  # (batch, 1)
    y = b.op("Div", [d, b.op("Sqrt", [b.op("Add", [var, b.const(LN_EPS)])])])
    return b.op("Mul", [y, gain])


def _onnx_inputs(
    b: GraphBuilder, name: str, weights: OnnxWeights, xp: str, h: str
) -> tuple[str, str]:
    """The normalised and scaled ``x W`` and ``h U`` of one step (no biases)."""
    rec, gamma = weights[0], weights[2:][0]
    xn = _onnx_ln(b, xp, b.weight(gamma[0], f"{name}.gamma_x"))
    hu = b.op("MatMul", [h, b.weight(rec, f"{name}.recurrent_kernel")])  # (batch, G)
    return xn, _onnx_ln(b, hu, b.weight(gamma[1], f"{name}.gamma_h"))


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

    def onnx_step(
        self,
        b: GraphBuilder,
        name: str,
        weights: OnnxWeights,
        xp: str,
        states: list[str],
        units: int,
        act: str,
        ract: str,
    ) -> tuple[list[str], str]:
        xn, rn = _onnx_inputs(b, name, weights, xp, states[0])
        z = b.op("Add", [xn, rn])  # (batch, 4 units)
        if weights[1] is not None:
            z = b.op("Add", [z, b.weight(weights[1], f"{name}.bias")])
        zi, zf, zc, zo = b.split(z, [units] * 4)
        forget = b.op("Mul", [b.activation(ract, zf), states[1]])
        c = b.op("Add", [forget, b.op("Mul", [b.activation(ract, zi), b.activation(act, zc)])])
        gamma_c, beta_c = weights[2:][1:3]
        cn = _onnx_ln(b, c, b.weight(gamma_c, f"{name}.gamma_c"))
        cn = b.op("Add", [cn, b.weight(beta_c, f"{name}.beta_c")])
        out = b.op("Mul", [b.activation(ract, zo), b.activation(act, cn)])
        return [out, c], out


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

    def onnx_step(
        self,
        b: GraphBuilder,
        name: str,
        weights: OnnxWeights,
        xp: str,
        states: list[str],
        units: int,
        act: str,
        ract: str,
    ) -> tuple[list[str], str]:
        h, bias = states[0], weights[1]
        xs, rs = _onnx_inputs(b, name, weights, xp, h)
        if bias is not None:
            xs = b.op("Add", [xs, b.weight(bias[0], f"{name}.input_bias")])
            rs = b.op("Add", [rs, b.weight(bias[1], f"{name}.recurrent_bias")])
        xz, xr, xh = b.split(xs, [units] * 3)
        rz, rr, rh = b.split(rs, [units] * 3)
        z = b.activation(ract, b.op("Add", [xz, rz]))
        r = b.activation(ract, b.op("Add", [xr, rr]))
        hh = b.activation(act, b.op("Add", [xh, b.op("Mul", [r, rh])]))
        keep = b.op("Mul", [z, h])
        out = b.op("Add", [keep, b.op("Mul", [b.op("Sub", [b.const(1.0), z]), hh])])
        return [out], out


LAYER_NORM_LSTM = LayerNormLSTMSpec()
LAYER_NORM_GRU = LayerNormGRUSpec()
