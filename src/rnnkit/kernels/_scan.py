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

On CPU the "fused" engine (``_min_fused``) runs the same recurrence sequentially in time with
the numba kernels of ``_nb_min`` (one pass forward, one backward, threads over the batch rows):
the log-space scan makes some twenty passes over memory, while the batch and unit axes already
fill a CPU's cores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._api import RecurrentCall, RecurrentResult
from ._loop import input_bias, project_inputs
from ._min_fused import FusedMinStates
from ._ops_min import min_states

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


def run_scan(call: RecurrentCall, fused: bool = False) -> RecurrentResult:
    """Run a call of a kind without recurrent product with Keras's mask, direction and output
    rules: its states by the log-space parallel scan, or (``fused``) by the numba kernels."""
    mask = call.mask
    if fused:
        x = call.x if call.dropout_mask is None else call.x * call.dropout_mask.unsqueeze(1)
        if call.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        bias = input_bias(call)
        code = call.spec.fused_code
        # traced by torch.compile / torch.export: the custom op, which they can see through
        states = min_states if torch.compiler.is_compiling() else FusedMinStates.apply
        h = states(x, call.kernel, bias, call.states[0], mask, code)
    else:
        xp = project_inputs(call)  # (batch, time, gates * units)
        if call.go_backwards:
            xp = xp.flip(1)
            mask = None if mask is None else mask.flip(1)
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
