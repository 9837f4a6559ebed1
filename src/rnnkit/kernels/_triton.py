"""The "triton" engine: whole-sequence Triton kernels for the calls cuDNN cannot compute.

PyTorch's cuDNN ops take no mask, no recurrent dropout, no IndRNN and only GRU's
``reset_after=True`` form; on CUDA these calls run here instead of on the Python loop. One
kernel launch runs the whole sequence: each program owns a block of ``BLOCK_B`` batch rows and
loops over every time step inside the kernel (persistent over time), so a step costs no launch.

Layout (time-major, like the numba engine in ``_nb_fwd``/``_fused``):

* ``xp`` (time, batch, gates * units) is the input projection ``(x * dropout_mask) W + b_in`` of
  the whole sequence, one torch matmul *outside* the kernel (autograd differentiates it, so the
  gradients of ``x``, ``W`` and ``b_in`` are single large products too);
* ``h``, ``c`` (batch, units) hold the states and ``p`` the previous output: filled with the
  initial values, updated in place, read back as the final ones (gradients: ``dh``, ``dc``,
  ``dp``);
* per step, ``hin = h * recurrent_dropout_mask`` is staged in ``hin[t]`` (time, batch, units) and
  the recurrent product ``hin @ U`` is a loop of ``tl.dot`` over (``BLOCK_K``, ``BLOCK_N``) tiles
  of ``U`` (any number of units; tiles are padded to at least 16, ``tl.dot``'s minimum, with
  masked loads and stores); gates are computed per ``BLOCK_N`` unit columns;
* the forward kernel keeps per-step values for the backward pass (gates after their
  activations, the previous states), indexed by the time index ``t``; without gradients their
  time axis has length 1 (``STORE = 0``) and only serves as the step's scratch;
* the backward kernel runs the steps in reverse and writes ``dxg`` (time, batch, gates * units),
  the gradient of the pre-activations, and ``d(initial states)``; the gradients of ``U`` (and of
  GRU's recurrent bias) are then one large product ``hin^T @ dxg`` after the loop.

Within a step, phases that read values written by other threads of the program (the staged
``hin`` row, another column block's gate gradients) are separated by ``tl.debug_barrier()``.

Masks follow Keras (see ``_api``): where ``mask[b, t]`` is False the states keep their values and
the output repeats the previous output, or is zero with ``zero_output_for_mask``; in the backward
pass such a step passes ``dh``/``dc`` through unchanged and its output gradient to the previous
output (unless ``zero_output_for_mask``).

Triton is optional and imported on first use (:func:`available`). On CUDA tensors the kernels are
compiled; on CPU tensors they run under Triton's interpreter (numpy), which is how the tests check
them without a GPU; :func:`rnnkit.kernels.plan_engine` only picks "triton" on CPU when forced and
``TRITON_INTERPRET=1``. float32 products run in IEEE precision (no TF32), so results match the
other engines to float32 rounding.

Modules: this one checks a call and runs it (:func:`run_triton`); ``_triton_launch`` wraps the
kernels (JIT or interpreter) and holds the autograd Function that launches them; the kernel
sources are ``_triton_device`` (shared device helpers), ``_triton_cells`` (LSTM, SimpleRNN,
IndRNN), ``_triton_gru`` (GRU, both ``reset_after`` forms) and ``_triton_min`` (MinGRU, MinLSTM:
one program per batch row and unit block, chunked parallel scans over time; the spec sets its
own grid).
"""

from __future__ import annotations

import torch

from ._api import RecurrentCall, RecurrentResult, check_shapes
from ._triton_launch import INTERPRET_ENV as INTERPRET_ENV
from ._triton_launch import (
    _Spec,
    _TritonRecurrence,
    available,
    interpreter_enabled,
)

TRITON_DTYPES = (torch.float32, torch.float64)
#: Activation codes of the kernels (the same as the numba engine's).
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
TRITON_ACTIVATIONS = tuple(ACTIVATION_CODES)


def _check_call(call: RecurrentCall) -> None:
    """Shapes, dtypes and devices: the kernels index without bounds checks beyond these."""
    x = call.x
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (batch, time, features), got {tuple(x.shape)}")
    if x.dtype not in TRITON_DTYPES:
        raise TypeError(f"expected x as float32 or float64, got {x.dtype}")
    if x.device.type not in ("cuda", "cpu"):
        raise ValueError(f"expected CUDA (or CPU, interpreted) tensors, got {x.device}")
    check_shapes(call)
    batch, time, features = x.shape
    units = call.units
    named = {"kernel": call.kernel, "recurrent_kernel": call.recurrent_kernel, "bias": call.bias,
             "dropout_mask": call.dropout_mask, "mask": call.mask,
             "recurrent_dropout_mask": call.recurrent_dropout_mask}
    named.update({f"states[{i}]": st for i, st in enumerate(call.states)})
    for name, t in named.items():
        if t is not None and t.device != x.device:
            raise ValueError(f"expected {name} on {x.device}, got {t.device}")
    for name, t in call.weights_and_dropout():
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"expected {name} as {x.dtype}, got {t.dtype}")
    names = ["activation"] + (["recurrent_activation"] if call.spec.gated else [])
    for name in names:
        value = getattr(call, name) or "linear"
        if value not in ACTIVATION_CODES:
            raise ValueError(f"expected {name} in {TRITON_ACTIVATIONS}, got {value!r}")
    biggest = time * batch * 4 * max(units, features)
    if biggest >= 2**31:
        raise ValueError(f"expected fewer than 2**31 elements per buffer, got {biggest}")


def run_triton(call: RecurrentCall) -> RecurrentResult:
    """Run one call on the Triton kernels (CUDA; CPU tensors run under Triton's interpreter)."""
    _check_call(call)
    act = ACTIVATION_CODES[call.activation or "linear"]
    ract = ACTIVATION_CODES.get(call.recurrent_activation, 2)
    store = call.needs_grad()
    kind = call.spec
    spec = _Spec(
        kind,
        act,
        ract,
        bool(call.go_backwards),
        bool(call.zero_output_for_mask),
        bool(call.return_sequences),
        store,
    )
    x = call.x
    if call.dropout_mask is not None:
        x = x * call.dropout_mask.unsqueeze(1)
    xp = torch.matmul(x.transpose(0, 1), call.kernel)  # (time, batch, gates * units)
    b_in = kind.input_bias(call.bias)
    if b_in is not None:
        xp = xp + b_in
    xp = xp.contiguous()
    brec = kind.recurrent_bias(call.bias)
    mask = None
    if call.mask is not None:
        mask = (call.mask != 0).t().to(torch.int8).contiguous()  # (time, batch)
    h0 = call.states[0]
    c0 = call.states[1] if kind.n_states > 1 else None
    outs = _TritonRecurrence.apply(
        spec, xp, call.recurrent_kernel, brec, h0, c0, mask, call.recurrent_dropout_mask
    )
    return RecurrentResult(outs[0], tuple(outs[1:]), "triton")


__all__ = [
    "ACTIVATION_CODES",
    "TRITON_ACTIVATIONS",
    "TRITON_DTYPES",
    "available",
    "interpreter_enabled",
    "run_triton",
]
