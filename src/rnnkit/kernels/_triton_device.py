"""Device helpers of the Triton kernels: activations, masked tiles, the mask and output rules.

These are plain Python functions written in Triton's language; nothing here imports Triton.
:func:`._triton_launch._kernels` copies them (with the kernels of ``_triton_cells`` and
``_triton_gru``) into one namespace holding ``tl`` and wraps each in Triton's JIT or interpreter
on first use, so the kernels resolve these names to the wrapper of the same mode. No body or
docstring here may contain a line starting with ``def ``: Triton's interpreter locates a function
by the last such line of its source.
"""

from __future__ import annotations

from typing import Any

# The kernels are plain functions until first use: :func:`_kernels` copies them into a
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
