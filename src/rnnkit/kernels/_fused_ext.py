"""The split fused engine: the layer-norm kinds, zoneout and the LSTM projection on the CPU.

The input side of the gates (``(x * dropout) W``, its layer norm, the input bias: the kind's
``CellSpec.ext_input``) is one torch computation over the whole sequence, which autograd
differentiates; :class:`ExtRecurrence` runs the recurrence over it with the kind's numba kernels
(``_nb_ext``: forward, and backward through time with hand-written gradients) and returns the
gradient of that input side. What differs between kinds is the spec's (``ext_forward``,
``ext_backward``); this module holds no per-kind code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import _nb_act
from ._api import RecurrentCall, RecurrentResult, check_shapes
from ._ext_ctx import ExtBackward, ExtForward, ExtWeights
from ._loop import project_inputs
from ._runtime import (
    DUMMY,
    NO_MASK,
    NP_DTYPES,
    WORKSPACE,
    FlushDenormals,
    as_array,
    assign,
    empty,
    ones,
    row_chunks,
)
from .cells import CellSpec


class ExtSpec(NamedTuple):
    store: bool  # keep the per-step values for a backward pass
    kind: CellSpec
    act: int
    ract: int
    go_backwards: bool
    zero_output: bool
    return_sequences: bool
    zw: float  # zoneout's weight of the new output in inference (1: none)


def _copy(t: Tensor, dt: np.dtype) -> np.ndarray:
    """A fresh aligned array holding ``t`` (the kernels update it in place)."""
    out = empty(tuple(t.shape), dt)
    assign(out, t)
    return out


def _weights(
    kind: CellSpec, dt: np.dtype, zw: float, rec: Tensor, tensors: tuple[Tensor | None, ...]
) -> ExtWeights:
    brec, g1, gh, bh, proj, zk = tensors
    gates = rec.shape[1]
    units = gates // kind.gates
    return ExtWeights(
        recurrent=as_array(rec),
        b_rec=as_array(brec) if brec is not None else np.zeros(gates, dt),
        g1=as_array(g1) if g1 is not None else np.ones(gates, dt),
        gh=as_array(gh) if gh is not None else np.ones(units, dt),
        bh=as_array(bh) if bh is not None else np.zeros(units, dt),
        ln=kind.layer_norm,
        proj=as_array(proj) if proj is not None else np.zeros((1, 1), dt),
        has_proj=proj is not None,
        zk=as_array(zk) if zk is not None else DUMMY[dt],
        has_zk=zk is not None,
        zw=dt.type(zw),
    )


class ExtRecurrence(torch.autograd.Function):
    """(xin, U, b_rec, g1, gh, bh, P, h0, c0; mask, rec. dropout, zoneout) -> (outputs, h_T[,
    c_T]); ``xin`` (batch, time, G) the input side of the gates."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: ExtSpec,
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
        units = gates // spec.kind.gates
        dt = NP_DTYPES[xin.dtype]
        ts = time if spec.store else 1
        xin_n = WORKSPACE.empty((time, batch, gates), dt)
        assign(xin_n, xin.transpose(0, 1))  # (time, batch, G)
        h, p = _copy(h0, dt), np.zeros((batch, out), dt)
        extra = () if c0 is None else (_copy(c0, dt),)
        seq = WORKSPACE.empty((time, batch, out), dt) if spec.return_sequences else DUMMY[dt]
        mask_n = np.ascontiguousarray(as_array(mask).T) if mask is not None else NO_MASK
        rd_n = as_array(rd) if rd is not None else ones(batch, out, dt)
        w = _weights(spec.kind, dt, spec.zw, rec, (brec, g1, gh, bh, proj, zk))
        common = {
            "mask": mask_n, "has_mask": mask is not None, "rd": rd_n,
            "go_back": spec.go_backwards, "zo": spec.zero_output, "seq": seq,
            "ret_seq": spec.return_sequences, "act": spec.act, "ract": spec.ract,
        }  # fmt: skip
        ef = ExtForward(
            xin=xin_n,
            hin=WORKSPACE.empty((ts, batch, out), dt),
            w=w,
            h=h,
            p=p,
            extra=extra,
            common=common,
            steps=ts,
            batch=batch,
            units=units,
            chunks=row_chunks(batch, batch * time * gates * (out + units)),
        )
        saved = spec.kind.ext_forward(ef)
        if spec.store:
            ctx.spec, ctx.saved, ctx.hin, ctx.w = spec, saved, ef.hin, w
            ctx.common = {k: common[k] for k in ("mask", "has_mask", "rd")}
            ctx.save_for_backward(rec, g1, gh, proj)  # autograd's check of in-place changes
        y = torch.from_numpy(seq).transpose(0, 1) if spec.return_sequences else torch.from_numpy(p)
        return (y, torch.from_numpy(h), *(torch.from_numpy(e) for e in extra))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
        return ext_backward(ctx, dout, dh, *rest)


def ext_backward(ctx: Any, dout: Tensor, dh: Tensor, *rest: Tensor) -> tuple[Tensor | None, ...]:
    """:class:`ExtRecurrence`'s backward pass (also run by the custom op ``_ops_ext``)."""
    spec: ExtSpec = ctx.spec
    _ = ctx.saved_tensors  # raises if a weight changed in place since the forward pass
    hin: np.ndarray = ctx.hin
    time, batch, out = hin.shape
    dt = hin.dtype
    gates = ctx.w.recurrent.shape[1]
    units = gates // spec.kind.gates
    dh_n, d_extra = _copy(dh, dt), tuple(_copy(g, dt) for g in rest)
    if spec.return_sequences:
        dseq = WORKSPACE.empty((time, batch, out), dt)
        assign(dseq, dout.transpose(0, 1))
        dp = np.zeros((batch, out), dt)
    else:
        dseq, dp = DUMMY[dt], _copy(dout, dt)
    dz = WORKSPACE.empty((time, batch, gates), dt)
    common = {
        **ctx.common, "go_back": spec.go_backwards, "zo": spec.zero_output, "dseq": dseq,
        "has_dseq": spec.return_sequences, "act": spec.act, "ract": spec.ract,
    }  # fmt: skip
    eb = ExtBackward(
        saved=ctx.saved,
        hin=hin,
        dz=dz,
        w=ctx.w,
        dh=dh_n,
        dp=dp,
        d_extra=d_extra,
        common=common,
        needs=tuple(ctx.needs_input_grad[2:8]),
        batch=batch,
        time=time,
        units=units,
    )
    with FlushDenormals(batch * time * gates * (out + units)):
        g = spec.kind.ext_backward(eb)
    d_states: list[Tensor | None] = [torch.from_numpy(dh_n)]
    d_states += [torch.from_numpy(e) for e in d_extra]
    d_states += [None] * (2 - len(d_states))
    d_xin = torch.from_numpy(dz).transpose(0, 1)  # (batch, time, G)
    grads = (d_xin, g.recurrent, g.b_rec, g.g1, g.gh, g.bh, g.proj, *d_states)
    needs = ctx.needs_input_grad[1:10]
    return (None, *[t if need else None for t, need in zip(grads, needs)], None, None, None)


def _check(call: RecurrentCall) -> None:
    """The kernels index without bounds checks: every shape and dtype is verified first."""
    check_shapes(call)
    x = call.x
    for name, t in (("x", x), *call.weights_and_dropout()):
        if t is not None and (t.dtype != x.dtype or not t.is_cpu):
            raise ValueError(
                f"expected {name} as a CPU {x.dtype} tensor, got {t.device.type} {t.dtype}"
            )
    if call.recurrent_activation not in _nb_act.ACTIVATION_CODES:
        raise ValueError(
            f"expected a recurrent_activation in {tuple(_nb_act.ACTIVATION_CODES)}, "
            f"got {call.recurrent_activation!r}"
        )


def ext_inputs(call: RecurrentCall) -> tuple[ExtSpec, tuple[Tensor | None, ...]]:
    """The checked call as :class:`ExtRecurrence`'s arguments: its spec and (xin, recurrent
    kernel, b_rec, g1, gh, bh, projection, h0, c0, mask, recurrent dropout mask, zoneout mask);
    ``xin`` (the input side of the gates) computed here, in torch."""
    _check(call)
    kind = call.spec
    xin = kind.ext_input(project_inputs(call), call.bias, call.norm_weights)  # (batch, time, G)
    g1, gh, bh = kind.ext_norm(call.norm_weights)
    zoning = call.zoneout > 0
    spec = ExtSpec(
        call.needs_grad(),
        kind,
        _nb_act.ACTIVATION_CODES[call.activation],
        _nb_act.ACTIVATION_CODES[call.recurrent_activation],
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
        1.0 - call.zoneout if zoning and not call.training else 1.0,
    )
    mask = call.mask
    if mask is not None and mask.dtype != torch.bool:
        mask = mask != 0
    states = call.states
    tensors = (
        xin,
        call.recurrent_kernel,
        kind.recurrent_bias(call.bias),
        g1,
        gh,
        bh,
        call.projection,
        states[0],
        states[1] if len(states) > 1 else None,
        mask,
        call.recurrent_dropout_mask,
        call.zoneout_mask if zoning and call.training else None,
    )
    return spec, tensors


def run_fused_ext(call: RecurrentCall) -> RecurrentResult:
    """Run one call of a layer-norm kind, or of an LSTM/GRU with zoneout or a projection, on
    the split fused engine (CPU, float32/float64, the fused kernels' activations)."""
    spec, tensors = ext_inputs(call)
    outs = ExtRecurrence.apply(spec, *tensors)
    return RecurrentResult(outs[0], tuple(outs[1:]), "fused")
