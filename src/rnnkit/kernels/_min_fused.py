"""The "fused" CPU engine of the kinds without a recurrent product (MinGRU, MinLSTM).

One autograd node for the whole call, run block by block of steps so that each block's
projection stays in the cores' caches: the block's input projection ``x W + b`` as one product
(bias folded in by ``addmm``) into its slice of a time-major buffer, then the numba kernels of
``_nb_min`` over the block (threads over the batch rows); in the backward, last block first,
the kernel writes the block's projection gradient (and accumulates the bias gradient per row)
into one reused block buffer, and the weight and input gradients take it by products at once.
Against one product over the whole sequence and one kernel pass: 7-10 % less CPU time per
training step at 512-2,048 steps (batch 32, 128 units). The projection and the states come from
the reused workspace of ``_runtime`` (a fresh 16 MB buffer page-faults on first touch, which
cost as much as the backward kernel; the states are returned to the caller: the workspace lends
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
    kernel_args,
    row_chunks,
    run_rows,
)

_FWD = kernel_args(_nb_min.min_forward)
_BWD = kernel_args(_nb_min.min_backward)
_NO_MASK = np.ones((1, 1), dtype=np.bool_)
#: Bytes of the projection per block of steps: a block's product, its pass of the kernels and
#: (backward) its weight-gradient product run while it is in the cores' caches.
BLOCK_BYTES = 2 << 20
#: Fewest steps per block (bounds the number of calls per block at large batches).
MIN_BLOCK_STEPS = 8


def block_steps(batch: int, width: int, itemsize: int) -> int:
    """Steps per block of a (batch, gates * units = ``width``) projection."""
    return max(MIN_BLOCK_STEPS, BLOCK_BYTES // (batch * width * itemsize))


def _blocks(time: int, steps: int) -> list[tuple[int, int]]:
    """The (start, end) steps of each block, first to last."""
    return [(t0, min(t0 + steps, time)) for t0 in range(0, time, steps)]


def _dummy(dt: np.dtype) -> np.ndarray:
    """A (1, 1, 1) stand-in for an array a kind's kernels never read."""
    return np.zeros((1, 1, 1), dt)


class FusedMinStates(torch.autograd.Function):
    """Every state (batch, time, units) of a min cell from its input ``x`` (batch, time,
    features), weights, ``h0`` (batch, units) and the (batch, time) keep mask, in processing
    order; ``code`` the kind's ``fused_code``.

    Block by block of steps (:func:`block_steps`): the block's projection ``x W + b`` (one
    product, bias folded in by ``addmm``) into its slice of a time-major (time, batch, gates *
    units) buffer, then the forward kernel over the block while the slice is in cache; the
    backward likewise, last block first: the kernel writes the block's projection gradient into
    one reused block buffer, and the weight (and input) gradients take it by products at once.
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
        xt = x.detach().transpose(0, 1).contiguous().view(time * batch, features)  # time-major
        xp = WORKSPACE.empty((time, batch, width), dt)
        xp2 = torch.from_numpy(xp.reshape(time * batch, width))  # (time * batch, gates * units)
        h = WORKSPACE.empty((batch, time, units), dt)
        hn = np.empty((batch, units), dt)
        hn[...] = as_array(h0)
        keep_n = _NO_MASK if keep is None else as_array(keep)
        # MinLSTM's write gates for the backward (scalar exp/log: cheaper kept than recomputed)
        gates = WORKSPACE.empty(h.shape, dt) if code == _nb_min.MIN_LSTM else _dummy(dt)
        args = _FWD(
            XB=xp, keep=keep_n, has_mask=keep is not None, H=h, HN=hn, S=gates, t0=0, act=code,
            ract=0,
        )  # fmt: skip
        chunks = row_chunks(batch, 8 * batch * time * units)
        b = None if bias is None else bias.detach()
        for t0, t1 in _blocks(time, block_steps(batch, width, dt.itemsize)):
            rows = slice(t0 * batch, t1 * batch)
            if b is None:
                torch.mm(xt[rows], kernel, out=xp2[rows])
            else:
                torch.addmm(b, xt[rows], kernel, out=xp2[rows])
            run_rows(_nb_min.min_forward, args._replace(XB=xp[t0:t1], t0=t0), chunks)
        states = torch.from_numpy(h)
        ctx.save_for_backward(xt, kernel, h0, states)
        ctx.xp, ctx.gates, ctx.keep, ctx.code = xp, gates, keep_n, code
        ctx.has_mask, ctx.has_bias = keep is not None, bias is not None
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dh: Tensor) -> tuple[Tensor | None, ...]:
        xt, kernel, h0, states = ctx.saved_tensors
        xp: np.ndarray = ctx.xp
        time, batch, width = xp.shape
        units, features = h0.shape[1], kernel.shape[0]
        steps = block_steps(batch, width, xp.dtype.itemsize)
        dxb = WORKSPACE.empty((min(steps, time), batch, width), xp.dtype)
        dxb2 = torch.from_numpy(dxb.reshape(-1, width))  # (steps * batch, gates * units)
        dh0 = np.zeros((batch, units), xp.dtype)
        db = np.zeros((batch, width), xp.dtype)
        needs = ctx.needs_input_grad
        dxt = xt.new_empty(time * batch, features) if needs[0] else None
        dkernel = kernel.new_zeros(kernel.shape) if needs[1] else None
        args = _BWD(
            XB=xp, H0=as_array(h0), keep=ctx.keep, has_mask=ctx.has_mask, H=states.numpy(),
            S=ctx.gates, DH=as_array(dh), DXB=dxb, DH0=dh0, DB=db, t0=0, act=ctx.code, ract=0,
        )  # fmt: skip
        work = 16 * batch * time * units
        chunks = row_chunks(batch, work)
        with FlushDenormals(work):
            for t0, t1 in reversed(_blocks(time, steps)):
                n = (t1 - t0) * batch
                args = args._replace(XB=xp[t0:t1], DXB=dxb[: t1 - t0], t0=t0)
                run_rows(_nb_min.min_backward, args, chunks)
                rows = slice(t0 * batch, t1 * batch)
                if dkernel is not None:
                    dkernel.addmm_(xt[rows].t(), dxb2[:n])
                if dxt is not None:
                    torch.mm(dxb2[:n], kernel.t(), out=dxt[rows])
        dx = None if dxt is None else dxt.view(time, batch, features).transpose(0, 1)
        dbias = torch.from_numpy(db).sum(0) if needs[2] and ctx.has_bias else None
        return dx, dkernel, dbias, torch.from_numpy(dh0), None, None
