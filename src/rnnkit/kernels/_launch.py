"""Split kernel calls whose threads start together: the OpenMP region runs native code only.

A kernel call split over torch's OpenMP threads used to run a Python callback as the region's
body: every thread took the GIL to unbox the kernel's twenty-odd arguments, so the second one
started 40-60 us after the first (a thread that waits for the GIL sleeps, and a sleeping vCPU
wakes slowly). Here the calling thread packs the arguments once into an int64 buffer, flattened
exactly as numba passes them to the compiled function, and the region's body is a small LLVM
function (one per kernel signature) that takes the next row range and calls the kernel's native
code. Nothing in the region touches Python.

Buffer layout (int64): ``[kernel address, next chunk, status, chunks, args..., (lo, hi)...]``.

This is the one module using numba's internals (``numba.core.cgutils``, the target context's
argument packer and calling convention, ``CompileResult`` fields, the global compiler lock):
they have no public equivalent. :data:`SUPPORTED` is True only for the numba versions this was
checked on; elsewhere (or with ``RNNKIT_PORTABLE=1``, see ``_omp``) the runtime splits calls over
a Python thread pool instead.
"""

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, typeof, types
from numba.core import cgutils
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import cpu_target
from numba.extending import intrinsic

#: numba releases whose internals this module was checked on (first, last: major, minor).
CHECKED_NUMBA = ((0, 59), (0, 68))


def _numba_version() -> tuple[int, int]:
    major, minor = numba.__version__.split(".")[:2]
    return int(major), int(minor)


SUPPORTED = CHECKED_NUMBA[0] <= _numba_version() <= CHECKED_NUMBA[1]

_HEAD = 4  # kernel address, next chunk (atomic counter), status, number of chunks
_I64 = ir.IntType(64)


@intrinsic
def _flatten(typingctx, buf, args):
    """Store ``args`` (a tuple) into ``buf[_HEAD:]`` as the compiled kernel receives them; array
    arguments go without their memory-manager fields (the kernels do no reference counting, and
    the caller keeps the arrays alive). Returns the number of int64 slots written."""
    if not isinstance(buf, types.Array) or not isinstance(args, types.BaseTuple):
        return None
    sig = types.intp(buf, args)

    def codegen(context, builder, signature, llargs):
        lbuf, largs = llargs
        arr = context.make_array(signature.args[0])(context, builder, lbuf)
        base = builder.bitcast(arr.data, _I64.as_pointer())
        pos = _HEAD
        for i, ty in enumerate(signature.args[1]):
            flat = context.get_arg_packer([ty]).as_arguments(
                builder, [builder.extract_value(largs, i)]
            )
            for j, v in enumerate(flat):
                if isinstance(ty, types.Array) and j < 2:
                    v = ir.Constant(_I64, 0)  # meminfo, parent
                elif isinstance(v.type, ir.PointerType):
                    v = builder.ptrtoint(v, _I64)
                elif isinstance(v.type, ir.IntType):
                    v = builder.zext(v, _I64) if v.type.width < 64 else v
                elif isinstance(v.type, ir.FloatType):
                    v = builder.zext(builder.bitcast(v, ir.IntType(32)), _I64)
                elif isinstance(v.type, ir.DoubleType):
                    v = builder.bitcast(v, _I64)
                else:  # pragma: no cover - the kernels take no other argument kinds
                    raise TypeError(f"cannot pass {v.type} through the launch buffer")
                builder.store(v, builder.gep(base, [ir.Constant(_I64, pos)]))
                pos += 1
        return context.get_constant(types.intp, pos)

    return sig, codegen


@njit(cache=True, nogil=True)
def _pack(buf, args):  # pragma: no cover - runs compiled
    return _flatten(buf, args)


def _unflatten(builder: ir.IRBuilder, raw: ir.Value, ty: ir.Type) -> ir.Value:
    if isinstance(ty, ir.PointerType):
        return builder.inttoptr(raw, ty)
    if isinstance(ty, ir.IntType):
        return builder.trunc(raw, ty) if ty.width < 64 else raw
    if isinstance(ty, ir.FloatType):
        return builder.bitcast(builder.trunc(raw, ir.IntType(32)), ty)
    if isinstance(ty, ir.DoubleType):
        return builder.bitcast(raw, ty)
    raise TypeError(f"cannot pass {ty} through the launch buffer")  # pragma: no cover


def _build_body(fnty: ir.FunctionType) -> Any:
    """The region body for kernels of LLVM type ``fnty`` (numba's calling convention: return
    slot, exception slot, the flattened arguments, then ``lo, hi``): a compiled code library."""
    module = ir.Module(name="rnnkit_launch")
    i8p = ir.IntType(8).as_pointer()
    body = ir.Function(module, ir.FunctionType(ir.VoidType(), [i8p]), "rnnkit_region_body")
    builder = ir.IRBuilder(body.append_basic_block("entry"))
    buf = builder.bitcast(body.args[0], _I64.as_pointer())

    def slot(i: Any) -> Any:
        index = i if isinstance(i, ir.Value) else ir.Constant(_I64, i)
        return builder.gep(buf, [index])

    params = list(fnty.args)
    flat = params[2:-2]
    ret_slot = cgutils.alloca_once(builder, params[0].pointee)
    exc_slot = cgutils.alloca_once(builder, params[1].pointee)
    fn = builder.inttoptr(builder.load(slot(0)), fnty.as_pointer())
    args = [_unflatten(builder, builder.load(slot(_HEAD + k)), ty) for k, ty in enumerate(flat)]
    chunks_at = _HEAD + len(flat)
    n = builder.load(slot(3))
    loop = body.append_basic_block("next")
    run = body.append_basic_block("run")
    done = body.append_basic_block("done")
    builder.branch(loop)
    builder.position_at_end(loop)
    idx = builder.atomic_rmw("add", slot(1), ir.Constant(_I64, 1), "monotonic")
    builder.cbranch(builder.icmp_signed("<", idx, n), run, done)
    builder.position_at_end(run)
    at = builder.add(ir.Constant(_I64, chunks_at), builder.mul(idx, ir.Constant(_I64, 2)))
    lo = builder.load(slot(at))
    hi = builder.load(slot(builder.add(at, ir.Constant(_I64, 1))))
    status = builder.call(fn, [ret_slot, exc_slot, *args, lo, hi])
    failed = builder.icmp_signed("!=", status, ir.Constant(status.type, 0))
    with builder.if_then(failed, likely=False):
        builder.store(builder.sext(status, _I64), slot(2))
    builder.branch(loop)
    builder.position_at_end(done)
    builder.ret_void()

    with global_compiler_lock:
        library = cpu_target.target_context.codegen().create_library("rnnkit_launch")
        library.add_ir_module(module)
        library.finalize()
    return library


_BODIES: dict[str, tuple[Any, Any]] = {}
_LOCK = threading.Lock()


class NativeLauncher:
    """Runs one compiled kernel specialisation over row chunks in an OpenMP region of torch's
    pool (``gomp_parallel`` is libgomp's ``GOMP_parallel`` from ctypes), without the GIL."""

    def __init__(self, kernel: Any, sig: tuple, gomp_parallel: Any, gomp_fn: Any) -> None:
        cres = kernel.overloads[sig]
        self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        fnty = cres.target_context.call_conv.get_function_type(
            cres.fndesc.restype, cres.fndesc.argtypes
        )
        key = str(fnty)
        with _LOCK:
            entry = _BODIES.get(key)
            if entry is None:
                library = _build_body(fnty)
                fn = gomp_fn(library.get_pointer_to_function("rnnkit_region_body"))
                entry = _BODIES[key] = (library, fn)
        self._body = entry[1]
        self._nflat = len(fnty.args) - 4
        self._gomp_parallel = gomp_parallel
        self._pack: Any = None

    def __call__(self, args: tuple, chunks: list[tuple[int, int]]) -> None:
        buf = np.empty(_HEAD + self._nflat + 2 * len(chunks), np.int64)
        if self._pack is None:
            self._pack = _pack.compile((types.Array(types.int64, 1, "C"), _typeof_args(args)))
        end = self._pack(buf, args)
        if end != _HEAD + self._nflat:  # pragma: no cover - a layout mismatch is a bug
            raise RuntimeError(f"expected {self._nflat} flattened arguments, got {end - _HEAD}")
        buf[:_HEAD] = (self._address, 0, 0, len(chunks))
        buf[end:] = np.asarray(chunks, np.int64).ravel()
        self._gomp_parallel(self._body, buf.ctypes.data, len(chunks), 0)
        if buf[2]:
            raise RuntimeError(f"a fused kernel failed with status {int(buf[2])}")


def _typeof_args(args: tuple) -> types.Tuple:
    """The arguments' numba types, arrays of any layout (only their fields are copied)."""
    tys = [typeof(a) for a in args]
    return types.Tuple([t.copy(layout="A") if isinstance(t, types.Array) else t for t in tys])
