"""Export rnnkit models to ONNX, checked against rnnkit in onnxruntime before the file is written.

``onnx`` (and ``onnxruntime`` for the check) are optional: ``pip install 'rnnkit[onnx]'``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._archive import atomic_write_bytes
from ..layers import Embedding, Flatten, Layer
from ..layers._symbolic import REF, bind_kwargs
from ..model import Model, Sequential
from ._onnx_builder import (
    BOOL,
    FLOATS,
    INT32,
    INT64,
    Builder,
    InputSpec,
    OnnxExportError,
    StateIO,
    Val,
    model_dtype,
)
from ._onnx_check import shapes_to_check, verify
from ._onnx_graph import GraphEmitter

DEFAULT_OPSET = 17
MIN_OPSET = 13

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


def _graph_input(b: Builder, em: GraphEmitter, spec: InputSpec) -> Val:
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
) -> tuple[Any, list[InputSpec], list[str], list[StateIO], dict[str, int]]:
    elem, np_dtype = FLOATS[model_dtype(model)]
    b = Builder(onnx, opset, elem, np_dtype)
    em = GraphEmitter(b, with_states)
    outputs: list[Val] = []
    specs: list[InputSpec] = []
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
        s = InputSpec(
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
                s = InputSpec(name, shape_i, i["dtype"], dynamic, is_mask)
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
    MaxPooling1D, MaskedMaxPooling1D, Global{Average,Max}Pooling1D, Flatten, Reshape,
    Concatenate, Add; anything else is an :class:`OnnxExportError` naming it. The graph is the
    inference graph (no dropout), starting recurrent layers from zeros; ``stateful`` layers'
    carried states are not baked in.

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
        shapes = list(check_shapes) if check_shapes is not None else shapes_to_check(model, specs)
        verify(model, ort, data, specs, out_names, states, id_inputs, shapes, atol, rtol)
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
