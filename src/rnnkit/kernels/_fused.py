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
    threads = max(1, torch.get_num_threads())
    if work < _MIN_PARALLEL_WORK:
        threads = 1
    threads = max(1, min(threads, batch // _MIN_ROWS_PER_THREAD))
    if threads == 1:
        return [(0, batch)]
    align = 8 if batch >= 16 * threads else 4  # the product's register tiles take 8 rows
    step = int(math.ceil(batch / threads / align)) * align
    bounds = list(range(0, batch, step)) + [batch]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


_ENTRY_POINTS: dict[tuple, Any] = {}


def _entry_point(kernel: Any, args: tuple) -> Any:
    """The compiled specialisation of ``kernel`` for ``args``, callable without dispatch.

    The kernels take their activation codes (the last two arguments before the row range) as
    literals; resolving a literal specialisation through numba's dispatcher from Python costs
    milliseconds per call, so the entry point is looked up once per (kernel, dtype, codes).
    """
    key = (kernel, args[0].dtype.char, args[-2], args[-1])
    entry = _ENTRY_POINTS.get(key)
    if entry is None:
        sig = tuple(numba.typeof(a) for a in args[:-2])
        sig += (types.literal(args[-2]), types.literal(args[-1]), types.int64, types.int64)
        entry = kernel.compile(sig)
        _ENTRY_POINTS[key] = entry
    return entry


def _gomp() -> Any:
    global _gomp_parallel, _gomp_checked
    if not _gomp_checked:
        _gomp_parallel = _find_gomp()
        _gomp_checked = True
    return _gomp_parallel


def _run_rows(kernel: Any, args: tuple, chunks: list[tuple[int, int]]) -> None:
    """Run ``kernel(*args, lo, hi)`` for every chunk, in parallel (the kernels release the GIL)."""
    kernel = _entry_point(kernel, args)
    if len(chunks) == 1:
        kernel(*args, *chunks[0])
        return
    if _gomp() is not None:
        todo = iter(chunks)
        errors: list[BaseException] = []

        def body(_: Any) -> None:
            _keep_thread_state()
            try:
                for lo, hi in todo:  # next() on a shared iterator is atomic under the GIL
                    kernel(*args, lo, hi)
            except BaseException as exc:  # re-raised on the calling thread below
                errors.append(exc)

        _gomp_parallel(_GOMP_FN(body), None, len(chunks), 0)
        if errors:
            raise errors[0]
        return
    pool = _executor(len(chunks) - 1)
    futures = [pool.submit(kernel, *(*args, lo, hi)) for lo, hi in chunks[1:]]
    try:
        kernel(*args, *chunks[0])
    finally:
        for fut in futures:
            fut.result()


class _Workspace:
    """Large buffers kept for reuse by later calls.

    A fresh multi-megabyte allocation is mapped anew by the allocator and page-faults on first
    touch, every call (at batch 256 that costs more than the products). Buffers are NumPy arrays
    wrapped by ``torch.from_numpy``: a tensor (or a view, or autograd's saved copy) keeps its
    array referenced, so an array whose only reference is this pool is free again.
    """

    MIN_BYTES = 1 << 18
    MAX_PER_SIZE = 8
    MAX_BYTES = 2 << 30

    def __init__(self) -> None:
        self._arrays: dict[tuple[int, str], list[np.ndarray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        np_dtype = np.dtype(np.float32 if dtype == torch.float32 else np.float64)
        n = math.prod(shape)
        nbytes = n * np_dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return torch.empty(shape, dtype=dtype)
        key = (n, np_dtype.str)
        with self._lock:
            arrays = self._arrays.setdefault(key, [])
            found = None
            for arr in arrays:
                if sys.getrefcount(arr) <= 3:  # the list, ``arr`` and getrefcount's argument
                    found = arr
                    break
            if found is None:
                if len(arrays) >= self.MAX_PER_SIZE or self._bytes + nbytes > self.MAX_BYTES:
                    return torch.empty(shape, dtype=dtype)
                found = np.empty(n, dtype=np_dtype)
                arrays.append(found)
                self._bytes += nbytes
            return torch.from_numpy(found).view(shape)

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


def _np(t: Tensor) -> np.ndarray:
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
        batch, time, features = x.shape
        units = h0.shape[1]
        gates = kernel.shape[1]
        dtype = x.dtype
        store = spec.store
        ts = time if store else 1
        np_dtype = np.float32 if dtype == torch.float32 else np.float64

        def buf(*shape: int) -> Tensor:
            return _WORKSPACE.empty(shape, dtype)

        xd = (x if dp is None else x * dp.unsqueeze(1)).detach()
        ncol = units + features + 2
        xh = buf(time, batch, ncol)  # [1 | h_in | x | 1] per (time, batch) row
        if store:
            xh[:, :, 0] = 1.0
            xh[:, :, ncol - 1] = 1.0
        xh[:, :, units + 1 : units + 1 + features] = xd.transpose(0, 1)
        xh_n = xh.numpy()
        ho, f_u = _U64(1), _U64(features)
        w_d, u_d = kernel.detach(), rec.detach()
        bin_n = _np(b_in) if b_in is not None else np.zeros(gates, dtype=np_dtype)
        h_t = h0.detach().clone().contiguous()
        hs = h_t.numpy()
        p_t = torch.zeros(batch, units, dtype=dtype)
        seq_t = buf(time, batch, units) if spec.return_sequences else buf(1, 1, 1)
        mask_n = mask.t().contiguous().numpy() if mask is not None else np.ones((1, 1), np.bool_)
        rd_n = _np(rd) if rd is not None else np.ones((batch, units), dtype=np_dtype)
        common = (
            mask_n,
            mask is not None,
            rd_n,
            spec.go_backwards,
            spec.zero_output,
            seq_t.numpy(),
            spec.return_sequences,
            spec.act,
            spec.ract,
        )
        # the previous states of GRU: h_in itself unless recurrent dropout changed it
        shp, po = (buf(ts, batch, units), _U64(0)) if rd is not None else (xh, ho)
        work = batch * time * gates * (units + features)
        head: tuple[Any, ...] = (xh_n, ho, f_u)
        args: tuple[Any, ...]
        c_t: Tensor | None = None
        saved: dict[str, Tensor] = {}
        if spec.cell == "lstm":
            assert c0 is not None
            c_t = c0.detach().clone().contiguous()
            sg, stc, scp = buf(ts, batch, gates), buf(ts, batch, units), buf(ts, batch, units)
            uw = torch.cat([u_d, w_d], 0).numpy()  # (units + features, 4 units)
            args = head + (uw, bin_n, hs, c_t.numpy(), p_t.numpy())
            args += (sg.numpy(), stc.numpy(), scp.numpy()) + common
            _run_rows(_nb.lstm_forward, args, _row_chunks(batch, work))
            saved = {"sg": sg, "stc": stc, "scp": scp}
        elif spec.cell == "gru" and spec.reset_after:
            sg = buf(ts, batch, 4 * units)
            brec_n = _np(brec) if brec is not None else np.zeros(gates, dtype=np_dtype)
            xw = np.empty((1, batch, gates), dtype=np_dtype)
            args = head + (_np(u_d), _np(w_d), bin_n, brec_n, hs, p_t.numpy())
            args += (sg.numpy(), shp.numpy(), po, xw) + common
            _run_rows(_nb.gru_forward, args, _row_chunks(batch, work))
            saved = {"sg": sg, "shp": shp}
        elif spec.cell == "gru":
            sg, srh = buf(ts, batch, gates), buf(ts, batch, units)
            uwzr = torch.cat([u_d[:, : 2 * units], w_d[:, : 2 * units]], 0).numpy()
            uh, wh = _np(u_d[:, 2 * units :]), _np(w_d[:, 2 * units :])
            args = head + (uwzr, uh, wh, bin_n, hs, p_t.numpy())
            args += (sg.numpy(), shp.numpy(), po, srh.numpy()) + common
            _run_rows(_nb.gru_v1_forward, args, _row_chunks(batch, work))
            saved = {"sg": sg, "shp": shp, "srh": srh}
        elif spec.cell == "simple_rnn":
            sg = buf(ts, batch, units)
            uw = torch.cat([u_d, w_d], 0).numpy()
            args = head + (uw, bin_n, hs, p_t.numpy(), sg.numpy()) + common
            _run_rows(_nb.simple_forward, args, _row_chunks(batch, work))
            saved = {"sg": sg}
        else:  # indrnn
            sg = buf(ts, batch, units)
            args = head + (_np(w_d), bin_n, _np(u_d), hs, p_t.numpy(), sg.numpy()) + common
            _run_rows(_nb.indrnn_forward, args, _row_chunks(batch, work))
            saved = {"sg": sg}

        if store:
            ctx.spec = spec
            ctx.saved_names = tuple(saved)
            ctx.mask_n = mask_n
            ctx.has_mask = mask is not None
            ctx.rd_n = rd_n
            ctx.shape = (batch, time, features)
            ctx.save_for_backward(xh, kernel, dp, rec, *saved.values())
        out = seq_t.transpose(0, 1) if spec.return_sequences else p_t  # (batch, time, units)
        if c_t is not None:
            return out, h_t, c_t
        return out, h_t

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
    xh, kernel, dp, rec, *stored = ctx.saved_tensors
    saved = dict(zip(ctx.saved_names, stored, strict=True))
    batch, time, features = ctx.shape
    sg = saved["sg"]
    units = dh.shape[1]
    dtype = sg.dtype
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    codes = (spec.act, spec.ract)
    gates = _GATES[spec.cell] * units
    flat = time * batch
    ncol = xh.shape[2]
    xh2 = xh.view(flat, ncol)  # [1 | h_in | x | 1]
    h_cols = slice(1, units + 1)
    ho = _U64(1)
    shp = saved.get("shp")
    po = _U64(1) if shp is not None and shp.shape[2] == ncol else _U64(0)

    dh_t = dh.detach().to(dtype).clone().contiguous()
    if spec.return_sequences:
        dseq_n = dout.detach().transpose(0, 1).contiguous().numpy()  # (time, batch, units)
        dp_t = torch.zeros(batch, units, dtype=dtype)
    else:
        dseq_n = np.zeros((1, 1, 1), dtype=np_dtype)
        dp_t = dout.detach().clone().contiguous()
    dx = _WORKSPACE.empty((time, batch, gates), dtype)
    t1 = np.empty((1, batch, units), dtype=np_dtype)
    head: tuple[Any, ...] = (
        ctx.mask_n,
        ctx.has_mask,
        ctx.rd_n,
        spec.go_backwards,
        spec.zero_output,
    )
    args: tuple[Any, ...]
    head = head + (dseq_n, spec.return_sequences)
    chunks = _row_chunks(batch, batch * time * gates * units)
    rec_n = _np(rec)
    needs = ctx.needs_input_grad  # (spec, x, kernel, b_in, rec, brec, h0, c0, ...)
    d_kernel = d_bin = drec = dbrec = None
    dc_t: Tensor | None = None
    dx2 = dx.view(flat, gates)
    if spec.cell in ("lstm", "simple_rnn"):
        ut = np.ascontiguousarray(rec_n.T)
        if spec.cell == "lstm":
            dc_t = rest[0].detach().clone().contiguous()
            args = (ut, sg.numpy(), saved["stc"].numpy(), saved["scp"].numpy()) + head
            args += (dh_t.numpy(), dc_t.numpy(), dp_t.numpy(), dx.numpy(), t1) + codes
            _run_rows(_nb.lstm_backward, args, chunks)
        else:
            args = (ut, sg.numpy()) + head
            args += (dh_t.numpy(), dp_t.numpy(), dx.numpy(), t1) + codes
            _run_rows(_nb.simple_backward, args, chunks)
        if needs[2] or needs[3] or needs[4]:
            m = xh2[:, 1:].T @ dx2  # (units + features + 1, gates): dU, dW, db
            drec, d_kernel, d_bin = m[:units], m[units : units + features], m[-1]
    elif spec.cell == "gru" and spec.reset_after:
        assert shp is not None
        dr = _WORKSPACE.empty((time, batch, gates), dtype)
        ut = np.ascontiguousarray(rec_n.T)
        args = (ut, sg.numpy(), shp.numpy(), po) + head
        args += (dh_t.numpy(), dp_t.numpy(), dx.numpy(), dr.numpy(), t1) + codes
        _run_rows(_nb.gru_backward, args, chunks)
        if needs[4] or needs[5]:
            m = xh2[:, : units + 1].T @ dr.view(flat, gates)  # d b_rec, dU
            dbrec, drec = m[0], m[1:]
        if needs[2] or needs[3]:
            m = xh2[:, units + 1 :].T @ dx2  # dW, d b_in
            d_kernel, d_bin = m[:features], m[features]
    elif spec.cell == "gru":
        assert shp is not None
        uzr_t = np.ascontiguousarray(rec_n[:, : 2 * units].T)
        uh_t = np.ascontiguousarray(rec_n[:, 2 * units :].T)
        t2 = np.empty((1, batch, units), dtype=np_dtype)
        args = (uzr_t, uh_t, sg.numpy(), shp.numpy(), po, xh.numpy(), ho) + head
        args += (dh_t.numpy(), dp_t.numpy(), dx.numpy(), t1, t2) + codes
        _run_rows(_nb.gru_v1_backward, args, chunks)
        if needs[2] or needs[3] or needs[4]:
            m = xh2[:, 1:].T @ dx2
            d_h = saved["srh"].view(flat, units).T @ dx2[:, 2 * units :]
            drec = torch.cat([m[:units, : 2 * units], d_h], dim=1)
            d_kernel, d_bin = m[units : units + features], m[-1]
    else:
        args = (rec_n, sg.numpy()) + head + (dh_t.numpy(), dp_t.numpy(), dx.numpy()) + codes
        _run_rows(_nb.indrnn_backward, args, _row_chunks(batch, batch * time * units * 8))
        if needs[4]:
            drec = (dx2 * xh2[:, h_cols]).sum(0)
        if needs[2] or needs[3]:
            m = xh2[:, units + 1 :].T @ dx2
            d_kernel, d_bin = m[:features], m[features]

    d_x = None
    if needs[1]:
        d_x_tb = _WORKSPACE.empty((time, batch, features), dtype)
        torch.mm(dx2, kernel.detach().T, out=d_x_tb.view(flat, features))
        d_x = d_x_tb.transpose(0, 1)
        if dp is not None:
            d_x = d_x * dp.unsqueeze(1)
    grads: tuple[Tensor | None, ...] = (d_x, d_kernel, d_bin, drec, dbrec, dh_t, dc_t)
    grads = tuple(g if need else None for g, need in zip(grads, needs[1:8], strict=True))
    return (None, *grads, None, None, None)


def _check_shapes(call: RecurrentCall) -> None:
    """The numba kernels index without bounds checks: every shape is verified here first."""
    check_shapes(call)
    x = call.x
    floats: dict[str, Tensor | None] = {
        "x": x,
        "kernel": call.kernel,
        "recurrent_kernel": call.recurrent_kernel,
    }
    floats.update({"bias": call.bias, "dropout_mask": call.dropout_mask})
    floats["recurrent_dropout_mask"] = call.recurrent_dropout_mask
    for name, t in floats.items():
        if t is not None and (t.dtype != x.dtype or t.device.type != "cpu"):
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
    tensors = (call.x, call.kernel, call.recurrent_kernel, call.bias, *call.states)
    store = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
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
