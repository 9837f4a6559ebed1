"""IndRNN (Li et al. 2018): ``h' = act(x W + b + u * (h * m))`` with an element-wise recurrent
weight ``u`` (units,); one gate block, one state. PyTorch has no op for it."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .. import _nb_bwd, _nb_fwd, _triton_cells
from .._runtime import FusedBackward, FusedForward, WeightGrads, kernel_args, run_rows
from .._triton_ctx import TritonBackward, TritonForward, triton_args
from ._base import CellSpec, GraphBuilder, OnnxWeights

FWD = kernel_args(_nb_fwd.indrnn_forward)
BWD = kernel_args(_nb_bwd.indrnn_backward)
TFWD = triton_args(_triton_cells._indrnn_fwd)
TBWD = triton_args(_triton_cells._indrnn_bwd)


class IndRNNSpec(CellSpec):
    name = "indrnn"
    gates = 1
    gate_order = ("h",)
    keras_layer = "IndRNN"  # not a Keras 3 layer: rnnkit's own (seed 004)
    fused_kernels = (_nb_fwd.indrnn_forward, _nb_bwd.indrnn_backward)
    triton_kernels = (_triton_cells._indrnn_fwd, _triton_cells._indrnn_bwd)
    torch_missing = "PyTorch has no IndRNN op"

    def recurrent_shape(self, units: int) -> tuple[int, ...]:
        return (units,)

    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        sg = fw.buffer(fw.units)
        args = FWD(
            XH=fw.xh, X=fw.x, ho=fw.ho, F=fw.f, W=fw.kernel, bin=fw.b_in, w=fw.recurrent,
            H=fw.h, P=fw.p, Sg=sg, **fw.common,
        )  # fmt: skip
        run_rows(_nb_fwd.indrnn_forward, args, fw.chunks)
        return {"sg": sg}

    def fused_backward_work(self, batch: int, time: int, units: int) -> int:
        return batch * time * units * 8  # element-wise: no product in the time loop

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        u, f = bw.units, bw.features
        args = BWD(
            w=bw.recurrent, Sg=bw.saved["sg"], DH=bw.dh, DP=bw.dp, DX=bw.dx, **bw.common
        )
        run_rows(_nb_bwd.indrnn_backward, args, self.backward_chunks(bw))
        n = bw.needs
        drec = (bw.dx2 * bw.xh2[:, 1 : u + 1]).sum(0) if n.recurrent else None  # (units,)
        if not (n.kernel or n.b_in):
            return WeightGrads(recurrent=drec)
        m = bw.xh2[:, u + 1 :].T @ bw.dx2  # (features + 1, units): dW, db
        return WeightGrads(kernel=m[:f], b_in=m[f], recurrent=drec)

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        gsv = tf.buf(tf.units)
        args = TFWD(
            xp=tf.xp, u=tf.u, h=tf.h, p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd, hin=tf.hin,
            gsv=gsv, T=tf.time, B=tf.batch, U=tf.units,
        )  # fmt: skip
        tf.launch(_triton_cells._indrnn_fwd, args)
        return [gsv]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        (gsv,) = tb.saved
        args = TBWD(
            u=tb.u, gsv=gsv, mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh, dp=tb.dp,
            dxg=tb.dxg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        tb.launch(_triton_cells._indrnn_bwd, args)
        if not tb.need_u:
            return None, None
        flat = tb.time * tb.batch
        return (tb.dxg.view(flat, -1) * tb.hin.view(flat, tb.units)).sum(0), None  # (units,)

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
        out = b.activation(act, b.op("Add", [xp, b.op("Mul", [states[0], rec])]))
        return [out], out


INDRNN = IndRNNSpec()
