"""Triton kernel sources of the split engine (``_triton_ext_run``): the recurrence of an LSTM or
a ``reset_after`` GRU with haste's layer norm (``LN``), zoneout and the LSTM projection, forward
and backward over a sequence; the same equations and buffers as ``_nb_ext`` (see there).

Each program owns ``BLOCK_B`` batch rows and holds whole rows in registers: the gate blocks are
(BLOCK_B, BLOCK_U) tiles with ``BLOCK_U`` the units padded to a power of two (at least 16), the
output (BLOCK_B, BLOCK_P), so a layer norm is a row sum over the tiles of one step; the
recurrent kernel's gate blocks are loaded once. Padded columns hold zeros throughout. Row sums
are products with a (BLOCK_U, BLOCK_U) tile of ones (``sums``; ``tl.sum`` is a JIT function
that Triton's interpreter cannot call unless it was set before Triton's import), so a row's
mean, variance and inverse deviation come broadcast over its columns (``srs``, ``scs`` store
them so: (T, B, U)). Sequences
are time-major; ``zk`` (T, B, out) is indexed by processing step ``s``, everything else as in
``_triton``. Plain functions until first use; no body or docstring here may contain a line
starting with ``def `` (see ``_triton_device``), and they name no module constant (they
run in the wrapper's namespace): the layer norm's epsilon 1e-5 (``_nb_ext.LN_EPS``) is a literal.
"""

from __future__ import annotations

from ._triton_device import _act, _dact, _emit, _keep, _mm, _put, _tile, _tile_t, constexpr, tl


def _ext_lstm_fwd(
    xin, u, g1, gh, bh, pk, zk, h, c, p, seq, mask, rd, hin,
    sg, sr, srs, stc, scp, scn, scs, sm, zw, T, B, U, P,
    LN: constexpr, HAS_PROJ: constexpr, HAS_ZK: constexpr, HAS_MASK: constexpr,
    HAS_RD: constexpr, BACKWARDS: constexpr, ZERO_OUT: constexpr, RET_SEQ: constexpr,
    STORE: constexpr, ACT: constexpr, RACT: constexpr, BLOCK_B: constexpr,
    BLOCK_U: constexpr, BLOCK_P: constexpr,
):  # fmt: skip
    """LSTM: sg (T, B, 4U) the gates, sr/srs LN(R) and its inverse deviation, stc act(c''),
    scp c_{t-1}, scn/scs LN(c'), sm m = o act(c'') (zero on masked rows), hin h * rd."""
    G = 4 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    cu = tl.arange(0, BLOCK_U)
    um = cu < U
    cp = tl.arange(0, BLOCK_P)
    pm = cp < P
    ui = _tile(u, cp, cu, G, pm, um)  # (BLOCK_P, BLOCK_U): the recurrent kernel's gate blocks
    uf = _tile(u, cp, U + cu, G, pm, um)
    uc = _tile(u, cp, 2 * U + cu, G, pm, um)
    uo = _tile(u, cp, 3 * U + cu, G, pm, um)
    one = rm[:, None] & um[None, :]
    sums = (um[:, None] & (cu[None, :] >= 0)).to(ui.dtype)  # x @ sums: row sums, broadcast
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        ts = t * STORE
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        h_old = _tile(h, rows, cp, P, rm, pm)
        hm = h_old
        if HAS_RD:
            hm = hm * _tile(rd, rows, cp, P, rm, pm)
        _put(hin + ts * B * P, rows, cp, P, rm, pm, hm)
        ri = _mm(hm, ui)
        rf = _mm(hm, uf)
        rc = _mm(hm, uc)
        ro = _mm(hm, uo)
        if LN:
            mu = _mm(ri + rf + rc + ro, sums) / G
            di = tl.where(one, ri - mu, 0.0)
            df = tl.where(one, rf - mu, 0.0)
            dc = tl.where(one, rc - mu, 0.0)
            do = tl.where(one, ro - mu, 0.0)
            var = _mm(di * di + df * df + dc * dc + do * do, sums) / G
            rs = 1.0 / tl.sqrt(var + 1e-5)  # (BLOCK_B, BLOCK_U), equal along each row
            ri = di * rs
            rf = df * rs
            rc = dc * rs
            ro = do * rs
            if STORE:
                sr_t = sr + ts * B * G
                _put(sr_t, rows, cu, G, rm, um, tl.where(keep, ri, 0.0))
                _put(sr_t, rows, U + cu, G, rm, um, tl.where(keep, rf, 0.0))
                _put(sr_t, rows, 2 * U + cu, G, rm, um, tl.where(keep, rc, 0.0))
                _put(sr_t, rows, 3 * U + cu, G, rm, um, tl.where(keep, ro, 0.0))
                _put(srs + ts * B * U, rows, cu, U, rm, um, rs)
            ri = ri * tl.load(g1 + cu, mask=um, other=0.0)[None, :]
            rf = rf * tl.load(g1 + U + cu, mask=um, other=0.0)[None, :]
            rc = rc * tl.load(g1 + 2 * U + cu, mask=um, other=0.0)[None, :]
            ro = ro * tl.load(g1 + 3 * U + cu, mask=um, other=0.0)[None, :]
        x_t = xin + t * B * G
        i = _act(_tile(x_t, rows, cu, G, rm, um) + ri, RACT)
        f = _act(_tile(x_t, rows, U + cu, G, rm, um) + rf, RACT)
        g = _act(_tile(x_t, rows, 2 * U + cu, G, rm, um) + rc, ACT)
        o = _act(_tile(x_t, rows, 3 * U + cu, G, rm, um) + ro, RACT)
        c_old = _tile(c, rows, cu, U, rm, um)
        c_new = tl.where(one, f * c_old + i * g, 0.0)
        cv = c_new
        if LN:
            dcn = tl.where(one, c_new - _mm(c_new, sums) / U, 0.0)
            rsc = 1.0 / tl.sqrt(_mm(dcn * dcn, sums) / U + 1e-5)
            ncn = dcn * rsc
            cv = ncn * tl.load(gh + cu, mask=um, other=0.0)[None, :]
            cv = cv + tl.load(bh + cu, mask=um, other=0.0)[None, :]
            if STORE:
                _put(scn + ts * B * U, rows, cu, U, rm, um, tl.where(keep, ncn, 0.0))
                _put(scs + ts * B * U, rows, cu, U, rm, um, rsc)
        tc = tl.where(one, _act(cv, ACT), 0.0)
        m = o * tc
        if STORE:
            g_t = sg + ts * B * G
            _put(g_t, rows, cu, G, rm, um, i)
            _put(g_t, rows, U + cu, G, rm, um, f)
            _put(g_t, rows, 2 * U + cu, G, rm, um, g)
            _put(g_t, rows, 3 * U + cu, G, rm, um, o)
            _put(stc + ts * B * U, rows, cu, U, rm, um, tc)
            _put(scp + ts * B * U, rows, cu, U, rm, um, c_old)
            _put(sm + ts * B * U, rows, cu, U, rm, um, tl.where(keep, m, 0.0))
        if HAS_PROJ:
            hc = _mm(m, _tile(pk, cu, cp, P, um, pm))  # (BLOCK_B, BLOCK_P)
        else:
            hc = m
        w = tl.load(zw)  # a one-element tensor: a float argument would be float32
        if HAS_ZK:
            w = _tile(zk + s * B * P, rows, cp, P, rm, pm)
        h_new = h_old + w * (hc - h_old)
        if HAS_MASK:
            c_new = tl.where(keep, c_new, c_old)
        _put(c, rows, cu, U, rm, um, c_new)
        _emit(h, p, seq + s * B * P, rows, cp, P, rm, pm, h_new, h_old, keep, HAS_MASK,
              ZERO_OUT, RET_SEQ)  # fmt: skip


def _ext_lstm_bwd(
    u, g1, gh, pk, zk, sg, sr, srs, stc, scp, scn, scs, mask, rd, dseq, dh, dc, dp,
    dz, dr, dcn, dhc, zw, T, B, U, P,
    LN: constexpr, HAS_PROJ: constexpr, HAS_ZK: constexpr, HAS_MASK: constexpr,
    HAS_RD: constexpr, BACKWARDS: constexpr, ZERO_OUT: constexpr, RET_SEQ: constexpr,
    ACT: constexpr, RACT: constexpr, BLOCK_B: constexpr, BLOCK_U: constexpr,
    BLOCK_P: constexpr,
):  # fmt: skip
    """dz (T, B, 4U) d xin, dr d R, dcn d c'', dhc (T, B, P) d of the candidate output; dh, dc,
    dp the state gradients (in place)."""
    G = 4 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    cu = tl.arange(0, BLOCK_U)
    um = cu < U
    cp = tl.arange(0, BLOCK_P)
    pm = cp < P
    uti = _tile_t(u, cp, cu, G, pm, um)  # (BLOCK_U, BLOCK_P): U's gate blocks transposed
    utf = _tile_t(u, cp, U + cu, G, pm, um)
    utc = _tile_t(u, cp, 2 * U + cu, G, pm, um)
    uto = _tile_t(u, cp, 3 * U + cu, G, pm, um)
    sums = (um[:, None] & (cu[None, :] >= 0)).to(uti.dtype)  # x @ sums: row sums, broadcast
    d_h = _tile(dh, rows, cp, P, rm, pm)
    d_c = _tile(dc, rows, cu, U, rm, um)
    d_p = _tile(dp, rows, cp, P, rm, pm)
    for k in range(0, T):
        s = T - 1 - k
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        d_in = d_p
        if RET_SEQ:
            d_in = d_in + _tile(dseq + s * B * P, rows, cp, P, rm, pm)
        dtot = tl.where(keep, d_h + d_in, 0.0)
        w = tl.load(zw)  # a one-element tensor: a float argument would be float32
        if HAS_ZK:
            w = _tile(zk + s * B * P, rows, cp, P, rm, pm)
        dhcv = w * dtot
        _put(dhc + t * B * P, rows, cp, P, rm, pm, dhcv)
        if HAS_PROJ:
            dm = _mm(dhcv, _tile_t(pk, cu, cp, P, um, pm))  # (BLOCK_B, BLOCK_U)
        else:
            dm = dhcv
        g_t = sg + t * B * G
        i = _tile(g_t, rows, cu, G, rm, um)
        f = _tile(g_t, rows, U + cu, G, rm, um)
        g = _tile(g_t, rows, 2 * U + cu, G, rm, um)
        o = _tile(g_t, rows, 3 * U + cu, G, rm, um)
        tc = _tile(stc + t * B * U, rows, cu, U, rm, um)
        dcv = dm * o * _dact(tc, ACT)
        _put(dcn + t * B * U, rows, cu, U, rm, um, dcv)
        dzo = dm * tc * _dact(o, RACT)
        dcp = dcv
        if LN:
            ncn = _tile(scn + t * B * U, rows, cu, U, rm, um)
            rsc = _tile(scs + t * B * U, rows, cu, U, rm, um)
            dd = dcv * tl.load(gh + cu, mask=um, other=0.0)[None, :]
            m1 = _mm(dd, sums) / U
            m2 = _mm(dd * ncn, sums) / U
            dcp = rsc * (dd - m1 - ncn * m2)
        dcc = d_c + dcp
        dzi = tl.where(keep, dcc * g * _dact(i, RACT), 0.0)
        c_prev = _tile(scp + t * B * U, rows, cu, U, rm, um)
        dzf = tl.where(keep, dcc * c_prev * _dact(f, RACT), 0.0)
        dzc = tl.where(keep, dcc * i * _dact(g, ACT), 0.0)
        z_t = dz + t * B * G
        _put(z_t, rows, cu, G, rm, um, dzi)
        _put(z_t, rows, U + cu, G, rm, um, dzf)
        _put(z_t, rows, 2 * U + cu, G, rm, um, dzc)
        _put(z_t, rows, 3 * U + cu, G, rm, um, dzo)
        d_c = tl.where(keep, dcc * f, d_c)
        if LN:
            ni = _tile(sr + t * B * G, rows, cu, G, rm, um)
            nf = _tile(sr + t * B * G, rows, U + cu, G, rm, um)
            nc = _tile(sr + t * B * G, rows, 2 * U + cu, G, rm, um)
            no = _tile(sr + t * B * G, rows, 3 * U + cu, G, rm, um)
            ai = dzi * tl.load(g1 + cu, mask=um, other=0.0)[None, :]
            af = dzf * tl.load(g1 + U + cu, mask=um, other=0.0)[None, :]
            ac = dzc * tl.load(g1 + 2 * U + cu, mask=um, other=0.0)[None, :]
            ao = dzo * tl.load(g1 + 3 * U + cu, mask=um, other=0.0)[None, :]
            m1 = _mm(ai + af + ac + ao, sums) / G
            m2 = _mm(ai * ni + af * nf + ac * nc + ao * no, sums) / G
            rs = _tile(srs + t * B * U, rows, cu, U, rm, um)
            dzi = rs * (ai - m1 - ni * m2)
            dzf = rs * (af - m1 - nf * m2)
            dzc = rs * (ac - m1 - nc * m2)
            dzo = rs * (ao - m1 - no * m2)
        r_t = dr + t * B * G
        _put(r_t, rows, cu, G, rm, um, dzi)
        _put(r_t, rows, U + cu, G, rm, um, dzf)
        _put(r_t, rows, 2 * U + cu, G, rm, um, dzc)
        _put(r_t, rows, 3 * U + cu, G, rm, um, dzo)
        dhm = _mm(dzi, uti) + _mm(dzf, utf) + _mm(dzc, utc) + _mm(dzo, uto)
        if HAS_RD:
            dhm = dhm * _tile(rd, rows, cp, P, rm, pm)
        d_h = tl.where(keep, dtot - dhcv + dhm, d_h)
        if ZERO_OUT:
            d_p = d_in * 0.0
        else:
            d_p = tl.where(keep, 0.0, d_in)
    _put(dh, rows, cp, P, rm, pm, d_h)
    _put(dc, rows, cu, U, rm, um, d_c)
    _put(dp, rows, cp, P, rm, pm, d_p)


def _ext_gru_fwd(
    xin, u, g1, brec, zk, h, p, seq, mask, rd, hin, sg, sr, srs, shp, zw, T, B, U,
    LN: constexpr, HAS_ZK: constexpr, HAS_MASK: constexpr, HAS_RD: constexpr,
    BACKWARDS: constexpr, ZERO_OUT: constexpr, RET_SEQ: constexpr, STORE: constexpr,
    ACT: constexpr, RACT: constexpr, BLOCK_B: constexpr, BLOCK_U: constexpr,
):  # fmt: skip
    """GRU (reset_after): sg (T, B, 4U) [z, r, hh, rh], sr/srs LN(R), shp h_{t-1}."""
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    cu = tl.arange(0, BLOCK_U)
    um = cu < U
    one = rm[:, None] & um[None, :]
    uz = _tile(u, cu, cu, G, um, um)
    ur = _tile(u, cu, U + cu, G, um, um)
    uh = _tile(u, cu, 2 * U + cu, G, um, um)
    bz = tl.load(brec + cu, mask=um, other=0.0)[None, :]
    br = tl.load(brec + U + cu, mask=um, other=0.0)[None, :]
    bhh = tl.load(brec + 2 * U + cu, mask=um, other=0.0)[None, :]
    sums = (um[:, None] & (cu[None, :] >= 0)).to(uz.dtype)  # x @ sums: row sums, broadcast
    for s in range(0, T):
        t = s
        if BACKWARDS:
            t = T - 1 - s
        ts = t * STORE
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        h_old = _tile(h, rows, cu, U, rm, um)
        hm = h_old
        if HAS_RD:
            hm = hm * _tile(rd, rows, cu, U, rm, um)
        _put(hin + ts * B * U, rows, cu, U, rm, um, hm)
        rz = _mm(hm, uz)
        rr = _mm(hm, ur)
        rh = _mm(hm, uh)
        if LN:
            mu = _mm(rz + rr + rh, sums) / G
            dz_ = tl.where(one, rz - mu, 0.0)
            dr_ = tl.where(one, rr - mu, 0.0)
            dh_ = tl.where(one, rh - mu, 0.0)
            rs = 1.0 / tl.sqrt(_mm(dz_ * dz_ + dr_ * dr_ + dh_ * dh_, sums) / G + 1e-5)
            rz = dz_ * rs
            rr = dr_ * rs
            rh = dh_ * rs
            if STORE:
                sr_t = sr + ts * B * G
                _put(sr_t, rows, cu, G, rm, um, tl.where(keep, rz, 0.0))
                _put(sr_t, rows, U + cu, G, rm, um, tl.where(keep, rr, 0.0))
                _put(sr_t, rows, 2 * U + cu, G, rm, um, tl.where(keep, rh, 0.0))
                _put(srs + ts * B * U, rows, cu, U, rm, um, rs)
            rz = rz * tl.load(g1 + cu, mask=um, other=0.0)[None, :]
            rr = rr * tl.load(g1 + U + cu, mask=um, other=0.0)[None, :]
            rh = rh * tl.load(g1 + 2 * U + cu, mask=um, other=0.0)[None, :]
        rz = rz + bz
        rr = rr + br
        rh = rh + bhh
        x_t = xin + t * B * G
        z = _act(_tile(x_t, rows, cu, G, rm, um) + rz, RACT)
        r = _act(_tile(x_t, rows, U + cu, G, rm, um) + rr, RACT)
        hh = _act(_tile(x_t, rows, 2 * U + cu, G, rm, um) + r * rh, ACT)
        if STORE:
            g_t = sg + ts * B * 4 * U
            _put(g_t, rows, cu, 4 * U, rm, um, z)
            _put(g_t, rows, U + cu, 4 * U, rm, um, r)
            _put(g_t, rows, 2 * U + cu, 4 * U, rm, um, hh)
            _put(g_t, rows, 3 * U + cu, 4 * U, rm, um, rh)
            _put(shp + ts * B * U, rows, cu, U, rm, um, h_old)
        w = tl.load(zw)  # a one-element tensor: a float argument would be float32
        if HAS_ZK:
            w = _tile(zk + s * B * U, rows, cu, U, rm, um)
        h_new = h_old + w * (z * h_old + (1.0 - z) * hh - h_old)
        _emit(h, p, seq + s * B * U, rows, cu, U, rm, um, h_new, h_old, keep, HAS_MASK,
              ZERO_OUT, RET_SEQ)  # fmt: skip


def _ext_gru_bwd(
    u, g1, zk, sg, sr, srs, shp, mask, rd, dseq, dh, dp, dz, drr, dr, zw, T, B, U,
    LN: constexpr, HAS_ZK: constexpr, HAS_MASK: constexpr, HAS_RD: constexpr,
    BACKWARDS: constexpr, ZERO_OUT: constexpr, RET_SEQ: constexpr, ACT: constexpr,
    RACT: constexpr, BLOCK_B: constexpr, BLOCK_U: constexpr,
):  # fmt: skip
    """dz (T, B, 3U) d xin, drr d (R' + brec), dr d R; dh, dp the state gradients (in place)."""
    G = 3 * U
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    rm = rows < B
    cu = tl.arange(0, BLOCK_U)
    um = cu < U
    utz = _tile_t(u, cu, cu, G, um, um)
    utr = _tile_t(u, cu, U + cu, G, um, um)
    uth = _tile_t(u, cu, 2 * U + cu, G, um, um)
    sums = (um[:, None] & (cu[None, :] >= 0)).to(utz.dtype)  # x @ sums: row sums, broadcast
    d_h = _tile(dh, rows, cu, U, rm, um)
    d_p = _tile(dp, rows, cu, U, rm, um)
    for k in range(0, T):
        s = T - 1 - k
        t = s
        if BACKWARDS:
            t = T - 1 - s
        keep = _keep(mask, t, B, rows, rm, HAS_MASK)
        d_in = d_p
        if RET_SEQ:
            d_in = d_in + _tile(dseq + s * B * U, rows, cu, U, rm, um)
        dtot = tl.where(keep, d_h + d_in, 0.0)
        w = tl.load(zw)  # a one-element tensor: a float argument would be float32
        if HAS_ZK:
            w = _tile(zk + s * B * U, rows, cu, U, rm, um)
        dhc = w * dtot
        g_t = sg + t * B * 4 * U
        z = _tile(g_t, rows, cu, 4 * U, rm, um)
        r = _tile(g_t, rows, U + cu, 4 * U, rm, um)
        hh = _tile(g_t, rows, 2 * U + cu, 4 * U, rm, um)
        rh = _tile(g_t, rows, 3 * U + cu, 4 * U, rm, um)
        dhh = dhc * (1.0 - z) * _dact(hh, ACT)
        dzz = dhc * (_tile(shp + t * B * U, rows, cu, U, rm, um) - hh) * _dact(z, RACT)
        drg = dhh * rh * _dact(r, RACT)
        z_t = dz + t * B * G
        _put(z_t, rows, cu, G, rm, um, dzz)
        _put(z_t, rows, U + cu, G, rm, um, drg)
        _put(z_t, rows, 2 * U + cu, G, rm, um, dhh)
        ah = dhh * r
        rr_t = drr + t * B * G
        _put(rr_t, rows, cu, G, rm, um, dzz)
        _put(rr_t, rows, U + cu, G, rm, um, drg)
        _put(rr_t, rows, 2 * U + cu, G, rm, um, ah)
        az = dzz
        ar = drg
        if LN:
            nz = _tile(sr + t * B * G, rows, cu, G, rm, um)
            nr = _tile(sr + t * B * G, rows, U + cu, G, rm, um)
            nh = _tile(sr + t * B * G, rows, 2 * U + cu, G, rm, um)
            az = az * tl.load(g1 + cu, mask=um, other=0.0)[None, :]
            ar = ar * tl.load(g1 + U + cu, mask=um, other=0.0)[None, :]
            ah = ah * tl.load(g1 + 2 * U + cu, mask=um, other=0.0)[None, :]
            m1 = _mm(az + ar + ah, sums) / G
            m2 = _mm(az * nz + ar * nr + ah * nh, sums) / G
            rs = _tile(srs + t * B * U, rows, cu, U, rm, um)
            az = rs * (az - m1 - nz * m2)
            ar = rs * (ar - m1 - nr * m2)
            ah = rs * (ah - m1 - nh * m2)
        r_t = dr + t * B * G
        _put(r_t, rows, cu, G, rm, um, az)
        _put(r_t, rows, U + cu, G, rm, um, ar)
        _put(r_t, rows, 2 * U + cu, G, rm, um, ah)
        dhm = _mm(az, utz) + _mm(ar, utr) + _mm(ah, uth)
        if HAS_RD:
            dhm = dhm * _tile(rd, rows, cu, U, rm, um)
        d_h = tl.where(keep, dtot - dhc + dhc * z + dhm, d_h)
        if ZERO_OUT:
            d_p = d_in * 0.0
        else:
            d_p = tl.where(keep, 0.0, d_in)
    _put(dh, rows, cu, U, rm, um, d_h)
    _put(dp, rows, cu, U, rm, um, d_p)
