"""The "torch" engine: PyTorch's own fused recurrent ops (oneDNN on CPU, cuDNN on CUDA).

Keras's layouts map onto ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_*`` by the cell kind's spec
(``native_params``: the weights transposed, GRU's gates z, r, h reordered to PyTorch's r, z, n;
``native_run``: the op). Autograd
differentiates through the reordering, so gradients land on the Keras-layout weights. These ops
take no mask and no recurrent dropout; :func:`rnnkit.kernels.plan_engine` only routes calls here
that they compute exactly (LSTM tanh/sigmoid, GRU reset_after tanh/sigmoid, SimpleRNN tanh/relu).
"""

from __future__ import annotations

import torch

from ._api import RecurrentCall, RecurrentResult


def run_native(call: RecurrentCall) -> RecurrentResult:
    """Run one call on PyTorch's fused op (no mask, no recurrent dropout)."""
    if call.mask is not None or call.recurrent_dropout_mask is not None:
        raise ValueError("expected no mask and no recurrent dropout for the torch engine")
    x = call.x
    if call.dropout_mask is not None:
        x = x * call.dropout_mask.unsqueeze(1)
    if call.go_backwards:
        x = x.flip(1)
    spec = call.spec
    params = spec.native_params(call.kernel, call.recurrent_kernel, call.bias)
    hx = tuple(st.unsqueeze(0) for st in call.states)
    flags = (call.bias is not None, 1, 0.0, torch.is_grad_enabled(), False, True)
    seq, states = spec.native_run(call.activation)(x, hx, params, flags, call.activation)
    out = seq if call.return_sequences else seq[:, -1]
    return RecurrentResult(out, states, "torch")
