"""The "fused" CPU engine of the kinds without a recurrent product (MinGRU, MinLSTM).

One autograd node for the whole call. The input projection ``[x | 1] [W; b]`` is never stored:
the numba kernels of ``_nb_min`` compute each step's projection of their batch rows with the
register-tiled product of ``_nb_gemm`` (about 180 GFLOP/s on one AVX-512 core, twice torch's
product at this shape: 32-128 features is a short inner dimension), then the gates and the
state, in one pass (threads over the batch rows). The backward runs block by block of steps,
last block first: the kernel recomputes the step's projection, writes its gradient into one
reused block buffer (in cache) and, where asked, the input gradient by a tiled product with
``W^T``; the weight and bias gradient is one more tiled product per block (threads over the
feature rows, so each row sums in one order whatever the split). Against torch's products
around a kernel pass (measured under load, batch 32, 128 units, 512 steps, one thread, CPU
time): forward 6.5 -> 3.6 ms, forward and backward 16.4 -> 13.0 ms (20.5 -> 14.9 ms with the
input gradient). The states come from the reused workspace of ``_runtime`` (a fresh 16 MB
buffer page-faults on first touch; the states are returned to the caller: the workspace lends
a buffer again only once nothing holds it). Denormals are flushed in the backward (a gradient
decaying through many steps reaches them).

Inputs come in processing order: the caller applies dropout and ``go_backwards`` to ``x`` (a
(batch, time, features) flip costs far less than one of the projection).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _nb_min
from ._runtime import (
    NP_DTYPES,
    WORKSPACE,
    FlushDenormals,
    as_array,
    assign,
    kernel_args,
    row_chunks,
    run_rows,
    splits,
)
from ._threads import adaptive_threads

_FWD = kernel_args(_nb_min.min_forward)
_BWD = kernel_args(_nb_min.min_backward)
_WGRAD = kernel_args(_nb_min.min_weight_grad)
_NO_MASK = np.ones((1, 1), dtype=np.bool_)
#: Bytes of the projection's gradient per block of steps in the backward: the kernel writes a
#: block, the products read it back while it is in cache.
BLOCK_BYTES = 2 << 20
#: Fewest steps per block (bounds the number of calls per block at large batches).
MIN_BLOCK_STEPS = 8


def block_steps(batch: int, width: int, itemsize: int) -> int:
    """Steps per block of a (batch, gates * units = ``width``) projection."""
    return max(MIN_BLOCK_STEPS, BLOCK_BYTES // (batch * width * itemsize))


def _blocks(time: int, steps: int) -> list[tuple[int, int]]:
    """The (start, end) steps of each block, first to last."""
    return [(t0, min(t0 + steps, time)) for t0 in range(0, time, steps)]


def _with_bias_row(chunks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The feature-row ranges of the weight gradient with the bias row (the last) added to the
    last range: the split of the features stays in whole register tiles (8 rows)."""
    *first, (lo, hi) = chunks
    return [*first, (lo, hi + 1)]


def _dummy(dt: np.dtype) -> np.ndarray:
    """A (1, 1, 1) stand-in for an array a kind's kernels never read."""
    return np.zeros((1, 1, 1), dt)


class FusedMinStates(torch.autograd.Function):
    """Every state (batch, time, units) of a min cell from its input ``x`` (batch, time,
    features), weights, ``h0`` (batch, units) and the (batch, time) keep mask, in processing
    order; ``code`` the kind's ``fused_code``.

    The kernels compute each step's projection themselves (register tiles; the bias as the
    last row of the weights against a column of ones): the forward is one pass that stores
    only the states; the backward runs block by block of steps (:func:`block_steps`), last
    first: the kernel recomputes the block's projection and writes its gradient into one
    reused block buffer, and the weight (with the bias) and input gradients take it by products
    while it is in cache.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: Tensor,
        kernel: Tensor,
        bias: Tensor | None,
        h0: Tensor,
        keep: Tensor | None,
        code: int,
    ) -> Tensor:
        kernel = kernel.detach()
        batch, time, features = x.shape
        units, width = h0.shape[1], kernel.shape[1]
        dt = NP_DTYPES[x.dtype]
        xa = WORKSPACE.empty((time, batch, features + 1), dt)  # [x | 1], time-major
        xat = torch.from_numpy(xa)
        xat[..., :features] = x.detach().transpose(0, 1)
        xat[..., features] = 1.0
        wa = torch.empty(features + 1, width, dtype=x.dtype)  # [kernel; bias]
        wa[:features] = kernel
        wa[features] = 0.0 if bias is None else bias.detach()
        h = WORKSPACE.empty((batch, time, units), dt)
        hn = np.empty((batch, units), dt)
        hn[...] = as_array(h0)
        keep_n = _NO_MASK if keep is None else as_array(keep)
        # MinLSTM's write gates for the backward (scalar exp/log: cheaper kept than recomputed)
        gates = WORKSPACE.empty(h.shape, dt) if code == _nb_min.MIN_LSTM else _dummy(dt)
        args = _FWD(
            X=xa, W=wa.numpy(), keep=keep_n, has_mask=keep is not None, H=h, HN=hn, S=gates,
            XS=np.empty((1, batch, width), dt), act=code, ract=0,
        )  # fmt: skip
        work = batch * time * width * (features + 1 + 4)
        site = ("min_forward", code, work.bit_length())  # calls of similar work
        with adaptive_threads(site, splits(batch, work)):
            run_rows(_nb_min.min_forward, args, row_chunks(batch, work))
        states = torch.from_numpy(h)
        ctx.save_for_backward(xat, wa, h0, states)
        ctx.gates, ctx.keep, ctx.code = gates, keep_n, code
        ctx.has_mask, ctx.has_bias = keep is not None, bias is not None
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dh: Tensor) -> tuple[Tensor | None, ...]:
        xat, wa, h0, states = ctx.saved_tensors
        time, batch, features = xat.shape[0], xat.shape[1], xat.shape[2] - 1
        units, width = h0.shape[1], wa.shape[1]
        dt = NP_DTYPES[xat.dtype]
        steps = block_steps(batch, width, dt.itemsize)
        dxb = WORKSPACE.empty((min(steps, time), batch, width), dt)
        dxb2d = dxb.reshape(-1, width)  # (steps * batch, gates * units)
        work = batch * time * width * (2 * features + 8)
        dh0 = np.zeros((batch, units), dt)
        needs = ctx.needs_input_grad
        dxt = WORKSPACE.empty((time, batch, features), dt) if needs[0] else _dummy(dt)
        dwa = np.zeros((1, features + 1, width), dt) if needs[1] or needs[2] else None
        # (1, features + 1, time * batch): the weight gradient's rows are the features
        xa_t = WORKSPACE.empty((1, features + 1, time * batch), dt)
        assign(xa_t[0], xat.view(time * batch, features + 1).t())
        args = _BWD(
            X=xat.numpy(), W=wa.numpy(), H0=as_array(h0), keep=ctx.keep, has_mask=ctx.has_mask,
            H=states.numpy(), S=ctx.gates, DH=as_array(dh), DXB=dxb, DH0=dh0,
            XS=np.empty((1, batch, width), dt), WT=as_array(wa[:features].t()), DX=dxt,
            has_dx=bool(needs[0]), t0=0, act=ctx.code, ract=0,
        )  # fmt: skip
        site = ("min_backward", ctx.code, work.bit_length())
        with adaptive_threads(site, splits(batch, work)), FlushDenormals(work):
            chunks = row_chunks(batch, work)  # the thread count the policy chose
            wchunks = _with_bias_row(row_chunks(features, work))
            for t0, t1 in reversed(_blocks(time, steps)):
                n = (t1 - t0) * batch
                args = args._replace(DXB=dxb[: t1 - t0], t0=t0)
                run_rows(_nb_min.min_backward, args, chunks)
                if dwa is not None:
                    wargs = _WGRAD(XT=xa_t, DXB=dxb2d[:n], DW=dwa, ka=t0 * batch, act=0, ract=0)
                    run_rows(_nb_min.min_weight_grad, wargs, wchunks)
        dx = torch.from_numpy(dxt).transpose(0, 1) if needs[0] else None
        dw = None if dwa is None else torch.from_numpy(dwa[0])  # (features + 1, gates * units)
        dkernel = dw[:features] if dw is not None and needs[1] else None
        dbias = dw[features].clone() if dw is not None and needs[2] and ctx.has_bias else None
        return dx, dkernel, dbias, torch.from_numpy(dh0), None, None
