"""The split engine on Triton: the layer-norm kinds, zoneout and LSTM projections on CUDA (and
under Triton's interpreter on CPU, for the tests).

As on the CPU (``_fused_ext``), torch computes the input side of the gates (``CellSpec.
ext_input``) and autograd differentiates it; :class:`TritonExtRecurrence` runs the recurrence
with the kind's kernels (``_triton_ext``, launched by the spec's ``triton_ext_forward`` /
``triton_ext_backward``). The kernels hold whole rows in registers: units up to
:data:`MAX_UNITS`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._api import RecurrentCall, RecurrentResult
from ._ext_ctx import TritonExtBackward, TritonExtForward
from ._loop import project_inputs
from ._triton import ACTIVATION_CODES, _check_call
from ._triton_ctx import Launch
from ._triton_launch import _LAUNCH, BLOCK_B, _cdiv, _kernels
from .cells import CellSpec

#: The widest layer the split Triton kernels take (whole rows of every gate in registers: at 64
#: units a backward kernel compiles to 64 KiB of shared memory for sm_90).
MAX_UNITS = 64


class TritonExtSpec(NamedTuple):
    kind: CellSpec
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool
    store: bool
    zw: float


def _weights(
    kind: CellSpec, rec: Tensor, tensors: tuple[Tensor | None, ...], dummy: Tensor
) -> dict[str, Tensor]:
    brec, g1, gh, bh, proj, zk = tensors
    gates = rec.shape[1]
    units = gates // kind.gates

    def given(t: Tensor | None, default: Tensor) -> Tensor:
        return default if t is None else t.detach().contiguous()

    return {
        "recurrent": rec.detach().contiguous(),
        "b_rec": given(brec, rec.new_zeros(gates)),
        "g1": given(g1, rec.new_ones(gates)),
        "gh": given(gh, rec.new_ones(units)),
        "bh": given(bh, rec.new_zeros(units)),
        "proj": given(proj, dummy),
        "zk": given(zk, dummy),
    }


class TritonExtRecurrence(torch.autograd.Function):
    """(xin, U, b_rec, g1, gh, bh, P, h0, c0; mask, rec. dropout, zoneout) -> (outputs, h_T[,
    c_T]); ``xin`` (batch, time, G) the input side of the gates."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: TritonExtSpec,
        xin: Tensor,
        rec: Tensor,
        brec: Tensor | None,
        g1: Tensor | None,
        gh: Tensor | None,
        bh: Tensor | None,
        proj: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        mask: Tensor | None,
        rd: Tensor | None,
        zk: Tensor | None,
    ) -> tuple[Tensor, ...]:
        batch, time, gates = xin.shape
        out = h0.shape[1]
        dev, dtype = xin.device, xin.dtype
        ts = time if spec.store else 1
        dummy = xin.new_empty(1)
        w = _weights(spec.kind, rec, (brec, g1, gh, bh, proj, zk), dummy)
        mask_k = dummy.new_ones(1, dtype=torch.int8)
        if mask is not None:
            mask_k = (mask != 0).t().to(torch.int8).contiguous()  # (time, batch)
        flags = _flags(spec, mask, rd, proj, zk)
        launch = Launch(_kernels(dev.type == "cpu"), (_cdiv(batch, BLOCK_B),), flags)
        tf = TritonExtForward(
            launch=launch,
            xin=xin.detach().transpose(0, 1).contiguous(),  # (time, batch, G)
            w=w,
            zw=torch.full((1,), spec.zw, dtype=dtype, device=dev),
            h=h0.detach().to(dtype).clone().contiguous(),
            p=torch.zeros(batch, out, dtype=dtype, device=dev),
            extra=() if c0 is None else (c0.detach().to(dtype).clone().contiguous(),),
            seq=xin.new_empty(time, batch, out) if spec.return_sequences else dummy,
            mask=mask_k,
            rd=rd.detach().contiguous() if rd is not None else dummy,
            hin=xin.new_empty(ts, batch, out),
            steps=ts,
            time=time,
            batch=batch,
            units=gates // spec.kind.gates,
        )
        saved = spec.kind.triton_ext_forward(tf)
        if spec.store:
            ctx.spec, ctx.w, ctx.saved, ctx.launch = spec, w, saved, launch
            ctx.mask_k, ctx.rd, ctx.hin = mask_k, tf.rd, tf.hin
            ctx.has_proj, ctx.zw = proj is not None, tf.zw
        y = tf.seq.transpose(0, 1) if spec.return_sequences else tf.p  # (batch, time, out)
        return (y, tf.h, *tf.extra)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        spec: TritonExtSpec = ctx.spec
        hin: Tensor = ctx.hin
        time, batch, out = hin.shape
        gates = ctx.w["recurrent"].shape[1]
        dtype = hin.dtype
        if spec.return_sequences:
            dseq = dout.detach().to(dtype).transpose(0, 1).contiguous()  # (time, batch, out)
            dp = hin.new_zeros(batch, out)
        else:
            dseq, dp = hin.new_empty(1), dout.detach().to(dtype).clone().contiguous()
        tb = TritonExtBackward(
            launch=ctx.launch,
            w=ctx.w,
            zw=ctx.zw,
            saved=ctx.saved,
            mask=ctx.mask_k,
            rd=ctx.rd,
            hin=hin,
            dseq=dseq,
            dh=dh.detach().to(dtype).clone().contiguous(),
            dp=dp,
            d_extra=tuple(r.detach().to(dtype).clone().contiguous() for r in rest),
            dz=hin.new_empty(time, batch, gates),
            needs=tuple(ctx.needs_input_grad[2:8]),
            ln=spec.kind.layer_norm,
            has_proj=ctx.has_proj,
            time=time,
            batch=batch,
            units=gates // spec.kind.gates,
        )
        g = spec.kind.triton_ext_backward(tb)
        d_states: list[Tensor | None] = [tb.dh, *tb.d_extra]
        d_states += [None] * (2 - len(d_states))
        grads = (tb.dz.transpose(0, 1), g.recurrent, g.b_rec, g.g1, g.gh, g.bh, g.proj, *d_states)
        needs = ctx.needs_input_grad[1:10]
        return (None, *[t if need else None for t, need in zip(grads, needs)], None, None, None)


def _flags(
    spec: TritonExtSpec,
    mask: Tensor | None,
    rd: Tensor | None,
    proj: Tensor | None,
    zk: Tensor | None,
) -> dict[str, Any]:
    """The flags of every launch of a call (the spec adds STORE and the blocks)."""
    flags = {
        "LN": spec.kind.layer_norm,
        "HAS_ZK": zk is not None,
        "HAS_MASK": mask is not None,
        "HAS_RD": rd is not None,
        "BACKWARDS": spec.go_backwards,
        "ZERO_OUT": spec.zero_output,
        "RET_SEQ": spec.return_sequences,
        "ACT": spec.act,
        "RACT": spec.ract,
        "BLOCK_B": BLOCK_B,
        **_LAUNCH,
    }
    if spec.kind.n_states > 1:  # the LSTM family's kernels take the projection flag
        flags["HAS_PROJ"] = proj is not None
    return flags


def run_triton_ext(call: RecurrentCall) -> RecurrentResult:
    """Run one call of a layer-norm kind, or of an LSTM/GRU with zoneout or a projection, on
    the split Triton kernels (CUDA; CPU tensors under Triton's interpreter)."""
    _check_call(call)
    if call.cell_units > MAX_UNITS:
        raise ValueError(
            f"expected at most {MAX_UNITS} units for the split Triton kernels, got "
            f"{call.cell_units}"
        )
    kind = call.spec
    xin = kind.ext_input(project_inputs(call), call.bias, call.norm_weights)  # (batch, time, G)
    g1, gh, bh = kind.ext_norm(call.norm_weights)
    zoning = call.zoneout > 0
    spec = TritonExtSpec(
        kind,
        ACTIVATION_CODES[call.activation or "linear"],
        ACTIVATION_CODES[call.recurrent_activation],
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
        call.needs_grad(),
        1.0 - call.zoneout if zoning and not call.training else 1.0,
    )
    states = call.states
    outs = TritonExtRecurrence.apply(
        spec,
        xin,
        call.recurrent_kernel,
        kind.recurrent_bias(call.bias),
        g1,
        gh,
        bh,
        call.projection,
        states[0],
        states[1] if len(states) > 1 else None,
        call.mask,
        call.recurrent_dropout_mask,
        call.zoneout_mask if zoning and call.training else None,
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "triton")
