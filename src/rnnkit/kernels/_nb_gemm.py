# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""The register-tiled matrix products of every kernel step (``_gemm``, ``_gemm_acc``) and their
variants that follow the real rows of a masked step (``_gemm_real``, ``_gemm_acc_real``).

The tiles are intrinsics written in LLVM IR with llvmlite's public builder: rows x 2 vectors of
accumulators held in registers over the whole inner dimension (numba's loops leave them in memory).
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._nb_setup import _JIT, U64, _alloca_value, _for_range, _function, _unpack

#: Batch rows a forward step processes at a time (product, then gates: the rows stay in L1).
ROW_BLOCK = 16


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
