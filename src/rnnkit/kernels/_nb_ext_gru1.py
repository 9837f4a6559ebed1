# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the split fused engine (``_fused_ext``) for the ``reset_after=False`` GRU
with zoneout: the sibling of ``_nb_ext.gru_forward``/``gru_backward`` (conventions there).

``XIN`` (T, B, 3u) is ``x W + b`` (torch); per step two products: ``R_zr = (h * rd) U_zr``
(the rows ``HIN``), ``z, r = ract(XIN_zr + R_zr)``, then ``R_h = (r (h * rd)) U_h`` (the rows
``Srh``), ``hh = act(XIN_h + R_h)``; the candidate ``z h + (1 - z) hh`` and zoneout's update
``h' = h + w (candidate - h)`` (``w`` from ``ZK`` in training, else ``zw``).

The backward kernel leaves ``DZ`` (T, B, 3u), the gradient of ``XIN``, which is also that of
``[R_zr | R_h]``: ``dU = [HIN^T DZ_zr | Srh^T DZ_h]`` after the loop (``cells/_ext``).
"""

from __future__ import annotations

from numba import literally, njit

from ._nb_act import _act, _dact
from ._nb_bwd import _gather_grad, _skip_row
from ._nb_ext import _fill_hin
from ._nb_fwd import _after_row, _final_output
from ._nb_gemm import ROW_BLOCK, _gemm
from ._nb_setup import _JIT, U64, _flush_denormals_on, _prefer_wide_vectors, _restore_mxcsr


@njit(**_JIT)
def gru1_forward(
    XIN, HIN, Uzr, Uh, ZK, has_zk, zw, H, P, Sg, Srh, Shp,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """Sg (T, B, 3u) receives the gates [z, r, hh]; Srh ``r (h * rd)``; Shp the previous
    state. Uzr (u, 2u) and Uh (u, u) contiguous."""
    act = literally(act)
    ract = literally(ract)
    T = XIN.shape[0]
    u = U64(H.shape[1])
    u2 = u + u
    z0 = U64(0)
    store = Sg.shape[0] == T
    one = XIN.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        zs = s if has_zk else 0
        for b0 in range(lo, hi, ROW_BLOCK):
            b1 = min(b0 + ROW_BLOCK, hi)
            _fill_hin(HIN, H, rd, ts, b0, b1)
            _gemm(HIN, ts, z0, u, Uzr, Sg, ts, z0, b0, b1)  # (rows, 2u)
            for b in range(b0, b1):  # every row: Srh stays finite for the weight gradient
                for j in range(u2):
                    Sg[ts, b, j] = _act(Sg[ts, b, j] + XIN[tx, b, j], ract)
                for j in range(u):
                    Srh[ts, b, j] = Sg[ts, b, u + j] * HIN[ts, b, j]
            _gemm(Srh, ts, z0, u, Uh, Sg, ts, u2, b0, b1)  # (rows, u)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(u):
                        hh = _act(XIN[tx, b, u2 + j] + Sg[ts, b, u2 + j], act)
                        Sg[ts, b, u2 + j] = hh
                        h = H[b, j]
                        z = Sg[ts, b, j]
                        Shp[ts, b, j] = h
                        w = ZK[zs, b, j] if has_zk else zw
                        H[b, j] = h + w * (z * h + (one - z) * hh - h)
                _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def gru1_backward(
    UzrT, UhT, ZK, has_zk, zw, Sg, HIN, Shp, DH, DP, DZ, T1, T2,
    mask, has_mask, rd, go_back, zo, dseq, has_dseq, act, ract, lo, hi,
):  # fmt: skip
    """DZ (T, B, 3u) gets d XIN; T1 (1, B, u) and T2 (1, B, u) scratch (d of the rows of the
    two products)."""
    act = literally(act)
    ract = literally(ract)
    T = DZ.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    z0 = U64(0)
    one = DZ.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        zs = s if has_zk else 0
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DZ, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                d = DH[b, j]
                w = ZK[zs, b, j] if has_zk else zw
                dhc = w * d
                z = Sg[tx, b, j]
                hh = Sg[tx, b, u2 + j]
                DZ[tx, b, j] = dhc * (Shp[tx, b, j] - hh) * _dact(z, ract)
                DZ[tx, b, u2 + j] = dhc * (one - z) * _dact(hh, act)
                DH[b, j] = d - dhc + dhc * z
        _gemm(DZ, tx, u2, u, UhT, T2, 0, z0, lo, hi)  # d Srh (rows, u)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    r = Sg[tx, b, u + j]
                    DZ[tx, b, u + j] = T2[0, b, j] * HIN[tx, b, j] * _dact(r, ract)
        _gemm(DZ, tx, z0, u2, UzrT, T1, 0, z0, lo, hi)  # d HIN via R_zr (rows, u)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    r = Sg[tx, b, u + j]
                    DH[b, j] += (T1[0, b, j] + T2[0, b, j] * r) * rd[b, j]
    _restore_mxcsr(old)
