"""The "torch" engine: PyTorch's own fused recurrent ops (oneDNN on CPU, cuDNN on CUDA).

Keras's layouts map onto ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_*`` by transposing the
weights (and, for GRU, reordering Keras's gates z, r, h to PyTorch's r, z, n). Autograd
differentiates through the reordering, so gradients land on the Keras-layout weights. These ops
take no mask and no recurrent dropout; :func:`rnnkit.kernels.plan_engine` only routes calls here
that they compute exactly (LSTM tanh/sigmoid, GRU reset_after tanh/sigmoid, SimpleRNN tanh/relu).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._api import RecurrentCall, RecurrentResult


def _gru_order(t: Tensor, units: int) -> Tensor:
    """Keras (z, r, h) blocks along the last axis -> PyTorch (r, z, n)."""
    z, r, h = t[..., :units], t[..., units : 2 * units], t[..., 2 * units :]
    return torch.cat([r, z, h], dim=-1)


def run_native(call: RecurrentCall) -> RecurrentResult:
    """Run one call on PyTorch's fused op (no mask, no recurrent dropout)."""
    if call.mask is not None or call.recurrent_dropout_mask is not None:
        raise ValueError("expected no mask and no recurrent dropout for the torch engine")
    x = call.x
    if call.dropout_mask is not None:
        x = x * call.dropout_mask.unsqueeze(1)
    if call.go_backwards:
        x = x.flip(1)
    units = call.units
    kernel, rec, bias = call.kernel, call.recurrent_kernel, call.bias
    if call.cell == "gru":
        kernel, rec = _gru_order(kernel, units), _gru_order(rec, units)
        if bias is not None:
            bias = _gru_order(bias, units)
    params: list[Tensor] = [kernel.t(), rec.t()]
    if bias is not None:
        if call.cell == "gru":
            params += [bias[0], bias[1]]
        else:
            params += [bias, torch.zeros_like(bias)]
    hx = tuple(s.unsqueeze(0) for s in call.states)
    flags = (bias is not None, 1, 0.0, torch.is_grad_enabled(), False, True)
    if call.cell == "lstm":
        seq, h, c = torch.lstm(x, hx, params, *flags)
        states: tuple[Tensor, ...] = (h[0], c[0])
    elif call.cell == "gru":
        seq, h = torch.gru(x, hx[0], params, *flags)
        states = (h[0],)
    elif call.activation == "relu":
        seq, h = torch.rnn_relu(x, hx[0], params, *flags)
        states = (h[0],)
    else:
        seq, h = torch.rnn_tanh(x, hx[0], params, *flags)
        states = (h[0],)
    out = seq if call.return_sequences else seq[:, -1]
    return RecurrentResult(out, states, "torch")
