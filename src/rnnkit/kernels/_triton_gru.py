"""Triton kernel sources for GRU: ``reset_after=True`` (``_gru_*``) and ``False`` (``_gru1_*``).

Plain functions until first use (see ``_triton_device`` and :func:`._triton_launch._kernels`);
the layout and mask rules are described in ``_triton``. No body or docstring here may contain a
line starting with ``def ``: Triton's interpreter locates a kernel by the last such line of its
source.
"""

from __future__ import annotations

from ._triton_device import (
    _act,
    _add_rec_grad,
    _dact,
    _emit,
    _grad_in,
    _grad_out,
    _keep,
    _mm,
    _put,
    _stage,
    _tile,
    _tile_t,
    constexpr,
    tl,
)


def _gru_fwd(
    xp,
    u,
    brec,
    h,
    p,
    seq,
    mask,
    rd,
    hin,
    gsv,
    hsv,
    T,
    B,
    U,
    HAS_BREC: constexpr,
    HAS_MASK: constexpr,
    HAS_RD: constexpr,
    BACKWARDS: constexpr,
    ZERO_OUT: constexpr,
    RET_SEQ: constexpr,
    STORE: constexpr,
    ACT: constexpr,
    RACT: constexpr,
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """GRU (reset_after=True) forward. gsv (T, B, 4U): z, r, hh, rh; hsv (T, B, U): h_{t-1}."""
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        hin_t = hin + t * STORE * B * U
        _stage(h, rd, hin_t, rows, rm, U, HAS_RD, BLOCK_N)
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        xp_t = xp + t * B * G
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            h_old = _tile(h, rows, cols, U, rm, cm)
            rz = h_old * 0.0
            rr = h_old * 0.0
            rh = h_old * 0.0
            if HAS_BREC:
                rz += tl.load(brec + cols, mask=cm, other=0.0)[None, :]
                rr += tl.load(brec + U + cols, mask=cm, other=0.0)[None, :]
                rh += tl.load(brec + 2 * U + cols, mask=cm, other=0.0)[None, :]
            for k0 in range(0, U, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                km = ks < U
                hk = _tile(hin_t, rows, ks, U, rm, km)
                rz += _mm(hk, _tile(u, ks, cols, G, km, cm))
                rr += _mm(hk, _tile(u, ks, U + cols, G, km, cm))
                rh += _mm(hk, _tile(u, ks, 2 * U + cols, G, km, cm))
            z = _act(_tile(xp_t, rows, cols, G, rm, cm) + rz, RACT)
            r = _act(_tile(xp_t, rows, U + cols, G, rm, cm) + rr, RACT)
            hh = _act(_tile(xp_t, rows, 2 * U + cols, G, rm, cm) + r * rh, ACT)
            h_new = z * h_old + (1.0 - z) * hh
            if STORE:
                g_t = gsv + t * B * 4 * U
                _put(g_t, rows, cols, 4 * U, rm, cm, z)
                _put(g_t, rows, U + cols, 4 * U, rm, cm, r)
                _put(g_t, rows, 2 * U + cols, 4 * U, rm, cm, hh)
                _put(g_t, rows, 3 * U + cols, 4 * U, rm, cm, rh)
                _put(hsv + t * B * U, rows, cols, U, rm, cm, h_old)
            _emit(
                h,
                p,
                seq + s * B * U,
                rows,
                cols,
                U,
                rm,
                cm,
                h_new,
                h_old,
                keep,
                HAS_MASK,
                ZERO_OUT,
                RET_SEQ,
            )
        tl.debug_barrier()


def _gru_bwd(
    u,
    gsv,
    hsv,
    mask,
    rd,
    dseq,
    dh,
    dp,
    dxg,
    drg,
    T,
    B,
    U,
    HAS_MASK: constexpr,
    HAS_RD: constexpr,
    BACKWARDS: constexpr,
    ZERO_OUT: constexpr,
    RET_SEQ: constexpr,
    ACT: constexpr,
    RACT: constexpr,
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """GRU (reset_after=True) backward: dxg (T, B, 3U) wrt xp, drg (T, B, 3U) wrt hin U + b."""
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s2 in range(0, T):
        s = T - 1 - s2
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        g_t = gsv + t * B * 4 * U
        dxg_t = dxg + t * B * G
        drg_t = drg + t * B * G
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            dhn, d_h, d_p = _grad_in(
                dh, dp, dseq + s * B * U, rows, cols, U, rm, cm, keep, HAS_MASK, RET_SEQ
            )
            z = _tile(g_t, rows, cols, 4 * U, rm, cm)
            r = _tile(g_t, rows, U + cols, 4 * U, rm, cm)
            hh = _tile(g_t, rows, 2 * U + cols, 4 * U, rm, cm)
            rh = _tile(g_t, rows, 3 * U + cols, 4 * U, rm, cm)
            h_old = _tile(hsv + t * B * U, rows, cols, U, rm, cm)
            dz = dhn * (h_old - hh) * _dact(z, RACT)
            dhh = dhn * (1.0 - z) * _dact(hh, ACT)
            dr = dhh * rh * _dact(r, RACT)
            _put(dxg_t, rows, cols, G, rm, cm, dz)
            _put(dxg_t, rows, U + cols, G, rm, cm, dr)
            _put(dxg_t, rows, 2 * U + cols, G, rm, cm, dhh)
            _put(drg_t, rows, cols, G, rm, cm, dz)
            _put(drg_t, rows, U + cols, G, rm, cm, dr)
            _put(drg_t, rows, 2 * U + cols, G, rm, cm, dhh * r)
            _grad_out(dh, dp, rows, cols, U, rm, cm, keep, dhn * z, d_h, d_p, HAS_MASK, ZERO_OUT)
        tl.debug_barrier()
        _add_rec_grad(dh, rd, drg_t, u, rows, rm, U, G, 3, HAS_RD, BLOCK_N, BLOCK_K)


def _gru1_fwd(
    xp,
    u,
    h,
    p,
    seq,
    mask,
    rd,
    hin,
    gsv,
    hsv,
    rsv,
    T,
    B,
    U,
    HAS_MASK: constexpr,
    HAS_RD: constexpr,
    BACKWARDS: constexpr,
    ZERO_OUT: constexpr,
    RET_SEQ: constexpr,
    STORE: constexpr,
    ACT: constexpr,
    RACT: constexpr,
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """GRU (reset_after=False) forward. gsv (T, B, 3U): z, r, hh; rsv (T, B, U): r * hin.

    Two phases per step: z, r (and r * hin) for every unit block, a barrier, then
    hh = act(xh + (r * hin) @ U_h). Without storage gsv/rsv are the step's scratch.
    """
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        tst = t * STORE
        hin_t = hin + tst * B * U
        g_t = gsv + tst * B * G
        r_t = rsv + tst * B * U
        _stage(h, rd, hin_t, rows, rm, U, HAS_RD, BLOCK_N)
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        xp_t = xp + t * B * G
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            az = _tile(xp_t, rows, cols, G, rm, cm)
            ar = _tile(xp_t, rows, U + cols, G, rm, cm)
            for k0 in range(0, U, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                km = ks < U
                hk = _tile(hin_t, rows, ks, U, rm, km)
                az += _mm(hk, _tile(u, ks, cols, G, km, cm))
                ar += _mm(hk, _tile(u, ks, U + cols, G, km, cm))
            z = _act(az, RACT)
            r = _act(ar, RACT)
            _put(g_t, rows, cols, G, rm, cm, z)
            _put(g_t, rows, U + cols, G, rm, cm, r)
            _put(r_t, rows, cols, U, rm, cm, r * _tile(hin_t, rows, cols, U, rm, cm))
        tl.debug_barrier()
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            ah = _tile(xp_t, rows, 2 * U + cols, G, rm, cm)
            for k0 in range(0, U, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                km = ks < U
                ah += _mm(_tile(r_t, rows, ks, U, rm, km), _tile(u, ks, 2 * U + cols, G, km, cm))
            hh = _act(ah, ACT)
            z = _tile(g_t, rows, cols, G, rm, cm)
            h_old = _tile(h, rows, cols, U, rm, cm)
            h_new = z * h_old + (1.0 - z) * hh
            if STORE:
                _put(g_t, rows, 2 * U + cols, G, rm, cm, hh)
                _put(hsv + t * B * U, rows, cols, U, rm, cm, h_old)
            _emit(
                h,
                p,
                seq + s * B * U,
                rows,
                cols,
                U,
                rm,
                cm,
                h_new,
                h_old,
                keep,
                HAS_MASK,
                ZERO_OUT,
                RET_SEQ,
            )
        tl.debug_barrier()


def _gru1_bwd(
    u,
    gsv,
    hsv,
    hin,
    mask,
    rd,
    dseq,
    dh,
    dp,
    dxg,
    T,
    B,
    U,
    HAS_MASK: constexpr,
    HAS_RD: constexpr,
    BACKWARDS: constexpr,
    ZERO_OUT: constexpr,
    RET_SEQ: constexpr,
    ACT: constexpr,
    RACT: constexpr,
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """GRU (reset_after=False) backward; dxg (T, B, 3U) is also the recurrent products' gradient.

    Phases: dz, dhh per unit block; d(r * hin) = dhh @ U_h^T, hence dr and its direct term
    per unit block; then dh += rd * ([dz, dr] @ U[:, :2U]^T).
    """
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s2 in range(0, T):
        s = T - 1 - s2
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        g_t = gsv + t * B * G
        dxg_t = dxg + t * B * G
        hin_t = hin + t * B * U
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            dhn, d_h, d_p = _grad_in(
                dh, dp, dseq + s * B * U, rows, cols, U, rm, cm, keep, HAS_MASK, RET_SEQ
            )
            z = _tile(g_t, rows, cols, G, rm, cm)
            hh = _tile(g_t, rows, 2 * U + cols, G, rm, cm)
            h_old = _tile(hsv + t * B * U, rows, cols, U, rm, cm)
            _put(dxg_t, rows, cols, G, rm, cm, dhn * (h_old - hh) * _dact(z, RACT))
            _put(dxg_t, rows, 2 * U + cols, G, rm, cm, dhn * (1.0 - z) * _dact(hh, ACT))
            _grad_out(dh, dp, rows, cols, U, rm, cm, keep, dhn * z, d_h, d_p, HAS_MASK, ZERO_OUT)
        tl.debug_barrier()
        for k0 in range(0, U, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)
            km = ks < U
            drh = _tile(dh, rows, ks, U, rm, km) * 0.0
            for n0 in range(0, U, BLOCK_N):
                cols = n0 + tl.arange(0, BLOCK_N)
                cm = cols < U
                dg = _tile(dxg_t, rows, 2 * U + cols, G, rm, cm)
                drh += _mm(dg, _tile_t(u, ks, 2 * U + cols, G, km, cm))
            r = _tile(g_t, rows, U + ks, G, rm, km)
            _put(
                dxg_t,
                rows,
                U + ks,
                G,
                rm,
                km,
                drh * _tile(hin_t, rows, ks, U, rm, km) * _dact(r, RACT),
            )
            d_in = drh * r
            if HAS_RD:
                d_in = d_in * _tile(rd, rows, ks, U, rm, km)
            _put(dh, rows, ks, U, rm, km, _tile(dh, rows, ks, U, rm, km) + d_in)
        tl.debug_barrier()
        _add_rec_grad(dh, rd, dxg_t, u, rows, rm, U, G, 2, HAS_RD, BLOCK_N, BLOCK_K)
