"""The fused engine's CPU runtime: threads, buffers and compiled kernel specialisations.

What every cell kind's fused kernels share: splitting the batch rows over threads (an OpenMP
region of torch's own pool where ``_omp`` finds one, else a thread pool), the pooled workspace
of large buffers, 64-byte aligned arrays, the denormal flags around the backward's products, and
:func:`kernel_args`: the named argument structure of a numba kernel, read off its signature, so
that the Python side assembles a kernel's twenty-odd arguments by name.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import inspect
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, cast

import numba
import numpy as np
import torch
from numba import types
from torch import Tensor

from . import _launch, _nb_act, _nb_setup, _omp
from ._threads import kernel_threads

FUSED_DTYPES = (torch.float32, torch.float64)
FUSED_ACTIVATIONS = tuple(_nb_act.ACTIVATION_CODES)

#: Work (multiply-adds of one whole sequence) below which a call runs on one thread: splitting
#: smaller calls saves less than the cost of waking the other threads.
_MIN_PARALLEL_WORK = 4_000_000
#: Work of the backward's products below which torch's workers are not asked to flush denormals
#: (an OpenMP region on entry and one on exit; small products stay on the calling thread).
_MIN_FTZ_WORKERS_WORK = 100_000_000
#: Rows below which a batch is not split further.
_MIN_ROWS_PER_THREAD = 4


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-fused")
            _pool_size = workers
        return _pool


def row_chunks(batch: int, work: int) -> list[tuple[int, int]]:
    """Split the batch rows into contiguous ranges (multiples of 8 or 4) for the threads."""
    return split_rows(batch, work >= _MIN_PARALLEL_WORK, kernel_threads())


def splits(batch: int, work: int) -> bool:
    """Whether :func:`row_chunks` may split a call of this size over several threads."""
    return work >= _MIN_PARALLEL_WORK and batch >= 2 * _MIN_ROWS_PER_THREAD


@functools.lru_cache(maxsize=256)
def split_rows(batch: int, parallel: bool, threads: int) -> list[tuple[int, int]]:
    """The row ranges of ``batch`` rows over ``threads`` (one range unless ``parallel``)."""
    threads = max(1, min(threads if parallel else 1, batch // _MIN_ROWS_PER_THREAD))
    if threads == 1:
        return [(0, batch)]
    align = 8 if batch >= 16 * threads else 4  # the product's register tiles take 8 rows
    step = int(math.ceil(batch / threads / align)) * align
    bounds = list(range(0, batch, step)) + [batch]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


@dataclasses.dataclass(slots=True)
class _Compiled:
    """One compiled kernel specialisation: its entry point (callable from Python without
    dispatch), its numba signature, and its launcher over several threads (built on first use)."""

    entry: Any
    sig: tuple
    launcher: _launch.NativeLauncher | None = None


_COMPILED: dict[tuple, _Compiled] = {}


def kernel_args(kernel: Any) -> Any:
    """The named argument structure of a numba kernel: a NamedTuple class whose fields are the
    kernel's parameters without the trailing row range ``lo, hi``, read off its signature (so the
    structure cannot drift from the kernel). Built by keyword, an argument cannot be swapped
    for another of the same shape, nor left out."""
    names = list(inspect.signature(kernel.py_func).parameters)
    if names[-2:] != ["lo", "hi"] or names[-4:-2] != ["act", "ract"]:
        raise TypeError(f"expected a kernel ending in (act, ract, lo, hi), got {names[-4:]}")
    make = cast(Any, collections.namedtuple)
    return make(f"{kernel.py_func.__name__}_args", names[:-2])


def _specialisation(kernel: Any, args: Any) -> _Compiled:
    """The compiled specialisation of ``kernel`` for ``args`` (a :func:`kernel_args` structure).

    The kernels take their activation codes (``act``, ``ract``: the last two arguments) as
    literals; resolving a literal specialisation through numba's dispatcher from Python costs
    milliseconds per call, so it is looked up once per (kernel, dtype, codes).
    """
    key = (kernel, args[0].dtype.char, args[-2], args[-1])
    spec = _COMPILED.get(key)
    if spec is None:
        sig = [numba.typeof(a) for a in args[:-2]]
        fields = args._fields
        if "X" in fields:  # the input sequence comes with any strides
            at = fields.index("X")
            sig[at] = sig[at].copy(layout="A")
        sig += [types.literal(args[-2]), types.literal(args[-1]), types.int64, types.int64]
        spec = _COMPILED[key] = _Compiled(kernel.compile(tuple(sig)), tuple(sig))
    return spec


def run_rows(kernel: Any, args: tuple, chunks: list[tuple[int, int]]) -> None:
    """Run ``kernel(*args, lo, hi)`` for every chunk, in parallel (the kernels release the GIL).

    ``args`` is the kernel's :func:`kernel_args` structure. Several chunks run as an OpenMP
    region of torch's pool with a native body (``_launch``) where ``_omp`` finds the pool and
    ``_launch`` supports this numba, else on a thread pool of our own.
    """
    spec = _specialisation(kernel, args)
    flat = tuple(args)
    if len(chunks) == 1:
        spec.entry(*flat, *chunks[0])
        return
    gomp = _omp.gomp_parallel()
    if gomp is not None and _launch.SUPPORTED:
        if spec.launcher is None:
            spec.launcher = _launch.NativeLauncher(kernel, spec.sig, gomp, _omp.GOMP_FN)
        spec.launcher(flat, chunks)
        return
    pool = _executor(len(chunks) - 1)
    futures = [pool.submit(spec.entry, *(*flat, lo, hi)) for lo, hi in chunks[1:]]
    try:
        spec.entry(*flat, *chunks[0])
    finally:
        for fut in futures:
            fut.result()


class _Workspace:
    """Large buffers kept for reuse by later calls.

    A fresh multi-megabyte allocation is mapped anew by the allocator and page-faults on first
    touch, every call (at batch 256 that costs more than the products). A view of a buffer (or a
    tensor made from one by ``torch.from_numpy``) keeps it referenced, so an array whose only
    reference is this pool is free again.
    """

    MIN_BYTES = 1 << 17  # glibc serves larger allocations by mmap: fresh pages every call
    MAX_PER_SIZE = 8
    MAX_BYTES = 2 << 30

    def __init__(self) -> None:
        self._arrays: dict[tuple[int, str], list[np.ndarray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        n = math.prod(shape)
        nbytes = n * dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return empty(shape, dtype)
        key = (n, dtype.str)
        with self._lock:
            arrays = self._arrays.setdefault(key, [])
            found = None
            for arr in arrays:
                if sys.getrefcount(arr) <= 3:  # the list, ``arr`` and getrefcount's argument
                    found = arr
                    break
            if found is None:
                if len(arrays) >= self.MAX_PER_SIZE or self._bytes + nbytes > self.MAX_BYTES:
                    return empty(shape, dtype)
                found = empty((n,), dtype)
                arrays.append(found)
                self._bytes += nbytes
            return found.reshape(shape)

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()
            self._bytes = 0


WORKSPACE = _Workspace()


def clear_workspace() -> None:
    """Drop the fused engine's cached buffers (they are reallocated on demand)."""
    WORKSPACE.clear()


class FlushDenormals:
    """FTZ/DAZ on this thread and on torch's OpenMP workers for the backward's large products.

    Gradients that decay through time reach magnitudes whose products are denormal; on x86
    every such operation takes a slow microcode path (several times slower products). The flags
    are restored on exit, so nothing outside the backward pass sees them.
    """

    def __init__(self, work: int) -> None:
        self.work = work  # multiply-adds of the products: small ones stay on this thread

    def __enter__(self) -> FlushDenormals:
        self.main = _nb_setup.flush_denormals_enter()
        self.workers: dict[int, int] = {}
        threads = torch.get_num_threads()
        if threads > 1 and self.work >= _MIN_FTZ_WORKERS_WORK:
            me, workers = threading.get_ident(), self.workers

            def enter() -> None:
                tid = threading.get_ident()
                if tid != me:
                    workers[tid] = _nb_setup.flush_denormals_enter()

            _omp.on_every_worker(enter, threads)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.workers:
            workers = self.workers

            def leave() -> None:
                old = workers.pop(threading.get_ident(), None)
                if old is not None:
                    _nb_setup.flush_denormals_exit(old)

            _omp.on_every_worker(leave, torch.get_num_threads())
        _nb_setup.flush_denormals_exit(self.main)


U64 = np.uint64
U0, U1 = U64(0), U64(1)


NP_DTYPES: dict[torch.dtype, np.dtype] = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}
TORCH_DTYPES = {v: k for k, v in NP_DTYPES.items()}


def empty(shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    """An uninitialised array aligned to 64 bytes (NumPy's own allocations are aligned to 16
    only, and the kernels' vector loads from rows that straddle cache lines are slower)."""
    return torch.empty(shape, dtype=TORCH_DTYPES[dt]).numpy()


#: Elements from which a strided copy runs on torch (vectorised, on the intra-op threads).
_TORCH_COPY_FROM = 16384


def assign(dst: np.ndarray, src: Tensor) -> None:
    """``dst[...] = src``: NumPy for small copies (less fixed cost), torch for large ones."""
    if src.numel() >= _TORCH_COPY_FROM:
        torch.from_numpy(dst).copy_(src.detach())
    else:
        dst[...] = src.detach().numpy()


NO_MASK = np.ones((1, 1), np.bool_)  # the kernels' mask argument where there is none
DUMMY = {dt: np.empty((1, 1, 1), dt) for dt in NP_DTYPES.values()}  # no output sequence
_ONES_CACHE: dict[tuple[int, int, np.dtype], np.ndarray] = {}


def ones(batch: int, units: int, dt: np.dtype) -> np.ndarray:
    """A (batch, units) array of ones (the recurrent dropout mask where there is none; the
    kernels only read it, so one array per shape serves every call)."""
    key = (batch, units, dt)
    ones = _ONES_CACHE.get(key)
    if ones is None:
        if len(_ONES_CACHE) > 64:
            _ONES_CACHE.clear()
        ones = _ONES_CACHE[key] = np.ones((batch, units), dt)
    return ones


def concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[a; b]`` (rows), aligned, in a pooled buffer (for the duration of one call)."""
    out = WORKSPACE.empty((a.shape[0] + b.shape[0], a.shape[1]), a.dtype)
    out[: a.shape[0]] = a
    out[a.shape[0] :] = b
    return out


def copy_array(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    out = WORKSPACE.empty(a.shape, dt)
    out[...] = a
    return out


def as_array(t: Tensor) -> np.ndarray:
    """The tensor's data as an array (no copy where it is already contiguous)."""
    return t.detach().contiguous().numpy()




@dataclasses.dataclass(slots=True)
class FusedForward:
    """What the fused forward pass prepared for one call, handed to the cell kind's spec.

    Arrays: ``xh`` (steps, batch, 1 + units + features + 1) the [1 | h_in | x | 1] rows the
    kernels fill; ``x`` (batch, time, features; any strides) the dropped input; ``kernel``
    (features, gates * units), ``recurrent`` (the recurrent kernel), ``b_in`` (gates * units,);
    ``h``, ``p`` (batch, units) the running state and last output, ``extra`` the other states
    (LSTM: c), all updated in place. ``common`` holds the arguments every kernel takes
    (mask, has_mask, rd, go_back, zo, seq, ret_seq, act, ract), by name.
    """

    xh: np.ndarray
    x: np.ndarray
    kernel: np.ndarray
    recurrent: np.ndarray
    b_in: np.ndarray
    b_rec: Tensor | None
    h: np.ndarray
    p: np.ndarray
    extra: tuple[np.ndarray, ...]
    common: dict[str, Any]
    steps: int  # time steps kept for the backward pass (1 in inference: scratch)
    batch: int
    units: int
    features: int
    has_rd: bool
    chunks: list[tuple[int, int]]
    ho: np.uint64 = U1  # the column of h_in in ``xh`` (x follows at ``ho + units``)
    f: np.uint64 = U0  # ``features`` as the kernels take it (set in __post_init__)

    def __post_init__(self) -> None:
        self.f = U64(self.features)

    def buffer(self, width: int) -> np.ndarray:
        """A pooled (steps, batch, width) buffer of the call's dtype."""
        return WORKSPACE.empty((self.steps, self.batch, width), self.xh.dtype)

    def rec_bias(self, gates: int) -> np.ndarray:
        """The recurrent bias as an array (zeros without one)."""
        if self.b_rec is None:
            return np.zeros(gates, dtype=self.xh.dtype)
        return as_array(self.b_rec)


class Needs(NamedTuple):
    """Which weight gradients autograd asked for."""

    kernel: bool
    b_in: bool
    recurrent: bool
    b_rec: bool


class WeightGrads(NamedTuple):
    kernel: Tensor | None = None
    b_in: Tensor | None = None
    recurrent: Tensor | None = None
    b_rec: Tensor | None = None


@dataclasses.dataclass(slots=True)
class FusedBackward:
    """What the fused backward pass prepared, handed to the cell kind's spec.

    ``saved`` the spec's own forward buffers; ``xh`` the forward's rows (``xh2`` as a (time *
    batch, ncol) tensor); ``dx`` (time, batch, gates * units) receives the gradient of the input
    projection (``dx2`` flat); ``t1`` a (1, batch, units) scratch row; ``dh``, ``dp``,
    ``d_extra`` the state gradients (in place); ``common`` the arguments every backward kernel
    takes (mask, has_mask, rd, go_back, zo, dseq, has_dseq, act, ract).
    """

    saved: dict[str, np.ndarray]
    xh: np.ndarray
    xh2: Tensor
    dx: np.ndarray
    dx2: Tensor
    t1: np.ndarray
    dh: np.ndarray
    dp: np.ndarray
    d_extra: tuple[np.ndarray, ...]
    recurrent: np.ndarray
    common: dict[str, Any]
    needs: Needs
    batch: int
    time: int
    units: int
    features: int
    #: The (time * batch) rows with a real step (int64), where padding is worth skipping.
    real: Tensor | None = None

    def rows(self, t: Tensor) -> Tensor:
        """``t`` (time * batch, n) without the rows of masked steps (their gate gradients are
        zero, so the products after the loop sum the same terms without them): the products
        follow the true lengths. Gathered into a pooled buffer (a fresh one page-faults: 4x
        the gather's own time)."""
        if self.real is None:
            return t
        out = WORKSPACE.empty((len(self.real), t.shape[1]), NP_DTYPES[t.dtype])
        return torch.index_select(t, 0, self.real, out=torch.from_numpy(out))

    def shp_offset(self, shp: np.ndarray) -> np.uint64:
        """The column of the previous state in ``shp``: ``xh`` itself (at 1) or its own
        buffer (at 0, with recurrent dropout)."""
        return U1 if shp.shape[2] == self.xh.shape[2] else U0

    def chunks(self, work: int) -> list[tuple[int, int]]:
        return row_chunks(self.batch, work)
