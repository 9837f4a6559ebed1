"""The split fused kernels (``_nb_ext``) of the LSTM and GRU families, as spec mixins: the
plain LSTM and GRU (both ``reset_after`` forms) run on them with zoneout or a projection, the
layer-norm kinds always (``CellSpec.layer_norm`` switches the kernels' normalisation on)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from .. import _nb_ext, _nb_ext_gru1, _triton_ext
from .._ext_ctx import (
    ExtBackward,
    ExtForward,
    ExtGrads,
    TritonExtBackward,
    TritonExtForward,
)
from .._runtime import DUMMY, WORKSPACE, copy_array, kernel_args, run_rows
from .._triton_ctx import triton_args

LSTM_FWD = kernel_args(_nb_ext.lstm_forward)
LSTM_BWD = kernel_args(_nb_ext.lstm_backward)
GRU_FWD = kernel_args(_nb_ext.gru_forward)
GRU_BWD = kernel_args(_nb_ext.gru_backward)
GRU1_FWD = kernel_args(_nb_ext_gru1.gru1_forward)
GRU1_BWD = kernel_args(_nb_ext_gru1.gru1_backward)
LSTM_TFWD = triton_args(_triton_ext._ext_lstm_fwd)
LSTM_TBWD = triton_args(_triton_ext._ext_lstm_bwd)
GRU_TFWD = triton_args(_triton_ext._ext_gru_fwd)
GRU_TBWD = triton_args(_triton_ext._ext_gru_bwd)


def _block(n: int) -> int:
    """A tile width: ``n`` padded to a power of two, at least 16 (``tl.dot``'s minimum)."""
    return max(16, 1 << max(0, (n - 1).bit_length()))


def _flat(a: np.ndarray) -> Tensor:
    """A (time, batch, n) array as a (time * batch, n) tensor (no copy)."""
    return torch.from_numpy(a.reshape(-1, a.shape[2]))


def _sum_rows(a: Tensor) -> Tensor:
    return a.sum(0)


def _rows(t: Tensor) -> Tensor:
    """A (time, batch, n) tensor as (time * batch, n)."""
    return t.reshape(-1, t.shape[2])


class ExtLSTMKernels:
    """The LSTM family: gates [i, f, c, o], states (h, c); zoneout and projection."""

    ext_kernels: ClassVar[tuple[Any, ...]] = (_nb_ext.lstm_forward, _nb_ext.lstm_backward)
    ext_options: ClassVar[frozenset[str]] = frozenset({"projection", "zoneout"})

    def ext_forward(self, ef: ExtForward) -> dict[str, Any]:
        u, w = ef.units, ef.w
        dt = ef.xin.dtype
        ln_buf = ef.buffer if w.ln else (lambda width: DUMMY[dt])
        sg, stc, scp, sm = ef.buffer(4 * u), ef.buffer(u), ef.buffer(u), ef.buffer(u)
        sr, srs, scn, scs = ln_buf(4 * u), ln_buf(1), ln_buf(u), ln_buf(1)
        hc = WORKSPACE.empty((1, ef.batch, ef.h.shape[1]), dt)
        args = LSTM_FWD(
            XIN=ef.xin, HIN=ef.hin, U=w.recurrent, g1=w.g1, gh=w.gh, bh=w.bh, ln=w.ln,
            PK=w.proj, has_proj=w.has_proj, ZK=w.zk, has_zk=w.has_zk, zw=w.zw, H=ef.h,
            C=ef.extra[0], P=ef.p, HC=hc, Sg=sg, SR=sr, Srs=srs, Stc=stc, Scp=scp, Scn=scn,
            Scs=scs, Sm=sm, **ef.common,
        )  # fmt: skip
        run_rows(_nb_ext.lstm_forward, args, ef.chunks)
        return {"sg": sg, "sr": sr, "srs": srs, "stc": stc, "scp": scp, "scn": scn, "scs": scs,
                "sm": sm}  # fmt: skip

    def ext_backward(self, eb: ExtBackward) -> ExtGrads:
        s, u, w = eb.saved, eb.units, eb.w
        dt, out = eb.dz.dtype, eb.dh.shape[1]
        dr, dcn, dhc = eb.buffer(4 * u), eb.buffer(u), eb.buffer(out)
        proj_t = copy_array(w.proj.T, dt) if w.has_proj else w.proj
        args = LSTM_BWD(
            UT=copy_array(w.recurrent.T, dt), g1=w.g1, gh=w.gh, ln=w.ln, PKT=proj_t,
            has_proj=w.has_proj, ZK=w.zk, has_zk=w.has_zk, zw=w.zw, Sg=s["sg"], SR=s["sr"],
            Srs=s["srs"], Stc=s["stc"], Scp=s["scp"], Scn=s["scn"], Scs=s["scs"], DH=eb.dh,
            DC=eb.d_extra[0], DP=eb.dp, DHC=dhc, DM=WORKSPACE.empty((1, eb.batch, u), dt),
            DZ=eb.dz, DR=dr, DCN=dcn, T1=WORKSPACE.empty((1, eb.batch, out), dt), **eb.common,
        )  # fmt: skip
        run_rows(_nb_ext.lstm_backward, args, eb.chunks(4))
        n = eb.needs  # (recurrent, b_rec, g1, gh, bh, proj)
        d_rec = _flat(eb.hin).T @ _flat(dr) if n[0] else None  # (out, 4 units)
        d_g1 = _sum_rows(_flat(eb.dz) * _flat(s["sr"])) if n[2] and w.ln else None
        d_gh = _sum_rows(_flat(dcn) * _flat(s["scn"])) if n[3] and w.ln else None
        d_bh = _sum_rows(_flat(dcn)) if n[4] and w.ln else None
        d_proj = _flat(s["sm"]).T @ _flat(dhc) if n[5] and w.has_proj else None  # (units, out)
        return ExtGrads(recurrent=d_rec, g1=d_g1, gh=d_gh, bh=d_bh, proj=d_proj)

    ext_triton_kernels: ClassVar[tuple[Any, ...]] = (
        _triton_ext._ext_lstm_fwd,
        _triton_ext._ext_lstm_bwd,
    )

    def triton_ext_forward(self, tf: TritonExtForward) -> dict[str, Tensor]:
        u, w, out = tf.units, tf.w, tf.h.shape[1]
        ln = tf.launch.flags["LN"]
        dummy = tf.xin.new_empty(1)
        ln_buf = tf.buf if ln else (lambda width: dummy)
        sv = {"sg": tf.buf(4 * u), "sr": ln_buf(4 * u), "srs": ln_buf(u), "stc": tf.buf(u),
              "scp": tf.buf(u), "scn": ln_buf(u), "scs": ln_buf(u), "sm": tf.buf(u)}  # fmt: skip
        args = LSTM_TFWD(
            xin=tf.xin, u=w["recurrent"], g1=w["g1"], gh=w["gh"], bh=w["bh"], pk=w["proj"],
            zk=w["zk"], h=tf.h, c=tf.extra[0], p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd,
            hin=tf.hin, **sv, zw=tf.zw, T=tf.time, B=tf.batch, U=u, P=out,
        )  # fmt: skip
        tf.launch(_triton_ext._ext_lstm_fwd, args, STORE=int(tf.steps == tf.time),
                  BLOCK_U=_block(u), BLOCK_P=_block(out))  # fmt: skip
        return sv

    def triton_ext_backward(self, tb: TritonExtBackward) -> ExtGrads:
        s, u, w, out = tb.saved, tb.units, tb.w, tb.dh.shape[1]
        dr, dcn, dhc = tb.buf(4 * u), tb.buf(u), tb.buf(out)
        args = LSTM_TBWD(
            u=w["recurrent"], g1=w["g1"], gh=w["gh"], pk=w["proj"], zk=w["zk"], sg=s["sg"],
            sr=s["sr"], srs=s["srs"], stc=s["stc"], scp=s["scp"], scn=s["scn"], scs=s["scs"],
            mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh, dc=tb.d_extra[0], dp=tb.dp, dz=tb.dz,
            dr=dr, dcn=dcn, dhc=dhc, zw=tb.zw, T=tb.time, B=tb.batch, U=u, P=out,
        )  # fmt: skip
        tb.launch(_triton_ext._ext_lstm_bwd, args, BLOCK_U=_block(u), BLOCK_P=_block(out))
        n = tb.needs
        d_rec = _rows(tb.hin).T @ _rows(dr) if n[0] else None  # (out, 4 units)
        d_g1 = (_rows(tb.dz) * _rows(s["sr"])).sum(0) if n[2] and tb.ln else None
        d_gh = (_rows(dcn) * _rows(s["scn"])).sum(0) if n[3] and tb.ln else None
        d_bh = _rows(dcn).sum(0) if n[4] and tb.ln else None
        d_proj = _rows(s["sm"]).T @ _rows(dhc) if n[5] and tb.has_proj else None
        return ExtGrads(recurrent=d_rec, g1=d_g1, gh=d_gh, bh=d_bh, proj=d_proj)


class ExtGRUKernels:
    """The GRU family (``reset_after=True``): gates [z, r, h], one state; zoneout."""

    ext_kernels: ClassVar[tuple[Any, ...]] = (_nb_ext.gru_forward, _nb_ext.gru_backward)
    ext_options: ClassVar[frozenset[str]] = frozenset({"zoneout"})

    def ext_forward(self, ef: ExtForward) -> dict[str, Any]:
        u, w = ef.units, ef.w
        dt = ef.xin.dtype
        sg, shp = ef.buffer(4 * u), ef.buffer(u)
        sr, srs = (ef.buffer(3 * u), ef.buffer(1)) if w.ln else (DUMMY[dt], DUMMY[dt])
        args = GRU_FWD(
            XIN=ef.xin, HIN=ef.hin, U=w.recurrent, g1=w.g1, brec=w.b_rec, ln=w.ln, ZK=w.zk,
            has_zk=w.has_zk, zw=w.zw, H=ef.h, P=ef.p, Sg=sg, SR=sr, Srs=srs, Shp=shp,
            **ef.common,
        )  # fmt: skip
        run_rows(_nb_ext.gru_forward, args, ef.chunks)
        return {"sg": sg, "sr": sr, "srs": srs, "shp": shp}

    def ext_backward(self, eb: ExtBackward) -> ExtGrads:
        s, u, w = eb.saved, eb.units, eb.w
        dt = eb.dz.dtype
        drr = eb.buffer(3 * u)
        dr = eb.buffer(3 * u) if w.ln else drr
        args = GRU_BWD(
            UT=copy_array(w.recurrent.T, dt), g1=w.g1, ln=w.ln, ZK=w.zk, has_zk=w.has_zk,
            zw=w.zw, Sg=s["sg"], SR=s["sr"], Srs=s["srs"], Shp=s["shp"], DH=eb.dh, DP=eb.dp,
            DZ=eb.dz, DRR=drr, DR=dr, T1=WORKSPACE.empty((1, eb.batch, u), dt), **eb.common,
        )  # fmt: skip
        run_rows(_nb_ext.gru_backward, args, eb.chunks(3))
        n = eb.needs
        d_rec = _flat(eb.hin).T @ _flat(dr) if n[0] else None  # (units, 3 units)
        d_brec = _sum_rows(_flat(drr)) if n[1] else None
        d_g1 = _sum_rows(_flat(drr) * _flat(s["sr"])) if n[2] and w.ln else None
        return ExtGrads(recurrent=d_rec, b_rec=d_brec, g1=d_g1)

    ext_triton_kernels: ClassVar[tuple[Any, ...]] = (
        _triton_ext._ext_gru_fwd,
        _triton_ext._ext_gru_bwd,
    )

    def triton_ext_forward(self, tf: TritonExtForward) -> dict[str, Tensor]:
        u, w = tf.units, tf.w
        ln = tf.launch.flags["LN"]
        dummy = tf.xin.new_empty(1)
        sv = {"sg": tf.buf(4 * u), "sr": tf.buf(3 * u) if ln else dummy,
              "srs": tf.buf(u) if ln else dummy, "shp": tf.buf(u)}  # fmt: skip
        args = GRU_TFWD(
            xin=tf.xin, u=w["recurrent"], g1=w["g1"], brec=w["b_rec"], zk=w["zk"], h=tf.h,
            p=tf.p, seq=tf.seq, mask=tf.mask, rd=tf.rd, hin=tf.hin, **sv, zw=tf.zw, T=tf.time,
            B=tf.batch, U=u,
        )  # fmt: skip
        tf.launch(_triton_ext._ext_gru_fwd, args, STORE=int(tf.steps == tf.time),
                  BLOCK_U=_block(u))  # fmt: skip
        return sv

    def triton_ext_backward(self, tb: TritonExtBackward) -> ExtGrads:
        s, u, w = tb.saved, tb.units, tb.w
        drr, dr = tb.buf(3 * u), tb.buf(3 * u)
        args = GRU_TBWD(
            u=w["recurrent"], g1=w["g1"], zk=w["zk"], sg=s["sg"], sr=s["sr"], srs=s["srs"],
            shp=s["shp"], mask=tb.mask, rd=tb.rd, dseq=tb.dseq, dh=tb.dh, dp=tb.dp, dz=tb.dz,
            drr=drr, dr=dr, zw=tb.zw, T=tb.time, B=tb.batch, U=u,
        )  # fmt: skip
        tb.launch(_triton_ext._ext_gru_bwd, args, BLOCK_U=_block(u))
        n = tb.needs
        d_rec = _rows(tb.hin).T @ _rows(dr) if n[0] else None  # (units, 3 units)
        d_brec = _rows(drr).sum(0) if n[1] else None
        d_g1 = (_rows(drr) * _rows(s["sr"])).sum(0) if n[2] and tb.ln else None
        return ExtGrads(recurrent=d_rec, b_rec=d_brec, g1=d_g1)


class ExtGRUV1Kernels:
    """The ``reset_after=False`` GRU: gates [z, r, h], one state, no recurrent bias; zoneout
    (no layer norm, no split Triton kernels: those calls run on the loop on CUDA)."""

    ext_kernels: ClassVar[tuple[Any, ...]] = (
        _nb_ext_gru1.gru1_forward,
        _nb_ext_gru1.gru1_backward,
    )
    ext_options: ClassVar[frozenset[str]] = frozenset({"zoneout"})

    def ext_forward(self, ef: ExtForward) -> dict[str, Any]:
        u, w = ef.units, ef.w
        dt = ef.xin.dtype
        sg, srh, shp = ef.buffer(3 * u), ef.buffer(u), ef.buffer(u)
        args = GRU1_FWD(
            XIN=ef.xin, HIN=ef.hin, Uzr=copy_array(w.recurrent[:, : 2 * u], dt),
            Uh=copy_array(w.recurrent[:, 2 * u :], dt), ZK=w.zk, has_zk=w.has_zk, zw=w.zw,
            H=ef.h, P=ef.p, Sg=sg, Srh=srh, Shp=shp, **ef.common,
        )  # fmt: skip
        run_rows(_nb_ext_gru1.gru1_forward, args, ef.chunks)
        return {"sg": sg, "srh": srh, "shp": shp}

    def ext_backward(self, eb: ExtBackward) -> ExtGrads:
        s, u, w = eb.saved, eb.units, eb.w
        dt = eb.dz.dtype
        rec = w.recurrent
        args = GRU1_BWD(
            UzrT=copy_array(rec[:, : 2 * u].T, dt), UhT=copy_array(rec[:, 2 * u :].T, dt),
            ZK=w.zk, has_zk=w.has_zk, zw=w.zw, Sg=s["sg"], HIN=eb.hin, Shp=s["shp"], DH=eb.dh,
            DP=eb.dp, DZ=eb.dz, T1=WORKSPACE.empty((1, eb.batch, u), dt),
            T2=WORKSPACE.empty((1, eb.batch, u), dt), **eb.common,
        )  # fmt: skip
        run_rows(_nb_ext_gru1.gru1_backward, args, eb.chunks(3))
        if not eb.needs[0]:
            return ExtGrads()
        dz = _flat(eb.dz)  # (time * batch, 3 units)
        d_zr = _flat(eb.hin).T @ dz[:, : 2 * u]  # (units, 2 units)
        d_h = _flat(s["srh"]).T @ dz[:, 2 * u :]  # (units, units)
        return ExtGrads(recurrent=torch.cat([d_zr, d_h], dim=1))  # (units, 3 units)
