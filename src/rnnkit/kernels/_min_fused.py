"""The "fused" CPU engine of the kinds without a recurrent product (MinGRU, MinLSTM).

One autograd node for the whole call: the input projection ``x W + b`` as one product (bias
folded in by ``addmm``), the numba kernels of ``_nb_min`` for the linear recurrence (one pass
forward, one backward, threads over the batch rows), and in the backward the products of the
weight and input gradients with the projection's gradient (``db`` one sum). The projection and
its gradient come from the reused workspace of ``_runtime`` (a fresh 16 MB buffer page-faults on
first touch, which cost as much as the backward kernel), the states too (returned to the caller:
the workspace lends a buffer again only once nothing holds it). Denormals are flushed in the
backward (a gradient decaying through many steps reaches them).

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


def _dummy(dt: np.dtype) -> np.ndarray:
    """A (1, 1, 1) stand-in for an array a kind's kernels never read."""
    return np.zeros((1, 1, 1), dt)


def _project(x2: Tensor, kernel: Tensor, bias: Tensor | None, out: Tensor) -> None:
    """``out = x2 kernel + bias`` (rows of x2: batch * time) as one product."""
    if bias is None:
        torch.mm(x2, kernel, out=out)
    else:
        torch.addmm(bias, x2, kernel, out=out)


class FusedMinStates(torch.autograd.Function):
    """Every state (batch, time, units) of a min cell from its input ``x`` (batch, time,
    features), weights, ``h0`` (batch, units) and the (batch, time) keep mask, in processing
    order; ``code`` the kind's ``fused_code``."""

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
        x, kernel = x.detach().contiguous(), kernel.detach()
        batch, time, features = x.shape
        units, width = h0.shape[1], kernel.shape[1]
        dt = NP_DTYPES[x.dtype]
        xp = WORKSPACE.empty((batch, time, width), dt)
        _project(
            x.view(batch * time, features),
            kernel,
            None if bias is None else bias.detach(),
            torch.from_numpy(xp.reshape(batch * time, width)),  # (batch * time, gates * units)
        )
        h = WORKSPACE.empty((batch, time, units), dt)
        keep_n = _NO_MASK if keep is None else as_array(keep)
        # MinLSTM's write gates for the backward (scalar exp/log: cheaper kept than recomputed)
        gates = WORKSPACE.empty(h.shape, dt) if code == _nb_min.MIN_LSTM else _dummy(dt)
        args = _FWD(
            XP=xp, H0=as_array(h0), keep=keep_n, has_mask=keep is not None, H=h,
            HN=np.empty((batch, units), dt), S=gates, act=code, ract=0,
        )  # fmt: skip
        run_rows(_nb_min.min_forward, args, row_chunks(batch, 8 * batch * time * units))
        states = torch.from_numpy(h)
        ctx.save_for_backward(x, kernel, h0, states)
        ctx.xp, ctx.gates, ctx.keep, ctx.code = xp, gates, keep_n, code
        ctx.has_mask, ctx.has_bias = keep is not None, bias is not None
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dh: Tensor) -> tuple[Tensor | None, ...]:
        x, kernel, h0, states = ctx.saved_tensors
        xp: np.ndarray = ctx.xp
        batch, time, features = x.shape
        units, width = h0.shape[1], kernel.shape[1]
        dxp = WORKSPACE.empty(xp.shape, xp.dtype)
        dh0 = np.empty((batch, units), xp.dtype)
        args = _BWD(
            XP=xp, H0=as_array(h0), keep=ctx.keep, has_mask=ctx.has_mask, H=states.numpy(),
            S=ctx.gates, DH=as_array(dh), DXP=dxp, DH0=dh0, act=ctx.code, ract=0,
        )  # fmt: skip
        work = 16 * batch * time * units
        with FlushDenormals(work):
            run_rows(_nb_min.min_backward, args, row_chunks(batch, work))
        dxp2 = torch.from_numpy(dxp.reshape(batch * time, width))  # (batch * time, gates * u)
        x2 = x.view(batch * time, features)
        needs = ctx.needs_input_grad
        dx = (dxp2 @ kernel.t()).view(batch, time, features) if needs[0] else None
        dkernel = x2.t() @ dxp2 if needs[1] else None
        dbias = dxp2.sum(0) if needs[2] and ctx.has_bias else None
        return dx, dkernel, dbias, torch.from_numpy(dh0), None, None
