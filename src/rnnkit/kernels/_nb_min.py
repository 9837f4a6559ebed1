# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the min cells (MinGRU, MinLSTM) on CPU: the gates and the linear recurrence
``h_t = a_t h_{t-1} + b_t`` in one pass over time, forward and hand-written backward.

Each thread owns a range of batch rows (``lo, hi``) and runs them through every step; within a
step the loop over units is element-wise, so LLVM vectorises it. Sequential in time, this does
one read of the input projection and one write of the states per step (the log-space parallel
scan of ``_scan`` makes some twenty passes over memory): on a CPU the batch and unit axes already
fill the cores. A sequential recurrence with ``a_t`` in (0, 1) is stable in linear space, so no
logarithm is taken. Inputs come in processing order (``go_backwards`` already applied).

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

from ._nb import _JIT, U64, _like, _sigmoid

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
def min_forward(XP, H0, keep, has_mask, H, HN, S, act, ract, lo, hi):
    """All states ``H`` (B, T, u) from the projection ``XP`` (B, T, gates u) and ``H0``; ``HN``
    (B, u) holds the running state (the last state on return). MinLSTM keeps its write gates in
    ``S`` (B, T, u) for the backward (three scalar ``exp``/``log`` each); MinGRU's is one
    vectorised sigmoid to recompute, and its ``S`` is a dummy."""
    kind = literally(act)
    T, u = XP.shape[1], U64(H0.shape[1])
    gates = U64(XP.shape[2]) // u
    for b in range(lo, hi):
        c = HN[b]
        for j in range(u):
            c[j] = H0[b, j]
        for t in range(T):
            out = H[b, t]
            if has_mask and not keep[b, t]:
                for j in range(u):
                    out[j] = c[j]
                continue
            x = XP[b, t]
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
def min_backward(XP, H0, keep, has_mask, H, S, DH, DXP, DH0, act, ract, lo, hi):
    """``DXP`` (B, T, gates u) and ``DH0`` (B, u) from ``DH`` (B, T, u), the gradient of every
    state; ``DH0`` carries the running gradient of the state between steps; ``S`` MinLSTM's
    write gates from the forward."""
    kind = literally(act)
    T, u = XP.shape[1], U64(H0.shape[1])
    gates = U64(XP.shape[2]) // u
    for b in range(lo, hi):
        d = DH0[b]
        for j in range(u):
            d[j] = 0.0
        for t in range(T - 1, -1, -1):
            dh, dx = DH[b, t], DXP[b, t]
            if has_mask and not keep[b, t]:
                for j in range(u):
                    d[j] += dh[j]
                for j in range(gates * u):
                    dx[j] = 0.0
                continue
            x = XP[b, t]
            prev = H[b, t - 1] if t > 0 else H0[b]
            gate = S[b, t] if kind == MIN_LSTM else S[0, 0]
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
