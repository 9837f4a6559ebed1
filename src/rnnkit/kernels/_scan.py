"""The "scan" engine: MinGRU and MinLSTM over the whole sequence at once, in log space.

Without a recurrent product their state follows a linear recurrence ``h_t = a_t h_{t-1} + b_t``
whose coefficients depend on the inputs only (Feng et al. 2024, "Were RNNs All We Needed?"); the
kind's spec gives ``log a`` and ``log b`` (``CellSpec.log_coefficients``: softplus forms, never a
log of a rounded product; ``b > 0``). In log space the recurrence solved from a
zero start is ``h_t = exp(A_t + logcumsumexp_s<=t(log b_s - A_s))`` with ``A_t = cumsum log a``
(Heinsen's scan). Float32 loses ``ulp(|A_t|)`` of relative precision there, and ``|A_t|`` grows
with the time span, so the sequence is cut into chunks of :data:`CHUNK` steps: the scan runs
within each chunk, in parallel over all chunks, and the chunks are joined by the same recurrence
over their ends (``time / CHUNK`` small steps): ``h_t = D_t h_start + H_t`` with ``D_t`` the
decay since the chunk's start. The initial state enters only through ``D_t``, so it may have any
sign.

Masks: a skipped step has ``a = 1``, ``b = 0`` (the state is kept); the outputs follow Keras's
rule (the previous output, zeros before the first kept step, or zeros with
``zero_output_for_mask``). Autograd differentiates the whole computation.

On CPU the "fused" engine runs the same recurrence sequentially in time with the numba kernels
of ``_nb_min`` (one pass forward, one backward, threads over the batch rows): the log-space scan
makes some twenty passes over memory, while the batch and unit axes already fill a CPU's cores.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _nb_min
from ._api import RecurrentCall, RecurrentResult
from ._loop import project_inputs
from ._runtime import kernel_args, row_chunks, run_rows

_FWD = kernel_args(_nb_min.min_forward)
_BWD = kernel_args(_nb_min.min_backward)

#: Steps per chunk of the log-space scan (precision against the joins between chunks).
CHUNK = 64
#: ``log b`` of a skipped step: ``exp`` of it is 0 in float32 and float64, yet it stays finite so
#: that the gradient of ``logcumsumexp`` over a fully skipped prefix is not NaN.
_LOG_ZERO = -1.0e4


def linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk: int = CHUNK) -> Tensor:
    """Every ``h_t`` (batch, time, units) of ``h_t = a_t h_{t-1} + b_t`` from ``h0`` (batch, u)."""
    batch, time, units = log_a.shape
    pad = (-time) % chunk
    if pad:
        log_a = F.pad(log_a, (0, 0, 0, pad))
        log_b = F.pad(log_b, (0, 0, 0, pad), value=_LOG_ZERO)
    n = (time + pad) // chunk
    la = log_a.reshape(batch, n, chunk, units)
    lb = log_b.reshape(batch, n, chunk, units)
    a_star = la.cumsum(dim=2)  # (batch, n, chunk, units): log decay since the chunk's start
    local = torch.exp(a_star + torch.logcumsumexp(lb - a_star, dim=2))  # zero-start chunk states
    decay = torch.exp(a_star)
    starts = [h0]
    for k in range(n - 1):  # join the chunks: the state at the start of chunk k + 1
        starts.append(decay[:, k, -1] * starts[-1] + local[:, k, -1])
    h_start = torch.stack(starts, dim=1).unsqueeze(2)  # (batch, n, 1, units)
    h = decay * h_start + local  # (batch, n, chunk, units)
    return h.reshape(batch, n * chunk, units)[:, :time]


class _FusedMinStates(torch.autograd.Function):
    """Every state of a min cell from its input projection, by the numba kernels (``_nb_min``):
    inputs ``xp`` (batch, time, gates u), ``h0`` (batch, u) and the (batch, time) keep mask."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, xp: Tensor, h0: Tensor, keep: Tensor | None, code: int
    ) -> Tensor:
        xp, h0 = xp.detach().contiguous(), h0.detach().contiguous()
        batch, time, units = xp.shape[0], xp.shape[1], h0.shape[1]
        h = xp.new_empty(batch, time, units)
        running = xp.new_empty(batch, units)
        keep_n = (keep if keep is not None else torch.ones(1, 1, dtype=torch.bool)).numpy()
        args = _FWD(
            XP=xp.numpy(), H0=h0.numpy(), keep=keep_n, has_mask=keep is not None, H=h.numpy(),
            HN=running.numpy(), act=code, ract=0,
        )  # fmt: skip
        run_rows(_nb_min.min_forward, args, row_chunks(batch, 8 * batch * time * units))
        ctx.save_for_backward(xp, h0, h)
        ctx.keep, ctx.code = keep_n, code
        ctx.has_mask = keep is not None
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dh: Tensor) -> tuple[Tensor, Tensor, None, None]:
        xp, h0, h = ctx.saved_tensors
        dxp, dh0 = torch.empty_like(xp), torch.empty_like(h0)
        batch, time, units = h.shape
        args = _BWD(
            XP=xp.numpy(), H0=h0.numpy(), keep=ctx.keep, has_mask=ctx.has_mask, H=h.numpy(),
            DH=dh.contiguous().numpy(), DXP=dxp.numpy(), DH0=dh0.numpy(), act=ctx.code, ract=0,
        )  # fmt: skip
        run_rows(_nb_min.min_backward, args, row_chunks(batch, 16 * batch * time * units))
        return dxp, dh0, None, None


def run_scan(call: RecurrentCall, fused: bool = False) -> RecurrentResult:
    """Run a call of a kind without recurrent product with Keras's mask, direction and output
    rules: its states by the log-space parallel scan, or (``fused``) by the numba kernels."""
    xp = project_inputs(call)  # (batch, time, gates * units)
    mask = call.mask
    if call.go_backwards:
        xp = xp.flip(1)
        mask = None if mask is None else mask.flip(1)
    if fused:
        h = _FusedMinStates.apply(xp, call.states[0], mask, call.spec.fused_code)
    else:
        h = _log_space_states(call, xp, mask)  # (batch, time, units)
    final = h[:, -1]
    if mask is None:
        out = h
    else:
        keep = mask.unsqueeze(-1)  # (batch, time, 1)
        # the previous output: the kept state once a step was kept, zeros before
        out = h * keep if call.zero_output_for_mask else h * (keep.cumsum(dim=1) > 0)
    result = out if call.return_sequences else out[:, -1]
    return RecurrentResult(result, (final,), "fused" if fused else "scan")


def _log_space_states(call: RecurrentCall, xp: Tensor, mask: Tensor | None) -> Tensor:
    log_a, log_b = call.spec.log_coefficients(xp, call.units)
    if mask is not None:
        keep = mask.unsqueeze(-1)  # (batch, time, 1)
        log_a = torch.where(keep, log_a, torch.zeros_like(log_a))
        log_b = torch.where(keep, log_b, torch.full_like(log_b, _LOG_ZERO))
    return linear_scan(log_a, log_b, call.states[0])
