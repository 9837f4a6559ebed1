# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Numba set-up of the kernels: the cache directory, the JIT options, the llvmlite builder
helpers of the intrinsics and the x86 denormal / vector-width intrinsics.

The intrinsics are written on llvmlite's public IR builder (numba's own IR helpers are internal to
numba). Numba's on-disk cache is per file (keyed on the defining file's timestamp): a kernel that
inlines a helper of another ``_nb_*`` module keeps its cached machine code when only that helper
changes, so clear the caches (``*.nbi``, ``*.nbc``) after editing a helper module.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Iterator

import numpy as np
from llvmlite import ir
from numba import config as _nb_config
from numba import njit, types
from numba.extending import intrinsic


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

# Indexing note: numba wraps negative signed indices around, which keeps LLVM from vectorising a
# loop whose index it cannot prove non-negative. Column indices are therefore unsigned (``U64``)
# everywhere (mixing int64 and uint64 arithmetic would give float64, so offsets are built from
# unsigned values only: ``u2 = u + u``).
U64 = np.uint64

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
