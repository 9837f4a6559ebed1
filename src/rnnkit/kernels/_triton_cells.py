"""Triton kernel sources for LSTM, SimpleRNN and IndRNN: forward and backward over a sequence.

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
    constexpr,
    tl,
)


def _lstm_fwd(
    xp,
    u,
    h,
    c,
    p,
    seq,
    mask,
    rd,
    hin,
    gsv,
    csv,
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
    """LSTM forward over all steps. gsv (T, B, 4U): i, f, act(z_c), o; csv (T, B, U): c_{t-1}."""
    G = 4 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        tst = t * STORE
        hin_t = hin + tst * B * U
        _stage(h, rd, hin_t, rows, rm, U, HAS_RD, BLOCK_N)
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        xp_t = xp + t * B * G
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            zi = _tile(xp_t, rows, cols, G, rm, cm)
            zf = _tile(xp_t, rows, U + cols, G, rm, cm)
            zc = _tile(xp_t, rows, 2 * U + cols, G, rm, cm)
            zo = _tile(xp_t, rows, 3 * U + cols, G, rm, cm)
            for k0 in range(0, U, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                km = ks < U
                hk = _tile(hin_t, rows, ks, U, rm, km)  # (BLOCK_B, BLOCK_K)
                zi += _mm(hk, _tile(u, ks, cols, G, km, cm))
                zf += _mm(hk, _tile(u, ks, U + cols, G, km, cm))
                zc += _mm(hk, _tile(u, ks, 2 * U + cols, G, km, cm))
                zo += _mm(hk, _tile(u, ks, 3 * U + cols, G, km, cm))
            i = _act(zi, RACT)
            f = _act(zf, RACT)
            g = _act(zc, ACT)
            o = _act(zo, RACT)
            c_old = _tile(c, rows, cols, U, rm, cm)
            h_old = _tile(h, rows, cols, U, rm, cm)
            c_new = f * c_old + i * g
            h_new = o * _act(c_new, ACT)
            if STORE:
                g_t = gsv + t * B * G
                _put(g_t, rows, cols, G, rm, cm, i)
                _put(g_t, rows, U + cols, G, rm, cm, f)
                _put(g_t, rows, 2 * U + cols, G, rm, cm, g)
                _put(g_t, rows, 3 * U + cols, G, rm, cm, o)
                _put(csv + t * B * U, rows, cols, U, rm, cm, c_old)
            if HAS_MASK:
                c_new = tl.where(keep, c_new, c_old)
            _put(c, rows, cols, U, rm, cm, c_new)
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


def _lstm_bwd(
    u,
    gsv,
    csv,
    mask,
    rd,
    dseq,
    dh,
    dc,
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
    """LSTM backward: the steps in reverse; dxg (T, B, 4U) the pre-activation gradients."""
    G = 4 * U
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
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            dhn, d_h, d_p = _grad_in(
                dh, dp, dseq + s * B * U, rows, cols, U, rm, cm, keep, HAS_MASK, RET_SEQ
            )
            d_c = _tile(dc, rows, cols, U, rm, cm)
            dcn = d_c
            if HAS_MASK:
                dcn = tl.where(keep, d_c, 0.0)
            i = _tile(g_t, rows, cols, G, rm, cm)
            f = _tile(g_t, rows, U + cols, G, rm, cm)
            g = _tile(g_t, rows, 2 * U + cols, G, rm, cm)
            o = _tile(g_t, rows, 3 * U + cols, G, rm, cm)
            c_old = _tile(csv + t * B * U, rows, cols, U, rm, cm)
            ac = _act(f * c_old + i * g, ACT)
            dct = dcn + dhn * o * _dact(ac, ACT)
            _put(dxg_t, rows, cols, G, rm, cm, dct * g * _dact(i, RACT))
            _put(dxg_t, rows, U + cols, G, rm, cm, dct * c_old * _dact(f, RACT))
            _put(dxg_t, rows, 2 * U + cols, G, rm, cm, dct * i * _dact(g, ACT))
            _put(dxg_t, rows, 3 * U + cols, G, rm, cm, dhn * ac * _dact(o, RACT))
            dc_prev = dct * f
            if HAS_MASK:
                dc_prev = tl.where(keep, dc_prev, d_c)
            _put(dc, rows, cols, U, rm, cm, dc_prev)
            _grad_out(dh, dp, rows, cols, U, rm, cm, keep, dhn * 0.0, d_h, d_p, HAS_MASK, ZERO_OUT)
        tl.debug_barrier()
        _add_rec_grad(dh, rd, dxg_t, u, rows, rm, U, G, 4, HAS_RD, BLOCK_N, BLOCK_K)


def _simple_fwd(
    xp,
    u,
    h,
    p,
    seq,
    mask,
    rd,
    hin,
    gsv,
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
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """SimpleRNN forward: h' = act(xp + hin @ U); gsv (T, B, U): h' of the cell."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        hin_t = hin + t * STORE * B * U
        _stage(h, rd, hin_t, rows, rm, U, HAS_RD, BLOCK_N)
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            z = _tile(xp + t * B * U, rows, cols, U, rm, cm)
            for k0 in range(0, U, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)
                km = ks < U
                z += _mm(_tile(hin_t, rows, ks, U, rm, km), _tile(u, ks, cols, U, km, cm))
            h_new = _act(z, ACT)
            if STORE:
                _put(gsv + t * B * U, rows, cols, U, rm, cm, h_new)
            h_old = _tile(h, rows, cols, U, rm, cm)
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


def _simple_bwd(
    u,
    gsv,
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
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
    BLOCK_K: constexpr,
):
    """SimpleRNN backward; dxg (T, B, U)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s2 in range(0, T):
        s = T - 1 - s2
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        dxg_t = dxg + t * B * U
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            dhn, d_h, d_p = _grad_in(
                dh, dp, dseq + s * B * U, rows, cols, U, rm, cm, keep, HAS_MASK, RET_SEQ
            )
            y = _tile(gsv + t * B * U, rows, cols, U, rm, cm)
            _put(dxg_t, rows, cols, U, rm, cm, dhn * _dact(y, ACT))
            _grad_out(dh, dp, rows, cols, U, rm, cm, keep, dhn * 0.0, d_h, d_p, HAS_MASK, ZERO_OUT)
        tl.debug_barrier()
        _add_rec_grad(dh, rd, dxg_t, u, rows, rm, U, U, 1, HAS_RD, BLOCK_N, BLOCK_K)


def _indrnn_fwd(
    xp,
    u,
    h,
    p,
    seq,
    mask,
    rd,
    hin,
    gsv,
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
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
):
    """IndRNN forward: h' = act(xp + u * hin), element-wise, so no barrier is needed."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            h_old = _tile(h, rows, cols, U, rm, cm)
            v = h_old
            if HAS_RD:
                v = v * _tile(rd, rows, cols, U, rm, cm)
            w = tl.load(u + cols, mask=cm, other=0.0)
            h_new = _act(_tile(xp + t * B * U, rows, cols, U, rm, cm) + w[None, :] * v, ACT)
            if STORE:
                _put(hin + t * B * U, rows, cols, U, rm, cm, v)
                _put(gsv + t * B * U, rows, cols, U, rm, cm, h_new)
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


def _indrnn_bwd(
    u,
    gsv,
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
    BLOCK_B: constexpr,
    BLOCK_N: constexpr,
):
    """IndRNN backward; dxg (T, B, U); dh_{t-1} = d(pre) * u * rd (element-wise)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    for s2 in range(0, T):
        s = T - 1 - s2
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        for n0 in range(0, U, BLOCK_N):
            cols = n0 + tl.arange(0, BLOCK_N)
            cm = cols < U
            dhn, d_h, d_p = _grad_in(
                dh, dp, dseq + s * B * U, rows, cols, U, rm, cm, keep, HAS_MASK, RET_SEQ
            )
            y = _tile(gsv + t * B * U, rows, cols, U, rm, cm)
            dz = dhn * _dact(y, ACT)
            _put(dxg + t * B * U, rows, cols, U, rm, cm, dz)
            w = tl.load(u + cols, mask=cm, other=0.0)
            d_in = dz * w[None, :]
            if HAS_RD:
                d_in = d_in * _tile(rd, rows, cols, U, rm, cm)
            _grad_out(dh, dp, rows, cols, U, rm, cm, keep, d_in, d_h, d_p, HAS_MASK, ZERO_OUT)
