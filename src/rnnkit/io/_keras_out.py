"""``model.save("m.keras")``: a Keras 3 archive that ``keras.saving.load_model`` opens.

The zip holds ``metadata.json``, ``config.json`` (the model as Keras 3 serialises it: a
``Sequential`` with its ``InputLayer``, or a ``Functional`` graph whose ``inbound_nodes`` name
each call's input tensors) and ``model.weights.h5`` (each layer's variables under Keras's
attribute paths, see :mod:`rnnkit.io._keras_paths`). Written atomically; Keras is not needed.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from .._archive import atomic_write_bytes
from ..layers import SymbolicTensor
from ..layers._symbolic import REF, Node
from ..model import Model, Sequential
from ._keras_out_layers import Entry, KerasExportError, keras_name, layer_entry, weight_groups
from ._keras_paths import class_paths, weight_paths

KERAS_FORMAT = "3.15.1"  # the Keras version whose file layout this writes


def _input_entry(t: SymbolicTensor) -> Entry:
    name = keras_name(t.name)
    cfg = {"batch_shape": list(t.shape), "dtype": t.dtype, "sparse": False, "name": name}
    return {"module": "keras.layers", "class_name": "InputLayer", "config": cfg,
            "registered_name": None, "name": name, "inbound_nodes": []}


def _model_entry(cls: str, module: str, config: dict[str, Any], shape: Any) -> Entry:
    return {"module": module, "class_name": cls, "config": config, "registered_name": None,
            "build_config": {"input_shape": shape}, "compile_config": None}


def sequential_config(model: Sequential) -> Entry:
    spec = model.input_spec
    if spec is None:
        raise KerasExportError(
            f"expected a built model to write a .keras file, got {model.name!r} without an input "
            "shape: add an Input or call the model once"
        )
    layers = [_input_entry(spec)] + [layer_entry(layer) for layer in model.layers]
    cfg = {"name": model.name, "trainable": True, "layers": layers,
           "build_input_shape": list(spec.shape)}
    return _model_entry("Sequential", "keras", cfg, list(spec.shape))


def node_name(node: Node) -> str:
    """The Keras name of the layer (or input) of a graph node."""
    return keras_name(node.layer.name if node.layer is not None else node.outputs[0].name)


class _Refs:
    """Keras's ``[layer name, node index, tensor index]`` of each symbolic tensor."""

    def __init__(self) -> None:
        self.node_index: dict[int, int] = {}
        self.calls: dict[str, int] = {}

    def add(self, node: Node) -> None:
        name = node_name(node)
        self.node_index[node.id] = self.calls.get(name, 0)
        self.calls[name] = self.node_index[node.id] + 1

    def tensor(self, t: SymbolicTensor) -> Entry:
        node = t.node
        name = node_name(node)
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": [name, self.node_index[node.id], t.index]}}

    def history(self, t: SymbolicTensor) -> list[Any]:
        return self.tensor(t)["config"]["keras_history"]


def _inbound(node: Node, refs: _Refs) -> dict[str, Any]:
    """One call as Keras records it: positional tensors in ``args``, the rest in ``kwargs``."""
    first = [refs.tensor(t) for t in node.inputs[: node.n_args]]
    args: list[Any] = [first if node.input_is_list else first[0]]
    kwargs: dict[str, Any] = {}
    positional = node.layer.positional_names() if node.layer is not None else ()
    for key, value in node.kwargs.items():
        if isinstance(value, dict) and REF in value:
            ts = [refs.tensor(node.inputs[i]) for i in value[REF]]
            item: Any = ts if value["list"] else ts[0]
            if positional and key == positional[0]:  # MultiHeadAttention's value
                args.append(item)
            else:
                kwargs[key] = item
        else:
            kwargs[key] = value
    return {"args": args, "kwargs": kwargs}


def functional_config(model: Model) -> Entry:
    refs = _Refs()
    entries: dict[str, Entry] = {}
    for node in model._nodes:
        refs.add(node)
        if node.layer is None:
            entries[node.outputs[0].name] = _input_entry(node.outputs[0])
            continue
        name = node_name(node)
        if name not in entries:
            entries[name] = {**layer_entry(node.layer), "name": name, "inbound_nodes": []}
        entries[name]["inbound_nodes"].append(_inbound(node, refs))
    cfg = {"name": model.name, "trainable": True, "layers": list(entries.values()),
           "input_layers": [refs.history(t) for t in model.inputs],
           "output_layers": [refs.history(t) for t in model.outputs]}
    return _model_entry("Functional", "keras.src.models.functional", cfg,
                        [list(t.shape) for t in model.inputs])


def _write_weights(h5: Any, model: Sequential | Model, config: Entry) -> None:
    h5.create_group("vars").attrs["name"] = model.name
    entries = config["config"]["layers"]
    if isinstance(model, Sequential):
        entries = entries[1:]  # Keras's Sequential.layers leaves its InputLayer out
    by_name = {keras_name(str(getattr(layer, "name", ""))): layer for layer in model.layers}
    for path, e in zip(class_paths(entries), entries):
        name = e["config"]["name"]
        h5.create_group(f"layers/{path}/vars").attrs["name"] = name
        if e["class_name"] == "InputLayer":
            continue
        layer = by_name[name]
        for sub, weights in zip(weight_paths(e), weight_groups(layer), strict=True):
            where = "/".join((f"layers/{path}", *sub, "vars"))
            g = h5.require_group(where)
            g.attrs["name"] = sub[-1] if sub else name
            for i, w in enumerate(weights):
                g.create_dataset(str(i), data=w.detach().cpu().numpy().astype(np.float32))


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:  # an optional dependency (the keras extra)
        raise ImportError(
            "writing a .keras file needs h5py: pip install 'rnnkit[keras]' (or pip install h5py)"
        ) from e
    return h5py


def keras_archive(model: Sequential | Model) -> bytes:
    """The bytes of a Keras 3 ``.keras`` file of ``model``."""
    h5py = _h5py()
    config = sequential_config(model) if isinstance(model, Sequential) else (
        functional_config(model))
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        _write_weights(h5, model, config)
    metadata = {"keras_version": KERAS_FORMAT, "producer": "rnnkit",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue())
    return out.getvalue()


def save_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (atomically): what ``model.save`` does for a
    path ending in ``.keras``. Raises :class:`KerasExportError` naming a layer Keras cannot
    represent."""
    if not isinstance(model, (Sequential, Model)):
        raise KerasExportError(
            f"expected an rnnkit Sequential or Model, got {type(model).__name__}"
        )
    atomic_write_bytes(path, keras_archive(model))
