# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the min cells (MinGRU, MinLSTM) on CPU: the gates and the linear recurrence
``h_t = a_t h_{t-1} + b_t`` in one pass over time, forward and hand-written backward.

Each thread owns a range of batch rows (``lo, hi``) and runs them step by step: the step's
projection of its rows by the register-tiled product of ``_nb`` (``_gemm``: the input is
time-major, so a step's rows are contiguous) into a scratch row block that stays in L1, then
every owned row's gates and state; within a row the loop over units is element-wise, so LLVM
vectorises it. Sequential in time, this reads the input once and writes the states once (the
log-space parallel scan of ``_scan`` makes some twenty passes over memory): on a CPU the batch
and unit axes already fill the cores. The backward runs one block of steps per call (the
caller's products take the block's projection gradient while it is in cache). A sequential
recurrence with ``a_t`` in (0, 1) is stable in linear space, so no logarithm is taken (float32
at 4,096 steps: ``tests/layers/test_min_cells.py``). Inputs come in processing order
(``go_backwards`` already applied).

What keeps the unit loops vectorised (each measured: 5-25x slower without it):

* the running state (forward) and the running gradient (backward) live in their own (batch,
  units) arrays (``HN``, ``DH0``), never read back from the row just written of ``H``: a load
  from the array being stored to, one row back, defeats LLVM's alias checks;
* the rows of one step are taken as 1-D views before the unit loop;
* the backward's time loop is ``range(T - 1, -1, -1)`` (numba lowers a reversed range that
  stops at 0 into a loop LLVM no longer vectorises).

``kind`` (the ``act`` slot of the row-launch convention, a literal): 0 MinGRU (gates k, v:
``a = 1 - sigmoid(k)``, ``b = sigmoid(k) g(v)``), 1 MinLSTM (gates k_f, k_i, v: ``s =
sigmoid(diff)``, ``diff = softplus(-k_f) - softplus(-k_i)`` (``log(i / f)``), ``a = 1 - s``,
``b = s g(v)``).
"""

from __future__ import annotations

import math

from numba import literally, njit

from ._nb_act import _like, _sigmoid
from ._nb_gemm import _gemm, _gemm_acc
from ._nb_setup import _JIT, U64

MIN_GRU, MIN_LSTM = 0, 1


@njit(**_JIT, inline="always")
def _log_ratio(kf, ki):
    """``softplus(-kf) - softplus(-ki)`` (``log(i / f)``): two ``exp`` and one ``log``."""
    zero = _like(kf, 0.0)
    one = _like(kf, 1.0)
    p, q = -kf, -ki
    num = one + math.exp(-abs(p))
    den = one + math.exp(-abs(q))
    return max(p, zero) - max(q, zero) + math.log(num / den)


@njit(**_JIT, inline="always")
def _write_gate(x, j, u, kind):
    """The write gate ``s`` of unit ``j`` from the step's projection row ``x``."""
    if kind == MIN_GRU:
        return _sigmoid(x[j])
    return _sigmoid(_log_ratio(x[j], x[u + j]))


@njit(**_JIT)
def min_forward(X, W, keep, has_mask, H, HN, S, XS, act, ract, lo, hi):
    """All states ``H`` (B, T, u) from the time-major input ``X`` (T, B, F + 1; its last column
    ones) and ``W`` (F + 1, gates u; its last row the bias): each step's projection of the
    owned rows by the register-tiled product of ``_nb`` into the scratch ``XS`` (1, B, gates
    u), then the gates and the state. ``HN`` (B, u) holds the running state (the caller sets
    it to the initial state; the last state on return). MinLSTM keeps its write gates in ``S``
    (B, T, u) for the backward (three scalar ``exp``/``log`` each); MinGRU's is one vectorised
    sigmoid to recompute, and its ``S`` is a dummy."""
    kind = literally(act)
    T, F1, u = X.shape[0], U64(X.shape[2]), U64(HN.shape[1])
    gates = U64(W.shape[1]) // u
    for t in range(T):
        _gemm(X, t, U64(0), F1, W, XS, 0, U64(0), lo, hi)
        for b in range(lo, hi):
            c = HN[b]
            out = H[b, t]
            if has_mask and not keep[b, t]:
                for j in range(u):
                    out[j] = c[j]
                continue
            x = XS[0, b]
            if kind == MIN_LSTM:
                gate = S[b, t]
                for j in range(u):
                    s = _write_gate(x, j, u, kind)
                    gate[j] = s
                    v = x[u + u + j]
                    cand = v + _like(v, 0.5) if v >= _like(v, 0.0) else _sigmoid(v)
                    h = (_like(s, 1.0) - s) * c[j] + s * cand
                    c[j] = h
                    out[j] = h
                continue
            for j in range(u):
                s = _write_gate(x, j, u, kind)
                v = x[(gates - U64(1)) * u + j]
                cand = v + _like(v, 0.5) if v >= _like(v, 0.0) else _sigmoid(v)
                h = (_like(s, 1.0) - s) * c[j] + s * cand
                c[j] = h
                out[j] = h


@njit(**_JIT)
def min_backward(
    X, W, H0, keep, has_mask, H, S, DH, DXB, DH0, XS, WT, DX, has_dx, t0, act, ract, lo, hi
):
    """``DXB`` (tb, B, gates u), the projection's gradient of one block of ``tb`` steps from
    ``t0``, from ``DH`` (B, T, u), the gradient of every state; each step's projection is
    recomputed as in :func:`min_forward` (``X``, ``W``, scratch ``XS``). Blocks run last to
    first; ``DH0`` (B, u; zeros before the last block) carries the running gradient of the
    state between steps and blocks (the initial state's gradient on return from the first
    block). ``S`` MinLSTM's write gates from the forward. With ``has_dx`` each step's input
    gradient ``DX`` (T, B, F) by the register-tiled product with ``WT`` (gates u, F)."""
    kind = literally(act)
    tb, F1, u = DXB.shape[0], U64(X.shape[2]), U64(H0.shape[1])
    gates = U64(W.shape[1]) // u
    for t in range(tb - 1, -1, -1):
        tt = t0 + t
        _gemm(X, tt, U64(0), F1, W, XS, 0, U64(0), lo, hi)
        for b in range(lo, hi):
            d = DH0[b]
            dh, dx = DH[b, tt], DXB[t, b]
            if has_mask and not keep[b, tt]:
                for j in range(u):
                    d[j] += dh[j]
                for j in range(gates * u):
                    dx[j] = 0.0
                continue
            x = XS[0, b]
            prev = H[b, tt - 1] if tt > 0 else H0[b]
            gate = S[b, tt] if kind == MIN_LSTM else S[0, 0]
            for j in range(u):
                g = dh[j] + d[j]
                s = gate[j] if kind == MIN_LSTM else _sigmoid(x[j])
                one = _like(s, 1.0)
                v = x[(gates - U64(1)) * u + j]
                sv = _sigmoid(v)
                pos = v >= _like(v, 0.0)
                cand = v + _like(v, 0.5) if pos else sv
                dcand = one if pos else sv * (one - sv)
                ds = s * (one - s) * g * (cand - prev[j])  # d/d(the pre-activation of s)
                if kind == MIN_GRU:
                    dx[j] = ds
                    dx[u + j] = g * s * dcand
                else:  # d diff / d kf = -sigmoid(-kf), d diff / d ki = sigmoid(-ki)
                    dx[j] = -ds * (one - _sigmoid(x[j]))
                    dx[u + j] = ds * (one - _sigmoid(x[u + j]))
                    dx[u + u + j] = g * s * dcand
                d[j] = g * (one - s)
        if has_dx:
            _gemm(DXB, t, U64(0), U64(DXB.shape[2]), WT, DX, tt, U64(0), lo, hi)


@njit(**_JIT)
def min_weight_grad(XT, DXB, DW, ka, act, ract, lo, hi):
    """``DW[0, f] += XT[0, f, ka : ka + n] @ DXB`` for the feature rows ``f`` in ``lo:hi``:
    the weight (and bias) gradient of one block, ``DXB`` (n, gates u) its projection's gradient
    and ``XT`` (1, F + 1, T B) the transposed input. Threads split the feature rows, so every
    row is summed in the same order whatever the split."""
    _gemm_acc(XT, 0, U64(ka), U64(DXB.shape[0]), DXB, DW, 0, U64(0), lo, hi)
