"""GRU: gates (z, r, h), one state; Keras's update ``h' = z h + (1 - z) hh``. Two forms:

* ``reset_after=True`` (:data:`GRU`; bias (2, 3u): input and recurrent rows):
  ``(rz, rr, rh) = (h * m) U + b_rec``; ``z = ract(xz + rz)``, ``r = ract(xr + rr)``,
  ``hh = act(xh + r rh)``. PyTorch's ``nn.GRU`` is this form with gates (r, z, n).
* ``reset_after=False`` (:data:`GRU_V1`; bias (3u,)): ``hh = act(xh + (r (h * m)) U_h)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _nb_bwd, _nb_fwd, _triton_gru
from .._runtime import (
    U0,
    U1,
    WORKSPACE,
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
from ._ext import ExtGRUKernels, ExtGRUV1Kernels

FWD = kernel_args(_nb_fwd.gru_forward)
BWD = kernel_args(_nb_bwd.gru_backward)
V1_FWD = kernel_args(_nb_fwd.gru_v1_forward)
V1_BWD = kernel_args(_nb_bwd.gru_v1_backward)
TFWD = triton_args(_triton_gru._gru_fwd)
TBWD = triton_args(_triton_gru._gru_bwd)
V1_TFWD = triton_args(_triton_gru._gru1_fwd)
V1_TBWD = triton_args(_triton_gru._gru1_bwd)


def _native_gru(
    x: Tensor, hx: tuple[Tensor, ...], params: list[Tensor], flags: tuple[Any, ...], act: str
) -> tuple[Tensor, tuple[Tensor, ...]]:
    seq, h = torch.gru(x, hx[0], params, *flags)
    return seq, (h[0],)


class _GRUBase(CellSpec):
    name = "gru"
    gates = 3
    gate_order = ("z", "r", "h")
    gated = True
    keras_layer = "GRU"

    def onnx_gates(
        self, b: GraphBuilder, xz: str, xr: str, rz: str, rr: str, ract: str
    ) -> tuple[str, str]:
        return b.activation(ract, b.op("Add", [xz, rz])), b.activation(ract, b.op("Add", [xr, rr]))

    def onnx_update(self, b: GraphBuilder, z: str, h: str, hh: str) -> str:
        one_minus = b.op("Sub", [b.const(1.0), z])
        return b.op("Add", [b.op("Mul", [z, h]), b.op("Mul", [one_minus, hh])])


class GRUSpec(ExtGRUKernels, _GRUBase):
    """``reset_after=True``."""

    fused_kernels = (_nb_fwd.gru_forward, _nb_bwd.gru_backward)
    triton_kernels = (_triton_gru._gru_fwd, _triton_gru._gru_bwd)
    torch_module = nn.GRU
    torch_gate_perm = (1, 0, 2)  # torch (r, z, n) <-> Keras (z, r, h): its own inverse

    def variant(self, reset_after: bool) -> CellSpec:
        return self if reset_after else GRU_V1

    def torch_layer_kwargs(self, module: nn.RNNBase) -> dict[str, Any]:
        return {"reset_after": True}

    def bias_shape(self, units: int) -> tuple[int, ...]:
        return (2, 3 * units)

    def input_bias(self, bias: Tensor | None) -> Tensor | None:
        return None if bias is None else bias[0]

    def recurrent_bias(self, bias: Tensor | None) -> Tensor | None:
        return None if bias is None else bias[1]

    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        u = fw.units
        sg = fw.buffer(4 * u)
        # the previous states: h_in itself (in xh) unless recurrent dropout changed it
        shp, po = (fw.buffer(u), U0) if fw.has_rd else (fw.xh, fw.ho)
        xw = WORKSPACE.empty((1, fw.batch, 3 * u), fw.xh.dtype)
        args = FWD(
            XH=fw.xh, X=fw.x, ho=fw.ho, F=fw.f, U=fw.recurrent, W=fw.kernel, bin=fw.b_in,
            brec=fw.rec_bias(3 * u), H=fw.h, P=fw.p, Sg=sg, Shp=shp, po=po, XW=xw, **fw.common,
        )  # fmt: skip
        run_rows(_nb_fwd.gru_forward, args, fw.chunks)
        return {"sg": sg, "shp": shp}

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        s, u, f = bw.saved, bw.units, bw.features
        dr = WORKSPACE.empty(bw.dx.shape, bw.dx.dtype)
        args = BWD(
            UT=copy_array(bw.recurrent.T, bw.dx.dtype), Sg=s["sg"], Shp=s["shp"],
            po=bw.shp_offset(s["shp"]), DH=bw.dh, DP=bw.dp, DX=bw.dx, DR=dr, T1=bw.t1,
            **bw.common,
        )  # fmt: skip
        run_rows(_nb_bwd.gru_backward, args, self.backward_chunks(bw))
        n, flat = bw.needs, bw.time * bw.batch
        d_brec = d_rec = d_kernel = d_bin = None
        xh2 = bw.rows(bw.xh2)
        if n.recurrent or n.b_rec:
            m = xh2[:, : u + 1].T @ bw.rows(torch.from_numpy(dr.reshape(flat, 3 * u)))  # db_rec, dU
            d_brec, d_rec = m[0], m[1:]
        if n.kernel or n.b_in:
            m = xh2[:, u + 1 :].T @ bw.rows(bw.dx2)  # dW, d b_in
            d_kernel, d_bin = m[:f], m[f]
        return WeightGrads(kernel=d_kernel, b_in=d_bin, recurrent=d_rec, b_rec=d_brec)

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        gsv, hsv = tf.buf(4 * tf.units), tf.buf(tf.units)
        brec = tf.b_rec if tf.b_rec is not None else tf.xp.new_empty(1)
        args = TFWD(
            xp=tf.xp, u=tf.u, brec=brec, h=tf.h, p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd,
            hin=tf.hin, gsv=gsv, hsv=hsv, T=tf.time, B=tf.batch, U=tf.units,
        )  # fmt: skip
        tf.launch(
            _triton_gru._gru_fwd, args, HAS_BREC=tf.b_rec is not None, RACT=tf.ract,
            BLOCK_K=tf.block,
        )  # fmt: skip
        return [gsv, hsv]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        gsv, hsv = tb.saved
        drg = torch.empty_like(tb.dxg)
        args = TBWD(
            u=tb.u, gsv=gsv, hsv=hsv, mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh, dp=tb.dp,
            dxg=tb.dxg, drg=drg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        tb.launch(_triton_gru._gru_bwd, args, RACT=tb.ract, BLOCK_K=tb.block)
        flat = tb.time * tb.batch
        drg2 = drg.view(flat, -1)
        drec = tb.hin.view(flat, tb.units).T @ drg2 if tb.need_u else None  # (units, 3 units)
        return drec, drg2.sum(0) if tb.need_brec else None

    def native_blocker(self, activation: str, recurrent_activation: str) -> str | None:
        if (activation, recurrent_activation) != ("tanh", "sigmoid"):
            return "PyTorch's op is fixed to activation tanh, recurrent_activation sigmoid"
        return None

    def native_run(self, activation: str) -> NativeRun:
        return _native_gru

    def to_torch_bias(self, bias: Tensor) -> tuple[Tensor, Tensor]:
        return self._perm(bias[0]), self._perm(bias[1])

    def from_torch_bias(self, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        return torch.stack([self._perm(b_ih), self._perm(b_hh)])

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
        rec_kernel, bias = weights[0], weights[1]
        h = states[0]
        xz, xr, xh = b.split(xp, [units] * 3)
        rec = b.op("MatMul", [h, b.weight(rec_kernel, f"{name}.recurrent_kernel")])  # (b, 3u)
        b_rec = self.recurrent_bias(bias)
        if b_rec is not None:
            rec = b.op("Add", [rec, b.weight(b_rec, f"{name}.recurrent_bias")])
        rz, rr, rh = b.split(rec, [units] * 3)
        z, r = self.onnx_gates(b, xz, xr, rz, rr, ract)
        hh = b.activation(act, b.op("Add", [xh, b.op("Mul", [r, rh])]))
        out = self.onnx_update(b, z, h, hh)
        return [out], out


class GRUV1Spec(ExtGRUV1Kernels, _GRUBase):
    """``reset_after=False``: PyTorch has no op or module for it."""

    fused_kernels = (_nb_fwd.gru_v1_forward, _nb_bwd.gru_v1_backward)
    triton_kernels = (_triton_gru._gru1_fwd, _triton_gru._gru1_bwd)
    torch_missing = "PyTorch's GRU op is the reset_after=True form"

    def variant(self, reset_after: bool) -> CellSpec:
        return GRU if reset_after else self

    def fused_forward(self, fw: FusedForward) -> dict[str, Any]:
        u, dt = fw.units, fw.xh.dtype
        sg, srh = fw.buffer(3 * u), fw.buffer(u)
        shp, po = (fw.buffer(u), U0) if fw.has_rd else (fw.xh, fw.ho)
        w, rec = fw.kernel, fw.recurrent
        args = V1_FWD(
            XH=fw.xh, X=fw.x, ho=fw.ho, F=fw.f, UWzr=concat(rec[:, : 2 * u], w[:, : 2 * u]),
            Uh=copy_array(rec[:, 2 * u :], dt), Wh=copy_array(w[:, 2 * u :], dt), bin=fw.b_in,
            H=fw.h, P=fw.p, Sg=sg, Shp=shp, po=po, Srh=srh, **fw.common,
        )  # fmt: skip
        run_rows(_nb_fwd.gru_v1_forward, args, fw.chunks)
        return {"sg": sg, "shp": shp, "srh": srh}

    def fused_backward(self, bw: FusedBackward) -> WeightGrads:
        s, u, f, dt = bw.saved, bw.units, bw.features, bw.dx.dtype
        args = V1_BWD(
            UzrT=copy_array(bw.recurrent[:, : 2 * u].T, dt),
            UhT=copy_array(bw.recurrent[:, 2 * u :].T, dt), Sg=s["sg"], Shp=s["shp"],
            po=bw.shp_offset(s["shp"]), Shin=bw.xh, ho=U1, DH=bw.dh,
            DP=bw.dp, DX=bw.dx, T1=bw.t1, T2=WORKSPACE.empty(bw.t1.shape, dt), **bw.common,
        )  # fmt: skip
        run_rows(_nb_bwd.gru_v1_backward, args, self.backward_chunks(bw))
        n = bw.needs
        if not (n.kernel or n.b_in or n.recurrent):
            return WeightGrads()
        dx2 = bw.rows(bw.dx2)
        m = bw.rows(bw.xh2)[:, 1:].T @ dx2
        srh = bw.rows(torch.from_numpy(s["srh"].reshape(bw.time * bw.batch, u)))
        d_h = srh.T @ dx2[:, 2 * u :]
        drec = torch.cat([m[:u, : 2 * u], d_h], dim=1)
        return WeightGrads(kernel=m[u : u + f], b_in=m[-1], recurrent=drec)

    def triton_forward(self, tf: TritonForward) -> list[Tensor]:
        gsv, hsv, rsv = tf.buf(3 * tf.units), tf.buf(tf.units), tf.buf(tf.units)
        args = V1_TFWD(
            xp=tf.xp, u=tf.u, h=tf.h, p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd, hin=tf.hin,
            gsv=gsv, hsv=hsv, rsv=rsv, T=tf.time, B=tf.batch, U=tf.units,
        )  # fmt: skip
        tf.launch(_triton_gru._gru1_fwd, args, RACT=tf.ract, BLOCK_K=tf.block)
        return [gsv, hsv, rsv]

    def triton_backward(self, tb: TritonBackward) -> tuple[Tensor | None, Tensor | None]:
        gsv, hsv, rsv = tb.saved
        args = V1_TBWD(
            u=tb.u, gsv=gsv, hsv=hsv, hin=tb.hin, mask=tb.mask, rd=tb.rd, dseq=tb.dseq,
            dh=tb.dh, dp=tb.dp, dxg=tb.dxg, T=tb.time, B=tb.batch, U=tb.units,
        )  # fmt: skip
        tb.launch(_triton_gru._gru1_bwd, args, RACT=tb.ract, BLOCK_K=tb.block)
        if not tb.need_u:
            return None, None
        flat, u = tb.time * tb.batch, tb.units
        dxg2 = tb.dxg.view(flat, -1)
        d_zr = tb.hin.view(flat, u).T @ dxg2[:, : 2 * u]  # (units, 2 units)
        d_h = rsv.view(flat, u).T @ dxg2[:, 2 * u :]  # (units, units)
        return torch.cat([d_zr, d_h], dim=1), None  # (units, 3 units)

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
        rec_kernel, u = weights[0], units
        h = states[0]
        xz, xr, xh = b.split(xp, [u] * 3)
        uzr = b.weight(rec_kernel[:, : 2 * u], f"{name}.recurrent_kernel_zr")
        rz, rr = b.split(b.op("MatMul", [h, uzr]), [u] * 2)
        z, r = self.onnx_gates(b, xz, xr, rz, rr, ract)
        uh = b.weight(rec_kernel[:, 2 * u :], f"{name}.recurrent_kernel_h")
        hh = b.activation(act, b.op("Add", [xh, b.op("MatMul", [b.op("Mul", [r, h]), uh])]))
        out = self.onnx_update(b, z, h, hh)
        return [out], out


GRU = GRUSpec()
GRU_V1 = GRUV1Spec()
