"""SimpleRNN (Elman): one gate block, one state: ``h' = act(x W + b + (h * m) U)``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _nb_bwd, _nb_fwd, _triton_cells
from .._runtime import (
    FusedBackward,
    FusedForward,
    WeightGrads,
    concat,
    copy_array,
    kernel_args,
    run_rows,
)
from .._triton_ctx import TritonBackward, TritonForward, triton_args
from ._base import CellSpec, GraphBuilder, NativeRun, OnnxWeights

FWD = kernel_args(_nb_fwd.simple_forward)
BWD = kernel_args(_nb_bwd.simple_backward)
TFWD = triton_args(_triton_cells._simple_fwd)
TBWD = triton_args(_triton_cells._simple_bwd)


def _native_tanh(
    x: Tensor, hx: tuple[Tensor, ...], params: list[Tensor], flags: tuple[Any, ...], act: str
) -> tuple[Tensor, tuple[Tensor, ...]]:
    seq, h = torch.rnn_tanh(x, hx[0], params, *flags)
    return seq, (h[0],)


def _native_relu(
    x: Tensor, hx: tuple[Tensor, ...], params: list[Tensor], flags: tuple[Any, ...], act: str
) -> tuple[Tensor, tuple[Tensor, ...]]:
    seq, h = torch.rnn_relu(x, hx[0], params, *flags)
    return seq, (h[0],)


class SimpleRNNSpec(CellSpec):
    name = "simple_rnn"
    gates = 1
    gate_order = ("h",)
    keras_layer = "SimpleRNN"
    fused_kernels = (_nb_fwd.simple_forward, _nb_bwd.simple_backward)
    triton_kernels = (_triton_cells._simple_fwd, _triton_cells._simple_bwd)
    torch_module = nn.RNN
    torch_gate_perm = (0,)

    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        sg = fw.buffer(fw.units)
        args = FWD(
            XH=fw.xh, X=fw.x, ho=fw.ho, F=fw.f, UW=concat(fw.recurrent, fw.kernel), bin=fw.b_in,
            H=fw.h, P=fw.p, Sg=sg, **fw.common,
        )  # fmt: skip
        run_rows(_nb_fwd.simple_forward, args, fw.chunks)
        return {"sg": sg}

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        u, f = bw.units, bw.features
        args = BWD(
            UT=copy_array(bw.recurrent.T, bw.dx.dtype), Sg=bw.saved["sg"], DH=bw.dh, DP=bw.dp,
            DX=bw.dx, T1=bw.t1, **bw.common,
        )  # fmt: skip
        run_rows(_nb_bwd.simple_backward, args, self.backward_chunks(bw))
        n = bw.needs
        if not (n.kernel or n.b_in or n.recurrent):
            return WeightGrads()
        m = bw.rows(bw.xh2)[:, 1:].T @ bw.rows(bw.dx2)  # (units + features + 1, units): dU, dW, db
        return WeightGrads(kernel=m[u : u + f], b_in=m[-1], recurrent=m[:u])

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        gsv = tf.buf(tf.units)
        args = TFWD(
            xp=tf.xp, u=tf.u, h=tf.h, p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd, hin=tf.hin,
            gsv=gsv, T=tf.time, B=tf.batch, U=tf.units,
        )  # fmt: skip
        tf.launch(_triton_cells._simple_fwd, args, BLOCK_K=tf.block)
        return [gsv]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        (gsv,) = tb.saved
        args = TBWD(
            u=tb.u, gsv=gsv, mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh, dp=tb.dp,
            dxg=tb.dxg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        tb.launch(_triton_cells._simple_bwd, args, BLOCK_K=tb.block)
        if not tb.need_u:
            return None, None
        flat = tb.time * tb.batch
        return tb.hin.view(flat, tb.units).T @ tb.dxg.view(flat, -1), None  # (units, units)

    def native_blocker(self, activation: str, recurrent_activation: str) -> str | None:
        if activation not in ("tanh", "relu"):
            return "PyTorch's RNN op is fixed to tanh or relu"
        return None

    def native_run(self, activation: str) -> NativeRun:
        return _native_relu if activation == "relu" else _native_tanh

    def native_inference_wins(self, batch: int, units: int | None) -> bool:
        """Not below batch 512 (``python bench/engine_sweep.py``)."""
        return batch >= 512

    def torch_layer_kwargs(self, module: nn.RNNBase) -> dict[str, Any]:
        return {"activation": str(module.nonlinearity)}

    def torch_module_kwargs(self, activation: str) -> dict[str, Any]:
        return {"nonlinearity": activation}

    def torch_activations(self) -> tuple[str, ...]:
        return ("tanh", "relu")

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
        rec = b.weight(weights[0], f"{name}.recurrent_kernel")
        out = b.activation(act, b.op("Add", [xp, b.op("MatMul", [states[0], rec])]))
        return [out], out


SIMPLE_RNN = SimpleRNNSpec()
