"""The "triton" engine: whole-sequence Triton kernels for the calls cuDNN cannot compute.

PyTorch's cuDNN ops take no mask, no recurrent dropout, no IndRNN and only GRU's
``reset_after=True`` form; on CUDA these calls run here instead of on the Python loop. One
kernel launch runs the whole sequence: each program owns a block of ``BLOCK_B`` batch rows and
loops over every time step inside the kernel (persistent over time), so a step costs no launch.

Layout (time-major, like the numba engine in ``_nb``/``_fused``):

* ``xp`` (time, batch, gates * units) is the input projection ``(x * dropout_mask) W + b_in`` of
  the whole sequence, one torch matmul *outside* the kernel (autograd differentiates it, so the
  gradients of ``x``, ``W`` and ``b_in`` are single large products too);
* ``h``, ``c`` (batch, units) hold the states and ``p`` the previous output: filled with the
  initial values, updated in place, read back as the final ones (gradients: ``dh``, ``dc``,
  ``dp``);
* per step, ``hin = h * recurrent_dropout_mask`` is staged in ``hin[t]`` (time, batch, units) and
  the recurrent product ``hin @ U`` is a loop of ``tl.dot`` over (``BLOCK_K``, ``BLOCK_N``) tiles
  of ``U`` (any number of units; tiles are padded to at least 16, ``tl.dot``'s minimum, with
  masked loads and stores); gates are computed per ``BLOCK_N`` unit columns;
* the forward kernel keeps per-step values for the backward pass (gates after their
  activations, the previous states), indexed by the time index ``t``; without gradients their
  time axis has length 1 (``STORE = 0``) and only serves as the step's scratch;
* the backward kernel runs the steps in reverse and writes ``dxg`` (time, batch, gates * units),
  the gradient of the pre-activations, and ``d(initial states)``; the gradients of ``U`` (and of
  GRU's recurrent bias) are then one large product ``hin^T @ dxg`` after the loop.

Within a step, phases that read values written by other threads of the program (the staged
``hin`` row, another column block's gate gradients) are separated by ``tl.debug_barrier()``.

Masks follow Keras (see ``_api``): where ``mask[b, t]`` is False the states keep their values and
the output repeats the previous output, or is zero with ``zero_output_for_mask``; in the backward
pass such a step passes ``dh``/``dc`` through unchanged and its output gradient to the previous
output (unless ``zero_output_for_mask``).

Triton is optional and imported on first use (:func:`available`). On CUDA tensors the kernels are
compiled; on CPU tensors they run under Triton's interpreter (numpy), which is how the tests check
them without a GPU; :func:`rnnkit.kernels.plan_engine` only picks "triton" on CPU when forced and
``TRITON_INTERPRET=1``. float32 products run in IEEE precision (no TF32), so results match the
other engines to float32 rounding.
"""

from __future__ import annotations

import os
import threading
import types
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._api import RecurrentCall, RecurrentResult
from ._loop import input_bias

TRITON_DTYPES = (torch.float32, torch.float64)
#: Activation codes of the kernels (the same as the numba engine's).
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
TRITON_ACTIVATIONS = tuple(ACTIVATION_CODES)
INTERPRET_ENV = "TRITON_INTERPRET"

#: Rows of the batch per program (``tl.dot`` needs at least 16).
BLOCK_B = 16
#: Largest unit block of the recurrent product's tiles (float32; float64 uses half).
MAX_BLOCK_UNITS = 64
#: Launch options: the k-loops are short, so no software pipelining (num_stages=1 keeps the
#: shared memory of the largest kernel at 20 KiB for float32 at 64 units per block, where the
#: default pipelining needs 136 KiB).
_LAUNCH = {"num_warps": 4, "num_stages": 1}

_GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1, "indrnn": 1}

# The kernels below are plain functions until first use: :func:`_kernels` copies them into a
# namespace holding ``tl`` and wraps each in Triton's JIT (compiled) or interpreter. ``tl`` here
# only names that module for type checkers; ``constexpr`` marks compile-time parameters (an
# ``int`` for type checkers; in the kernels' namespace it is ``tl.constexpr``).
tl: Any = None
constexpr = int


def _act(v, CODE: constexpr):
    """act(v): 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid (clip(v / 6 + 1 / 2, 0, 1))."""
    out = v
    if CODE == 1:
        e = tl.exp(-2.0 * tl.abs(v))
        th = (1.0 - e) / (1.0 + e)
        out = tl.where(v < 0, -th, th)
    elif CODE == 2:
        out = 1.0 / (1.0 + tl.exp(-v))
    elif CODE == 3:
        out = tl.maximum(v, 0.0)
    elif CODE == 4:
        out = tl.minimum(tl.maximum(v / 6.0 + 0.5, 0.0), 1.0)
    return out


def _dact(y, CODE: constexpr):
    """act'(x) written with y = act(x) (0 at the kinks, as torch)."""
    out = y * 0.0 + 1.0
    if CODE == 1:
        out = 1.0 - y * y
    elif CODE == 2:
        out = y * (1.0 - y)
    elif CODE == 3:
        out = (y > 0).to(y.dtype)
    elif CODE == 4:
        out = ((y > 0) & (y < 1)).to(y.dtype) / 6.0
    return out


def _tile(ptr, rows, cols, ld, rm, cm):
    """The (rows, cols) tile of a row-major matrix with leading dimension ``ld`` (0 outside)."""
    ok = rm[:, None] & cm[None, :]
    return tl.load(ptr + rows[:, None] * ld + cols[None, :], mask=ok, other=0.0)


def _put(ptr, rows, cols, ld, rm, cm, v):
    """Store ``v`` into the (rows, cols) tile of a row-major matrix."""
    tl.store(ptr + rows[:, None] * ld + cols[None, :], v, mask=rm[:, None] & cm[None, :])


def _tile_t(ptr, rows, cols, ld, rm, cm):
    """The transposed tile: (cols, rows) of a row-major matrix, i.e. ``M[rows, cols]^T``."""
    ok = rm[None, :] & cm[:, None]
    return tl.load(ptr + rows[None, :] * ld + cols[:, None], mask=ok, other=0.0)


def _mm(a, b):
    """a @ b in IEEE precision (no TF32)."""
    return tl.dot(a, b, input_precision="ieee")


def _keep(mask, t, B, rows, rm, HAS_MASK: constexpr):
    """(BLOCK_B, 1) bool: the rows whose step ``t`` is not masked (every row without a mask)."""
    keep = rm[:, None]
    if HAS_MASK:
        m = tl.load(mask + t * B + rows, mask=rm, other=0)
        keep = (m != 0)[:, None]
    return keep


def _stage(h, rd, hin_t, rows, rm, U, HAS_RD: constexpr, BLOCK_N: constexpr):
    """hin_t = h * rd (the recurrent product's input), then a barrier."""
    for n0 in range(0, U, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        cm = cols < U
        v = _tile(h, rows, cols, U, rm, cm)
        if HAS_RD:
            v = v * _tile(rd, rows, cols, U, rm, cm)
        _put(hin_t, rows, cols, U, rm, cm, v)
    tl.debug_barrier()


def _emit(
    h,
    p,
    seq_s,
    rows,
    cols,
    U,
    rm,
    cm,
    h_new,
    h_old,
    keep,
    HAS_MASK: constexpr,
    ZERO_OUT: constexpr,
    RET_SEQ: constexpr,
):
    """Write the step's state h, previous output p and sequence output (Keras's mask rule)."""
    st = h_new
    o = h_new
    if HAS_MASK:
        st = tl.where(keep, h_new, h_old)
        if ZERO_OUT:
            o = tl.where(keep, h_new, 0.0)
        else:
            o = tl.where(keep, h_new, _tile(p, rows, cols, U, rm, cm))
    _put(h, rows, cols, U, rm, cm, st)
    _put(p, rows, cols, U, rm, cm, o)
    if RET_SEQ:
        _put(seq_s, rows, cols, U, rm, cm, o)


def _grad_in(dh, dp, dseq_s, rows, cols, U, rm, cm, keep, HAS_MASK: constexpr, RET_SEQ: constexpr):
    """(d h_new of the cell, dh carried, dp carried): the step's incoming gradient."""
    d_h = _tile(dh, rows, cols, U, rm, cm)
    d_p = _tile(dp, rows, cols, U, rm, cm)
    if RET_SEQ:
        d_p += _tile(dseq_s, rows, cols, U, rm, cm)
    dhn = d_h + d_p
    if HAS_MASK:
        dhn = tl.where(keep, dhn, 0.0)
    return dhn, d_h, d_p


def _grad_out(
    dh, dp, rows, cols, U, rm, cm, keep, dh_cell, d_h, d_p, HAS_MASK: constexpr, ZERO_OUT: constexpr
):
    """Carry dh (the cell's direct term, or d_h through a masked step) and dp to step t - 1."""
    nh = dh_cell
    np_ = d_p * 0.0
    if HAS_MASK:
        nh = tl.where(keep, dh_cell, d_h)
        if not ZERO_OUT:
            np_ = tl.where(keep, 0.0, d_p)
    _put(dh, rows, cols, U, rm, cm, nh)
    _put(dp, rows, cols, U, rm, cm, np_)


def _add_rec_grad(
    dh, rd, dg_t, u, rows, rm, U, LD, NG, HAS_RD: constexpr, BLOCK_N: constexpr, BLOCK_K: constexpr
):
    """dh += rd * (dg_t[:, :NG * U] @ U[:, :NG * U]^T) by unit blocks, then a barrier.

    ``dg_t`` (batch, LD) holds the step's pre-activation gradients, ``u`` (units, LD).
    """
    for k0 in range(0, U, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        km = ks < U
        acc = _tile(dh, rows, ks, U, rm, km) * 0.0
        for g in range(0, NG):
            for n0 in range(0, U, BLOCK_N):
                cols = n0 + tl.arange(0, BLOCK_N)
                cm = cols < U
                dg = _tile(dg_t, rows, g * U + cols, LD, rm, cm)  # (BLOCK_B, BLOCK_N)
                wt = _tile_t(u, ks, g * U + cols, LD, km, cm)  # (BLOCK_N, BLOCK_K)
                acc += _mm(dg, wt)
        if HAS_RD:
            acc = acc * _tile(rd, rows, ks, U, rm, km)
        _put(dh, rows, ks, U, rm, km, _tile(dh, rows, ks, U, rm, km) + acc)
    tl.debug_barrier()


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


_DEVICE_FNS = (
    "_act",
    "_dact",
    "_tile",
    "_put",
    "_tile_t",
    "_mm",
    "_keep",
    "_stage",
    "_emit",
    "_grad_in",
    "_grad_out",
    "_add_rec_grad",
)
_KERNEL_FNS = (
    "_lstm_fwd",
    "_lstm_bwd",
    "_simple_fwd",
    "_simple_bwd",
    "_indrnn_fwd",
    "_indrnn_bwd",
    "_gru_fwd",
    "_gru_bwd",
    "_gru1_fwd",
    "_gru1_bwd",
)

_available: bool | None = None
_KERNELS: dict[bool, dict[str, Any]] = {}
_lock = threading.Lock()


def available() -> bool:
    """Whether Triton can be imported (checked once; the package works without it)."""
    global _available
    if _available is None:
        try:
            import triton  # noqa: F401
            import triton.language  # noqa: F401
        except Exception:  # any failure to import means: no Triton engine
            _available = False
        else:
            _available = True
    return _available


def interpreter_enabled() -> bool:
    """``TRITON_INTERPRET=1``: CPU tensors may run the kernels under Triton's interpreter."""
    return os.environ.get(INTERPRET_ENV, "0").strip().lower() in ("1", "true", "on", "yes")


def _kernels(interpret: bool) -> dict[str, Any]:
    """The kernels, wrapped once per mode: Triton's interpreter (CPU tensors) or its JIT.

    Each plain function above is copied into a fresh namespace holding ``tl`` and the wrapped
    helpers, so that the kernels resolve their helpers to the wrapper of the same mode.
    """
    with _lock:
        found = _KERNELS.get(interpret)
        if found is not None:
            return found
        if not available():
            raise RuntimeError("expected triton to be installed for the triton engine, got none")
        import triton
        import triton.language as tl_mod
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction

        wrap: Any = InterpretedFunction if interpret else JITFunction
        ns: dict[str, Any] = {"__name__": __name__, "tl": tl_mod, "triton": triton}
        ns["constexpr"] = tl_mod.constexpr
        here = globals()
        for name in _DEVICE_FNS + _KERNEL_FNS:
            raw = here[name]
            fn = types.FunctionType(raw.__code__, ns, name, raw.__defaults__)
            fn.__annotations__ = dict(raw.__annotations__)  # "constexpr" marks (as text)
            fn.__doc__ = raw.__doc__
            ns[name] = fn
        for name in _DEVICE_FNS + _KERNEL_FNS:
            ns[name] = wrap(ns[name])
        _KERNELS[interpret] = ns
        return ns


class _Spec(NamedTuple):
    cell: str
    reset_after: bool
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool
    store: bool  # keep the per-step values for a backward pass


def _blocks(units: int, dtype: torch.dtype) -> int:
    """The unit block of the product tiles: a power of two in [16, MAX_BLOCK_UNITS] (float64:
    at most half of it, for the same shared memory)."""
    cap = MAX_BLOCK_UNITS if dtype == torch.float32 else max(16, MAX_BLOCK_UNITS // 2)
    return min(max(16, 1 << max(0, (units - 1).bit_length())), cap)


class _TritonRecurrence(torch.autograd.Function):
    """(xp, U, b_rec, h0, c0; mask, rec. dropout) -> (outputs, h_T[, c_T]).

    ``xp`` (time, batch, gates * units) is the input projection; its gradient is the kernels'
    ``dxg``, from which autograd forms the gradients of ``x``, ``W`` and ``b_in`` outside.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: _Spec,
        xp: Tensor,
        rec: Tensor,
        brec: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        mask: Tensor | None,
        rd: Tensor | None,
    ) -> tuple[Tensor, ...]:
        time, batch, gates = xp.shape
        units = h0.shape[1]
        ks = _kernels(xp.device.type == "cpu")
        dev, dtype = xp.device, xp.dtype
        ts = time if spec.store else 1
        xp = xp.detach().contiguous()
        u = rec.detach().contiguous()

        def buf(*shape: int) -> Tensor:
            return torch.empty(shape, dtype=dtype, device=dev)

        h = h0.detach().to(dtype).clone().contiguous()  # (batch, units): final h on return
        p = torch.zeros(batch, units, dtype=dtype, device=dev)
        seq = buf(time, batch, units) if spec.return_sequences else buf(1)
        hin = buf(ts, batch, units)
        mask_k = mask if mask is not None else torch.ones(1, dtype=torch.int8, device=dev)
        rd_k = rd.detach().contiguous() if rd is not None else buf(1)
        bn = _blocks(units, dtype)
        grid = (_cdiv(batch, BLOCK_B),)
        flags = dict(
            HAS_MASK=mask is not None,
            HAS_RD=rd is not None,
            BACKWARDS=spec.go_backwards,
            ZERO_OUT=spec.zero_output,
            RET_SEQ=spec.return_sequences,
            STORE=int(spec.store),
            ACT=spec.act,
            BLOCK_B=BLOCK_B,
            BLOCK_N=bn,
            **_LAUNCH,
        )
        head = (time, batch, units)
        c: Tensor | None = None
        saved: list[Tensor] = []
        if spec.cell == "lstm":
            assert c0 is not None
            c = c0.detach().to(dtype).clone().contiguous()
            gsv, csv = buf(ts, batch, gates), buf(ts, batch, units)
            ks["_lstm_fwd"][grid](
                xp,
                u,
                h,
                c,
                p,
                seq,
                mask_k,
                rd_k,
                hin,
                gsv,
                csv,
                *head,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            saved = [hin, gsv, csv]
        elif spec.cell == "simple_rnn":
            gsv = buf(ts, batch, units)
            ks["_simple_fwd"][grid](
                xp, u, h, p, seq, mask_k, rd_k, hin, gsv, *head, BLOCK_K=bn, **flags
            )
            saved = [hin, gsv]
        elif spec.cell == "indrnn":
            gsv = buf(ts, batch, units)
            ks["_indrnn_fwd"][grid](xp, u, h, p, seq, mask_k, rd_k, hin, gsv, *head, **flags)
            saved = [hin, gsv]
        elif spec.reset_after:
            gsv, hsv = buf(ts, batch, 4 * units), buf(ts, batch, units)
            brec_k = brec.detach().contiguous() if brec is not None else buf(1)
            ks["_gru_fwd"][grid](
                xp,
                u,
                brec_k,
                h,
                p,
                seq,
                mask_k,
                rd_k,
                hin,
                gsv,
                hsv,
                *head,
                HAS_BREC=brec is not None,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            saved = [hin, gsv, hsv]
        else:
            gsv, hsv, rsv = buf(ts, batch, gates), buf(ts, batch, units), buf(ts, batch, units)
            ks["_gru1_fwd"][grid](
                xp,
                u,
                h,
                p,
                seq,
                mask_k,
                rd_k,
                hin,
                gsv,
                hsv,
                rsv,
                *head,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            saved = [hin, gsv, hsv, rsv]
        if spec.store:
            ctx.spec = spec
            ctx.has_mask = mask is not None
            ctx.has_rd = rd is not None
            ctx.save_for_backward(u, mask_k, rd_k, *saved)
        out = seq.transpose(0, 1) if spec.return_sequences else p  # (batch, time, units)
        if c is not None:
            return out, h, c
        return out, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        spec: _Spec = ctx.spec
        u, mask_k, rd_k, hin, *saved = ctx.saved_tensors
        time, batch, units = hin.shape
        gates = _GATES[spec.cell] * units
        dev, dtype = hin.device, hin.dtype
        ks = _kernels(dev.type == "cpu")
        needs = ctx.needs_input_grad  # (spec, xp, rec, brec, h0, c0, mask, rd)
        dh_t = dh.detach().to(dtype).clone().contiguous()  # (batch, units): d h0 on return
        if spec.return_sequences:
            dseq = dout.detach().to(dtype).transpose(0, 1).contiguous()  # (time, batch, units)
            dp = torch.zeros(batch, units, dtype=dtype, device=dev)
        else:
            dseq = torch.empty(1, dtype=dtype, device=dev)
            dp = dout.detach().to(dtype).clone().contiguous()
        dxg = torch.empty(time, batch, gates, dtype=dtype, device=dev)
        bn = _blocks(units, dtype)
        grid = (_cdiv(batch, BLOCK_B),)
        flags = dict(
            HAS_MASK=ctx.has_mask,
            HAS_RD=ctx.has_rd,
            BACKWARDS=spec.go_backwards,
            ZERO_OUT=spec.zero_output,
            RET_SEQ=spec.return_sequences,
            ACT=spec.act,
            BLOCK_B=BLOCK_B,
            BLOCK_N=bn,
            **_LAUNCH,
        )
        head = (time, batch, units)
        flat = time * batch
        hin2 = hin.view(flat, units)
        dxg2 = dxg.view(flat, gates)
        drec = dbrec = None
        dc_t: Tensor | None = None
        if spec.cell == "lstm":
            gsv, csv = saved
            dc_t = rest[0].detach().to(dtype).clone().contiguous()
            ks["_lstm_bwd"][grid](
                u,
                gsv,
                csv,
                mask_k,
                rd_k,
                dseq,
                dh_t,
                dc_t,
                dp,
                dxg,
                *head,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            if needs[2]:
                drec = hin2.T @ dxg2  # (units, 4 units)
        elif spec.cell == "simple_rnn":
            (gsv,) = saved
            ks["_simple_bwd"][grid](
                u, gsv, mask_k, rd_k, dseq, dh_t, dp, dxg, *head, BLOCK_K=bn, **flags
            )
            if needs[2]:
                drec = hin2.T @ dxg2  # (units, units)
        elif spec.cell == "indrnn":
            (gsv,) = saved
            ks["_indrnn_bwd"][grid](u, gsv, mask_k, rd_k, dseq, dh_t, dp, dxg, *head, **flags)
            if needs[2]:
                drec = (dxg2 * hin2).sum(0)  # (units,)
        elif spec.reset_after:
            gsv, hsv = saved
            drg = torch.empty(time, batch, gates, dtype=dtype, device=dev)
            ks["_gru_bwd"][grid](
                u,
                gsv,
                hsv,
                mask_k,
                rd_k,
                dseq,
                dh_t,
                dp,
                dxg,
                drg,
                *head,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            drg2 = drg.view(flat, gates)
            if needs[2]:
                drec = hin2.T @ drg2  # (units, 3 units)
            if needs[3]:
                dbrec = drg2.sum(0)  # (3 units,)
        else:
            gsv, hsv, rsv = saved
            ks["_gru1_bwd"][grid](
                u,
                gsv,
                hsv,
                hin,
                mask_k,
                rd_k,
                dseq,
                dh_t,
                dp,
                dxg,
                *head,
                RACT=spec.ract,
                BLOCK_K=bn,
                **flags,
            )
            if needs[2]:
                d_zr = hin2.T @ dxg2[:, : 2 * units]  # (units, 2 units)
                d_h = rsv.view(flat, units).T @ dxg2[:, 2 * units :]  # (units, units)
                drec = torch.cat([d_zr, d_h], dim=1)  # (units, 3 units)
        grads: tuple[Tensor | None, ...] = (dxg, drec, dbrec, dh_t, dc_t)
        grads = tuple(g if need else None for g, need in zip(grads, needs[1:6], strict=True))
        return (None, *grads, None, None)


def _cdiv(a: int, b: int) -> int:
    """ceil(a / b) for positive ints."""
    return -(-a // b)


def _check_call(call: RecurrentCall) -> None:
    """Shapes, dtypes and devices: the kernels index without bounds checks beyond these."""
    x = call.x
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (batch, time, features), got {tuple(x.shape)}")
    if x.dtype not in TRITON_DTYPES:
        raise TypeError(f"expected x as float32 or float64, got {x.dtype}")
    if x.device.type not in ("cuda", "cpu"):
        raise ValueError(f"expected CUDA (or CPU, interpreted) tensors, got {x.device}")
    batch, time, features = x.shape
    units = call.units
    gates = _GATES[call.cell]
    expect: dict[str, tuple[Tensor | None, tuple[int, ...]]] = {
        "kernel": (call.kernel, (features, gates * units)),
        "recurrent_kernel": (
            call.recurrent_kernel,
            (units,) if call.cell == "indrnn" else (units, gates * units),
        ),
        "dropout_mask": (call.dropout_mask, (batch, features)),
        "recurrent_dropout_mask": (call.recurrent_dropout_mask, (batch, units)),
        "mask": (call.mask, (batch, time)),
    }
    if call.bias is not None:
        gru2 = call.cell == "gru" and call.reset_after
        expect["bias"] = (call.bias, (2, gates * units) if gru2 else (gates * units,))
    n_states = 2 if call.cell == "lstm" else 1
    if len(call.states) != n_states:
        raise ValueError(f"expected {n_states} state tensors, got {len(call.states)}")
    for i, st in enumerate(call.states):
        expect[f"states[{i}]"] = (st, (batch, units))
    for name, (t, shape) in expect.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(t.shape)}")
        if t is not None and t.device != x.device:
            raise ValueError(f"expected {name} on {x.device}, got {t.device}")
    for name, t in (
        ("kernel", call.kernel),
        ("recurrent_kernel", call.recurrent_kernel),
        ("bias", call.bias),
        ("dropout_mask", call.dropout_mask),
        ("recurrent_dropout_mask", call.recurrent_dropout_mask),
    ):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"expected {name} as {x.dtype}, got {t.dtype}")
    names = ["activation"] + (["recurrent_activation"] if call.cell in ("lstm", "gru") else [])
    for name in names:
        value = getattr(call, name) or "linear"
        if value not in ACTIVATION_CODES:
            raise ValueError(f"expected {name} in {TRITON_ACTIVATIONS}, got {value!r}")
    biggest = time * batch * 4 * max(units, features)
    if biggest >= 2**31:
        raise ValueError(f"expected fewer than 2**31 elements per buffer, got {biggest}")


def run_triton(call: RecurrentCall) -> RecurrentResult:
    """Run one call on the Triton kernels (CUDA; CPU tensors run under Triton's interpreter)."""
    _check_call(call)
    act = ACTIVATION_CODES[call.activation or "linear"]
    ract = ACTIVATION_CODES.get(call.recurrent_activation, 2)
    tensors = (call.x, call.kernel, call.recurrent_kernel, call.bias, *call.states)
    store = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    spec = _Spec(
        call.cell,
        bool(call.reset_after),
        act,
        ract,
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
        store,
    )
    x = call.x
    if call.dropout_mask is not None:
        x = x * call.dropout_mask.unsqueeze(1)
    xp = torch.matmul(x.transpose(0, 1), call.kernel)  # (time, batch, gates * units)
    b_in = input_bias(call)
    if b_in is not None:
        xp = xp + b_in
    xp = xp.contiguous()
    brec = None
    if call.cell == "gru" and call.reset_after and call.bias is not None:
        brec = call.bias[1]
    mask = None
    if call.mask is not None:
        mask = (call.mask != 0).t().to(torch.int8).contiguous()  # (time, batch)
    h0 = call.states[0]
    c0 = call.states[1] if call.cell == "lstm" else None
    outs = _TritonRecurrence.apply(
        spec, xp, call.recurrent_kernel, brec, h0, c0, mask, call.recurrent_dropout_mask
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "triton")


__all__ = [
    "ACTIVATION_CODES",
    "TRITON_ACTIVATIONS",
    "TRITON_DTYPES",
    "available",
    "interpreter_enabled",
    "run_triton",
]
