"""The reference engine: a Python loop over the cell's own step, differentiated by autograd.

It runs every cell and every option (any activation, masks, dropout), so it is the fallback of the
dispatch and the oracle that the fused engines are tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._api import RecurrentCall, RecurrentResult, StepFn


def input_bias(call: RecurrentCall) -> Tensor | None:
    """The part of the bias added to the input projection (GRU with reset_after: row 0)."""
    return call.spec.input_bias(call.bias)


def project_inputs(call: RecurrentCall) -> Tensor:
    """``(x * dropout_mask) W + b_in`` for the whole sequence at once."""
    x = call.x
    if call.dropout_mask is not None:
        x = x * call.dropout_mask.unsqueeze(1)
    xp = x @ call.kernel  # (batch, time, gates * units)
    b_in = input_bias(call)
    return xp if b_in is None else xp + b_in


def run_loop(call: RecurrentCall, step: StepFn) -> RecurrentResult:
    """Run ``step`` over time with Keras's mask, ``go_backwards`` and output semantics."""
    xp = project_inputs(call)
    batch, time = xp.shape[0], xp.shape[1]
    states = call.states
    prev_out = torch.zeros(batch, call.units, dtype=xp.dtype, device=xp.device)
    outputs: list[Tensor] = []
    steps = range(time - 1, -1, -1) if call.go_backwards else range(time)
    for t in steps:
        out, new_states = step(xp[:, t], states)
        if call.mask is None:
            states = new_states
        else:
            keep = call.mask[:, t].unsqueeze(1)  # (batch, 1)
            states = tuple(torch.where(keep, n, s) for n, s in zip(new_states, states, strict=True))
            fill = torch.zeros_like(out) if call.zero_output_for_mask else prev_out
            out = torch.where(keep, out, fill)
        prev_out = out
        if call.return_sequences:
            outputs.append(out)
    result = torch.stack(outputs, dim=1) if call.return_sequences else prev_out
    return RecurrentResult(result, states, "loop")
