"""The export's check: the ONNX file is run in onnxruntime on random inputs of several batch sizes
and lengths and compared with rnnkit in inference mode before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..layers import Conv1D, Masking, MaxPooling1D
from ..layers._recurrent import RNN
from ..model import Model, Sequential
from ._onnx_builder import FLOATS, InputSpec, OnnxExportError, StateIO, model_dtype


def min_length(model: torch.nn.Module) -> int:
    """A length long enough for every valid convolution/pooling window (conservative)."""
    length = 1
    for m in reversed(list(model.modules())):
        if isinstance(m, Conv1D) and m.padding == "valid":
            length = (length - 1) * m.strides + m.dilation_rate * (m.kernel_size - 1) + 1
        elif isinstance(m, MaxPooling1D) and m.padding == "valid":
            length = (length - 1) * m.strides + m.pool_size
    return max(1, length)


def shapes_to_check(model: torch.nn.Module, specs: list[InputSpec]) -> list[tuple[int, int]]:
    """The (batch, time) pairs the check runs: several lengths when time is dynamic."""
    declared = {s.shape[1] for s in specs if len(s.shape) > 1 and s.shape[1] is not None}
    if any(s.dynamic_time for s in specs):
        low = min_length(model)
        out = [(1, low), (2, low + 6), (5, low + 29)]
        return out + [(3, t) for t in sorted(declared) if t >= low]
    return [(1, t) for t in sorted(declared)] + [(3, t) for t in sorted(declared)] or [
        (1, 1),
        (3, 1),
    ]


def sample(
    spec: InputSpec,
    batch: int,
    time: int,
    id_vocab: int | None,
    mask_value: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    shape = [batch] + [
        time if (i == 1 and spec.dynamic_time) or d is None else d
        for i, d in enumerate(spec.shape[1:], start=1)
    ]
    np_dtype = np.dtype(spec.dtype)
    if spec.is_mask:  # real steps first, then holes anywhere (never an all-masked row)
        keep = rng.random(shape) >= 0.3
        keep[:, 0] = True
        return keep.astype(np_dtype)
    if id_vocab is not None:
        ids = rng.integers(1 if id_vocab > 1 else 0, id_vocab, size=shape)
        ids[rng.random(shape) < 0.3] = 0  # padding holes anywhere
        return ids.astype(np_dtype)
    x = rng.normal(0.0, 1.0, size=shape)
    if mask_value is not None and len(shape) >= 3:
        holes = rng.random(shape[:2]) < 0.3  # (batch, time): masked steps anywhere
        x[holes] = mask_value
    return x.astype(np_dtype)


def reference(
    model: Sequential | Model,
    inputs: list[np.ndarray],
    states: list[StateIO],
    initial: list[list[np.ndarray]],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """rnnkit's outputs (inference mode, stateless) and the final states of ``states``' layers
    started from ``initial``; the model's modes and flags are restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    stateful = [(m, m.stateful) for m in model.modules() if isinstance(m, RNN)]
    handles: list[Any] = []
    finals: dict[int, list[torch.Tensor]] = {}
    dtype = model_dtype(model)

    def hooks(io: StateIO, init: list[np.ndarray]) -> None:
        layer = io.layer
        had_state = layer.return_state
        tensors = [torch.as_tensor(a).to(dtype) for a in init]

        def pre(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            module.return_state = True
            return args, {**kwargs, "initial_state": list(tensors)}

        def post(module: Any, args: Any, output: Any) -> Any:
            module.return_state = had_state
            finals[id(module)] = list(output[1:])
            return output if had_state else output[0]

        handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(layer.register_forward_hook(post))

    try:
        model.eval()
        for rnn, _ in stateful:
            rnn.stateful = False
        for io, init in zip(states, initial):
            hooks(io, init)
        with torch.no_grad():
            out = model(*[torch.as_tensor(x) for x in inputs])
    finally:
        for hd in handles:
            hd.remove()
        for rnn, flag in stateful:
            rnn.stateful = flag
        for module, mode in modes:
            module.training = mode
    outs = out if isinstance(out, (list, tuple)) else [out]
    state_outs = [s for io in states for s in finals[id(io.layer)]]
    return (
        [o.detach().cpu().numpy() for o in outs],
        [s.detach().cpu().numpy() for s in state_outs],
    )


def verify(
    model: Sequential | Model,
    ort: Any,
    model_bytes: bytes,
    specs: list[InputSpec],
    out_names: list[str],
    states: list[StateIO],
    id_inputs: dict[str, int],
    shapes: Sequence[tuple[int, int]],
    atol: float,
    rtol: float,
) -> None:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise OnnxExportError(f"onnxruntime could not load the exported model: {e}") from e
    rng = np.random.default_rng(0)
    masking = [m.mask_value for m in model.modules() if isinstance(m, Masking)]
    np_dtype = FLOATS[model_dtype(model)][1]
    for batch, time in shapes:
        inputs = [
            sample(s, batch, time, id_inputs.get(s.name), masking[0] if masking else None, rng)
            for s in specs
        ]
        initial = [
            [
                rng.normal(0.0, 0.5, (batch, size)).astype(np_dtype)
                for size in io.layer.state_sizes()
            ]
            for io in states
        ]
        ref, ref_states = reference(model, inputs, states, initial)
        feeds = {s.name: x for s, x in zip(specs, inputs)}
        for io, init in zip(states, initial):
            feeds.update(zip(io.inputs, init))
        try:
            got = session.run(None, feeds)
        except Exception as e:  # onnxruntime raises its own exception types
            raise OnnxExportError(
                f"onnxruntime failed on the exported model at batch={batch}, time={time}: {e}"
            ) from e
        names = out_names + [n for io in states for n in io.outputs]
        for name, want, have in zip(names, ref + ref_states, got):
            if want.shape != have.shape:
                raise OnnxExportError(
                    f"expected ONNX output {name!r} of shape {want.shape} (rnnkit) at "
                    f"batch={batch}, time={time}, got {have.shape}"
                )
            if not np.allclose(have, want, atol=atol, rtol=rtol, equal_nan=True):
                diff = float(np.nanmax(np.abs(have.astype(np.float64) - want)))
                raise OnnxExportError(
                    f"expected ONNX output {name!r} to match rnnkit within atol={atol}, "
                    f"rtol={rtol} at batch={batch}, time={time}, got a max difference of {diff:.3g}"
                )
