"""The split fused engine (layer-norm kinds, zoneout, LSTM projection) as ``torch.library``
custom ops, like the main engine's in ``_ops``: what ``torch.compile`` and ``torch.export`` see.

The input side of the gates (``CellSpec.ext_input``: the projection, its layer norm, the input
bias) stays torch code, which Dynamo traces and autograd differentiates; the recurrence over it
is ``rnnkit::fused_ext_recurrence`` (the numba kernels of ``_nb_ext``, as in eager mode), which
returns ``[outputs, h_T, (c_T)]``. Its fake kernel gives the shapes from the inputs alone; its
registered autograd formula calls ``rnnkit::fused_ext_recurrence_backward``, which recomputes
the forward keeping the per-step buffers (never graph values: their layout is each kind's own)
and runs the backward kernels. Eager calls do not go through the ops (:class:`ExtRecurrence`
keeps the per-step buffers of its forward instead).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, library

from ._api import RecurrentCall, RecurrentResult
from ._fused_ext import ExtRecurrence, ExtSpec, ext_backward, ext_inputs
from ._ops import _Ctx, _own, register_recurrence_autograd
from .cells import spec_for

#: The tensor inputs of the forward op (xin ... zoneout mask).
_N_TENSORS = 12
#: Of those, the ones with a gradient (xin, rec, b_rec, g1, gh, bh, projection, h0, c0).
_N_GRADS = 9


def _spec(store: bool, cell: str, reset_after: bool, codes: tuple[int, int], flags: Any) -> ExtSpec:
    """The :class:`ExtSpec` of an op's arguments; ``flags`` (go_backwards, zero_output,
    return_sequences, zw)."""
    return ExtSpec(store, spec_for(cell, reset_after), *codes, *flags)


@library.custom_op("rnnkit::fused_ext_recurrence", mutates_args=())
def fused_ext_recurrence(
    xin: Tensor,
    rec: Tensor,
    b_rec: Tensor | None,
    g1: Tensor | None,
    gh: Tensor | None,
    bh: Tensor | None,
    proj: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    rec_dropout: Tensor | None,
    zoneout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    zw: float,
) -> list[Tensor]:
    """``[outputs, h_T, (c_T)]`` of one split fused call (see :class:`ExtRecurrence`)."""
    flags = (go_backwards, zero_output, return_sequences, zw)
    spec = _spec(False, cell, reset_after, (act, ract), flags)
    tensors = (xin, rec, b_rec, g1, gh, bh, proj, h0, c0, mask, rec_dropout, zoneout)
    return [_own(o) for o in ExtRecurrence.forward(_Ctx(), spec, *tensors)]


@fused_ext_recurrence.register_fake
def _fused_ext_recurrence_fake(
    xin: Tensor,
    rec: Tensor,
    b_rec: Tensor | None,
    g1: Tensor | None,
    gh: Tensor | None,
    bh: Tensor | None,
    proj: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    rec_dropout: Tensor | None,
    zoneout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    zw: float,
) -> list[Tensor]:
    batch, time, out = xin.shape[0], xin.shape[1], h0.shape[1]
    y = h0.new_empty((batch, time, out) if return_sequences else (batch, out))
    states = (h0,) if c0 is None else (h0, c0)
    return [y, *(s.new_empty(s.shape) for s in states)]


@library.custom_op("rnnkit::fused_ext_recurrence_backward", mutates_args=())
def fused_ext_recurrence_backward(
    grads: list[Tensor],
    tensors: list[Tensor | None],
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    zw: float,
    needs: list[bool],
) -> list[Tensor]:
    """The gradients of (xin, rec, b_rec, g1, gh, bh, projection, h0, c0) where ``needs`` (else
    empty); ``tensors`` the forward op's tensor inputs."""
    flags = (go_backwards, zero_output, return_sequences, zw)
    spec = _spec(True, cell, reset_after, (act, ract), flags)
    ctx = _Ctx(tuple(needs))
    inputs: list[Any] = list(tensors)  # the forward op's, Nones where its schema allows them
    ExtRecurrence.forward(ctx, spec, *inputs)
    got = ext_backward(ctx, *grads)[1 : 1 + _N_GRADS]
    return [_own(g) if g is not None else grads[0].new_empty(0) for g in got]


@fused_ext_recurrence_backward.register_fake
def _fused_ext_recurrence_backward_fake(
    grads: list[Tensor],
    tensors: list[Tensor | None],
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    zw: float,
    needs: list[bool],
) -> list[Tensor]:
    empty = grads[0].new_empty(0)
    return [
        t.new_empty(t.shape) if t is not None and need else empty
        for t, need in zip(tensors[:_N_GRADS], needs, strict=True)
    ]


register_recurrence_autograd(
    fused_ext_recurrence, _N_TENSORS, _N_GRADS,
    lambda grads, saved, flags, needs: fused_ext_recurrence_backward(
        grads, list(saved), *flags, needs))


def run_fused_ext_op(call: RecurrentCall) -> RecurrentResult:
    """:func:`._fused_ext.run_fused_ext` through the custom op (what compiled code runs)."""
    spec, tensors = ext_inputs(call)
    outs = fused_ext_recurrence(
        *tensors,
        call.cell,
        bool(call.reset_after),
        spec.act,
        spec.ract,
        spec.go_backwards,
        spec.zero_output,
        spec.return_sequences,
        spec.zw,
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "fused")
