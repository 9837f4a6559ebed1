"""Which engine runs a call, and why: :func:`plan_engine` needs no tensors (``summary()`` uses it).

Engines:

* ``"fused"``: the numba whole-sequence kernels (CPU, float32/float64, activations linear, tanh,
  sigmoid, relu, hard_sigmoid; every option: masks, dropout, recurrent dropout, ...).
* ``"torch"``: PyTorch's own fused op (oneDNN on CPU, cuDNN on CUDA) where it computes the call
  exactly: LSTM (tanh, sigmoid), GRU with ``reset_after`` (tanh, sigmoid), SimpleRNN (tanh or
  relu); no mask, no recurrent dropout.
* ``"triton"``: whole-sequence Triton kernels (``_triton``) for CUDA tensors, float32/float64,
  the fused kernels' activations and every option; needs the optional ``triton`` package. On CPU
  tensors it runs only when forced and ``TRITON_INTERPRET=1`` (Triton's interpreter: for tests).
* ``"scan"``: the kinds without a recurrent product (MinGRU, MinLSTM: ``CellSpec.scan``) over
  the whole sequence at once, by a chunked parallel scan in log space (``_scan``); any device.
* ``"loop"``: the reference Python loop over the cell's step; runs everything.

The scan kinds run on "fused" (CPU, float32/float64), else "triton" (CUDA), else "scan", unless
"loop" or "scan" is forced. The LayerNorm kinds, and LSTM/GRU
with the options ``projection`` or ``zoneout`` (``RecurrentCall.options``), run
on the fused engine's split kernels (``_fused_ext``; custom ops under ``torch.compile``:
``_ops_ext``) on CPU, and on
the split Triton kernels (``_triton_ext_run``, up to 64 units) on CUDA, where a kind has them
(not the GRU ``reset_after=False``: the loop there).

``"auto"`` (the default) picks, on CPU, "torch" for float32 inference calls where oneDNN was
measured faster (``CellSpec.native_inference_wins``: some LSTM calls), else "fused", else "loop"; on
CUDA "torch" (cuDNN) where it computes the call exactly, else "triton" (masks, recurrent dropout,
IndRNN, GRU ``reset_after=False``, ...) where Triton is installed and supports it, else "loop". A
forced engine (argument, else ``$RNNKIT_ENGINE``) that cannot run a call falls back to the "auto"
choice and the reason says so.
"""

from __future__ import annotations

import functools
import os

import torch

from . import _triton
from ._api import EngineChoice, RecurrentCall
from ._runtime import FUSED_ACTIVATIONS, FUSED_DTYPES
from ._triton_ext_run import MAX_UNITS
from .cells import CellSpec, spec_for

ENGINE_ENV = "RNNKIT_ENGINE"
ENGINES = ("auto", "fused", "torch", "triton", "scan", "loop")


def _fused_blocker(
    spec: CellSpec, activation: str, recurrent_activation: str, dtype: torch.dtype, device: str
) -> str | None:
    if device != "cpu":
        return f"the fused kernels run on CPU, the weights are on {device}"
    if dtype not in FUSED_DTYPES:
        return f"the fused kernels run float32/float64, got {dtype}"
    if not (spec.fused_kernels or spec.ext_kernels):
        return f"no fused kernels for {spec.name}"
    if activation not in FUSED_ACTIVATIONS:
        return f"no fused kernel for activation {activation!r}"
    if spec.gated and recurrent_activation not in FUSED_ACTIVATIONS:
        return f"no fused kernel for recurrent_activation {recurrent_activation!r}"
    return None


def _triton_blocker(
    spec: CellSpec,
    activation: str,
    recurrent_activation: str,
    dtype: torch.dtype,
    device: str,
    interpret: bool,
) -> str | None:
    if device not in ("cuda", "cpu"):
        return f"the Triton kernels run on CUDA, the weights are on {device}"
    if device == "cpu" and not interpret:
        return "the Triton kernels run on CUDA (on CPU only under TRITON_INTERPRET=1)"
    if dtype not in _triton.TRITON_DTYPES:
        return f"the Triton kernels run float32/float64, got {dtype}"
    if not (spec.triton_kernels or spec.ext_triton_kernels):
        return f"no Triton kernels for {spec.name}"
    if activation not in _triton.TRITON_ACTIVATIONS:
        return f"no Triton kernel for activation {activation!r}"
    if spec.gated and recurrent_activation not in _triton.TRITON_ACTIVATIONS:
        return f"no Triton kernel for recurrent_activation {recurrent_activation!r}"
    if not _triton.available():
        return "triton is not installed"
    return None


def _native_blocker(
    spec: CellSpec,
    activation: str,
    recurrent_activation: str,
    dtype: torch.dtype,
    device: str,
    has_mask: bool,
    recurrent_dropout: bool,
) -> str | None:
    why = spec.native_blocker(activation, recurrent_activation)
    if why is not None:
        return why
    if has_mask:
        return "PyTorch's op takes no mask"
    if recurrent_dropout:
        return "PyTorch's op has no recurrent dropout"
    if not dtype.is_floating_point:
        return f"expected a floating dtype, got {dtype}"
    if device == "cpu" and dtype not in FUSED_DTYPES:
        return f"PyTorch's CPU op runs float32/float64, got {dtype}"
    return None


def plan_engine(
    cell: str,
    *,
    activation: str,
    recurrent_activation: str,
    dtype: torch.dtype,
    device: torch.device | str,
    training: bool,
    batch: int,
    has_mask: bool,
    dropout: float,
    recurrent_dropout: float,
    requested: str | None = None,
    reset_after: bool = True,
    units: int | None = None,
    options: tuple[str, ...] = (),
) -> EngineChoice:
    """The engine for a call with these properties, and why (no tensors needed).

    ``training`` means gradients will be taken; ``requested`` is the layer's ``engine=`` argument
    (None: ``$RNNKIT_ENGINE``, else "auto"); ``reset_after`` (GRU) and ``units`` refine the
    choice where known; ``options`` names the options in use beyond the kind's equations
    (``RecurrentCall.options``).
    """
    if requested is not None:
        source, name = "engine argument", requested
    elif os.environ.get(ENGINE_ENV):
        source, name = f"${ENGINE_ENV}", os.environ[ENGINE_ENV]
    else:
        source, name = "", "auto"
    dev = torch.device(device).type
    compiling = torch.compiler.is_compiling()
    # traced by Dynamo: the plain function (Dynamo does not trace through a cache)
    planner = _plan.__wrapped__ if compiling else _plan
    choice = planner(
        cell,
        activation or "linear",
        recurrent_activation,
        dtype,
        dev,
        training,
        batch,
        has_mask,
        recurrent_dropout > 0,
        name,
        source,
        reset_after,
        units,
        # read here, not in the cached part: the Triton engine runs on CPU under this variable
        (dev != "cpu" or name == "triton") and _triton.interpreter_enabled(),
        compiling,
        tuple(options),
    )
    return choice


@functools.lru_cache(maxsize=1024)
def _plan(
    cell: str,
    activation: str,
    recurrent_activation: str,
    dtype: torch.dtype,
    dev: str,
    training: bool,
    batch: int,
    has_mask: bool,
    recurrent_dropout: bool,
    name: str,
    source: str,
    reset_after: bool,
    units: int | None,
    triton_interpret: bool,
    compiling: bool = False,
    options: tuple[str, ...] = (),
) -> EngineChoice:
    """:func:`plan_engine` once the engine asked for is known (a pure function: cached, as every
    layer call asks)."""
    if name not in ENGINES:
        raise ValueError(f"expected an engine in {ENGINES} ({source or 'default'}), got {name!r}")
    spec = spec_for(cell, reset_after)
    options_no = f"no compiled kernels for {' and '.join(options)} yet" if options else None
    # Triton is imported (once) only where it could run the call: CUDA, or forced.
    triton_no: str | None = "not considered on CPU"
    if dev != "cpu" or name == "triton":
        triton_no = spec.fused_options_blocker(options) or _triton_blocker(
            spec, activation, recurrent_activation, dtype, dev, triton_interpret
        )
        wide = units is not None and units > MAX_UNITS
        if triton_no is None and spec.runs_ext(options) and wide:
            triton_no = f"the split Triton kernels take up to {MAX_UNITS} units, got {units}"
        if triton_no is None and spec.runs_ext(options) and not spec.ext_triton_kernels:
            triton_no = f"no split Triton kernels for {' and '.join(options)} of this {spec.name}"
    if spec.scan:
        return _plan_scan(spec, name, source, dev == "cpu" and dtype in FUSED_DTYPES, triton_no)
    fused_no = spec.fused_options_blocker(options) or _fused_blocker(
        spec, activation, recurrent_activation, dtype, dev
    )
    native_no = options_no or _native_blocker(
        spec, activation, recurrent_activation, dtype, dev, has_mask, recurrent_dropout
    )
    if compiling and native_no is None:
        native_no = "PyTorch's recurrent ops break torch.compile's graph"
    prefix = ""
    if name == "loop":
        return EngineChoice("loop", f"forced by the {source}")
    if name == "scan":
        prefix = f"'scan' forced by the {source} but {spec.name} has a recurrent product; "
    if name == "fused":
        if fused_no is None:
            return EngineChoice("fused", f"forced by the {source}")
        prefix = f"'fused' forced by the {source} but {fused_no}; "
    if name == "torch":
        if native_no is None:
            return EngineChoice("torch", f"forced by the {source}")
        prefix = f"'torch' forced by the {source} but {native_no}; "
    if name == "triton":
        if triton_no is None:
            return EngineChoice("triton", f"forced by the {source}")
        prefix = f"'triton' forced by the {source} but {triton_no}; "
    if dev != "cpu":
        if native_no is None:
            return EngineChoice("torch", prefix + f"PyTorch's own fused op on {dev}")
        if triton_no is None:
            return EngineChoice("triton", prefix + f"fused Triton kernels on {dev} ({native_no})")
        return EngineChoice(
            "loop", prefix + f"reference loop on {dev}: {native_no}, and {triton_no}"
        )
    if fused_no is None:
        native_wins = spec.native_inference_wins(batch, units)
        if not training and native_no is None and dtype == torch.float32 and native_wins:
            return EngineChoice(
                "torch", prefix + f"PyTorch's oneDNN op is faster for inference at batch {batch}"
            )
        why = "fused numba kernels (forward and BPTT)" if training else "fused numba kernels"
        if spec.runs_ext(options):
            why += f", split: the input side in torch ({', '.join(options) or 'layer norm'})"
        return EngineChoice("fused", prefix + why)
    return EngineChoice("loop", prefix + f"reference loop: {fused_no}")


def _plan_scan(
    spec: CellSpec, name: str, source: str, fused_ok: bool, triton_no: str | None
) -> EngineChoice:
    """A kind without a recurrent product: its fused CPU kernels (float32/float64 on CPU), else
    its Triton kernels (CUDA, a parallel scan over time), else the log-space parallel scan; the
    loop or the scan where forced."""
    forced_ok = (name == "fused" and fused_ok) or (name == "triton" and triton_no is None)
    if name in ("loop", "scan") or forced_ok:
        return EngineChoice(name, f"forced by the {source}")
    prefix = f"'{name}' forced by the {source} but " if name != "auto" else ""
    if name == "triton":
        prefix += f"{triton_no}; "
    if fused_ok:
        why = f"{prefix and prefix + 'the fused kernels run it; '}fused numba kernels (the scan)"
        return EngineChoice("fused", why)
    where = "triton" if triton_no is None else "scan"
    if prefix and name != "triton":
        prefix += f"{spec.name} runs on '{where}' here; "
    if triton_no is None:
        return EngineChoice("triton", prefix + "Triton kernels (a parallel scan over time)")
    return EngineChoice("scan", prefix + "parallel scan over time in log space")


def select_engine(call: RecurrentCall, requested: str | None = None) -> EngineChoice:
    """Pick the engine for one call: the argument wins, then ``$RNNKIT_ENGINE``, then "auto"."""
    x = call.x
    choice = plan_engine(
        call.cell,
        activation=call.activation,
        recurrent_activation=call.recurrent_activation,
        dtype=x.dtype,
        device=x.device,
        training=call.needs_grad(),
        batch=x.shape[0],
        has_mask=call.mask is not None,
        dropout=0.0 if call.dropout_mask is None else 0.5,
        recurrent_dropout=0.0 if call.recurrent_dropout_mask is None else 0.5,
        requested=requested,
        reset_after=call.reset_after,
        units=call.units,
        options=call.options(),
    )
    if choice.name not in ("loop", "scan"):
        dtype, device = x.dtype, x.device
        for t in (*call.states, *(t for _, t in call.weights_and_dropout())):
            if t is not None and (t.dtype != dtype or t.device != device):
                return EngineChoice(
                    "loop",
                    f"reference loop: expected all tensors as {dtype} on {device}, "
                    f"got {t.dtype} on {t.device}",
                )
    return choice
