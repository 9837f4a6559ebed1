"""The fused engine: one autograd Function per layer call around the numba time loops.

:class:`_FusedRecurrence` takes ``x, W, b_in, U, b_rec, h0, c0`` (+ the constant masks) and
returns the outputs and final states. Forward: per time step one register-tiled product of the
row ``[h_in | x]`` with ``[U; W]`` and one fused loop for the gate nonlinearities and the state
update (numba, ``_nb``). Backward: the time loop keeps the gate gradients of every step, so that
the gradients of ``U``, ``W`` and the bias are one large product after the loop, and the
gradient of ``x`` another. Threads split the batch rows, not the products; large buffers come
from a reused workspace; denormals are flushed during the backward pass.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numba
import numpy as np
import torch
from numba import types
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _nb
from ._api import GATES, RecurrentCall, RecurrentResult, check_shapes
from ._launch import NativeLauncher
from ._loop import input_bias

FUSED_DTYPES = (torch.float32, torch.float64)
FUSED_ACTIVATIONS = tuple(_nb.ACTIVATION_CODES)

#: Work (multiply-adds of one whole sequence) below which a call runs on one thread: splitting
#: smaller calls saves less than the cost of waking the other threads.
_MIN_PARALLEL_WORK = 4_000_000
#: Work of the backward's products below which torch's workers are not asked to flush denormals
#: (an OpenMP region on entry and one on exit; small products stay on the calling thread).
_MIN_FTZ_WORKERS_WORK = 100_000_000
#: Rows below which a batch is not split further.
_MIN_ROWS_PER_THREAD = 4


def _find_gomp() -> Any:
    """``GOMP_parallel`` of the GNU OpenMP runtime that torch runs its intra-op threads on.

    Running our row chunks as an OpenMP region of torch's own pool (instead of on threads of
    our own) matters on small machines: libgomp's idle workers spin for milliseconds after every
    parallel torch op, so a thread of ours would fight a spinning one for the same core.
    """
    if not torch.__config__.parallel_info().count("OpenMP"):
        return None
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "libgomp" in line and "/" in line}
    except OSError:
        return None
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    ordered = sorted(paths, key=lambda p: not p.startswith(torch_dir))
    for path in ordered:
        try:
            fn = ctypes.CDLL(path).GOMP_parallel
        except (OSError, AttributeError):
            continue
        fn.restype = None
        fn.argtypes = [_GOMP_FN, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        return fn
    return None


_GOMP_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_KEPT_THREAD_STATES: set[int] = set()


def _keep_thread_state() -> None:
    """Give an OpenMP worker a lasting Python thread state (the GOMP callbacks run Python code).

    ctypes creates and destroys a thread state around every callback on a thread Python did not
    start; keeping one (an unmatched ``PyGILState_Ensure``) makes later callbacks cheap.
    """
    tid = threading.get_ident()
    if tid not in _KEPT_THREAD_STATES:
        _KEPT_THREAD_STATES.add(tid)
        ctypes.pythonapi.PyGILState_Ensure()


_gomp_parallel: Any = None
_gomp_checked = False
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


def _row_chunks(batch: int, work: int) -> list[tuple[int, int]]:
    """Split the batch rows into contiguous ranges (multiples of 8 or 4) for the threads."""
    return _split_rows(batch, work >= _MIN_PARALLEL_WORK, torch.get_num_threads())


@functools.lru_cache(maxsize=256)
def _split_rows(batch: int, parallel: bool, threads: int) -> list[tuple[int, int]]:
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
    launcher: NativeLauncher | None = None


_COMPILED: dict[tuple, _Compiled] = {}
_FORWARD_KERNELS = (
    _nb.lstm_forward,
    _nb.gru_forward,
    _nb.gru_v1_forward,
    _nb.simple_forward,
    _nb.indrnn_forward,
)


def _specialisation(kernel: Any, args: tuple) -> _Compiled:
    """The compiled specialisation of ``kernel`` for ``args``.

    The kernels take their activation codes (the last two arguments before the row range) as
    literals; resolving a literal specialisation through numba's dispatcher from Python costs
    milliseconds per call, so it is looked up once per (kernel, dtype, codes).
    """
    key = (kernel, args[0].dtype.char, args[-2], args[-1])
    spec = _COMPILED.get(key)
    if spec is None:
        sig = tuple(numba.typeof(a) for a in args[:-2])
        if kernel in _FORWARD_KERNELS:  # X (argument 1) comes with any strides
            sig = (sig[0], sig[1].copy(layout="A"), *sig[2:])
        sig += (types.literal(args[-2]), types.literal(args[-1]), types.int64, types.int64)
        spec = _COMPILED[key] = _Compiled(kernel.compile(sig), sig)
    return spec


def _gomp() -> Any:
    global _gomp_parallel, _gomp_checked
    if not _gomp_checked:
        _gomp_parallel = _find_gomp()
        _gomp_checked = True
    return _gomp_parallel


def _run_rows(kernel: Any, args: tuple, chunks: list[tuple[int, int]]) -> None:
    """Run ``kernel(*args, lo, hi)`` for every chunk, in parallel (the kernels release the GIL)."""
    spec = _specialisation(kernel, args)
    if len(chunks) == 1:
        spec.entry(*args, *chunks[0])
        return
    if _gomp() is not None:
        if spec.launcher is None:
            spec.launcher = NativeLauncher(kernel, spec.sig, _gomp_parallel, _GOMP_FN)
        spec.launcher(args, chunks)
        return
    pool = _executor(len(chunks) - 1)
    futures = [pool.submit(spec.entry, *(*args, lo, hi)) for lo, hi in chunks[1:]]
    try:
        spec.entry(*args, *chunks[0])
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
            return _empty(shape, dtype)
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
                    return _empty(shape, dtype)
                found = _empty((n,), dtype)
                arrays.append(found)
                self._bytes += nbytes
            return found.reshape(shape)

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()
            self._bytes = 0


_WORKSPACE = _Workspace()


def clear_workspace() -> None:
    """Drop the fused engine's cached buffers (they are reallocated on demand)."""
    _WORKSPACE.clear()


class _FlushDenormals:
    """FTZ/DAZ on this thread and on torch's OpenMP workers for the backward's large products.

    Gradients that decay through time reach magnitudes whose products are denormal; on x86
    every such operation takes a slow microcode path (several times slower products). The flags
    are restored on exit, so nothing outside the backward pass sees them.
    """

    def __init__(self, work: int) -> None:
        self.work = work  # multiply-adds of the products: small ones stay on this thread

    def __enter__(self) -> _FlushDenormals:
        self.main = _nb.flush_denormals_enter()
        self.workers: dict[int, int] = {}
        threads = torch.get_num_threads()
        if threads > 1 and self.work >= _MIN_FTZ_WORKERS_WORK and _gomp() is not None:
            me = threading.get_ident()

            def body(_: Any) -> None:
                _keep_thread_state()
                tid = threading.get_ident()
                if tid != me:
                    self.workers[tid] = _nb.flush_denormals_enter()

            _gomp()(_GOMP_FN(body), None, threads, 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.workers:
            workers = self.workers

            def body(_: Any) -> None:
                old = workers.pop(threading.get_ident(), None)
                if old is not None:
                    _nb.flush_denormals_exit(old)

            _gomp()(_GOMP_FN(body), None, torch.get_num_threads(), 0)
        _nb.flush_denormals_exit(self.main)


class _Spec(NamedTuple):
    store: bool  # keep the per-step values for a backward pass
    cell: str
    reset_after: bool
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool


_GATES = GATES
_U64 = np.uint64
_U0, _U1 = _U64(0), _U64(1)


_NP_DTYPES: dict[torch.dtype, np.dtype] = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
}
_TORCH_DTYPES = {v: k for k, v in _NP_DTYPES.items()}


def _empty(shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    """An uninitialised array aligned to 64 bytes (NumPy's own allocations are aligned to 16
    only, and the kernels' vector loads from rows that straddle cache lines are slower)."""
    return torch.empty(shape, dtype=_TORCH_DTYPES[dt]).numpy()


#: Elements from which a strided copy runs on torch (vectorised, on the intra-op threads).
_TORCH_COPY_FROM = 16384


def _assign(dst: np.ndarray, src: Tensor) -> None:
    """``dst[...] = src``: NumPy for small copies (less fixed cost), torch for large ones."""
    if src.numel() >= _TORCH_COPY_FROM:
        torch.from_numpy(dst).copy_(src.detach())
    else:
        dst[...] = src.detach().numpy()


_NO_MASK = np.ones((1, 1), np.bool_)  # the kernels' mask argument where there is none
_DUMMY = {dt: np.empty((1, 1, 1), dt) for dt in _NP_DTYPES.values()}  # no output sequence
_ONES: dict[tuple[int, int, np.dtype], np.ndarray] = {}


def _ones(batch: int, units: int, dt: np.dtype) -> np.ndarray:
    """A (batch, units) array of ones (the recurrent dropout mask where there is none; the
    kernels only read it, so one array per shape serves every call)."""
    key = (batch, units, dt)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones((batch, units), dt)
    return ones


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[a; b]`` (rows), aligned, in a pooled buffer (for the duration of one call)."""
    out = _WORKSPACE.empty((a.shape[0] + b.shape[0], a.shape[1]), a.dtype)
    out[: a.shape[0]] = a
    out[a.shape[0] :] = b
    return out


def _copy(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    out = _WORKSPACE.empty(a.shape, dt)
    out[...] = a
    return out


def _np(t: Tensor) -> np.ndarray:
    """The tensor's data as an array (no copy where it is already contiguous)."""
    return t.detach().contiguous().numpy()


class _FusedRecurrence(torch.autograd.Function):
    """(x, W, b_in, U, b_rec, h0, c0; mask, dropout, rec. dropout) -> (outputs, h_T[, c_T]).

    Sequences run time-major inside: the input projection is one product on the (time, batch)
    rows, the kernels keep one step's rows contiguous, and a sequence output is returned as a
    (batch, time, units) transposed view of the (time, batch, units) buffer.

    ``xh`` (time, batch, 1 + units + features + 1) = [1 | h_in | x | 1]: the kernels write the
    dropped previous outputs h_in into it and compute each step's products from its rows; after
    the backward time loop one product ``xh^T @ d(gates)`` gives the gradients of U, W and the
    bias together.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: _Spec,
        x: Tensor,
        kernel: Tensor,
        b_in: Tensor | None,
        rec: Tensor,
        brec: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        mask: Tensor | None,
        dp: Tensor | None,
        rd: Tensor | None,
    ) -> tuple[Tensor, ...]:
        # Small tensor ops cost microseconds each in torch and a fraction of one in NumPy: the
        # buffers are NumPy arrays, wrapped as tensors only where they leave this function.
        batch, time, features = x.shape
        units = h0.shape[1]
        gates = kernel.shape[1]
        dt = _NP_DTYPES[x.dtype]
        store = spec.store
        ts = time if store else 1
        buf = _WORKSPACE.empty

        ncol = units + features + 2
        xh = buf((ts, batch, ncol), dt)  # [1 | h_in | x | 1] rows, filled by the kernels
        xd = x if dp is None else x * dp.unsqueeze(1)
        x_n = xd.detach().numpy()  # (batch, time, features), any strides: the kernels read it
        ho, f_u = _U1, _U64(features)
        w_n, u_n = _np(kernel), _np(rec)
        bin_n = _np(b_in) if b_in is not None else np.zeros(gates, dtype=dt)
        # the running state, the last output (and the cell state): one allocation, returned
        states = _empty((3 if spec.cell == "lstm" else 2, batch, units), dt)
        hs, ps = states[0], states[1]
        hs[...] = _np(h0)
        ps[...] = 0.0
        seq = buf((time, batch, units), dt) if spec.return_sequences else _DUMMY[dt]
        mask_n = np.ascontiguousarray(_np(mask).T) if mask is not None else _NO_MASK
        rd_n = _np(rd) if rd is not None else _ones(batch, units, dt)
        common = (
            mask_n,
            mask is not None,
            rd_n,
            spec.go_backwards,
            spec.zero_output,
            seq,
            spec.return_sequences,
            spec.act,
            spec.ract,
        )
        # the previous states of GRU: h_in itself unless recurrent dropout changed it
        shp, po = (buf((ts, batch, units), dt), _U0) if rd is not None else (xh, ho)
        chunks = _row_chunks(batch, batch * time * gates * (units + features))
        head: tuple[Any, ...] = (xh, x_n, ho, f_u)
        args: tuple[Any, ...]
        cs: np.ndarray | None = None
        saved: dict[str, np.ndarray] = {}
        if spec.cell == "lstm":
            assert c0 is not None
            cs = states[2]
            cs[...] = _np(c0)
            sg = buf((ts, batch, gates), dt)
            stc, scp = buf((ts, batch, units), dt), buf((ts, batch, units), dt)
            uw = _concat(u_n, w_n)  # (units + features, 4 units)
            args = head + (uw, bin_n, hs, cs, ps, sg, stc, scp) + common
            _run_rows(_nb.lstm_forward, args, chunks)
            saved = {"sg": sg, "stc": stc, "scp": scp}
        elif spec.cell == "gru" and spec.reset_after:
            sg = buf((ts, batch, 4 * units), dt)
            brec_n = _np(brec) if brec is not None else np.zeros(gates, dtype=dt)
            xw = buf((1, batch, gates), dt)
            args = head + (u_n, w_n, bin_n, brec_n, hs, ps, sg, shp, po, xw) + common
            _run_rows(_nb.gru_forward, args, chunks)
            saved = {"sg": sg, "shp": shp}
        elif spec.cell == "gru":
            sg, srh = buf((ts, batch, gates), dt), buf((ts, batch, units), dt)
            uwzr = _concat(u_n[:, : 2 * units], w_n[:, : 2 * units])
            uh, wh = _copy(u_n[:, 2 * units :], dt), _copy(w_n[:, 2 * units :], dt)
            args = head + (uwzr, uh, wh, bin_n, hs, ps, sg, shp, po, srh) + common
            _run_rows(_nb.gru_v1_forward, args, chunks)
            saved = {"sg": sg, "shp": shp, "srh": srh}
        elif spec.cell == "simple_rnn":
            sg = buf((ts, batch, units), dt)
            uw = _concat(u_n, w_n)
            args = head + (uw, bin_n, hs, ps, sg) + common
            _run_rows(_nb.simple_forward, args, chunks)
            saved = {"sg": sg}
        else:  # indrnn
            sg = buf((ts, batch, units), dt)
            args = head + (w_n, bin_n, u_n, hs, ps, sg) + common
            _run_rows(_nb.indrnn_forward, args, chunks)
            saved = {"sg": sg}

        if store:
            # The kernel and recurrent kernel go through save_for_backward (autograd then
            # refuses a backward pass after they were changed in place); the internal buffers,
            # which nobody else sees, stay arrays on ctx.
            ctx.spec = spec
            ctx.saved = saved
            ctx.xh = xh
            ctx.mask_n = mask_n
            ctx.has_mask = mask is not None
            ctx.rd_n = rd_n
            ctx.shape = (batch, time, features)
            ctx.save_for_backward(kernel, dp, rec)
        if spec.return_sequences:
            out = torch.from_numpy(seq).transpose(0, 1)  # (batch, time, units)
        else:
            out = torch.from_numpy(ps)
        if cs is not None:
            return out, torch.from_numpy(hs), torch.from_numpy(cs)
        return out, torch.from_numpy(hs)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        batch, time, features = ctx.shape
        units = dh.shape[1]
        work = batch * time * _GATES[ctx.spec.cell] * units * (units + features + 2)
        with _FlushDenormals(work):
            return _backward(ctx, dout, dh, *rest)


def _backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
    """The backward pass of :class:`_FusedRecurrence` (with the denormal flags set)."""
    spec: _Spec = ctx.spec
    kernel, dp, rec = ctx.saved_tensors
    saved: dict[str, np.ndarray] = ctx.saved
    xh: np.ndarray = ctx.xh
    batch, time, features = ctx.shape
    sg = saved["sg"]
    units = dh.shape[1]
    dt = sg.dtype
    codes = (spec.act, spec.ract)
    gates = _GATES[spec.cell] * units
    flat = time * batch
    ncol = xh.shape[2]
    xh2 = torch.from_numpy(xh.reshape(flat, ncol))  # [1 | h_in | x | 1]
    ho = _U1
    shp = saved.get("shp")
    po = _U1 if shp is not None and shp.shape[2] == ncol else _U0

    # the gradients of the state, the last output (and the cell state), updated in place by
    # the kernels: one allocation
    grads_n = _empty((3 if spec.cell == "lstm" else 2, batch, units), dt)
    dhs, dps = grads_n[0], grads_n[1]
    dhs[...] = _np(dh)
    if spec.return_sequences:
        dout_tb = dout.detach().transpose(0, 1)  # (time, batch, units): the kernels only read it
        if dout_tb.is_contiguous() and dout_tb.dtype == _TORCH_DTYPES[dt]:
            dseq = dout_tb.numpy()  # a stacked layer's input gradient is already time-major
        else:
            dseq = _WORKSPACE.empty((time, batch, units), dt)
            _assign(dseq, dout_tb)
        dps[...] = 0.0
    else:
        dseq = _DUMMY[dt]
        dps[...] = _np(dout)
    dx = _WORKSPACE.empty((time, batch, gates), dt)
    t1 = _WORKSPACE.empty((1, batch, units), dt)
    head: tuple[Any, ...] = (ctx.mask_n, ctx.has_mask, ctx.rd_n, spec.go_backwards)
    head += (spec.zero_output, dseq, spec.return_sequences)
    args: tuple[Any, ...]
    chunks = _row_chunks(batch, batch * time * gates * units)
    rec_n = _np(rec)
    needs = ctx.needs_input_grad  # (spec, x, kernel, b_in, rec, brec, h0, c0, ...)
    d_kernel = d_bin = drec = dbrec = None
    dcs: np.ndarray | None = None
    dx2 = torch.from_numpy(dx.reshape(flat, gates))
    if spec.cell in ("lstm", "simple_rnn"):
        ut = _copy(rec_n.T, dt)
        if spec.cell == "lstm":
            dcs = grads_n[2]
            dcs[...] = _np(rest[0])
            args = (ut, sg, saved["stc"], saved["scp"]) + head + (dhs, dcs, dps, dx, t1) + codes
            _run_rows(_nb.lstm_backward, args, chunks)
        else:
            args = (ut, sg) + head + (dhs, dps, dx, t1) + codes
            _run_rows(_nb.simple_backward, args, chunks)
        if needs[2] or needs[3] or needs[4]:
            m = xh2[:, 1:].T @ dx2  # (units + features + 1, gates): dU, dW, db
            drec, d_kernel, d_bin = m[:units], m[units : units + features], m[-1]
    elif spec.cell == "gru" and spec.reset_after:
        assert shp is not None
        dr = _WORKSPACE.empty((time, batch, gates), dt)
        ut = _copy(rec_n.T, dt)
        args = (ut, sg, shp, po) + head + (dhs, dps, dx, dr, t1) + codes
        _run_rows(_nb.gru_backward, args, chunks)
        if needs[4] or needs[5]:
            m = xh2[:, : units + 1].T @ torch.from_numpy(dr.reshape(flat, gates))  # d b_rec, dU
            dbrec, drec = m[0], m[1:]
        if needs[2] or needs[3]:
            m = xh2[:, units + 1 :].T @ dx2  # dW, d b_in
            d_kernel, d_bin = m[:features], m[features]
    elif spec.cell == "gru":
        assert shp is not None
        uzr_t = _copy(rec_n[:, : 2 * units].T, dt)
        uh_t = _copy(rec_n[:, 2 * units :].T, dt)
        t2 = _WORKSPACE.empty((1, batch, units), dt)
        args = (uzr_t, uh_t, sg, shp, po, xh, ho) + head + (dhs, dps, dx, t1, t2) + codes
        _run_rows(_nb.gru_v1_backward, args, chunks)
        if needs[2] or needs[3] or needs[4]:
            m = xh2[:, 1:].T @ dx2
            srh = torch.from_numpy(saved["srh"].reshape(flat, units))
            d_h = srh.T @ dx2[:, 2 * units :]
            drec = torch.cat([m[:units, : 2 * units], d_h], dim=1)
            d_kernel, d_bin = m[units : units + features], m[-1]
    else:
        args = (rec_n, sg) + head + (dhs, dps, dx) + codes
        _run_rows(_nb.indrnn_backward, args, _row_chunks(batch, batch * time * units * 8))
        if needs[4]:
            drec = (dx2 * xh2[:, 1 : units + 1]).sum(0)
        if needs[2] or needs[3]:
            m = xh2[:, units + 1 :].T @ dx2
            d_kernel, d_bin = m[:features], m[features]

    d_x = None
    if needs[1]:
        d_x_tb = torch.from_numpy(_WORKSPACE.empty((time, batch, features), dt))
        torch.mm(dx2, kernel.detach().T, out=d_x_tb.view(flat, features))
        d_x = d_x_tb.transpose(0, 1)
        if dp is not None:
            d_x = d_x * dp.unsqueeze(1)
    dh0 = torch.from_numpy(dhs)
    dc0 = torch.from_numpy(dcs) if dcs is not None else None
    grads: tuple[Tensor | None, ...] = (d_x, d_kernel, d_bin, drec, dbrec, dh0, dc0)
    return (None, *[g if need else None for g, need in zip(grads, needs[1:8])], None, None, None)


def _check_shapes(call: RecurrentCall) -> None:
    """The numba kernels index without bounds checks: every shape is verified here first."""
    check_shapes(call)
    x = call.x
    for name, t in (("x", x), *call.weights_and_dropout()):
        if t is not None and (t.dtype != x.dtype or not t.is_cpu):
            raise ValueError(
                f"expected {name} as a CPU {x.dtype} tensor, got {t.device.type} {t.dtype}"
            )


def run_fused(call: RecurrentCall) -> RecurrentResult:
    """Run one call on the fused numba engine (CPU, float32/float64, supported activations)."""
    _check_shapes(call)
    act = _nb.ACTIVATION_CODES[call.activation]
    ract = _nb.ACTIVATION_CODES.get(call.recurrent_activation, _nb.SIGMOID)
    if call.cell in ("lstm", "gru") and call.recurrent_activation not in _nb.ACTIVATION_CODES:
        raise ValueError(
            f"expected a recurrent_activation in {FUSED_ACTIVATIONS}, "
            f"got {call.recurrent_activation!r}"
        )
    store = call.needs_grad()
    spec = _Spec(
        store,
        call.cell,
        bool(call.reset_after),
        act,
        ract,
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
    )
    dtype = call.x.dtype
    b_in = input_bias(call)
    brec = None
    if call.cell == "gru" and call.reset_after and call.bias is not None:
        brec = call.bias[1]
    mask = None
    if call.mask is not None:
        mask = call.mask if call.mask.dtype == torch.bool else call.mask != 0
    h0 = call.states[0].to(dtype)
    c0 = call.states[1].to(dtype) if call.cell == "lstm" else None
    outs = _FusedRecurrence.apply(
        spec,
        call.x,
        call.kernel,
        b_in,
        call.recurrent_kernel,
        brec,
        h0,
        c0,
        mask,
        call.dropout_mask,
        call.recurrent_dropout_mask,
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "fused")
