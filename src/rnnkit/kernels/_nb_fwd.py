# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba forward kernels of the fused engine: the time loop per cell kind and its per-step
helpers (outputs under a mask, filling the [1 | h_in | x | 1] rows). The backward kernels are in
``_nb_bwd``, the streaming steps in ``_nb_step``.

Conventions shared by every kernel:

* Sequences are time-major, (time, batch, ...), so that the rows of one step are contiguous.
* ``XH`` (time, batch, 1 + units + features + 1) holds [1 | h_in | x | 1] per step: the forward
  kernels copy the step's inputs from ``X`` (batch, time, features; any strides) and write the
  dropped previous outputs h_in at column ``ho`` (x follows at ``ho + u``), then compute the step's
  input and recurrent products from that one row; ``bin`` is the input bias. In inference XH is
  one step's scratch, (1, batch, ...).
  ``tx`` is the time index a processing step ``s`` reads (``T - 1 - s`` with ``go_backwards``).
* Per-step storage for the backward pass is indexed by ``tx`` (its time axis has length 1 when
  nothing is stored, in inference); the output sequence is indexed by ``s`` (Keras keeps the
  reversed order with ``go_backwards``).
* ``H``, ``C`` (batch, units) hold the states and ``P`` the previous output; the caller fills them
  with the initial values and reads the final ones back. Gradients travel the same way
  (``DH``, ``DC``, ``DP``).
* A kernel processes the batch rows ``lo:hi``; the caller runs disjoint row ranges on threads.
* ``rd`` is the recurrent dropout mask (all ones without recurrent dropout).
* Activation codes: 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid (Keras 3:
  ``clip(x / 6 + 1 / 2, 0, 1)``, ``_nb_act``); derivatives are written in terms of the output ``y``.
* Column indices are unsigned (``U64``, ``_nb_setup``): numba wraps negative signed indices.
"""

from __future__ import annotations

from numba import literally, njit

from ._nb_act import _act
from ._nb_gemm import ROW_BLOCK, _gemm_acc_real, _gemm_real
from ._nb_setup import _JIT, U64, _flush_denormals_on, _prefer_wide_vectors, _restore_mxcsr

# --------------------------------------------------------------------------------------------
# Forward kernels. Layout: time-major, every (time, batch, ...) array holds one step's rows
# contiguously. Common trailing arguments:
#   mask (T, B) bool, has_mask, rd (B, u), go_back, zo (zero_output_for_mask),
#   seq (T, B, u) or (1, 1, 1) in processing order, ret_seq, act, ract (literal codes), lo, hi
# A valid step updates the states H (C) in place. A masked step computes nothing: the states stay,
# the output is the previous output P (zero with zo). Without a mask P is H, filled in at the end.
# Stored values of masked steps are never read by the backward pass (it skips those steps).


@njit(**_JIT, inline="always")
def _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq):
    """Record the output of row b at step s (H[b] when valid, else P[b] or zeros)."""
    u = U64(H.shape[1])
    zero = H.dtype.type(0.0)
    if not has_mask:
        if ret_seq:
            for j in range(u):
                seq[s, b, j] = H[b, j]
        return
    if valid:
        for j in range(u):
            P[b, j] = H[b, j]
    elif zo:
        for j in range(u):
            P[b, j] = zero
    if ret_seq:
        for j in range(u):
            seq[s, b, j] = P[b, j]


@njit(**_JIT, inline="always")
def _final_output(H, P, has_mask, lo, hi):
    """Without a mask the last output is the last state."""
    if not has_mask:
        u = U64(H.shape[1])
        for b in range(lo, hi):
            for j in range(u):
                P[b, j] = H[b, j]


@njit(**_JIT, inline="always")
def _fill_rows(XH, X, H, rd, ho, xs, tx, ones, lo, hi):
    """The step's product rows XH[xs, b] for b in lo:hi: the previous output ``H[b] * rd[b]``
    at ``ho``, the inputs ``X[b, tx]`` after it (copied here, hot in cache for the product), and
    the ones columns 0 and -1 of the bias gradient when ``ones`` (the rows are kept)."""
    u = U64(H.shape[1])
    F = U64(X.shape[2])
    xo = ho + u
    last = U64(XH.shape[2]) - U64(1)
    one = XH.dtype.type(1.0)
    for b in range(lo, hi):
        for j in range(u):
            XH[xs, b, ho + j] = H[b, j] * rd[b, j]
        for k in range(F):
            XH[xs, b, xo + k] = X[b, tx, k]
        if ones:
            XH[xs, b, 0] = one
            XH[xs, b, last] = one


@njit(**_JIT)
def lstm_forward(
    XH, X, ho, F, UW, bin, H, C, P, Sg, Stc, Scp,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """Per step one product ``[h_in | x] @ [U; W]`` into Sg; the gates [i, f, c, o] after their
    activations replace it (Sg is the gate storage, (T, B, 4u), or one step's scratch); Stc
    holds act(c'), Scp the previous cell state."""
    act = literally(act)
    ract = literally(ract)
    T = X.shape[1]
    xfull = XH.shape[0] == T  # one XH row per step (kept for backward), or scratch
    u = U64(H.shape[1])
    u2 = u + u
    u3 = u2 + u
    u4 = u3 + u
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        xs = tx if xfull else 0
        for b0 in range(lo, hi, ROW_BLOCK):  # a block's gates stay in cache from product to state
            b1 = min(b0 + ROW_BLOCK, hi)
            _fill_rows(XH, X, H, rd, ho, xs, tx, store, b0, b1)
            _gemm_real(XH, xs, ho, u + F, UW, Sg, ts, z0, b0, b1, mask, has_mask, tx)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    # The gate activations in place, one loop per activation, then the state update
                    # reading them: a loop that reads a row at several offsets and writes it at
                    # others fails LLVM's runtime overlap checks and runs scalar (10x slower).
                    for j in range(u2):  # i, f
                        Sg[ts, b, j] = _act(Sg[ts, b, j] + bin[j], ract)
                    for j in range(u2, u3):  # g
                        Sg[ts, b, j] = _act(Sg[ts, b, j] + bin[j], act)
                    for j in range(u3, u4):  # o
                        Sg[ts, b, j] = _act(Sg[ts, b, j] + bin[j], ract)
                    for j in range(u):
                        c_old = C[b, j]
                        cn = Sg[ts, b, u + j] * c_old + Sg[ts, b, j] * Sg[ts, b, u2 + j]
                        tc = _act(cn, act)
                        Scp[ts, b, j] = c_old
                        Stc[ts, b, j] = tc
                        C[b, j] = cn
                        H[b, j] = Sg[ts, b, u3 + j] * tc
                _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_forward(
    XH, X, ho, F, U, W, bin, brec, H, P, Sg, Shp, po, XW,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=True. h_in U lands in Sg[..., 0:3u] and x W in the scratch XW (1, B, 3u);
    Sg then holds [z, r, hh, rh] (T, B, 4u) with rh = (h_in U)_h + b_rec_h; Shp the previous
    state."""
    act = literally(act)
    ract = literally(ract)
    T = X.shape[1]
    xfull = XH.shape[0] == T  # one XH row per step (kept for backward), or scratch
    u = U64(H.shape[1])
    u2 = u + u
    u3 = u2 + u
    u4 = u3 + u
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    one = XH.dtype.type(1.0)
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        xs = tx if xfull else 0
        _fill_rows(XH, X, H, rd, ho, xs, tx, store, lo, hi)
        _gemm_real(XH, xs, ho, u, U, Sg, ts, z0, lo, hi, mask, has_mask, tx)
        _gemm_real(XH, xs, ho + u, F, W, XW, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u2):  # z, r in place (see lstm_forward)
                    Sg[ts, b, j] = _act(Sg[ts, b, j] + XW[0, b, j] + bin[j] + brec[j], ract)
                # one view per gate block: LLVM checks views for overlap separately
                gz, gr = Sg[ts, b, :u], Sg[ts, b, u:u2]
                ghh, grh = Sg[ts, b, u2:u3], Sg[ts, b, u3:u4]
                for j in range(u):
                    rh = ghh[j] + brec[u2 + j]
                    hh = _act(XW[0, b, u2 + j] + bin[u2 + j] + gr[j] * rh, act)
                    h = H[b, j]
                    z = gz[j]
                    Shp[ts, b, po + j] = h
                    ghh[j] = hh
                    grh[j] = rh
                    H[b, j] = z * h + (one - z) * hh
            _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_v1_forward(
    XH, X, ho, F, UWzr, Uh, Wh, bin, H, P, Sg, Shp, po, Srh,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=False. ``[h_in | x] @ [U_zr; W_zr]`` gives the z, r pre-activations and
    ``x W_h + (r * h_in) U_h`` the candidate's; Sg holds [z, r, hh] (T, B, 3u); Srh holds
    r * h_in (zero where masked: it enters the recurrent kernel's gradient)."""
    act = literally(act)
    ract = literally(ract)
    T = X.shape[1]
    xfull = XH.shape[0] == T  # one XH row per step (kept for backward), or scratch
    u = U64(H.shape[1])
    u2 = u + u
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    one = XH.dtype.type(1.0)
    zero = XH.dtype.type(0.0)
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        xs = tx if xfull else 0
        _fill_rows(XH, X, H, rd, ho, xs, tx, store, lo, hi)
        _gemm_real(XH, xs, ho, u + F, UWzr, Sg, ts, z0, lo, hi, mask, has_mask, tx)
        _gemm_real(XH, xs, ho + u, F, Wh, Sg, ts, u2, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u2):  # z, r in place (see lstm_forward)
                    Sg[ts, b, j] = _act(Sg[ts, b, j] + bin[j], ract)
                for j in range(u):
                    Srh[ts, b, j] = Sg[ts, b, u + j] * XH[xs, b, ho + j]
            else:
                for j in range(u):
                    Srh[ts, b, j] = zero
        _gemm_acc_real(Srh, ts, z0, u, Uh, Sg, ts, u2, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                gz, ghh = Sg[ts, b, :u], Sg[ts, b, u2:]  # one view per block (see gru_forward)
                for j in range(u):
                    hh = _act(ghh[j] + bin[u2 + j], act)
                    h = H[b, j]
                    Shp[ts, b, po + j] = h
                    ghh[j] = hh
                    H[b, j] = gz[j] * h + (one - gz[j]) * hh
            _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def simple_forward(
    XH, X, ho, F, UW, bin, H, P, Sg,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """Per step ``act([h_in | x] @ [U; W] + b)`` into Sg (the outputs: (T, B, u) or scratch)."""
    act = literally(act)
    T = X.shape[1]
    xfull = XH.shape[0] == T  # one XH row per step (kept for backward), or scratch
    u = U64(H.shape[1])
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        xs = tx if xfull else 0
        for b0 in range(lo, hi, ROW_BLOCK):  # see lstm_forward
            b1 = min(b0 + ROW_BLOCK, hi)
            _fill_rows(XH, X, H, rd, ho, xs, tx, store, b0, b1)
            _gemm_real(XH, xs, ho, u + F, UW, Sg, ts, z0, b0, b1, mask, has_mask, tx)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(u):
                        y = _act(Sg[ts, b, j] + bin[j], act)
                        Sg[ts, b, j] = y
                        H[b, j] = y
                _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)


@njit(**_JIT)
def indrnn_forward(
    XH, X, ho, F, W, bin, w, H, P, Sg,
    mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract, lo, hi,
):  # fmt: skip
    """h' = act(x W + b + w * (h * rd)); Sg holds the outputs ((T, B, u) or scratch)."""
    act = literally(act)
    T = X.shape[1]
    xfull = XH.shape[0] == T  # one XH row per step (kept for backward), or scratch
    u = U64(H.shape[1])
    z0 = U64(0)
    store = Sg.shape[0] == T
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T):
        tx = T - 1 - s if go_back else s
        ts = tx if store else 0
        xs = tx if xfull else 0
        _fill_rows(XH, X, H, rd, ho, xs, tx, store, lo, hi)
        _gemm_real(XH, xs, ho + u, F, W, Sg, ts, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    y = _act(Sg[ts, b, j] + bin[j] + w[j] * XH[xs, b, ho + j], act)
                    Sg[ts, b, j] = y
                    H[b, j] = y
            _after_row(H, P, seq, b, s, valid, has_mask, zo, ret_seq)
    _final_output(H, P, has_mask, lo, hi)
    _restore_mxcsr(old)
