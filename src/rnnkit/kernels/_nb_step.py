# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba single-step kernels at batch 1, for streaming (``_stream``): one recurrent step per
cell kind, vectors in, states updated in place.
"""

from __future__ import annotations

from numba import literally, njit

from ._nb_act import _act
from ._nb_setup import _JIT

# --------------------------------------------------------------------------------------------
# Single steps at batch 1 (streaming): vectors in, states updated in place. ``z``, ``zr``,
# ``rh`` are scratch vectors. Same activations as the sequence kernels.


@njit(**_JIT, inline="always")
def _affine(x, W, z, first):
    """z += x @ W (``first``: z = x @ W)."""
    G = z.shape[0]
    if first:
        for j in range(G):
            z[j] = z.dtype.type(0.0)
    for k in range(x.shape[0]):
        xk = x[k]
        for j in range(G):
            z[j] += xk * W[k, j]


@njit(**_JIT)
def lstm_step(x, W, U, b, h, c, z, act, ract):
    act = literally(act)
    ract = literally(ract)
    u = h.shape[0]
    _affine(x, W, z, True)
    _affine(h, U, z, False)
    for j in range(u):
        i = _act(z[j] + b[j], ract)
        f = _act(z[u + j] + b[u + j], ract)
        g = _act(z[2 * u + j] + b[2 * u + j], act)
        o = _act(z[3 * u + j] + b[3 * u + j], ract)
        cn = f * c[j] + i * g
        c[j] = cn
        h[j] = o * _act(cn, act)


@njit(**_JIT)
def gru_step(x, W, U, bin, brec, h, z, zr, act, ract):
    """reset_after=True: the recurrent bias inside the reset product."""
    act = literally(act)
    ract = literally(ract)
    u = h.shape[0]
    one = h.dtype.type(1.0)
    _affine(x, W, z, True)
    _affine(h, U, zr, True)
    for j in range(u):
        zz = _act(z[j] + bin[j] + zr[j] + brec[j], ract)
        r = _act(z[u + j] + bin[u + j] + zr[u + j] + brec[u + j], ract)
        hh = _act(z[2 * u + j] + bin[2 * u + j] + r * (zr[2 * u + j] + brec[2 * u + j]), act)
        h[j] = zz * h[j] + (one - zz) * hh


@njit(**_JIT)
def gru_v1_step(x, W, U, b, h, z, zr, rh, act, ract):
    """reset_after=False: the candidate's product takes r * h."""
    act = literally(act)
    ract = literally(ract)
    u = h.shape[0]
    one = h.dtype.type(1.0)
    _affine(x, W, z, True)
    for j in range(2 * u):
        zr[j] = h.dtype.type(0.0)
    for k in range(u):
        hk = h[k]
        for j in range(2 * u):
            zr[j] += hk * U[k, j]
    for j in range(u):
        r = _act(z[u + j] + b[u + j] + zr[u + j], ract)
        rh[j] = r * h[j]
    for j in range(u):
        zr[2 * u + j] = h.dtype.type(0.0)
    for k in range(u):
        rk = rh[k]
        for j in range(u):
            zr[2 * u + j] += rk * U[k, 2 * u + j]
    for j in range(u):
        zz = _act(z[j] + b[j] + zr[j], ract)
        hh = _act(z[2 * u + j] + b[2 * u + j] + zr[2 * u + j], act)
        h[j] = zz * h[j] + (one - zz) * hh


@njit(**_JIT)
def simple_step(x, W, U, b, h, z, act, ract):
    act = literally(act)
    _affine(x, W, z, True)
    _affine(h, U, z, False)
    for j in range(h.shape[0]):
        h[j] = _act(z[j] + b[j], act)


@njit(**_JIT)
def dense_step(x, W, b, y, act, ract):
    """y = act(x W + b)."""
    act = literally(act)
    _affine(x, W, y, True)
    for j in range(y.shape[0]):
        y[j] = _act(y[j] + b[j], act)
