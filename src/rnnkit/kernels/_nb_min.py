# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels of the min cells (MinGRU, MinLSTM) on CPU: the gates and the linear recurrence
``h_t = a_t h_{t-1} + b_t`` in one pass over time, forward and hand-written backward.

Each thread owns a range of batch rows (``lo, hi``) and runs them through every step; within a
step the loop over units is element-wise, so LLVM vectorises it. Sequential in time, this does
one read of the input projection and one write of the states per step (the log-space parallel
scan of ``_scan`` makes some twenty passes over memory): on a CPU the batch and unit axes already
fill the cores. Inputs come in processing order (``go_backwards`` already applied).

``kind`` (the ``act`` slot of the row-launch convention, a literal): 0 MinGRU (gates k, v:
``a = 1 - sigmoid(k)``, ``b = sigmoid(k) g(v)``), 1 MinLSTM (gates k_f, k_i, v: ``s =
sigmoid(diff)``, ``diff = softplus(-k_f) - softplus(-k_i)``, ``a = 1 - s``, ``b = s g(v)``).
"""

from __future__ import annotations

import math

from numba import literally, njit

from ._nb import _JIT, U64, _like, _sigmoid

MIN_GRU, MIN_LSTM = 0, 1


@njit(**_JIT, inline="always")
def _softplus(x):
    zero = _like(x, 0.0)
    return max(x, zero) + math.log1p(math.exp(-abs(x)))


@njit(**_JIT, inline="always")
def _g(v):
    return v + _like(v, 0.5) if v >= _like(v, 0.0) else _sigmoid(v)


@njit(**_JIT, inline="always")
def _g_grad(v):
    s = _sigmoid(v)
    one = _like(v, 1.0)
    return one if v >= _like(v, 0.0) else s * (one - s)


@njit(**_JIT, inline="always")
def _mix(XP, b, t, j, u, kind):
    """(a, b, s, v): the recurrence's coefficients, the write gate and the candidate's input."""
    if kind == MIN_GRU:
        s = _sigmoid(XP[b, t, j])
        v = XP[b, t, u + j]
    else:
        s = _sigmoid(_softplus(-XP[b, t, j]) - _softplus(-XP[b, t, u + j]))
        v = XP[b, t, u + u + j]
    return _like(s, 1.0) - s, s * _g(v), s, v


@njit(**_JIT)
def min_forward(XP, H0, keep, has_mask, H, act, ract, lo, hi):
    """All states ``H`` (B, T, u) from the projection ``XP`` (B, T, gates u) and ``H0``."""
    kind = literally(act)
    T, u = XP.shape[1], U64(H0.shape[1])
    for b in range(lo, hi):
        for t in range(T):
            if has_mask and not keep[b, t]:
                for j in range(u):
                    H[b, t, j] = H0[b, j] if t == 0 else H[b, t - 1, j]
                continue
            if t == 0:  # separate loops: a select per element would keep LLVM from vectorising
                for j in range(u):
                    a, c, _, _ = _mix(XP, b, t, j, u, kind)
                    H[b, t, j] = a * H0[b, j] + c
            else:
                for j in range(u):
                    a, c, _, _ = _mix(XP, b, t, j, u, kind)
                    H[b, t, j] = a * H[b, t - 1, j] + c


@njit(**_JIT)
def min_backward(XP, H0, keep, has_mask, H, DH, DXP, DH0, act, ract, lo, hi):
    """``DXP`` (B, T, gates u) and ``DH0`` (B, u) from ``DH`` (B, T, u), the gradient of every
    state; ``DH0`` carries the running gradient of the state between steps."""
    kind = literally(act)
    T, u = XP.shape[1], U64(H0.shape[1])
    gates = U64(DXP.shape[2]) // u
    for b in range(lo, hi):
        for j in range(u):
            DH0[b, j] = 0.0
        for t in range(T - 1, -1, -1):
            if has_mask and not keep[b, t]:
                for j in range(u):
                    DH0[b, j] += DH[b, t, j]
                    for k in range(gates):
                        DXP[b, t, k * u + j] = 0.0
                continue
            for j in range(u):
                g = DH[b, t, j] + DH0[b, j]
                prev = H0[b, j] if t == 0 else H[b, t - 1, j]
                a, _, s, v = _mix(XP, b, t, j, u, kind)
                cand = _g(v)
                one = _like(s, 1.0)
                ds = s * (one - s) * g * (cand - prev)  # d/d(pre-activation of s)
                if kind == MIN_GRU:
                    DXP[b, t, j] = ds
                    DXP[b, t, u + j] = g * s * _g_grad(v)
                else:
                    DXP[b, t, j] = -ds * (one - _sigmoid(XP[b, t, j]))
                    DXP[b, t, u + j] = ds * (one - _sigmoid(XP[b, t, u + j]))
                    DXP[b, t, u + u + j] = g * s * _g_grad(v)
                DH0[b, j] = g * a
