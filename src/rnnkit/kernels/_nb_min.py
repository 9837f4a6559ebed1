# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the min cells (MinGRU, MinLSTM) on CPU: the gates and the linear recurrence
``h_t = a_t h_{t-1} + b_t`` in one pass over time, forward and hand-written backward.

Each thread owns a range of batch rows (``lo, hi``); a call runs one block of steps (the
caller's blocks keep the block's projection in cache between its product and this pass), step
by step, every owned row within a step (the projection is time-major, so a step's rows are
contiguous: 25 % faster backward than row by row); within a row the loop over units is
element-wise, so LLVM vectorises it. Sequential in time, this does one read of the input
projection and one write of the states per step (the log-space parallel scan of ``_scan`` makes
some twenty passes over memory): on a CPU the batch and unit axes already fill the cores. A
sequential recurrence with ``a_t`` in (0, 1) is stable in linear space, so no logarithm is
taken (float32 at 4,096 steps: ``tests/layers/test_min_cells.py``). Inputs come in processing
order (``go_backwards`` already applied).

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
def min_forward(XB, keep, has_mask, H, HN, S, t0, act, ract, lo, hi):
    """The states ``H[:, t0 : t0 + tb]`` (``H`` (B, T, u)) of one block of ``tb`` steps from its
    projection ``XB`` (tb, B, gates u; time-major, so that a block is contiguous and stays in
    cache between its product and this pass); ``HN`` (B, u) holds the running state (the caller
    sets it to the initial state before the first block; the last state on return). MinLSTM
    keeps its write gates in ``S`` (B, T, u) for the backward (three scalar ``exp``/``log``
    each); MinGRU's is one vectorised sigmoid to recompute, and its ``S`` is a dummy."""
    kind = literally(act)
    tb, u = XB.shape[0], U64(HN.shape[1])
    gates = U64(XB.shape[2]) // u
    for t in range(tb):
        for b in range(lo, hi):
            c = HN[b]
            out = H[b, t0 + t]
            if has_mask and not keep[b, t0 + t]:
                for j in range(u):
                    out[j] = c[j]
                continue
            x = XB[t, b]
            if kind == MIN_LSTM:
                gate = S[b, t0 + t]
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
def min_backward(XB, H0, keep, has_mask, H, S, DH, DXB, DH0, DB, t0, act, ract, lo, hi):
    """``DXB`` (tb, B, gates u), the projection's gradient of one block of ``tb`` steps from
    ``t0`` (``XB`` its projection), from ``DH`` (B, T, u), the gradient of every state. Blocks
    run last to first; ``DH0`` (B, u; zeros before the last block) carries the running gradient
    of the state between steps and blocks (the initial state's gradient on return from the first
    block); ``DB`` (B, gates u) accumulates each row's bias gradient (the caller sums the rows).
    ``S`` MinLSTM's write gates from the forward."""
    kind = literally(act)
    tb, u = XB.shape[0], U64(H0.shape[1])
    gates = U64(XB.shape[2]) // u
    for t in range(tb - 1, -1, -1):
        tt = t0 + t
        for b in range(lo, hi):
            d = DH0[b]
            db = DB[b]
            dh, dx = DH[b, tt], DXB[t, b]
            if has_mask and not keep[b, tt]:
                for j in range(u):
                    d[j] += dh[j]
                for j in range(gates * u):
                    dx[j] = 0.0
                continue
            x = XB[t, b]
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
                dv = g * s * dcand
                if kind == MIN_GRU:
                    dx[j] = ds
                    dx[u + j] = dv
                    db[j] += ds
                    db[u + j] += dv
                else:  # d diff / d kf = -sigmoid(-kf), d diff / d ki = sigmoid(-ki)
                    dkf = -ds * (one - _sigmoid(x[j]))
                    dki = ds * (one - _sigmoid(x[u + j]))
                    dx[j] = dkf
                    dx[u + j] = dki
                    dx[u + u + j] = dv
                    db[j] += dkf
                    db[u + j] += dki
                    db[u + u + j] += dv
                d[j] = g * (one - s)
