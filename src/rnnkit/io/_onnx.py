"""Export rnnkit models to ONNX, checked against rnnkit in onnxruntime before the file is written.

``onnx`` (and ``onnxruntime`` for the check) are optional: ``pip install 'rnnkit[onnx]'``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._archive import atomic_write_bytes
from ..layers import Conv1D, Embedding, Flatten, Layer, Masking, MaxPooling1D
from ..layers._recurrent import RNN
from ..layers._symbolic import REF, bind_kwargs
from ..model import Model, Sequential
from ._onnx_graph import BOOL, INT32, INT64, Builder, GraphEmitter, OnnxExportError, StateIO, Val

DEFAULT_OPSET = 17
MIN_OPSET = 13

_FLOATS = {torch.float32: (1, np.float32), torch.float64: (11, np.float64)}
_INPUT_ELEMS = {"float32": 1, "float64": 11, "int64": INT64, "int32": INT32}


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote: the file and its input/output names, in order.

    ``inputs`` are the model's inputs in call order; ``outputs`` its outputs. With
    ``with_states`` the graph also takes ``state_inputs`` (each (batch, units): ``<layer>.h_in``
    and, for an LSTM, ``<layer>.c_in``, one per recurrent layer in graph order; a Bidirectional
    contributes its ``forward_*`` and ``backward_*`` layers) and returns ``state_outputs``
    (``<layer>.h_out`` ...) after ``outputs``.
    """

    path: Path
    opset: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    state_inputs: tuple[str, ...] = ()
    state_outputs: tuple[str, ...] = ()


def _require_onnx(check: bool) -> tuple[Any, Any]:
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "rnnkit.io.export_onnx needs the onnx package: pip install 'rnnkit[onnx]'"
        ) from e
    ort: Any = None
    if check:
        try:
            import onnxruntime

            ort = onnxruntime
        except ImportError as e:
            raise ImportError(
                "rnnkit.io.export_onnx(check=True) needs onnxruntime to verify the export: "
                "pip install 'rnnkit[onnx]' (or pass check=False)"
            ) from e
    return onnx, ort


@dataclass
class _InputSpec:
    name: str
    shape: tuple[int | None, ...]  # batch axis included (None)
    dtype: str
    dynamic_time: bool
    is_mask: bool = False  # (batch, time) of 0/1 passed to layers as ``mask=``


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    dtypes = {p.dtype for p in model.parameters()}
    if not dtypes:
        return torch.get_default_dtype()
    if len(dtypes) > 1 or next(iter(dtypes)) not in _FLOATS:
        raise OnnxExportError(
            f"expected one float32 or float64 dtype for all weights, got {sorted(map(str, dtypes))}"
        )
    return next(iter(dtypes))


def _graph_input(b: Builder, em: GraphEmitter, spec: _InputSpec) -> Val:
    if spec.dtype not in _INPUT_ELEMS:
        raise OnnxExportError(
            f"expected an input dtype in {sorted(_INPUT_ELEMS)}, got {spec.dtype!r} ({spec.name})"
        )
    elem = _INPUT_ELEMS[spec.dtype]
    dims: list[Any] = ["batch"]
    for i, d in enumerate(spec.shape[1:], start=1):
        if i == 1 and spec.dynamic_time:
            dims.append("time")
        else:
            dims.append(d if d is not None else f"{spec.name}_dim{i}")
    em.graph_inputs.append(b.onnx.helper.make_tensor_value_info(spec.name, elem, dims))
    if elem in (INT32, INT64):
        em.int_inputs[spec.name] = elem
        return Val(spec.name)
    if elem != b.elem:  # rnnkit layers cast their inputs to the weights' dtype
        return Val(b.cast(spec.name, b.elem))
    return Val(spec.name)


def _dynamic_time(shape: tuple[int | None, ...], dtype: str, model: torch.nn.Module) -> bool:
    """Axis 1 is a time axis (any length) for sequences (rank >= 3) and id inputs (rank 2),
    unless a Flatten ties the model to the declared length."""
    if any(isinstance(m, Flatten) for m in model.modules()):
        return shape[1] is None if len(shape) > 1 else False
    return len(shape) >= 3 or (len(shape) == 2 and dtype.startswith("int"))


def _out_dims(name: str, shape: Any) -> list[Any]:
    """Output dims: batch, symbolic middle axes (time may differ from the declared one), and
    the known last axis."""
    if not isinstance(shape, (tuple, list)) or not shape:
        raise OnnxExportError(f"expected a known output shape for {name!r}, got {shape!r}")
    dims: list[Any] = ["batch"] + [f"{name}_dim{i}" for i in range(1, len(shape))]
    if len(shape) > 1 and shape[-1] is not None:
        dims[-1] = int(shape[-1])
    return dims


def _mask_inputs(nodes: list[dict[str, Any]]) -> set[int]:
    """Indices of the nodes whose output some layer receives as ``mask=``."""
    out: set[int] = set()
    for node in nodes:
        ref = node.get("kwargs", {}).get("mask")
        if isinstance(ref, dict) and REF in ref:
            out.update(node["inputs"][i][0] for i in ref[REF])
    return out


def _given_mask(b: Builder, layer: Any, x: Val | list[Val], mask: Any) -> Val:
    """``x`` carrying the mask a functional call passed by keyword (nonzero: a real step)."""
    if not isinstance(x, Val) or not isinstance(mask, Val):
        raise OnnxExportError(
            f"expected one input and one mask tensor for layer {layer.name!r}, got a list"
        )
    return Val(x.name, b.cast(mask.name, BOOL))


def _shape_after(layer: Any, shape: Any) -> Any:
    return layer.compute_output_shape(shape) if isinstance(layer, Layer) else None


def _build(
    model: Sequential | Model, onnx: Any, opset: int, with_states: bool
) -> tuple[Any, list[_InputSpec], list[str], list[StateIO], dict[str, int]]:
    elem, np_dtype = _FLOATS[_model_dtype(model)]
    b = Builder(onnx, opset, elem, np_dtype)
    em = GraphEmitter(b, with_states)
    outputs: list[Val] = []
    specs: list[_InputSpec] = []
    id_inputs: dict[str, int] = {}  # graph input -> vocabulary size of the Embedding it feeds

    def emit(layer: Any, x: Val | list[Val], shape: Any) -> list[Val]:
        if isinstance(layer, Embedding) and isinstance(x, Val) and x.name in names:
            id_inputs[x.name] = min(id_inputs.get(x.name, layer.input_dim), layer.input_dim)
        return em.emit(layer, x, shape)

    names: set[str] = set()
    n_outputs = len(model.outputs) if isinstance(model, Model) else 1
    out_names = ["output"] if n_outputs == 1 else [f"output_{i}" for i in range(n_outputs)]
    b.reserved.update(out_names)
    if isinstance(model, Model):  # the Input names, before any node is named
        b.reserved.update(t.name for t in model.inputs)
    if isinstance(model, Sequential):
        spec = model.input_spec
        if spec is None:
            raise OnnxExportError(
                "expected a built Sequential model (give it an Input or call "
                "it once), got one without an input shape"
            )
        s = _InputSpec(
            "input",
            tuple(spec.shape),
            spec.dtype,
            _dynamic_time(tuple(spec.shape), spec.dtype, model),
        )
        specs.append(s)
        names.add(s.name)
        b.reserved.add(s.name)
        x = _graph_input(b, em, s)
        shape: Any = tuple(spec.shape)
        for layer in model.layers:
            outs = emit(layer, x, shape)
            if len(outs) != 1:
                raise OnnxExportError(
                    f"expected one output per layer in a Sequential model, "
                    f"got {len(outs)} from {getattr(layer, 'name', '?')}"
                )
            x, shape = outs[0], _shape_after(layer, shape)
        outputs, out_shapes = [x], [shape]
    elif isinstance(model, Model):
        cfg = model.get_config()
        mask_sources = _mask_inputs(cfg["nodes"])
        values: list[list[Val]] = []
        shapes: list[list[Any]] = []
        for node in cfg["nodes"]:
            if "input" in node:
                i = node["input"]
                shape_i = (None, *i["shape"])
                name = i.get("name") or f"input_{len(specs)}"
                while name in names or name in out_names:
                    name = f"{name}_"
                b.reserved.add(name)
                is_mask = len(values) in mask_sources and len(shape_i) == 2
                dynamic = is_mask or _dynamic_time(shape_i, i["dtype"], model)
                s = _InputSpec(name, shape_i, i["dtype"], dynamic, is_mask)
                specs.append(s)
                names.add(name)
                values.append([_graph_input(b, em, s)])
                shapes.append([shape_i])
                continue
            extra = set(node["kwargs"]) - {"training", "mask"}
            if extra:
                raise OnnxExportError(
                    f"expected no call arguments but training and mask for layer "
                    f"{node['layer']!r}, got {sorted(extra)}"
                )
            layer = model.get_layer(node["layer"])
            every = [values[n][k] for n, k in node["inputs"]]
            n_args = node.get("n_args", len(every))
            ins, in_shapes = every[:n_args], [shapes[n][k] for n, k in node["inputs"][:n_args]]
            x_in: Val | list[Val] = ins if node["input_is_list"] else ins[0]
            if "mask" in node["kwargs"]:  # layer(x, mask=m): m replaces the carried mask
                x_in = _given_mask(b, layer, x_in, bind_kwargs(node["kwargs"], every)["mask"])
            shape_in = in_shapes if node["input_is_list"] else in_shapes[0]
            values.append(emit(layer, x_in, shape_in))
            out_shape = _shape_after(layer, shape_in)
            shapes.append(list(out_shape) if isinstance(out_shape, list) else [out_shape])
        outputs = [values[n][k] for n, k in cfg["outputs"]]
        out_shapes = [shapes[n][k] for n, k in cfg["outputs"]]
    else:
        raise TypeError(f"expected an rnnkit Sequential or Model, got {type(model).__name__}")

    h = onnx.helper
    for v, name in zip(outputs, out_names):
        b.nodes.append(h.make_node("Identity", [v.name], [name]))
    graph_outputs = [
        h.make_tensor_value_info(n, elem, _out_dims(n, s)) for n, s in zip(out_names, out_shapes)
    ]
    for io in em.state_io:
        graph_outputs += [
            h.make_tensor_value_info(n, elem, ["batch", size])
            for n, size in zip(io.outputs, io.layer.state_sizes(), strict=True)
        ]
    graph = h.make_graph(b.nodes, model.name or "rnnkit", em.graph_inputs, graph_outputs, b.inits)
    opsets = [h.make_opsetid("", opset)]
    proto = h.make_model(
        graph,
        opset_imports=opsets,
        producer_name="rnnkit",
        ir_version=h.find_min_ir_version_for(opsets),
    )
    return proto, specs, out_names, em.state_io, id_inputs


# -- the check -----------------------------------------------------------------------------------
def _min_length(model: torch.nn.Module) -> int:
    """A length long enough for every valid convolution/pooling window (conservative)."""
    length = 1
    for m in reversed(list(model.modules())):
        if isinstance(m, Conv1D) and m.padding == "valid":
            length = (length - 1) * m.strides + m.dilation_rate * (m.kernel_size - 1) + 1
        elif isinstance(m, MaxPooling1D) and m.padding == "valid":
            length = (length - 1) * m.strides + m.pool_size
    return max(1, length)


def _check_shapes(model: torch.nn.Module, specs: list[_InputSpec]) -> list[tuple[int, int]]:
    declared = {s.shape[1] for s in specs if len(s.shape) > 1 and s.shape[1] is not None}
    if any(s.dynamic_time for s in specs):
        low = _min_length(model)
        out = [(1, low), (2, low + 6), (5, low + 29)]
        return out + [(3, t) for t in sorted(declared) if t >= low]
    return [(1, t) for t in sorted(declared)] + [(3, t) for t in sorted(declared)] or [
        (1, 1),
        (3, 1),
    ]


def _sample(
    spec: _InputSpec,
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


def _reference(
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
    dtype = _model_dtype(model)

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


def _verify(
    model: Sequential | Model,
    ort: Any,
    model_bytes: bytes,
    specs: list[_InputSpec],
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
    np_dtype = _FLOATS[_model_dtype(model)][1]
    for batch, time in shapes:
        inputs = [
            _sample(s, batch, time, id_inputs.get(s.name), masking[0] if masking else None, rng)
            for s in specs
        ]
        initial = [
            [
                rng.normal(0.0, 0.5, (batch, size)).astype(np_dtype)
                for size in io.layer.state_sizes()
            ]
            for io in states
        ]
        ref, ref_states = _reference(model, inputs, states, initial)
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


def export_onnx(
    model: Sequential | Model,
    path: str | os.PathLike[str],
    *,
    with_states: bool = False,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    check_shapes: Sequence[tuple[int, int]] | None = None,
) -> OnnxExport:
    """Write ``model`` as an ONNX file that runs in onnxruntime at any batch size and length.

    The graph takes the model's inputs (Sequential: ``input``; functional: the Input names),
    with dynamic ``batch`` and ``time`` axes, and returns ``output`` (or ``output_0`` ...).
    Each recurrent layer is an ONNX ``Scan`` over time computing the cell in rnnkit's layout,
    with Keras's mask semantics (Masking, ``Embedding(mask_zero=True)``; holes anywhere),
    ``go_backwards``, Bidirectional merging and ``return_sequences``/``return_state``. Layers:
    SimpleRNN, LSTM, GRU (both forms), IndRNN, Bidirectional, Dense, Embedding, Masking,
    Dropout (identity), Activation, TimeDistributed(Dense/Activation/Dropout), Conv1D,
    MaxPooling1D, Global{Average,Max}Pooling1D, Flatten, Concatenate, Add; anything else is an
    :class:`OnnxExportError` naming it. The graph is the inference graph (no dropout), starting
    recurrent layers from zeros; ``stateful`` layers' carried states are not baked in.

    ``with_states=True`` adds the initial states of every recurrent layer as inputs
    (``<layer>.h_in``, ``<layer>.c_in``: (batch, units)) and their final states as outputs
    (``<layer>.h_out`` ...), to stream a long sequence chunk by chunk.

    ``check=True`` (the default) runs the file in onnxruntime on random inputs of several batch
    sizes and lengths (``check_shapes``: (batch, time) pairs; masked models get masked steps
    anywhere) against rnnkit in inference mode, and writes ``path`` (atomically: a temporary file
    in the same folder, renamed) only if every output matches within ``atol``/``rtol``;
    otherwise nothing is written and :class:`OnnxExportError` says where it differed.

    Raises:
        ImportError: onnx (or, with ``check``, onnxruntime) is missing: ``pip install
            'rnnkit[onnx]'``.
        OnnxExportError: an unsupported layer, or a failed check.
    """
    if not isinstance(model, (Sequential, Model)):
        raise TypeError(f"expected an rnnkit Sequential or Model, got {type(model).__name__}")
    onnx, ort = _require_onnx(check)
    latest = int(onnx.defs.onnx_opset_version())
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise ValueError(f"expected opset in [{MIN_OPSET}, {latest}], got {opset!r}")
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if not isinstance(tol, (int, float)) or tol < 0:
            raise ValueError(f"expected a non-negative {name}, got {tol!r}")
    proto, specs, out_names, states, id_inputs = _build(model, onnx, opset, with_states)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # onnx.checker.ValidationError / shape inference errors
        raise OnnxExportError(f"the exported graph is not valid ONNX: {e}") from e
    data = proto.SerializeToString()
    if check:  # the bytes are checked before anything is written
        shapes = list(check_shapes) if check_shapes is not None else _check_shapes(model, specs)
        _verify(model, ort, data, specs, out_names, states, id_inputs, shapes, atol, rtol)
    target = Path(path)
    atomic_write_bytes(target, data)
    return OnnxExport(
        path=target,
        opset=opset,
        inputs=tuple(s.name for s in specs),
        outputs=tuple(out_names),
        state_inputs=tuple(n for io in states for n in io.inputs),
        state_outputs=tuple(n for io in states for n in io.outputs),
    )
