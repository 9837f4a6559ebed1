"""Triton kernel sources of the min cells (MinGRU, MinLSTM): a parallel scan over time.

Their gates read the input only, so every unit of every batch row is an independent linear
recurrence ``h_t = a_t h_{t-1} + b_t``: one program per (batch row, ``BLOCK_N`` units), grid
``(batch, ceil(units / BLOCK_N))``, no barrier. Each program runs the sequence in chunks of
``BLOCK_T`` steps; within a chunk ``tl.associative_scan`` solves the recurrence in parallel
(pairs ``(a, b)`` combined as ``(a1 a2, a2 b1 + b2)``), and the state at the chunk's end carries
to the next. In linear space: with ``a`` in (0, 1) every state is a convex combination of the
previous state and a candidate, so no value grows and nothing needs logarithms (a product of
many ``a`` may underflow to 0, its exact limit).

The backward is the reverse recurrence ``G_s = g_s + a_{s+1} G_{s+1}`` (``G`` the whole gradient
of the state at processing step ``s``, ``g`` its direct part from the outputs), a reverse scan
per chunk with the chunk's start carried backwards; then the gates' gradients element-wise.

Layout and rules as in ``_triton`` (``xp`` (time, batch, gates * units), mask (time, batch),
``seq`` in processing order, ``h``/``p`` the initial then final state and last output); ``hin``
(time, batch, units) keeps every state for the backward (``STORE``), which also takes ``h0``.
``KIND`` is the spec's ``fused_code`` (0 MinGRU: gates k, v; 1 MinLSTM: gates k_f, k_i, v).
Keras's mask rule: a skipped step has ``a = 1``, ``b = 0``; its output is the last kept state, or
zeros before the first kept step (or always, with ``ZERO_OUT``).

Plain functions until first use (see ``_triton_device``); no body or docstring here may contain
a line starting with ``def ``.
"""

from __future__ import annotations

from ._triton_device import _act, constexpr, tl


def _min_combine(a1, b1, a2, b2):
    """Two steps of ``h' = a h + b`` as one: first (a1, b1), then (a2, b2)."""
    return a1 * a2, a2 * b1 + b2


def _min_add(x, y):
    """The sum of two values (``tl.reduce``'s combine: ``tl.sum`` is a JIT function of
    Triton's own, which its interpreter cannot call unless it was on at import)."""
    return x + y


def _min_least(x, y):
    """The smaller of two values (``tl.reduce``'s combine, see :func:`_min_add`)."""
    return tl.minimum(x, y)


def _min_gates(xp, tt, ok, b, cols, B, U, KIND: constexpr):
    """(s, cand, k0, k1, v): the write gate, the candidate and the pre-activations of the
    steps ``tt`` (BLOCK_T,) of batch row ``b``, units ``cols`` (0 where not ``ok``)."""
    ld = U * (2 + KIND)
    base = xp + tt[:, None] * (B * ld) + b * ld + cols[None, :]
    k0 = tl.load(base, mask=ok, other=0.0)
    k1 = tl.load(base + U, mask=ok, other=0.0)
    v = k1
    s = _act(k0, 2)
    if KIND == 1:
        v = tl.load(base + 2 * U, mask=ok, other=0.0)
        p = -k0
        q = -k1
        num = 1.0 + tl.exp(-tl.abs(p))
        den = 1.0 + tl.exp(-tl.abs(q))
        diff = tl.maximum(p, 0.0) - tl.maximum(q, 0.0) + tl.log(num / den)  # log(i / f)
        s = _act(diff, 2)
    cand = tl.where(v >= 0, v + 0.5, _act(v, 2))
    return s, cand, k0, k1, v


def _min_keep(mask, tt, sm, b, B, HAS_MASK: constexpr):
    """(BLOCK_T,) bool: the steps that exist and are not masked."""
    keep = sm
    if HAS_MASK:
        keep = (tl.load(mask + tt * B + b, mask=sm, other=0) != 0) & sm
    return keep


def _min_first(mask, T, b, B, BACKWARDS: constexpr, BLOCK_T: constexpr):
    """The processing index of the first kept step of row ``b`` (T if none)."""
    first = T
    for s0 in range(0, T, BLOCK_T):
        ss = s0 + tl.arange(0, BLOCK_T)
        sm = ss < T
        tt = ss
        if BACKWARDS:
            tt = T - 1 - ss
        keep = tl.load(mask + tt * B + b, mask=sm, other=0) != 0
        first = tl.minimum(first, tl.reduce(tl.where(keep & sm, ss, T), 0, _min_least))
    return first


def _min_fwd(
    xp,
    h,
    p,
    seq,
    mask,
    hin,
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
    KIND: constexpr,
    BLOCK_T: constexpr,
):
    """Min cell forward: every state by chunked scans; ``h``, ``p`` final on return."""
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    cm = cols < U
    carry = tl.load(h + b * U + cols, mask=cm, other=0.0)  # (BLOCK_N,)
    last_out = carry * 0.0
    first = T
    if HAS_MASK:
        if not ZERO_OUT:
            first = _min_first(mask, T, b, B, BACKWARDS, BLOCK_T)
    for s0 in range(0, T, BLOCK_T):
        ss = s0 + tl.arange(0, BLOCK_T)
        sm = ss < T
        tt = ss
        if BACKWARDS:
            tt = T - 1 - ss
        ok = sm[:, None] & cm[None, :]
        s, cand, k0, k1, v = _min_gates(xp, tt, ok, b, cols, B, U, KIND)
        keep = _min_keep(mask, tt, sm, b, B, HAS_MASK)
        a = tl.where(keep[:, None], 1.0 - s, 1.0)
        c = tl.where(keep[:, None], s * cand, 0.0)
        pa, pc = tl.associative_scan((a, c), 0, _min_combine)
        hs = pa * carry[None, :] + pc  # (BLOCK_T, BLOCK_N)
        if STORE:
            tl.store(hin + tt[:, None] * (B * U) + b * U + cols[None, :], hs, mask=ok)
        out = hs
        if HAS_MASK:
            if ZERO_OUT:
                out = tl.where(keep[:, None], hs, 0.0)
            else:
                out = tl.where((keep | (ss >= first))[:, None], hs, 0.0)
        if RET_SEQ:
            tl.store(seq + ss[:, None] * (B * U) + b * U + cols[None, :], out, mask=ok)
        end = (ss == tl.minimum(s0 + BLOCK_T, T) - 1)[:, None]
        carry = tl.reduce(tl.where(end, hs, 0.0), 0, _min_add)
        last_out = tl.reduce(tl.where(end, out, 0.0), 0, _min_add)
    tl.store(h + b * U + cols, carry, mask=cm)
    tl.store(p + b * U + cols, last_out, mask=cm)


def _min_bwd(
    xp,
    hin,
    h0,
    mask,
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
    KIND: constexpr,
    BLOCK_T: constexpr,
):
    """Min cell backward: ``dxg`` (time, batch, gates * units); ``dh`` the final state's
    gradient in, ``d h0`` out."""
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    cm = cols < U
    ld = U * (2 + KIND)
    dh_end = tl.load(dh + b * U + cols, mask=cm, other=0.0)
    dp_end = tl.load(dp + b * U + cols, mask=cm, other=0.0)
    start = tl.load(h0 + b * U + cols, mask=cm, other=0.0)
    carry = dh_end * 0.0  # the whole gradient of the state at the next chunk's first step
    dh0 = dh_end * 0.0
    first = T
    if HAS_MASK:
        if not ZERO_OUT:
            first = _min_first(mask, T, b, B, BACKWARDS, BLOCK_T)
    n_chunks = (T + BLOCK_T - 1) // BLOCK_T
    for c2 in range(0, n_chunks):
        s0 = (n_chunks - 1 - c2) * BLOCK_T
        ss = s0 + tl.arange(0, BLOCK_T)
        sm = ss < T
        tt = ss
        tn = ss + 1  # the next step's time index: its a multiplies the carried gradient
        tp = ss - 1
        if BACKWARDS:
            tt = T - 1 - ss
            tn = T - 2 - ss
            tp = T - ss
        ok = sm[:, None] & cm[None, :]
        s, cand, k0, k1, v = _min_gates(xp, tt, ok, b, cols, B, U, KIND)
        keep = _min_keep(mask, tt, sm, b, B, HAS_MASK)
        nm = ss + 1 < T
        nok = nm[:, None] & cm[None, :]
        s_next, c_next, k0_next, k1_next, v_next = _min_gates(xp, tn, nok, b, cols, B, U, KIND)
        keep_next = _min_keep(mask, tn, nm, b, B, HAS_MASK)
        a_next = tl.where(keep_next[:, None], 1.0 - s_next, 1.0)
        d_out = tl.where((ss == T - 1)[:, None], dp_end[None, :], 0.0)
        if RET_SEQ:
            seq_at = dseq + ss[:, None] * (B * U) + b * U + cols[None, :]
            d_out += tl.load(seq_at, mask=ok, other=0.0)
        if HAS_MASK:
            if ZERO_OUT:
                d_out = tl.where(keep[:, None], d_out, 0.0)
            else:
                d_out = tl.where((keep | (ss >= first))[:, None], d_out, 0.0)
        g = d_out + tl.where((ss == T - 1)[:, None], dh_end[None, :], 0.0)
        g = tl.where(ok, g, 0.0)
        pa, pg = tl.associative_scan((a_next, g), 0, _min_combine, reverse=True)
        grad = pa * carry[None, :] + pg  # (BLOCK_T, BLOCK_N): the whole gradient of h_s
        pm = (ss >= 1)[:, None] & ok
        prev = tl.load(hin + tp[:, None] * (B * U) + b * U + cols[None, :], mask=pm, other=0.0)
        prev = tl.where((ss == 0)[:, None], start[None, :], prev)
        gk = tl.where(keep[:, None], grad, 0.0)
        ds = s * (1.0 - s) * gk * (cand - prev)  # d/d(the pre-activation of s)
        sv = _act(v, 2)
        dcand = tl.where(v >= 0, 1.0, sv * (1.0 - sv))
        out = dxg + tt[:, None] * (B * ld) + b * ld + cols[None, :]
        if KIND == 0:
            tl.store(out, ds, mask=ok)
            tl.store(out + U, gk * s * dcand, mask=ok)
        else:
            tl.store(out, -ds * (1.0 - _act(k0, 2)), mask=ok)
            tl.store(out + U, ds * (1.0 - _act(k1, 2)), mask=ok)
            tl.store(out + 2 * U, gk * s * dcand, mask=ok)
        a_here = tl.where(keep[:, None], 1.0 - s, 1.0)
        head = (ss == s0)[:, None]
        carry = tl.reduce(tl.where(head, grad, 0.0), 0, _min_add)
        dh0 += tl.reduce(tl.where((ss == 0)[:, None], a_here * grad, 0.0), 0, _min_add)
    tl.store(dh + b * U + cols, dh0, mask=cm)
