# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the split fused engine (``_fused_ext``): the recurrence of an LSTM or a
``reset_after`` GRU with haste's layer norm on the recurrent product (and the LSTM's cell
state), zoneout on the output, and the LSTM's projection (PyTorch's ``proj_size``).

The input side of the gates does not depend on the states, so torch computes it for the whole
sequence at once (``XIN`` (T, B, G): ``x W + b``, or ``LN(x W) gamma[0] + b`` for the layer-norm
kinds) and autograd differentiates it; these kernels run only what must go step by step:

* ``R = (h * rd) U`` (the rows ``HIN``, kept for the gradient of ``U``); with ``ln``
  ``R^ = LN(R)`` (``SR``, ``Srs`` its inverse deviation) and ``R' = R^ g1``, else ``R' = R``;
* LSTM: ``z = XIN + R'``; ``c' = f c + i act(z_c)``; ``m = o act(c'')`` with ``c'' =
  LN(c') gh + bh`` (``ln``) or ``c'``; the candidate output ``m P`` (``has_proj``) or ``m``;
* GRU: ``z, r = ract(XIN_zr + R'_zr + brec_zr)``, ``hh = act(XIN_h + r (R'_h + brec_h))``;
  the candidate ``z h + (1 - z) hh``;
* zoneout: ``h' = h + w (candidate - h)`` with ``w = ZK[s, b, j]`` (training: 0 keeps the
  previous unit, 1 takes the new one; ``ZK`` (T, B, out) in processing order) or ``w = zw``
  (inference: ``1 - zoneout``; 1 without zoneout).

Conventions (row ranges, masks, ``go_back``, time-major storage by ``tx``, output sequence by
``s``, state gradients in place) are those of ``_nb``, whose helpers these kernels call. The
backward kernels leave per-step gradients (``DZ`` of ``XIN``, ``DR`` of ``R``, ``DRR`` of
``R' + brec``, ``DCN`` of ``c''``, ``DHC`` of the candidate) from which the weight gradients are
one product or sum each after the loop (``_fused_ext``).
"""

from __future__ import annotations

import math

from numba import literally, njit

from ._nb_act import _act, _dact, _like
from ._nb_bwd import _gather_grad, _skip_row
from ._nb_fwd import _after_row, _final_output
from ._nb_gemm import ROW_BLOCK, _gemm
from ._nb_setup import _JIT, U64, _flush_denormals_on, _prefer_wide_vectors, _restore_mxcsr

#: haste's layer-norm epsilon (the layers' reference steps use it too).
LN_EPS = 1e-5


@njit(**_JIT, inline="always")
def _normalize(src, dst):
    """``dst = (src - mean) / sqrt(var + eps)`` over one row (biased variance); returns the
    inverse deviation."""
    n = U64(src.shape[0])
    nf = _like(src[0], float(n))
    zero = _like(src[0], 0.0)
    mu = zero
    for j in range(n):
        mu += src[j]
    mu = mu / nf
    var = zero
    for j in range(n):
        d = src[j] - mu
        dst[j] = d
        var += d * d
    rs = _like(src[0], 1.0) / math.sqrt(var / nf + _like(src[0], LN_EPS))
    for j in range(n):
        dst[j] *= rs
    return rs


@njit(**_JIT, inline="always")
def _normalize_grad(dy, g, y, rs, dx):
    """``dx`` of ``y = LN(x)`` from ``dy * g`` (the gain's gradient path): ``rs (d - mean(d) -
    y mean(d y))`` with ``d = dy g``."""
    n = U64(dy.shape[0])
    nf = _like(dy[0], float(n))
    m1 = _like(dy[0], 0.0)
    m2 = _like(dy[0], 0.0)
    for j in range(n):
        d = dy[j] * g[j]
        m1 += d
        m2 += d * y[j]
    m1 = m1 / nf
    m2 = m2 / nf
    for j in range(n):
        dx[j] = rs * (dy[j] * g[j] - m1 - y[j] * m2)


@njit(**_JIT, inline="always")
def _zero(A, t, b):
    zero = A.dtype.type(0.0)
    for j in range(U64(A.shape[2])):
        A[t, b, j] = zero


@njit(**_JIT, inline="always")
def _fill_hin(HIN, H, rd, ts, lo, hi):
    for b in range(lo, hi):
        for j in range(U64(H.shape[1])):
            HIN[ts, b, j] = H[b, j] * rd[b, j]


@njit(**_JIT)
def lstm_forward(
    XIN, HIN, U, g1, gh, bh, ln, PK, has_proj, ZK, has_zk, zw, H, C, P, HC,
    Sg, SR, Srs, Stc, Scp, Scn, Scs, Sm,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """Sg (T, B, 4u) receives R, then the gates [i, f, c, o]; Stc act(c''), Scp the previous
    cell state, Scn (Scs) LN(c') (its inverse deviation), Sm ``m``; HC (1, B, out) scratch."""
    act = literally(act)
    ract = literally(ract)
    T = XIN.shape[0]
    u = U64(C.shape[1])
    p = U64(H.shape[1])
    u2 = u + u
    u3 = u2 + u
    G = u3 + u
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        zs = s if has_zk else 0
        for b0 in range(lo, hi, ROW_BLOCK):
            b1 = min(b0 + ROW_BLOCK, hi)
            _fill_hin(HIN, H, rd, ts, b0, b1)
            _gemm(HIN, ts, z0, p, U, Sg, ts, z0, b0, b1)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if not valid:
                    if store:  # read by the weight gradients' products: no stale values
                        _zero(Sm, ts, b)
                        if ln:
                            _zero(SR, ts, b)
                            _zero(Scn, ts, b)
                    continue
                if ln:
                    Srs[ts, b, 0] = _normalize(Sg[ts, b, :G], SR[ts, b, :G])
                    for j in range(G):
                        Sg[ts, b, j] = XIN[tx, b, j] + SR[ts, b, j] * g1[j]
                else:
                    for j in range(G):
                        Sg[ts, b, j] += XIN[tx, b, j]
                for j in range(u2):  # i, f (separate loops: see _nb_fwd.lstm_forward)
                    Sg[ts, b, j] = _act(Sg[ts, b, j], ract)
                for j in range(u2, u3):
                    Sg[ts, b, j] = _act(Sg[ts, b, j], act)
                for j in range(u3, G):
                    Sg[ts, b, j] = _act(Sg[ts, b, j], ract)
                for j in range(u):
                    c_old = C[b, j]
                    Scp[ts, b, j] = c_old
                    C[b, j] = Sg[ts, b, u + j] * c_old + Sg[ts, b, j] * Sg[ts, b, u2 + j]
                if ln:
                    Scs[ts, b, 0] = _normalize(C[b, :u], Scn[ts, b, :u])
                    for j in range(u):
                        tc = _act(Scn[ts, b, j] * gh[j] + bh[j], act)
                        Stc[ts, b, j] = tc
                        Sm[ts, b, j] = Sg[ts, b, u3 + j] * tc
                else:
                    for j in range(u):
                        tc = _act(C[b, j], act)
                        Stc[ts, b, j] = tc
                        Sm[ts, b, j] = Sg[ts, b, u3 + j] * tc
            if has_proj:
                _gemm(Sm, ts, z0, u, PK, HC, 0, z0, b0, b1)
            else:
                for b in range(b0, b1):
                    for j in range(p):
                        HC[0, b, j] = Sm[ts, b, j]
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(p):
                        w = ZK[zs, b, j] if has_zk else zw
                        H[b, j] += w * (HC[0, b, j] - H[b, j])
                _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def lstm_backward(
    UT, g1, gh, ln, PKT, has_proj, ZK, has_zk, zw,
    Sg, SR, Srs, Stc, Scp, Scn, Scs,
    DH, DC, DP, DHC, DM, DZ, DR, DCN, T1,
    mask, has_mask, rd, go_back, zo, dseq, has_dseq, act, ract, lo, hi,
):  # fmt: skip
    """DZ (T, B, 4u) gets d XIN, DR d R, DCN d c'', DHC (T, B, out) d candidate; DM (1, B, u)
    and T1 (1, B, out) scratch."""
    act = literally(act)
    ract = literally(ract)
    T = DZ.shape[0]
    u = U64(DC.shape[1])
    p = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
    G = u3 + u
    z0 = U64(0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        zs = s if has_zk else 0
        for b0 in range(lo, hi, ROW_BLOCK):
            b1 = min(b0 + ROW_BLOCK, hi)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if not valid:
                    _skip_row(DP, DZ, dseq, has_dseq, zo, b, s, tx)
                    _zero(DR, tx, b)
                    _zero(DCN, tx, b)
                    _zero(DHC, tx, b)
                    continue
                _gather_grad(DH, DP, dseq, has_dseq, b, s)
                for j in range(p):
                    w = ZK[zs, b, j] if has_zk else zw
                    d = DH[b, j]
                    DHC[tx, b, j] = w * d
                    DH[b, j] = d - w * d
            if has_proj:
                _gemm(DHC, tx, z0, p, PKT, DM, 0, z0, b0, b1)
            else:
                for b in range(b0, b1):
                    for j in range(u):
                        DM[0, b, j] = DHC[tx, b, j]
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if not valid:
                    continue
                for j in range(u):
                    o = Sg[tx, b, u3 + j]
                    tc = Stc[tx, b, j]
                    DCN[tx, b, j] = DM[0, b, j] * o * _dact(tc, act)
                    DZ[tx, b, u3 + j] = DM[0, b, j] * tc * _dact(o, ract)
                if ln:  # d c' into DM (its m values are read above)
                    _normalize_grad(DCN[tx, b, :u], gh, Scn[tx, b, :u], Scs[tx, b, 0], DM[0, b, :u])
                else:
                    for j in range(u):
                        DM[0, b, j] = DCN[tx, b, j]
                for j in range(u):
                    dc = DC[b, j] + DM[0, b, j]
                    i = Sg[tx, b, j]
                    f = Sg[tx, b, u + j]
                    c = Sg[tx, b, u2 + j]
                    DZ[tx, b, j] = dc * c * _dact(i, ract)
                    DZ[tx, b, u + j] = dc * Scp[tx, b, j] * _dact(f, ract)
                    DZ[tx, b, u2 + j] = dc * i * _dact(c, act)
                    DC[b, j] = dc * f
                if ln:
                    _normalize_grad(DZ[tx, b, :G], g1, SR[tx, b, :G], Srs[tx, b, 0], DR[tx, b, :G])
                else:
                    for j in range(G):
                        DR[tx, b, j] = DZ[tx, b, j]
            _gemm(DR, tx, z0, G, UT, T1, 0, z0, b0, b1)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(p):
                        DH[b, j] += T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_forward(
    XIN, HIN, U, g1, brec, ln, ZK, has_zk, zw, H, P, Sg, SR, Srs, Shp,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """Sg (T, B, 4u) receives R, then [z, r, hh, rh] with rh = R'_h + brec_h; Shp the previous
    state."""
    act = literally(act)
    ract = literally(ract)
    T = XIN.shape[0]
    u = U64(H.shape[1])
    u2 = u + u
    u3 = u2 + u
    u4 = u3 + u
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
            _gemm(HIN, ts, z0, u, U, Sg, ts, z0, b0, b1)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    if ln:
                        Srs[ts, b, 0] = _normalize(Sg[ts, b, :u3], SR[ts, b, :u3])
                        for j in range(u3):
                            Sg[ts, b, j] = SR[ts, b, j] * g1[j] + brec[j]
                    else:
                        for j in range(u3):
                            Sg[ts, b, j] += brec[j]
                    for j in range(u2):
                        Sg[ts, b, j] = _act(Sg[ts, b, j] + XIN[tx, b, j], ract)
                    gz, gr = Sg[ts, b, :u], Sg[ts, b, u:u2]  # one view per block (see _nb)
                    ghh, grh = Sg[ts, b, u2:u3], Sg[ts, b, u3:u4]
                    for j in range(u):
                        rh = ghh[j]
                        hh = _act(XIN[tx, b, u2 + j] + gr[j] * rh, act)
                        h = H[b, j]
                        z = gz[j]
                        Shp[ts, b, j] = h
                        ghh[j] = hh
                        grh[j] = rh
                        w = ZK[zs, b, j] if has_zk else zw
                        H[b, j] = h + w * (z * h + (one - z) * hh - h)
                elif store and ln:
                    _zero(SR, ts, b)
                _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_backward(
    UT, g1, ln, ZK, has_zk, zw, Sg, SR, Srs, Shp, DH, DP, DZ, DRR, DR, T1,
    mask, has_mask, rd, go_back, zo, dseq, has_dseq, act, ract, lo, hi,
):  # fmt: skip
    """DZ (T, B, 3u) gets d XIN, DRR d (R' + brec), DR d R (DRR itself without ``ln``)."""
    act = literally(act)
    ract = literally(ract)
    T = DZ.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
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
                _zero(DRR, tx, b)
                _zero(DR, tx, b)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                d = DH[b, j]
                w = ZK[zs, b, j] if has_zk else zw
                dhc = w * d
                z = Sg[tx, b, j]
                r = Sg[tx, b, u + j]
                hh = Sg[tx, b, u2 + j]
                rh = Sg[tx, b, u2 + u + j]
                dhh = dhc * (one - z) * _dact(hh, act)
                dz = dhc * (Shp[tx, b, j] - hh) * _dact(z, ract)
                dr = dhh * rh * _dact(r, ract)
                DZ[tx, b, j] = dz
                DZ[tx, b, u + j] = dr
                DZ[tx, b, u2 + j] = dhh
                DRR[tx, b, j] = dz
                DRR[tx, b, u + j] = dr
                DRR[tx, b, u2 + j] = dhh * r
                DH[b, j] = d - dhc + dhc * z
            if ln:
                _normalize_grad(DRR[tx, b, :u3], g1, SR[tx, b, :u3], Srs[tx, b, 0], DR[tx, b, :u3])
        _gemm(DR, tx, z0, u3, UT, T1, 0, z0, lo, hi)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] += T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)
