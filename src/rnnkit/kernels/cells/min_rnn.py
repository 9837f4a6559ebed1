"""MinGRU and MinLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates from the input only.

* ``min_gru`` (gates z, h): ``z = sigmoid(k)``; ``h' = (1 - z) h + z g(v)``;
* ``min_lstm`` (gates f, i, h): ``h' = f / (f + i) h + i / (f + i) g(v)`` with
  ``f, i = sigmoid(k_f), sigmoid(k_i)``;

``(k, v)`` the step's input projection ``x W + b`` and ``g(v) = v + 1/2`` for ``v >= 0``, else
``sigmoid(v)``. Without a recurrent product the whole sequence is ``h_t = a_t h_{t-1} + b_t``;
:meth:`MinSpec.log_coefficients` gives ``log a`` and ``log b`` for the "scan" engine
(``kernels._scan``). ``recurrent_kernel`` is an empty (units, 0) placeholder.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _triton_min
from .._triton_ctx import TritonBackward, TritonForward, triton_args
from ._base import CellSpec, GraphBuilder, OnnxWeights

TFWD = triton_args(_triton_min._min_fwd)
TBWD = triton_args(_triton_min._min_bwd)
#: Steps per chunk of the Triton kernels' scans (a power of two).
BLOCK_T = 32


def log_g(v: Tensor) -> Tensor:
    """``log g(v)``, computed without rounding ``g`` first."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def _onnx_g(b: GraphBuilder, v: str) -> str:
    nonneg = b.op("GreaterOrEqual", [v, b.const(0.0)])
    return b.op("Where", [nonneg, b.op("Add", [v, b.const(0.5)]), b.op("Sigmoid", [v])])


class MinSpec(CellSpec):
    scan = True
    torch_missing = "torch has no minGRU/minLSTM module"
    triton_kernels = (_triton_min._min_fwd, _triton_min._min_bwd)
    triton_helpers = (
        _triton_min._min_combine,
        _triton_min._min_add,
        _triton_min._min_least,
        _triton_min._min_gates,
        _triton_min._min_keep,
        _triton_min._min_first,
    )

    def recurrent_shape(self, units: int) -> tuple[int, ...]:
        return (units, 0)

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        h0 = tf.h.clone()  # (batch, units): the backward's first previous state
        # every unit is its own recurrence: programs over (batch rows, unit blocks)
        grid = (tf.batch, -(-tf.units // tf.block))
        launch = dataclasses.replace(tf.launch, grid=grid)
        args = TFWD(
            xp=tf.xp, h=tf.h, p=tf.p, seq=tf.seq, mask=tf.mask, hin=tf.hin, T=tf.time,
            B=tf.batch, U=tf.units,
        )  # fmt: skip
        launch(_triton_min._min_fwd, args, KIND=self.fused_code, BLOCK_T=BLOCK_T)
        return [tf.xp, h0]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        xp, h0 = tb.saved
        launch = dataclasses.replace(tb.launch, grid=(tb.batch, -(-tb.units // tb.block)))
        args = TBWD(
            xp=xp, hin=tb.hin, h0=h0, mask=tb.mask, dseq=tb.dseq, dh=tb.dh, dp=tb.dp,
            dxg=tb.dxg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        launch(_triton_min._min_bwd, args, KIND=self.fused_code, BLOCK_T=BLOCK_T)
        return None, None


class MinGRUSpec(MinSpec):
    name = "min_gru"
    gates = 2
    gate_order = ("z", "h")
    keras_layer = "MinGRU"
    fused_code = 0

    def log_coefficients(self, xp: Tensor, units: int) -> tuple[Tensor, Tensor]:
        k, v = xp[..., :units], xp[..., units:]
        return -F.softplus(k), -F.softplus(-k) + log_g(v)

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
        k, v = b.split(xp, [units] * 2)
        z = b.op("Sigmoid", [k])
        keep = b.op("Mul", [b.op("Sub", [b.const(1.0), z]), states[0]])
        out = b.op("Add", [keep, b.op("Mul", [z, _onnx_g(b, v)])])
        return [out], out


class MinLSTMSpec(MinSpec):
    name = "min_lstm"
    gates = 3
    gate_order = ("f", "i", "h")
    keras_layer = "MinLSTM"
    fused_code = 1

    def log_coefficients(self, xp: Tensor, units: int) -> tuple[Tensor, Tensor]:
        kf, ki, v = xp[..., :units], xp[..., units : 2 * units], xp[..., 2 * units :]
        diff = F.softplus(-kf) - F.softplus(-ki)  # log(i / f)
        return -F.softplus(diff), -F.softplus(-diff) + log_g(v)

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
        kf, ki, v = b.split(xp, [units] * 3)
        f, i = b.op("Sigmoid", [kf]), b.op("Sigmoid", [ki])
        total = b.op("Add", [f, i])
        keep = b.op("Mul", [b.op("Div", [f, total]), states[0]])
        out = b.op("Add", [keep, b.op("Mul", [b.op("Div", [i, total]), _onnx_g(b, v)])])
        return [out], out


MIN_GRU = MinGRUSpec()
MIN_LSTM = MinLSTMSpec()
