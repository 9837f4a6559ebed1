# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba backward kernels of the fused engine: backpropagation through time per cell kind, with
the gradients written in terms of the stored forward values (conventions: ``_nb_fwd``).
"""

from __future__ import annotations

from numba import literally, njit

from ._nb_act import _dact
from ._nb_gemm import ROW_BLOCK, _gemm_real
from ._nb_setup import _JIT, U64, _flush_denormals_on, _prefer_wide_vectors, _restore_mxcsr

# --------------------------------------------------------------------------------------------
# Backward kernels. DH, DC, DP (B, u) arrive holding the gradients of the final states and of
# the final output and leave holding those of the initial states. DX (T, B, G) receives the
# gradient of xp; dseq (T, B, u) or (1, 1, 1) is the gradient of the output sequence (processing
# order); T1, T2 (1, B, u) are scratch rows for the products.


@njit(**_JIT, inline="always")
def _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx):
    """A masked step: the state gradients pass through, the output gradient goes to P."""
    u = U64(DP.shape[1])
    G = U64(DX.shape[2])
    zero = DX.dtype.type(0.0)
    if zo:
        for j in range(u):
            DP[b, j] = zero
    elif has_dseq:
        for j in range(u):
            DP[b, j] += dseq[s, b, j]
    for j in range(G):
        DX[tx, b, j] = zero


@njit(**_JIT, inline="always")
def _gather_grad(DH, DP, dseq, has_dseq, b, s):
    """DH[b] += DP[b] + dseq[s, b]: all the gradient reaching the new state; DP[b] = 0."""
    u = U64(DH.shape[1])
    zero = DH.dtype.type(0.0)
    if has_dseq:
        for j in range(u):
            DH[b, j] += DP[b, j] + dseq[s, b, j]
            DP[b, j] = zero
    else:
        for j in range(u):
            DH[b, j] += DP[b, j]
            DP[b, j] = zero


@njit(**_JIT)
def lstm_backward(
    UT, Sg, Stc, Scp, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DC, DP, DX, T1, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
    G = u3 + u
    z0 = U64(0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b0 in range(lo, hi, ROW_BLOCK):  # see lstm_forward
            b1 = min(b0 + ROW_BLOCK, hi)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if not valid:
                    _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                    continue
                _gather_grad(DH, DP, dseq, has_dseq, b, s)
                for j in range(u):
                    dh = DH[b, j]
                    i = Sg[tx, b, j]
                    f = Sg[tx, b, u + j]
                    c = Sg[tx, b, u2 + j]
                    o = Sg[tx, b, u3 + j]
                    t = Stc[tx, b, j]
                    dc = DC[b, j] + dh * o * _dact(t, act)
                    DX[tx, b, j] = dc * c * _dact(i, ract)
                    DX[tx, b, u + j] = dc * Scp[tx, b, j] * _dact(f, ract)
                    DX[tx, b, u2 + j] = dc * i * _dact(c, act)
                    DX[tx, b, u3 + j] = dh * t * _dact(o, ract)
                    DC[b, j] = dc * f
            _gemm_real(DX, tx, z0, G, UT, T1, 0, z0, b0, b1, mask, has_mask, tx)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(u):
                        DH[b, j] = T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_backward(
    UT, Sg, Shp, po, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, DR, T1, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=True. DX gets d xp (T, B, 3u), DR the gradient of h_in U + b_rec (T, B, 3u)."""
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
    z0 = U64(0)
    zero = DX.dtype.type(0.0)
    one = DX.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                for j in range(u3):
                    DR[tx, b, j] = zero
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                gh = DH[b, j]
                z = Sg[tx, b, j]
                r = Sg[tx, b, u + j]
                hh = Sg[tx, b, u2 + j]
                rh = Sg[tx, b, u3 + j]
                dhh = gh * (one - z) * _dact(hh, act)
                dz = gh * (Shp[tx, b, po + j] - hh) * _dact(z, ract)
                dr = dhh * rh * _dact(r, ract)
                DX[tx, b, j] = dz
                DX[tx, b, u + j] = dr
                DX[tx, b, u2 + j] = dhh
                DR[tx, b, j] = dz
                DR[tx, b, u + j] = dr
                DR[tx, b, u2 + j] = dhh * r
                DH[b, j] = gh * z
        _gemm_real(DR, tx, z0, u3, UT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] += T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_v1_backward(
    UzrT, UhT, Sg, Shp, po, Shin, ho, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, T1, T2, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=False. DX gets d xp (T, B, 3u), which is also the gradient of the products."""
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    z0 = U64(0)
    one = DX.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                gh = DH[b, j]
                z = Sg[tx, b, j]
                hh = Sg[tx, b, u2 + j]
                DX[tx, b, u2 + j] = gh * (one - z) * _dact(hh, act)
                DX[tx, b, j] = gh * (Shp[tx, b, po + j] - hh) * _dact(z, ract)
                DH[b, j] = gh * z
        _gemm_real(DX, tx, u2, u, UhT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    r = Sg[tx, b, u + j]
                    dq = T1[0, b, j]
                    DX[tx, b, u + j] = dq * Shin[tx, b, ho + j] * _dact(r, ract)
                    T2[0, b, j] = dq * r
        _gemm_real(DX, tx, z0, u2, UzrT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] += (T1[0, b, j] + T2[0, b, j]) * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def simple_backward(
    UT, Sg, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, T1, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    z0 = U64(0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                DX[tx, b, j] = DH[b, j] * _dact(Sg[tx, b, j], act)
        _gemm_real(DX, tx, z0, u, UT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] = T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def indrnn_backward(
    w, Sg, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                d = DH[b, j] * _dact(Sg[tx, b, j], act)
                DX[tx, b, j] = d
                DH[b, j] = d * w[j] * rd[b, j]
    _restore_mxcsr(old)
