# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba kernels: the time loops of the fused engine, forward and backpropagation through time.

Everything numba compiles lives in this one file, so that numba's on-disk cache (keyed on this
file's timestamp) is invalidated whenever any kernel or helper changes.

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
  ``clip(x / 6 + 1 / 2, 0, 1)``); derivatives are written in terms of the output ``y``.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import tempfile
from collections.abc import Iterator

import numpy as np
from llvmlite import ir
from numba import config as _nb_config
from numba import literally, njit, types
from numba.extending import intrinsic, overload


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, delete=True)
        probe.close()
        return True
    except OSError:
        return False


def _ensure_cache_dir() -> None:
    """Give numba a writable cache directory when neither the package nor the user cache is."""
    if os.environ.get("NUMBA_CACHE_DIR") or _nb_config.CACHE_DIR:
        return
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    user = os.path.join(os.path.expanduser("~"), ".cache", "numba")
    if _writable(here) or _writable(user):
        return
    _nb_config.CACHE_DIR = os.path.join(tempfile.gettempdir(), f"rnnkit-numba-{os.getuid()}")


_ensure_cache_dir()

FASTMATH = {"contract", "nsz"}
_JIT = {"nogil": True, "cache": True, "fastmath": FASTMATH, "error_model": "numpy"}
# No reference counting in the kernels (they allocate nothing): numba's NRT would otherwise put
# atomic incref/decref pairs on array views inside the time loops. ``_nrt`` is a private numba
# option, so it is only used where numba accepts it.
try:
    njit(_nrt=False)(lambda: None)
    _JIT["_nrt"] = False
except Exception:  # pragma: no cover - a numba without the option
    pass
_OL = {"fastmath": FASTMATH, "error_model": "numpy"}

LINEAR, TANH, SIGMOID, RELU, HARD_SIGMOID = 0, 1, 2, 3, 4
#: Batch rows a forward step processes at a time (product, then gates: the rows stay in L1).
ROW_BLOCK = 16
ACTIVATION_CODES = {
    "linear": LINEAR,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "relu": RELU,
    "hard_sigmoid": HARD_SIGMOID,
}


# --------------------------------------------------------------------------------------------
# LLVM IR helpers of the intrinsics below, on llvmlite's public builder only (numba's own IR
# helpers are internal to numba); each emits what numba's namesake emits.


def _function(module, fnty, name):
    """The function ``name`` of ``module`` (declared with ``fnty`` if it is not there yet)."""
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, fnty, name)


def _alloca(builder, ty):
    """A stack slot of ``ty`` in the function's entry block (zero-filled there)."""
    with builder.goto_entry_block():
        ptr = builder.alloca(ty)
        builder.store(ty(None), ptr)
    return ptr


def _alloca_value(builder, value):
    """A stack slot (:func:`_alloca`) holding ``value``."""
    ptr = _alloca(builder, value.type)
    builder.store(value, ptr)
    return ptr


def _unpack(builder, aggregate, count):
    """The first ``count`` members of an aggregate value (an array's shape or strides)."""
    return [builder.extract_value(aggregate, i) for i in range(count)]


@contextlib.contextmanager
def _for_range(builder, count) -> Iterator:
    """A loop over ``index`` in [0, count) (signed): the body is emitted inside the block."""
    cond = builder.append_basic_block("for.cond")
    body = builder.append_basic_block("for.body")
    end = builder.append_basic_block("for.end")
    start = builder.basic_block
    builder.branch(cond)
    with builder.goto_block(cond):
        index = builder.phi(count.type, name="loop.index")
        builder.cbranch(builder.icmp_signed("<", index, count), body, end)
    with builder.goto_block(body):
        yield index
        body = builder.basic_block  # the body may have added blocks
        step = builder.add(index, count.type(1), flags=["nsw"])
        if builder.basic_block.terminator is None:
            builder.branch(cond)
    index.add_incoming(count.type(0), start)
    index.add_incoming(step, body)
    builder.position_at_end(end)


# --------------------------------------------------------------------------------------------
# Intrinsics: the x86 denormal flags (FTZ | DAZ in MXCSR) and the vector width.

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def _mxcsr_call(builder, name, ptr):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = _function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])


@intrinsic
def _flush_denormals_on(typingctx):
    """Set FTZ and DAZ on this thread; return the previous MXCSR (0 when not on x86)."""
    sig = types.int32()

    def codegen(context, builder, signature, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        ptr = _alloca(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", ptr)
        old = builder.load(ptr)
        builder.store(builder.or_(old, ir.Constant(ir.IntType(32), 0x8040)), ptr)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", ptr)
        return old

    return sig, codegen


@intrinsic
def _restore_mxcsr(typingctx, old):
    sig = types.none(types.int32)

    def codegen(context, builder, signature, args):
        if _X86:
            ptr = _alloca(builder, ir.IntType(32))
            builder.store(args[0], ptr)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", ptr)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _prefer_wide_vectors(typingctx):
    """Let LLVM vectorise the calling kernel's loops with 512-bit vectors where the CPU has them.

    LLVM's tuning for AVX-512 CPUs prefers 256-bit vectors (older Xeons lowered their clock
    under 512-bit code); the gate loops then run at half the lanes. Measured on a Sapphire Rapids
    class core: kernels 10-18 % faster. Harmless elsewhere (wider than the CPU is not legal, so
    LLVM stays at the widest it has).
    """
    sig = types.none()

    def codegen(context, builder, signature, args):
        # llvmlite's attribute set only admits its known enum attributes; a string attribute
        # is written out verbatim, so it goes in through set.add.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True)
def flush_denormals_enter():
    """Set FTZ/DAZ on the calling thread; returns the previous MXCSR for :func:`..._exit`."""
    return _flush_denormals_on()


@njit(nogil=True, cache=True)
def flush_denormals_exit(old):
    _restore_mxcsr(old)


# --------------------------------------------------------------------------------------------
# Scalar activations. float32: one rational function (Eigen's 13/6-degree minimax tanh, at most
# 4.2e-7 from tanh, exactly +-1 beyond the clamp; sigmoid(x) = (1 + tanh(x / 2)) / 2): a few
# fused multiply-adds and one division, vectorisable. float64: libm.

_F = np.float32
_HALF = _F(0.5)
#: The smallest argument at which the rational function is exactly 1 when evaluated with fused
#: multiply-adds (the kernels allow contraction): clamping there keeps |tanh| <= 1.
_TANH_CLAMP = _F(7.99881172180175781)
# Numerator x (a1 + a3 x^2 + ... + a13 x^12), denominator b0 + b2 x^2 + b4 x^4 + b6 x^6.
_A1 = _F(4.89352455891786e-03)
_A3 = _F(6.37261928875436e-04)
_A5 = _F(1.48572235717979e-05)
_A7 = _F(5.12229709037114e-08)
_A9 = _F(-8.60467152213735e-11)
_A11 = _F(2.00018790482477e-13)
_A13 = _F(-2.76076847742355e-16)
_B0 = _F(4.89352518554385e-03)
_B2 = _F(2.26843463243900e-03)
_B4 = _F(1.18534705686654e-04)
_B6 = _F(1.19825839466702e-06)


def _sigmoid(x):  # pragma: no cover - replaced by the overload inside numba
    return 1.0 / (1.0 + math.exp(-x))


def _tanh(x):  # pragma: no cover
    return math.tanh(x)


def _is_f32(x) -> bool:
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(_tanh, jit_options=_OL)
def _tanh_ol(x):
    if _is_f32(x):

        def impl(x):
            x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)  # NaN passes through
            z = x * x
            p = (((((_A13 * z + _A11) * z + _A9) * z + _A7) * z + _A5) * z + _A3) * z + _A1
            q = ((_B6 * z + _B4) * z + _B2) * z + _B0
            return x * p / q

        return impl
    return lambda x: math.tanh(x)


@overload(_sigmoid, jit_options=_OL)
def _sigmoid_ol(x):
    if _is_f32(x):
        return lambda x: _HALF * _tanh(_HALF * x) + _HALF

    def impl64(x):
        e = math.exp(-abs(x))
        s = 1.0 / (1.0 + e)
        return s if x >= 0.0 else e * s

    return impl64


# --------------------------------------------------------------------------------------------
# Indexing note: numba wraps negative signed indices around, which keeps LLVM from vectorising a
# loop whose index it cannot prove non-negative. Column indices are therefore unsigned (``U64``)
# everywhere (mixing int64 and uint64 arithmetic would give float64, so offsets are built from
# unsigned values only: ``u2 = u + u``).
#
# Activation codes reach the kernels as literals (``numba.literally``): each (act, ract) pair is
# its own specialisation, the branches of ``_act``/``_dact`` fold away and the whole gate loop of
# a step vectorises.

U64 = np.uint64


def _like(x, v):  # pragma: no cover - replaced by the overload inside numba
    """The constant ``v`` in the float type of ``x``."""
    return v


@overload(_like, jit_options=_OL)
def _like_ol(x, v):
    if _is_f32(x):
        return lambda x, v: np.float32(v)
    return lambda x, v: np.float64(v)


@njit(**_JIT)
def _act(x, code):
    """act(x) for an activation code (a literal: the other branches fold away)."""
    zero = _like(x, 0.0)
    if code == TANH:
        return _tanh(x)
    if code == SIGMOID:
        return _sigmoid(x)
    if code == RELU:
        return x if x > zero else zero
    if code == HARD_SIGMOID:
        six = _like(x, 6.0)
        v = x + _like(x, 3.0)
        v = v if v > zero else zero
        v = v if v < six else six
        return v / six
    return x


@njit(**_JIT)
def _dact(y, code):
    """act'(x) written with y = act(x) (torch's conventions at the kinks: 0)."""
    zero = _like(y, 0.0)
    one = _like(y, 1.0)
    if code == TANH:
        return one - y * y
    if code == SIGMOID:
        return y * (one - y)
    if code == RELU:
        return one if y > zero else zero
    if code == HARD_SIGMOID:
        return one / _like(y, 6.0) if (y > zero and y < one) else zero
    return one


# --------------------------------------------------------------------------------------------
# The small matrix product of every step: register tiles written in LLVM IR (rows x 2 vectors of
# accumulators held in registers over the whole inner dimension), a plain loop for the rest.


def _lanes(dtype) -> int:
    """Vector lanes of one tile column block: 512 bits (LLVM splits it where AVX-512 is absent)."""
    return 16 if dtype.bitwidth == 32 else 8


def _make_tile(R: int, NV: int, accumulate: bool = False):
    """An intrinsic computing ``C[tc, b:b+R, kc+j0 : kc+j0+NV*L] = A[ta, b:b+R, ka:ka+K] @
    Bm[:, j0 : j0+NV*L]`` (``+=`` with ``accumulate``) with R x NV vector accumulators (L lanes)."""

    @intrinsic
    def tile(typingctx, A, ta, ka, K, Bm, C, tc, kc, b, j0):
        if not all(isinstance(t, types.Array) for t in (A, Bm, C)):
            return None
        dt = C.dtype
        sig = types.none(A, ta, ka, K, Bm, C, tc, kc, b, j0)
        L = _lanes(dt)

        def codegen(context, builder, signature, args):
            aA, ata, aka, aK, aB, aC, atc, akc, ab, aj0 = args
            lty = context.get_value_type(dt)
            vty = ir.VectorType(lty, L)
            i64 = ir.IntType(64)
            nbytes = dt.bitwidth // 8
            esize = ir.Constant(i64, nbytes)
            arr_a = context.make_array(signature.args[0])(context, builder, aA)
            arr_b = context.make_array(signature.args[4])(context, builder, aB)
            arr_c = context.make_array(signature.args[5])(context, builder, aC)
            sa = _unpack(builder, arr_a.strides, 3)
            sb = _unpack(builder, arr_b.strides, 2)
            sc = _unpack(builder, arr_c.strides, 3)
            ata, aka, aK, atc, akc, ab, aj0 = (
                v if v.type.width == 64 else builder.zext(v, i64)
                for v in (ata, aka, aK, atc, akc, ab, aj0)
            )
            byte = ir.IntType(8).as_pointer()

            def at(base, offset):
                return builder.gep(builder.bitcast(base, byte), [offset])

            a_rows, c_rows = [], []
            for r in range(R):
                row = builder.add(ab, ir.Constant(i64, r))
                off_a = builder.add(builder.mul(ata, sa[0]), builder.mul(row, sa[1]))
                off_a = builder.add(off_a, builder.mul(aka, esize))
                a_rows.append(at(arr_a.data, off_a))
                off_c = builder.add(builder.mul(atc, sc[0]), builder.mul(row, sc[1]))
                off_c = builder.add(off_c, builder.mul(builder.add(akc, aj0), esize))
                c_rows.append(at(arr_c.data, off_c))
            b_base = at(arr_b.data, builder.mul(aj0, esize))
            zero = ir.Constant(vty, [ir.Constant(lty, 0.0)] * L)
            accs = [[_alloca_value(builder, zero) for _ in range(NV)] for _ in range(R)]
            if accumulate:
                for r in range(R):
                    for v in range(NV):
                        p = builder.gep(c_rows[r], [ir.Constant(i64, v * L * nbytes)])
                        src = builder.bitcast(p, vty.as_pointer())
                        builder.store(builder.load(src, align=nbytes), accs[r][v])
            fnty = ir.FunctionType(vty, [vty, vty, vty])
            fma = _function(builder.module, fnty, f"llvm.fma.v{L}f{dt.bitwidth}")
            splat = ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L)
            with _for_range(builder, aK) as k:
                bk = builder.gep(b_base, [builder.mul(k, sb[0])])
                bvs = []
                for v in range(NV):
                    p = builder.gep(bk, [ir.Constant(i64, v * L * nbytes)])
                    bvs.append(builder.load(builder.bitcast(p, vty.as_pointer()), align=nbytes))
                for r in range(R):
                    pa = builder.gep(a_rows[r], [builder.mul(k, esize)])
                    s = builder.load(builder.bitcast(pa, lty.as_pointer()))
                    vs = builder.insert_element(
                        ir.Constant(vty, ir.Undefined), s, ir.Constant(ir.IntType(32), 0)
                    )
                    bc = builder.shuffle_vector(vs, ir.Constant(vty, ir.Undefined), splat)
                    for v in range(NV):
                        acc = builder.load(accs[r][v])
                        builder.store(builder.call(fma, [bc, bvs[v], acc]), accs[r][v])
            for r in range(R):
                for v in range(NV):
                    p = builder.gep(c_rows[r], [ir.Constant(i64, v * L * nbytes)])
                    dst = builder.bitcast(p, vty.as_pointer())
                    builder.store(builder.load(accs[r][v]), dst, align=nbytes)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile8 = _make_tile(8, 2)
_tile4 = _make_tile(4, 2)
_tile1 = _make_tile(1, 2)
_tile8_acc = _make_tile(8, 2, accumulate=True)
_tile4_acc = _make_tile(4, 2, accumulate=True)
_tile1_acc = _make_tile(1, 2, accumulate=True)


@intrinsic
def _tile_cols(typingctx, C):
    """Columns of one register tile for the dtype of C (2 vectors)."""
    sig = types.uint64(C)

    def codegen(context, builder, signature, args):
        return ir.Constant(ir.IntType(64), 2 * _lanes(C.dtype))

    return sig, codegen


@njit(**_JIT)
def _gemm(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi):
    """Cm[tc, b, kc:kc + N] = A[ta, b, ka:ka + K] @ Bm for b in lo:hi; Bm is (K, N) contiguous.

    ``ka``, ``K``, ``kc`` unsigned.
    """
    N = U64(Bm.shape[1])
    tile = _tile_cols(Cm)
    Nt = N - N % tile
    b = lo
    while b + 8 <= hi:
        for j0 in range(U64(0), Nt, tile):
            _tile8(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 8
    while b + 4 <= hi:
        for j0 in range(U64(0), Nt, tile):
            _tile4(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 4
    while b < hi:
        for j0 in range(U64(0), Nt, tile):
            _tile1(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 1
    if Nt < N:
        zero = Cm.dtype.type(0.0)
        for b in range(lo, hi):
            for j in range(Nt, N):
                Cm[tc, b, kc + j] = zero
            for k in range(K):
                x = A[ta, b, ka + k]
                for j in range(Nt, N):
                    Cm[tc, b, kc + j] += x * Bm[k, j]


@njit(**_JIT)
def _gemm_acc(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi):
    """Cm[tc, b, kc:kc + N] += A[ta, b, ka:ka + K] @ Bm for b in lo:hi (see :func:`_gemm`)."""
    N = U64(Bm.shape[1])
    tile = _tile_cols(Cm)
    Nt = N - N % tile
    b = lo
    while b + 8 <= hi:
        for j0 in range(U64(0), Nt, tile):
            _tile8_acc(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 8
    while b + 4 <= hi:
        for j0 in range(U64(0), Nt, tile):
            _tile4_acc(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 4
    while b < hi:
        for j0 in range(U64(0), Nt, tile):
            _tile1_acc(A, ta, ka, K, Bm, Cm, tc, kc, b, j0)
        b += 1
    if Nt < N:
        for b in range(lo, hi):
            for k in range(K):
                x = A[ta, b, ka + k]
                for j in range(Nt, N):
                    Cm[tc, b, kc + j] += x * Bm[k, j]


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


#: Rows per product call where the products follow the real rows of a step (one register tile).
ACTIVE_BLOCK = 8


@njit(**_JIT, inline="always")
def _active_end(mask, tx, lo, hi):
    """Where the product of the rows ``lo:hi`` (at most :data:`ACTIVE_BLOCK`) may stop at step
    ``tx``: ``lo`` when none has a real step; else past the last that has, rounded up to a
    register tile (4 or 8 rows: a row alone runs at a fraction of a tile's speed). The rows
    computed beyond the real ones are masked: their inputs are finite, their results unread."""
    end = hi
    while end > lo and not mask[tx, end - 1]:
        end -= 1
    if end == lo:
        return lo
    return min(lo + 4, hi) if end - lo <= 4 else hi


@njit(**_JIT, inline="always")
def _gemm_real(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi, mask, has_mask, tx):
    """:func:`_gemm` for the rows of ``lo:hi``, per block of :data:`ACTIVE_BLOCK` rows only up
    to the block's last row with a real step at ``tx`` (a masked step reads nothing of its
    product). Rows sorted by length (``_lengths``) make each block's real rows a prefix, so the
    products follow the true lengths; the results are those of one call (rows never mix)."""
    if not has_mask:
        _gemm(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi)
        return
    for b0 in range(lo, hi, ACTIVE_BLOCK):
        b1 = min(b0 + ACTIVE_BLOCK, hi)
        _gemm(A, ta, ka, K, Bm, Cm, tc, kc, b0, _active_end(mask, tx, b0, b1))


@njit(**_JIT, inline="always")
def _gemm_acc_real(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi, mask, has_mask, tx):
    """:func:`_gemm_acc` over the real rows of each block (see :func:`_gemm_real`)."""
    if not has_mask:
        _gemm_acc(A, ta, ka, K, Bm, Cm, tc, kc, lo, hi)
        return
    for b0 in range(lo, hi, ACTIVE_BLOCK):
        b1 = min(b0 + ACTIVE_BLOCK, hi)
        _gemm_acc(A, ta, ka, K, Bm, Cm, tc, kc, b0, _active_end(mask, tx, b0, b1))


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


# --------------------------------------------------------------------------------------------
# Backward kernels. DH, DC, DP (B, u) arrive holding the gradients of the final states and of
# the final output and leave holding those of the initial states. DX (T, B, G) receives the
# gradient of xp; dseq (T, B, u) or (1, 1, 1) is the gradient of the output sequence (processing
# order); T1, T2 (1, B, u) are scratch rows for the products.


@njit(**_JIT, inline="always")
def _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx):
    """A masked step: the state gradients pass through, the output gradient goes to P."""
    u = U64(DP.shape[1])
    G = U64(DX.shape[2])
    zero = DX.dtype.type(0.0)
    if zo:
        for j in range(u):
            DP[b, j] = zero
    elif has_dseq:
        for j in range(u):
            DP[b, j] += dseq[s, b, j]
    for j in range(G):
        DX[tx, b, j] = zero


@njit(**_JIT, inline="always")
def _gather_grad(DH, DP, dseq, has_dseq, b, s):
    """DH[b] += DP[b] + dseq[s, b]: all the gradient reaching the new state; DP[b] = 0."""
    u = U64(DH.shape[1])
    zero = DH.dtype.type(0.0)
    if has_dseq:
        for j in range(u):
            DH[b, j] += DP[b, j] + dseq[s, b, j]
            DP[b, j] = zero
    else:
        for j in range(u):
            DH[b, j] += DP[b, j]
            DP[b, j] = zero


@njit(**_JIT)
def lstm_backward(
    UT, Sg, Stc, Scp, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DC, DP, DX, T1, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
    G = u3 + u
    z0 = U64(0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b0 in range(lo, hi, ROW_BLOCK):  # see lstm_forward
            b1 = min(b0 + ROW_BLOCK, hi)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if not valid:
                    _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                    continue
                _gather_grad(DH, DP, dseq, has_dseq, b, s)
                for j in range(u):
                    dh = DH[b, j]
                    i = Sg[tx, b, j]
                    f = Sg[tx, b, u + j]
                    c = Sg[tx, b, u2 + j]
                    o = Sg[tx, b, u3 + j]
                    t = Stc[tx, b, j]
                    dc = DC[b, j] + dh * o * _dact(t, act)
                    DX[tx, b, j] = dc * c * _dact(i, ract)
                    DX[tx, b, u + j] = dc * Scp[tx, b, j] * _dact(f, ract)
                    DX[tx, b, u2 + j] = dc * i * _dact(c, act)
                    DX[tx, b, u3 + j] = dh * t * _dact(o, ract)
                    DC[b, j] = dc * f
            _gemm_real(DX, tx, z0, G, UT, T1, 0, z0, b0, b1, mask, has_mask, tx)
            for b in range(b0, b1):
                valid = mask[tx, b] if has_mask else True
                if valid:
                    for j in range(u):
                        DH[b, j] = T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_backward(
    UT, Sg, Shp, po, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, DR, T1, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=True. DX gets d xp (T, B, 3u), DR the gradient of h_in U + b_rec (T, B, 3u)."""
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    u3 = u2 + u
    z0 = U64(0)
    zero = DX.dtype.type(0.0)
    one = DX.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                for j in range(u3):
                    DR[tx, b, j] = zero
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                gh = DH[b, j]
                z = Sg[tx, b, j]
                r = Sg[tx, b, u + j]
                hh = Sg[tx, b, u2 + j]
                rh = Sg[tx, b, u3 + j]
                dhh = gh * (one - z) * _dact(hh, act)
                dz = gh * (Shp[tx, b, po + j] - hh) * _dact(z, ract)
                dr = dhh * rh * _dact(r, ract)
                DX[tx, b, j] = dz
                DX[tx, b, u + j] = dr
                DX[tx, b, u2 + j] = dhh
                DR[tx, b, j] = dz
                DR[tx, b, u + j] = dr
                DR[tx, b, u2 + j] = dhh * r
                DH[b, j] = gh * z
        _gemm_real(DR, tx, z0, u3, UT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] += T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def gru_v1_backward(
    UzrT, UhT, Sg, Shp, po, Shin, ho, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, T1, T2, act, ract, lo, hi,
):  # fmt: skip
    """reset_after=False. DX gets d xp (T, B, 3u), which is also the gradient of the products."""
    act = literally(act)
    ract = literally(ract)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    u2 = u + u
    z0 = U64(0)
    one = DX.dtype.type(1.0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                gh = DH[b, j]
                z = Sg[tx, b, j]
                hh = Sg[tx, b, u2 + j]
                DX[tx, b, u2 + j] = gh * (one - z) * _dact(hh, act)
                DX[tx, b, j] = gh * (Shp[tx, b, po + j] - hh) * _dact(z, ract)
                DH[b, j] = gh * z
        _gemm_real(DX, tx, u2, u, UhT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    r = Sg[tx, b, u + j]
                    dq = T1[0, b, j]
                    DX[tx, b, u + j] = dq * Shin[tx, b, ho + j] * _dact(r, ract)
                    T2[0, b, j] = dq * r
        _gemm_real(DX, tx, z0, u2, UzrT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] += (T1[0, b, j] + T2[0, b, j]) * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def simple_backward(
    UT, Sg, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, T1, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    z0 = U64(0)
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                DX[tx, b, j] = DH[b, j] * _dact(Sg[tx, b, j], act)
        _gemm_real(DX, tx, z0, u, UT, T1, 0, z0, lo, hi, mask, has_mask, tx)
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if valid:
                for j in range(u):
                    DH[b, j] = T1[0, b, j] * rd[b, j]
    _restore_mxcsr(old)


@njit(**_JIT)
def indrnn_backward(
    w, Sg, mask, has_mask, rd, go_back, zo, dseq, has_dseq,
    DH, DP, DX, act, ract, lo, hi,
):  # fmt: skip
    act = literally(act)
    T = DX.shape[0]
    u = U64(DH.shape[1])
    _prefer_wide_vectors()
    old = _flush_denormals_on()
    for s in range(T - 1, -1, -1):
        tx = T - 1 - s if go_back else s
        for b in range(lo, hi):
            valid = mask[tx, b] if has_mask else True
            if not valid:
                _skip_row(DP, DX, dseq, has_dseq, zo, b, s, tx)
                continue
            _gather_grad(DH, DP, dseq, has_dseq, b, s)
            for j in range(u):
                d = DH[b, j] * _dact(Sg[tx, b, j], act)
                DX[tx, b, j] = d
                DH[b, j] = d * w[j] * rd[b, j]
    _restore_mxcsr(old)


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
