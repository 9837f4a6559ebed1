"""The fused engine as ``torch.library`` custom ops: what ``torch.compile`` and ``torch.export``
see of an rnnkit recurrent layer.

``rnnkit::fused_recurrence`` runs a whole sequence (the numba kernels, as in eager mode) and
returns ``[outputs, h_T, (c_T)]``; its fake kernel gives the shapes from the inputs alone, so
Dynamo traces a model of rnnkit layers without a graph break (``nn.LSTM`` breaks the graph) and
``torch.export`` records the op in its program. Its registered autograd formula calls
``rnnkit::fused_recurrence_backward``, which recomputes the forward keeping the per-step buffers
(they are never graph values: their layout is each cell kind's own) and runs the backward
kernels. Eager calls do not go through the ops: :class:`._fused.FusedRecurrence` keeps the
per-step buffers of its forward instead of recomputing them.

The ops take the cell kind by name and the activations by code (``_nb_act.ACTIVATION_CODES``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._api import RecurrentCall, RecurrentResult
from ._fused import FusedRecurrence, FusedSpec, fused_backward, fused_inputs
from .cells import spec_for

#: The number of tensor inputs of the forward op (x ... recurrent dropout mask).
_N_TENSORS = 10
#: Of those, the ones with a gradient (x, kernel, b_in, recurrent kernel, b_rec, h0, c0).
_N_GRADS = 7


class _Ctx:
    """What :class:`FusedRecurrence`'s forward and backward read and write on autograd's ctx."""

    saved_tensors: tuple[Tensor | None, ...] = ()

    def __init__(self, needs: tuple[bool, ...] = ()) -> None:
        self.needs_input_grad = (False, *needs, False, False, False)

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        self.saved_tensors = tensors


def _spec(
    store: bool,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
) -> FusedSpec:
    kind = spec_for(cell, reset_after)
    return FusedSpec(store, kind, act, ract, go_backwards, zero_output, return_sequences)


def _own(t: Tensor) -> Tensor:
    """A contiguous copy: an op's outputs may not share storage (the engine's do)."""
    return t.clone(memory_format=torch.contiguous_format)


@torch.library.custom_op("rnnkit::fused_recurrence", mutates_args=())
def fused_recurrence(
    x: Tensor,
    kernel: Tensor,
    b_in: Tensor | None,
    rec: Tensor,
    b_rec: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    dropout: Tensor | None,
    rec_dropout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
) -> list[Tensor]:
    """``[outputs, h_T, (c_T)]`` of one fused call (see :class:`FusedRecurrence`)."""
    flags = (cell, reset_after, act, ract, go_backwards, zero_output, return_sequences)
    spec = _spec(False, *flags)
    outs = FusedRecurrence.forward(
        _Ctx(), spec, x, kernel, b_in, rec, b_rec, h0, c0, mask, dropout, rec_dropout
    )
    return [_own(o) for o in outs]


@fused_recurrence.register_fake
def _fused_recurrence_fake(
    x: Tensor,
    kernel: Tensor,
    b_in: Tensor | None,
    rec: Tensor,
    b_rec: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    dropout: Tensor | None,
    rec_dropout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
) -> list[Tensor]:
    batch, time = x.shape[0], x.shape[1]
    units = h0.shape[1]
    out = x.new_empty((batch, time, units) if return_sequences else (batch, units))
    n_states = spec_for(cell, reset_after).n_states
    return [out, *(h0.new_empty((batch, units)) for _ in range(n_states))]


@torch.library.custom_op("rnnkit::fused_recurrence_backward", mutates_args=())
def fused_recurrence_backward(
    grads: list[Tensor],
    x: Tensor,
    kernel: Tensor,
    b_in: Tensor | None,
    rec: Tensor,
    b_rec: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    dropout: Tensor | None,
    rec_dropout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    needs: list[bool],
) -> list[Tensor]:
    """The gradients of (x, kernel, b_in, rec, b_rec, h0, c0) where ``needs`` (else empty)."""
    flags = (cell, reset_after, act, ract, go_backwards, zero_output, return_sequences)
    ctx = _Ctx(tuple(needs))
    FusedRecurrence.forward(
        ctx, _spec(True, *flags), x, kernel, b_in, rec, b_rec, h0, c0, mask, dropout, rec_dropout
    )
    got = fused_backward(ctx, *grads)[1 : 1 + _N_GRADS]
    return [_own(g) if g is not None else x.new_empty(0) for g in got]


@fused_recurrence_backward.register_fake
def _fused_recurrence_backward_fake(
    grads: list[Tensor],
    x: Tensor,
    kernel: Tensor,
    b_in: Tensor | None,
    rec: Tensor,
    b_rec: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    mask: Tensor | None,
    dropout: Tensor | None,
    rec_dropout: Tensor | None,
    cell: str,
    reset_after: bool,
    act: int,
    ract: int,
    go_backwards: bool,
    zero_output: bool,
    return_sequences: bool,
    needs: list[bool],
) -> list[Tensor]:
    inputs = (x, kernel, b_in, rec, b_rec, h0, c0)
    return [
        t.new_empty(t.shape) if t is not None and need else x.new_empty(0)
        for t, need in zip(inputs, needs, strict=True)
    ]


#: A recurrence op's backward: (output gradients, saved tensors, flags, which inputs need
#: a gradient) -> the gradients of the first inputs.
BackwardOp = Callable[[list[Tensor], tuple[Tensor, ...], tuple[Any, ...], list[bool]],
                      list[Tensor]]


def register_recurrence_autograd(op: Any, n_tensors: int, n_grads: int,
                                 backward: BackwardOp) -> None:
    """Register ``op``'s autograd: its first ``n_tensors`` inputs are saved, the rest are
    flags; ``backward`` gives the gradients of the first ``n_grads`` inputs."""

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.save_for_backward(*inputs[:n_tensors])
        ctx.flags = inputs[n_tensors:]

    def backward_fn(ctx: Any, grads: list[Tensor]) -> tuple[Tensor | None, ...]:
        needs = [bool(n) for n in ctx.needs_input_grad[:n_grads]]
        got = backward(list(grads), ctx.saved_tensors, ctx.flags, needs)
        rest = (None,) * (len(ctx.needs_input_grad) - n_grads)
        return (*(g if need else None for g, need in zip(got, needs, strict=True)), *rest)

    op.register_autograd(backward_fn, setup_context=setup_context)


register_recurrence_autograd(
    fused_recurrence, _N_TENSORS, _N_GRADS,
    lambda grads, saved, flags, needs: fused_recurrence_backward(grads, *saved, *flags, needs))


def run_fused_op(call: RecurrentCall) -> RecurrentResult:
    """:func:`._fused.run_fused` through the custom op (what compiled code runs)."""
    spec, tensors = fused_inputs(call)
    outs = fused_recurrence(
        *tensors,
        call.cell,
        bool(call.reset_after),
        spec.act,
        spec.ract,
        spec.go_backwards,
        spec.zero_output,
        spec.return_sequences,
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "fused")
