"""Read Keras model files (Keras 3 ``.keras``, Keras 2 / legacy ``.h5``) without Keras.

Only JSON and HDF5 datasets are read (``json`` + ``h5py``); nothing is unpickled or executed.

File layouts:

* ``.keras`` (Keras 3): a zip of ``config.json`` (the architecture) and ``model.weights.h5``
  whose variables live under each layer's *attribute path*, named after the layer's class and
  not its name: ``layers/lstm/cell/vars/0`` (kernel), ``.../1`` (recurrent kernel), ``.../2``
  (bias); a second LSTM is ``layers/lstm_1``; Bidirectional keeps ``forward_layer/cell/vars``
  and ``backward_layer/cell/vars``; TimeDistributed ``layer/vars``. Each ``vars`` group carries
  the layer's name as metadata, which is used to check (and, if needed, find) the match.
* ``.h5`` (Keras 2, and Keras 3's legacy writer): root attribute ``model_config`` (JSON) and a
  ``model_weights`` group with one subgroup per layer name whose ``weight_names`` attribute
  lists its datasets in the layer's weight order (e.g. ``lstm/lstm_cell/kernel:0``).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..layers import Layer
from ..model import Model, Sequential
from ._keras_config import MODELS, Entry, KerasImportError, build_model, is_op, layer_entries
from ._keras_paths import h5_names_of, weight_paths


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise ImportError(
            "rnnkit.load_keras needs h5py to read Keras weight files: "
            "pip install 'rnnkit[keras]' (or pip install h5py)"
        ) from e
    return h5py


def _snake(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (how ``.keras`` files name a layer's weight group)."""
    import re

    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _attr_list(group: Any, key: str) -> list[str]:
    """An attribute list, also when Keras split it into ``key0``, ``key1`` ... (large models)."""
    if key in group.attrs:
        return [_text(v) for v in np.atleast_1d(group.attrs[key])]
    out: list[str] = []
    i = 0
    while f"{key}{i}" in group.attrs:
        out += [_text(v) for v in np.atleast_1d(group.attrs[f"{key}{i}"])]
        i += 1
    return out


# -- weights -------------------------------------------------------------------------------------
def _vars(group: Any, where: str) -> list[np.ndarray]:
    if "vars" not in group:
        return []
    v = group["vars"]
    n = len(v)
    missing = [str(i) for i in range(n) if str(i) not in v]
    if missing:
        raise KerasImportError(f"expected variables 0..{n - 1} for {where}, got {sorted(v)}")
    return [np.asarray(v[str(i)]) for i in range(n)]


def _keras3_arrays(group: Any, entry: Entry, where: str) -> list[np.ndarray]:
    """A layer's variables in Keras's weight order from a ``.keras`` weights group."""
    arrays: list[np.ndarray] = []
    for path in weight_paths(entry):
        g = group
        for part in path:
            if part not in g:
                raise KerasImportError(
                    f"expected a {'/'.join(path)!r} weight group for layer {where}, got none"
                )
            g = g[part]
        arrays += _vars(g, where)
    return arrays


def _keras3_groups(weights: Any, entries: list[Entry]) -> dict[str, Any]:
    """{layer name: its weight group} following Keras's class-name paths, checked by name."""
    root = weights["layers"] if "layers" in weights else None
    if root is None:
        return {}
    by_meta: dict[str, Any] = {}
    for key in root:
        g = root[key]
        if "vars" in g and "name" in g["vars"].attrs:
            by_meta.setdefault(_text(g["vars"].attrs["name"]), g)
    used: dict[str, int] = {}
    out: dict[str, Any] = {}
    for e in entries:
        if is_op(e):
            continue
        base = _snake(str(e.get("class_name")))
        if base in used:
            used[base] += 1
            path = f"{base}_{used[base]}"
        else:
            used[base] = 0
            path = base
        name = e.get("name") or (e.get("config") or {}).get("name")
        g = root[path] if path in root else None
        meta = (
            _text(g["vars"].attrs["name"])
            if g is not None and "vars" in g and "name" in g["vars"].attrs
            else None
        )
        if g is None or (meta is not None and meta != name):
            g = by_meta.get(str(name), g)
        if g is not None:
            out[str(name)] = g
    return out


def _assign(layer: Layer, arrays: list[np.ndarray], where: str) -> None:
    params = layer.keras_weights()
    if len(arrays) != len(params):
        raise KerasImportError(
            f"expected {len(params)} weight arrays for layer {where}, got {len(arrays)} in the file"
        )
    with torch.no_grad():
        for i, (p, a) in enumerate(zip(params, arrays)):
            if tuple(a.shape) != tuple(p.shape):
                raise KerasImportError(
                    f"expected weight {i} of layer {where} to have shape {tuple(p.shape)}, "
                    f"got {tuple(a.shape)}"
                )
            p.copy_(torch.from_numpy(np.array(a, dtype=np.float64)).to(p.dtype))


def _keras3_layer_groups(weights: Any, config: Entry, prefix: str = "") -> dict[str, Any]:
    """{layer key: (weight group, entry)}, nested models' layers as ``"model/layer"``."""
    entries = (
        [e for e in layer_entries(config) if e.get("class_name") != "InputLayer"]
        if config.get("class_name") == "Sequential"
        else layer_entries(config)
    )
    groups = _keras3_groups(weights, entries)
    out: dict[str, Any] = {}
    for e in entries:
        name = str(e.get("name") or (e.get("config") or {}).get("name"))
        if name not in groups:
            continue
        if e.get("class_name") in MODELS:
            out.update(_keras3_layer_groups(groups[name], e, f"{prefix}{name}/"))
        else:
            out[prefix + name] = (groups[name], e)
    return out


def _load_keras3_weights(weights: Any, config: Entry, layers: dict[str, Layer]) -> None:
    found = _keras3_layer_groups(weights, config)
    groups = {k: g for k, (g, _) in found.items()}
    by_name = {k: e for k, (_, e) in found.items()}
    for name, layer in layers.items():
        where = repr(name)
        if name not in groups:
            if layer.keras_weights():
                raise KerasImportError(f"expected weights for layer {where} in the file, got none")
            continue
        try:
            arrays = _keras3_arrays(groups[name], by_name[name], where)
        except KeyError as e:
            raise KerasImportError(
                f"expected the Keras 3 weight groups of layer {where}, got none for {e}"
            ) from e
        _assign(layer, arrays, where)


def _load_h5_weights(weights: Any, layers: dict[str, Layer]) -> None:
    for key, layer in layers.items():
        where = repr(key)
        name, _, inner = key.partition("/")
        if name not in weights:
            if layer.keras_weights():
                raise KerasImportError(f"expected weights for layer {where} in the file, got none")
            continue
        g = weights[name]
        names = _attr_list(g, "weight_names")
        if inner:  # a layer of a nested model
            names = h5_names_of(names, inner.rpartition("/")[2])
        missing = [n for n in names if n not in g]
        if missing:
            raise KerasImportError(f"expected datasets {missing} for layer {where}, got none")
        _assign(layer, [np.asarray(g[n]) for n in names], where)


# -- files ---------------------------------------------------------------------------------------
def _read_keras_zip(path: Path) -> tuple[Entry, bytes]:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise KerasImportError(
                    f"expected config.json in {str(path)!r}, got {sorted(names)}"
                )
            if "model.weights.h5" not in names:
                raise KerasImportError(
                    f"expected model.weights.h5 in {str(path)!r} (sharded or npz weights are not "
                    f"supported), got {sorted(names)}"
                )
            config = json.loads(z.read("config.json").decode("utf-8"))
            data = z.read("model.weights.h5")
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KerasImportError(f"{str(path)!r} is not a readable .keras file: {e}") from e
    return config, data


def load_keras(path: str | os.PathLike[str]) -> Sequential | Model:
    """Load a Keras model file as an rnnkit model with the same weights and predictions.

    Reads Keras 3 ``.keras`` files and Keras 2 (or Keras 3 legacy) ``.h5`` files with ``json``
    and ``h5py`` only: neither Keras nor TensorFlow is needed, nothing is unpickled.
    Sequential and functional models are supported with the layers rnnkit has: SimpleRNN, LSTM,
    GRU (both ``reset_after`` forms), Bidirectional, TimeDistributed, Dense, Embedding, Conv1D,
    MaxPooling1D, GlobalAverage/MaxPooling1D, Flatten, Masking, Dropout, Activation,
    Concatenate and Add. Any other layer is a :class:`KerasImportError` naming it.

    Weights keep Keras's layout (e.g. LSTM kernel (features, 4 * units), gates i, f, c, o), so
    ``model.predict(x)`` equals Keras's ``predict(x)`` (float32: to ~1e-6). The model is
    returned in the default (training) mode of a new rnnkit model; ``predict`` runs it in
    inference mode. Training-only settings rnnkit lacks (regularizers, constraints) are not
    carried over; initializers are mapped by name where rnnkit has them.

    Raises:
        ImportError: h5py is not installed (``pip install 'rnnkit[keras]'``).
        KerasImportError: the file is not a full Keras model or uses unsupported features.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"expected a Keras model file at {str(p)!r}, got no such file")
    h5py = _h5py()
    if zipfile.is_zipfile(p):
        config, data = _read_keras_zip(p)
        model, layers = build_model(config, keras2=False)
        with h5py.File(io.BytesIO(data), "r") as weights:
            _load_keras3_weights(weights, config, layers)
        return model
    if not h5py.is_hdf5(p):
        raise KerasImportError(
            f"expected a Keras .keras (zip) or .h5 (HDF5) file at {str(p)!r}, got neither"
        )
    with h5py.File(p, "r") as f:
        if "model_config" not in f.attrs:
            raise KerasImportError(
                f"expected a full Keras model (a 'model_config' attribute) in {str(p)!r}, got a "
                "weights-only file: rebuild the model in rnnkit and use model.set_weights"
            )
        config = json.loads(_text(f.attrs["model_config"]))
        version = _text(f.attrs.get("keras_version", ""))
        keras2 = not version.startswith("3.")
        model, layers = build_model(config, keras2=keras2)
        weights = f["model_weights"] if "model_weights" in f else f
        _load_h5_weights(weights, layers)
    return model
