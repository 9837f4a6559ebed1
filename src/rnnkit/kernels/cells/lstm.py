"""LSTM: gates (i, f, c, o), states (h, c).

``z = x W + b + (h * m) U``; ``i, f, o = ract(z_i, z_f, z_o)``; ``c' = f c + i act(z_c)``;
``h' = o act(c')``.
"""

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
from ._ext import ExtLSTMKernels

FWD = kernel_args(_nb_fwd.lstm_forward)
BWD = kernel_args(_nb_bwd.lstm_backward)
TFWD = triton_args(_triton_cells._lstm_fwd)
TBWD = triton_args(_triton_cells._lstm_bwd)


def _native_lstm(
    x: Tensor, hx: tuple[Tensor, ...], params: list[Tensor], flags: tuple[Any, ...], act: str
) -> tuple[Tensor, tuple[Tensor, ...]]:
    seq, h, c = torch.lstm(x, hx, params, *flags)
    return seq, (h[0], c[0])


class LSTMSpec(ExtLSTMKernels, CellSpec):
    name = "lstm"
    gates = 4
    gate_order = ("i", "f", "c", "o")
    n_states = 2
    gated = True
    keras_layer = "LSTM"
    fused_kernels = (_nb_fwd.lstm_forward, _nb_bwd.lstm_backward)
    triton_kernels = (_triton_cells._lstm_fwd, _triton_cells._lstm_bwd)
    torch_module = nn.LSTM
    torch_gate_perm = (0, 1, 2, 3)  # torch's (i, f, g, o) is Keras's order

    def torch_layer_kwargs(self, module: nn.RNNBase) -> dict[str, Any]:
        # the forget bias comes from torch's weights; nn.LSTM(proj_size=p) is LSTM(proj_size=p)
        return {"unit_forget_bias": False, "proj_size": int(module.proj_size)}

    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        u = fw.units
        sg, stc, scp = fw.buffer(4 * u), fw.buffer(u), fw.buffer(u)
        args = FWD(
            XH=fw.xh, X=fw.x, ho=fw.ho, F=fw.f,
            UW=concat(fw.recurrent, fw.kernel),  # (units + features, 4 units)
            bin=fw.b_in, H=fw.h, C=fw.extra[0], P=fw.p, Sg=sg, Stc=stc, Scp=scp, **fw.common,
        )  # fmt: skip
        run_rows(_nb_fwd.lstm_forward, args, fw.chunks)
        return {"sg": sg, "stc": stc, "scp": scp}

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        s, u, f = bw.saved, bw.units, bw.features
        args = BWD(
            UT=copy_array(bw.recurrent.T, bw.dx.dtype), Sg=s["sg"], Stc=s["stc"], Scp=s["scp"],
            DH=bw.dh, DC=bw.d_extra[0], DP=bw.dp, DX=bw.dx, T1=bw.t1, **bw.common,
        )  # fmt: skip
        run_rows(_nb_bwd.lstm_backward, args, self.backward_chunks(bw))
        n = bw.needs
        if not (n.kernel or n.b_in or n.recurrent):
            return WeightGrads()
        m = bw.rows(bw.xh2)[:, 1:].T @ bw.rows(bw.dx2)  # (units + features + 1, 4 units)
        return WeightGrads(kernel=m[u : u + f], b_in=m[-1], recurrent=m[:u])

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        gsv, csv = tf.buf(4 * tf.units), tf.buf(tf.units)
        args = TFWD(
            xp=tf.xp, u=tf.u, h=tf.h, c=tf.extra[0], p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd,
            hin=tf.hin, gsv=gsv, csv=csv, T=tf.time, B=tf.batch, U=tf.units,
        )  # fmt: skip
        tf.launch(_triton_cells._lstm_fwd, args, RACT=tf.ract, BLOCK_K=tf.block)
        return [gsv, csv]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        gsv, csv = tb.saved
        args = TBWD(
            u=tb.u, gsv=gsv, csv=csv, mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh,
            dc=tb.d_extra[0], dp=tb.dp, dxg=tb.dxg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        tb.launch(_triton_cells._lstm_bwd, args, RACT=tb.ract, BLOCK_K=tb.block)
        if not tb.need_u:
            return None, None
        flat = tb.time * tb.batch
        return tb.hin.view(flat, tb.units).T @ tb.dxg.view(flat, -1), None  # (units, 4 units)

    def native_blocker(self, activation: str, recurrent_activation: str) -> str | None:
        if (activation, recurrent_activation) != ("tanh", "sigmoid"):
            return "PyTorch's op is fixed to activation tanh, recurrent_activation sigmoid"
        return None

    def native_run(self, activation: str) -> NativeRun:
        return _native_lstm

    def native_inference_wins(self, batch: int, units: int | None) -> bool:
        """Wide layers (units >= 256): ``python bench/engine_sweep.py``."""
        return units is not None and units >= 256

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
        z = b.op("Add", [xp, b.op("MatMul", [states[0], rec])])  # (batch, 4 units)
        zi, zf, zc, zo = b.split(z, [units] * 4)
        forget = b.op("Mul", [b.activation(ract, zf), states[1]])
        write = b.op("Mul", [b.activation(ract, zi), b.activation(act, zc)])
        c = b.op("Add", [forget, write])
        out = b.op("Mul", [b.activation(ract, zo), b.activation(act, c)])
        return [out, c], out


LSTM = LSTMSpec()
