"""The min cells' fused CPU path (MinGRU, MinLSTM: ``_min_fused``) as ``torch.library`` custom
ops, like the main engine's in ``_ops``: what ``torch.compile`` and ``torch.export`` see.

``rnnkit::min_states`` returns every state (batch, time, units) of the linear recurrence from
the input (the projection, the kernels of ``_nb_min``, as in eager mode); its fake kernel gives
the shape from the inputs alone; its registered autograd formula calls
``rnnkit::min_states_backward``, which recomputes the forward keeping the projection (never a
graph value) and runs the backward kernels and products. Eager calls do not go through the ops
(:class:`FusedMinStates` keeps the projection of its forward instead). The output rules (masks,
``return_sequences``) stay torch code in ``_scan``, which Dynamo traces.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, library

from ._min_fused import FusedMinStates
from ._ops import _Ctx, _own

#: The inputs with a gradient (x, kernel, bias, h0).
_N_GRADS = 4


@library.custom_op("rnnkit::min_states", mutates_args=())
def min_states(
    x: Tensor, kernel: Tensor, bias: Tensor | None, h0: Tensor, keep: Tensor | None, code: int
) -> Tensor:
    """Every state of a min cell (see :class:`FusedMinStates`)."""
    return _own(FusedMinStates.forward(_Ctx(), x, kernel, bias, h0, keep, code))


@min_states.register_fake
def _min_states_fake(
    x: Tensor, kernel: Tensor, bias: Tensor | None, h0: Tensor, keep: Tensor | None, code: int
) -> Tensor:
    return x.new_empty((x.shape[0], x.shape[1], h0.shape[1]))


@library.custom_op("rnnkit::min_states_backward", mutates_args=())
def min_states_backward(
    dh: Tensor,
    x: Tensor,
    kernel: Tensor,
    bias: Tensor | None,
    h0: Tensor,
    keep: Tensor | None,
    code: int,
    needs: list[bool],
) -> list[Tensor]:
    """The gradients of (x, kernel, bias, h0) where ``needs`` (else empty)."""
    ctx = _Ctx()
    ctx.needs_input_grad = (*needs, False, False)
    FusedMinStates.forward(ctx, x, kernel, bias, h0, keep, code)
    got = FusedMinStates.backward(ctx, dh)[:_N_GRADS]
    return [
        _own(g) if g is not None and need else dh.new_empty(0)
        for g, need in zip(got, needs, strict=True)
    ]


@min_states_backward.register_fake
def _min_states_backward_fake(
    dh: Tensor,
    x: Tensor,
    kernel: Tensor,
    bias: Tensor | None,
    h0: Tensor,
    keep: Tensor | None,
    code: int,
    needs: list[bool],
) -> list[Tensor]:
    return [
        t.new_empty(t.shape) if t is not None and need else dh.new_empty(0)
        for t, need in zip((x, kernel, bias, h0), needs, strict=True)
    ]


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(*inputs[:5])
    ctx.code = inputs[5]


def _backward(ctx: Any, dh: Tensor) -> tuple[Tensor | None, ...]:
    needs = [bool(n) for n in ctx.needs_input_grad[:_N_GRADS]]
    got = min_states_backward(dh, *ctx.saved_tensors, ctx.code, needs)
    return (*(g if need else None for g, need in zip(got, needs, strict=True)), None, None)


min_states.register_autograd(_backward, setup_context=_setup_context)
