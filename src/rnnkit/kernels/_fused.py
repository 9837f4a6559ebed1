"""The fused engine: one autograd Function per layer call around the numba time loops.

:class:`FusedRecurrence` takes ``x, W, b_in, U, b_rec, h0, c0`` (+ the constant masks) and
returns the outputs and final states. Forward: per time step one register-tiled product of the
row ``[h_in | x]`` with ``[U; W]`` and one fused loop for the gate nonlinearities and the state
update (numba, ``_nb_fwd``/``_nb_bwd``). Backward: the time loop keeps the gate gradients of
every step, so that the gradients of ``U``, ``W`` and the bias are one large product after the
loop, and the gradient of ``x`` another. Threads split the batch rows, not the products; large
buffers come from a reused workspace (``_runtime``); denormals are flushed during the backward
pass.

What differs between cell kinds (which kernels, which buffers, which weight gradients) is the
kind's :class:`~rnnkit.kernels.cells.CellSpec`; this module holds no per-kind code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _nb_act
from ._api import RecurrentCall, RecurrentResult, check_shapes
from ._fused_ext import run_fused_ext
from ._lengths import length_order, real_rows, run_sorted
from ._runtime import (
    DUMMY,
    FUSED_ACTIVATIONS,
    FUSED_DTYPES,
    NO_MASK,
    NP_DTYPES,
    TORCH_DTYPES,
    WORKSPACE,
    FlushDenormals,
    FusedBackward,
    FusedForward,
    Needs,
    as_array,
    assign,
    clear_workspace,
    empty,
    ones,
    row_chunks,
    splits,
)
from ._threads import adaptive_threads
from .cells import CellSpec

__all__ = ["FUSED_ACTIVATIONS", "FUSED_DTYPES", "clear_workspace", "run_fused"]


class FusedSpec(NamedTuple):
    store: bool  # keep the per-step values for a backward pass
    kind: CellSpec
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool


class FusedRecurrence(torch.autograd.Function):
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
        spec: FusedSpec,
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
        dt = NP_DTYPES[x.dtype]
        kind = spec.kind
        ts = time if spec.store else 1
        xh = WORKSPACE.empty((ts, batch, units + features + 2), dt)  # [1 | h_in | x | 1]
        xd = x if dp is None else x * dp.unsqueeze(1)
        # the running state, the last output (and the other states): one allocation, returned
        states = empty((1 + kind.n_states, batch, units), dt)
        states[0] = as_array(h0)
        states[1] = 0.0
        if c0 is not None:
            states[2] = as_array(c0)
        seq = WORKSPACE.empty((time, batch, units), dt) if spec.return_sequences else DUMMY[dt]
        mask_n = np.ascontiguousarray(as_array(mask).T) if mask is not None else NO_MASK
        rd_n = as_array(rd) if rd is not None else ones(batch, units, dt)
        common = {
            "mask": mask_n, "has_mask": mask is not None, "rd": rd_n,
            "go_back": spec.go_backwards, "zo": spec.zero_output, "seq": seq,
            "ret_seq": spec.return_sequences, "act": spec.act, "ract": spec.ract,
        }  # fmt: skip
        work = batch * time * gates * (units + features)
        site = ("forward", kind.name, spec.store, work.bit_length())  # calls of similar work
        with adaptive_threads(site, splits(batch, work)):
            fw = FusedForward(
                xh=xh,
                x=xd.detach().numpy(),  # (batch, time, features), any strides: the kernels read it
                kernel=as_array(kernel),
                recurrent=as_array(rec),
                b_in=as_array(b_in) if b_in is not None else np.zeros(gates, dtype=dt),
                b_rec=brec,
                h=states[0],
                p=states[1],
                extra=tuple(states[2:]),
                common=common,
                steps=ts,
                batch=batch,
                units=units,
                features=features,
                has_rd=rd is not None,
                chunks=row_chunks(batch, work),
            )
            saved = kind.fused_forward(fw)
        if spec.store:
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
            out = torch.from_numpy(states[1])
        return (out, torch.from_numpy(states[0]), *(torch.from_numpy(s) for s in states[2:]))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        return fused_backward(ctx, dout, dh, *rest)


def fused_backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
    """The backward pass of :class:`FusedRecurrence` for a ``ctx`` its forward filled: the
    gradients of (spec, x, kernel, b_in, rec, b_rec, h0, c0, mask, dropout, rec. dropout)."""
    batch, time, features = ctx.shape
    units = dh.shape[1]
    work = batch * time * ctx.spec.kind.gates * units * (units + features + 2)
    site = ("backward", ctx.spec.kind.name, work.bit_length())
    with adaptive_threads(site, splits(batch, work)), FlushDenormals(work):
        return _backward(ctx, dout, dh, *rest)


def _backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
    """The backward pass of :class:`FusedRecurrence` (with the denormal flags set)."""
    spec: FusedSpec = ctx.spec
    kind = spec.kind
    kernel, dp, rec = ctx.saved_tensors
    xh: np.ndarray = ctx.xh
    batch, time, features = ctx.shape
    units = dh.shape[1]
    dt = xh.dtype
    gates = kind.gates * units
    flat = time * batch
    # the gradients of the state, the last output (and the other states), updated in place by
    # the kernels: one allocation
    grads_n = empty((1 + kind.n_states, batch, units), dt)
    grads_n[0] = as_array(dh)
    for i, g in enumerate(rest):
        grads_n[2 + i] = as_array(g)
    if spec.return_sequences:
        dout_tb = dout.detach().transpose(0, 1)  # (time, batch, units): the kernels only read it
        if dout_tb.is_contiguous() and dout_tb.dtype == TORCH_DTYPES[dt]:
            dseq = dout_tb.numpy()  # a stacked layer's input gradient is already time-major
        else:
            dseq = WORKSPACE.empty((time, batch, units), dt)
            assign(dseq, dout_tb)
        grads_n[1] = 0.0
    else:
        dseq = DUMMY[dt]
        grads_n[1] = as_array(dout)
    dx = WORKSPACE.empty((time, batch, gates), dt)
    dx2 = torch.from_numpy(dx.reshape(flat, gates))
    needs = ctx.needs_input_grad  # (spec, x, kernel, b_in, rec, brec, h0, c0, ...)
    bw = FusedBackward(
        saved=ctx.saved,
        xh=xh,
        xh2=torch.from_numpy(xh.reshape(flat, xh.shape[2])),  # [1 | h_in | x | 1]
        dx=dx,
        dx2=dx2,
        t1=WORKSPACE.empty((1, batch, units), dt),
        dh=grads_n[0],
        dp=grads_n[1],
        d_extra=tuple(grads_n[2:]),
        recurrent=as_array(rec),
        common={
            "mask": ctx.mask_n, "has_mask": ctx.has_mask, "rd": ctx.rd_n,
            "go_back": spec.go_backwards, "zo": spec.zero_output, "dseq": dseq,
            "has_dseq": spec.return_sequences, "act": spec.act, "ract": spec.ract,
        },  # fmt: skip
        needs=Needs(needs[2], needs[3], needs[4], needs[5]),
        batch=batch,
        time=time,
        units=units,
        features=features,
        real=real_rows(ctx.mask_n) if ctx.has_mask else None,
    )
    wg = kind.fused_backward(bw)
    d_x = None
    if needs[1]:
        d_x_tb = torch.from_numpy(WORKSPACE.empty((time, batch, features), dt))
        d_x2 = d_x_tb.view(flat, features)
        if bw.real is None:
            torch.mm(dx2, kernel.detach().T, out=d_x2)
        else:  # masked steps pass no gradient to their inputs
            d_x2.zero_().index_copy_(0, bw.real, bw.rows(dx2) @ kernel.detach().T)
        d_x = d_x_tb.transpose(0, 1)
        if dp is not None:
            d_x = d_x * dp.unsqueeze(1)
    d_states: list[Tensor | None] = [torch.from_numpy(g) for g in (grads_n[0], *grads_n[2:])]
    d_states += [None] * (2 - len(d_states))
    grads = (d_x, wg.kernel, wg.b_in, wg.recurrent, wg.b_rec, *d_states)
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


def fused_inputs(call: RecurrentCall) -> tuple[FusedSpec, tuple[Tensor | None, ...]]:
    """The checked call as :class:`FusedRecurrence`'s arguments: its spec and (x, kernel, b_in,
    recurrent kernel, b_rec, h0, c0, mask, dropout mask, recurrent dropout mask)."""
    _check_shapes(call)
    kind = call.spec
    act = _nb_act.ACTIVATION_CODES[call.activation]
    ract = _nb_act.ACTIVATION_CODES.get(call.recurrent_activation, _nb_act.SIGMOID)
    if kind.gated and call.recurrent_activation not in _nb_act.ACTIVATION_CODES:
        raise ValueError(
            f"expected a recurrent_activation in {FUSED_ACTIVATIONS}, "
            f"got {call.recurrent_activation!r}"
        )
    spec = FusedSpec(
        call.needs_grad(),
        kind,
        act,
        ract,
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
    )
    dtype = call.x.dtype
    mask = None
    if call.mask is not None:
        mask = call.mask if call.mask.dtype == torch.bool else call.mask != 0
    h0 = call.states[0].to(dtype)
    c0 = call.states[1].to(dtype) if kind.n_states > 1 else None
    tensors = (
        call.x,
        call.kernel,
        kind.input_bias(call.bias),
        call.recurrent_kernel,
        kind.recurrent_bias(call.bias),
        h0,
        c0,
        mask,
        call.dropout_mask,
        call.recurrent_dropout_mask,
    )
    return spec, tensors


def run_fused(call: RecurrentCall) -> RecurrentResult:
    """Run one call on the fused numba engine (CPU, float32/float64, supported activations);
    the layer-norm kinds, zoneout and projections on its split kernels (``_fused_ext``).

    A masked call whose rows have one run of real steps each runs with its rows sorted by
    length (``_lengths``): the kernels' products then follow the true lengths."""
    if call.spec.runs_ext(call.options()):
        return run_fused_ext(call)
    if call.mask is not None and not call.options() and not call.spec.scan:
        _check_shapes(call)
        mask = call.mask if call.mask.dtype == torch.bool else call.mask != 0
        order = length_order(mask, torch.get_num_threads())
        if order is not None:
            return run_sorted(call, order, _run_whole)
    return _run_whole(call)


def _run_whole(call: RecurrentCall) -> RecurrentResult:
    spec, tensors = fused_inputs(call)
    outs = FusedRecurrence.apply(spec, *tensors)
    return RecurrentResult(outs[0], tuple(outs[1:]), "fused")
