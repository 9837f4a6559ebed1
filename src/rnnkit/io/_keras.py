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
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _bounded
from ..layers import Layer
from ..model import MAX_LAYERS, Model, Sequential, count_layer_entries
from ._h5 import HDF5_MAGIC, H5Reader, h5py_module, text
from ._keras_config import MODELS, Entry, KerasImportError, is_op, layer_entries
from ._keras_graph import build_model
from ._keras_paths import class_paths, h5_names_of, weight_paths

MAX_CONFIG_BYTES = 4 << 20
MAX_VARS = 64  # variables of one layer's group
# Errors of h5py, numpy and the layer constructors on a damaged or hostile file.
_FOREIGN = (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError,
            OverflowError, RecursionError, NotImplementedError, UnicodeError, ZeroDivisionError)
Plan = dict[str, list[Any]]  # layer name -> its datasets in Keras's weight order (unread)


# -- weights: which datasets belong to which layer (nothing is read here) -------------------------
def _vars(r: H5Reader, group: Any, where: str) -> list[Any]:
    v = r.group(group, "vars")
    if v is None:
        return []
    n = len(v)
    if n > MAX_VARS:
        raise KerasImportError(f"expected at most {MAX_VARS} variables for {where}, got {n}")
    found = [r.child(v, str(i)) for i in range(n)]
    if any(ds is None for ds in found):
        raise KerasImportError(f"expected variables 0..{n - 1} for {where}, got {sorted(v)[:20]}")
    return found


def _keras3_datasets(r: H5Reader, group: Any, entry: Entry, where: str) -> list[Any]:
    """A layer's variables in Keras's weight order from a ``.keras`` weights group."""
    found: list[Any] = []
    for path in weight_paths(entry):
        g = group
        for part in path:
            g = r.group(g, part)
            if g is None:
                raise KerasImportError(
                    f"expected a {'/'.join(path)!r} weight group for layer {where}, got none"
                )
        found += _vars(r, g, where)
    return found


def _meta_name(r: H5Reader, g: Any) -> str | None:
    v = r.group(g, "vars") if g is not None else None
    value = r.attr(v, "name") if v is not None else None
    return None if value is None else text(value)


def _keras3_groups(r: H5Reader, weights: Any, entries: list[Entry]) -> dict[str, Any]:
    """{layer name: its weight group} following Keras's class-name paths, checked by name."""
    root = r.group(weights, "layers")
    if root is None:
        return {}
    by_meta: dict[str, Any] = {}
    for key in root:
        g = r.child(root, key)
        meta = _meta_name(r, g) if isinstance(g, r.h5py.Group) else None
        if meta is not None:
            by_meta.setdefault(meta, g)
    layer_entries_ = [e for e in entries if not is_op(e)]
    out: dict[str, Any] = {}
    for e, path in zip(layer_entries_, class_paths(layer_entries_)):
        name = e.get("name") or (e.get("config") or {}).get("name")
        g = r.group(root, path)
        meta = _meta_name(r, g)
        if g is None or (meta is not None and meta != name):
            g = by_meta.get(str(name), g)
        if g is not None:
            out[str(name)] = g
    return out


def _keras3_layer_groups(
    r: H5Reader, weights: Any, config: Entry, prefix: str = ""
) -> dict[str, tuple[Any, Entry]]:
    """{layer key: (weight group, entry)}, nested models' layers as ``"model/layer"``."""
    entries = (
        [e for e in layer_entries(config) if e.get("class_name") != "InputLayer"]
        if config.get("class_name") == "Sequential"
        else layer_entries(config)
    )
    groups = _keras3_groups(r, weights, entries)
    out: dict[str, tuple[Any, Entry]] = {}
    for e in entries:
        name = str(e.get("name") or (e.get("config") or {}).get("name"))
        if name not in groups:
            continue
        if e.get("class_name") in MODELS:
            out.update(_keras3_layer_groups(r, groups[name], e, f"{prefix}{name}/"))
        else:
            out[prefix + name] = (groups[name], e)
    return out


def _keras3_plan(r: H5Reader, weights: Any, config: Entry, layers: dict[str, Layer]) -> Plan:
    found = _keras3_layer_groups(r, weights, config)
    return {name: _keras3_datasets(r, *found[name], repr(name)) for name in layers
            if name in found}


def _h5_plan(r: H5Reader, weights: Any, layers: dict[str, Layer]) -> Plan:
    plan: Plan = {}
    for key in layers:
        name, _, inner = key.partition("/")
        g = r.group(weights, name)
        if g is None:
            continue
        names = r.attr_list(g, "weight_names")
        if inner:  # a layer of a nested model
            names = h5_names_of(names, inner.rpartition("/")[2])
        found = [r.child(g, n) for n in names]
        missing = [n for n, ds in zip(names, found) if ds is None]
        if missing:
            raise KerasImportError(f"expected datasets {missing[:10]} for layer {key!r}, got none")
        plan[key] = found
    return plan


def _check_plan(r: H5Reader, plan: Plan, layers: dict[str, Layer]) -> None:
    """Every layer's datasets against its weights (count, shape, float dtype): before reading."""
    for name, layer in layers.items():
        params, where = layer.keras_weights(), repr(name)
        found = plan.get(name, [])
        if len(found) != len(params):
            raise KerasImportError(
                f"expected {len(params)} weight arrays for layer {where}, got {len(found)} in "
                "the file"
            )
        for i, (p, ds) in enumerate(zip(params, found)):
            shape = r.dataset_shape(ds, f"weight {i} of layer {where}")
            if shape != tuple(p.shape):
                raise KerasImportError(
                    f"expected weight {i} of layer {where} to have shape {tuple(p.shape)}, "
                    f"got {shape}"
                )


def _assign(r: H5Reader, plan: Plan, layers: dict[str, Layer], allow_nonfinite: bool) -> None:
    with torch.no_grad():
        for name, layer in layers.items():
            for i, (p, ds) in enumerate(zip(layer.keras_weights(), plan.get(name, []))):
                a = r.read(ds, f"weight {i} of layer {name!r}")
                if not allow_nonfinite and not np.isfinite(a).all():
                    raise KerasImportError(
                        f"expected finite weights, got NaN/Inf in weight {i} of layer {name!r} "
                        "(pass allow_nonfinite=True to load it anyway)"
                    )
                p.copy_(torch.from_numpy(np.array(a, dtype=np.float64)).to(p.dtype))


def load_keras3_into(r: H5Reader, weights: Any, config: Entry, layers: dict[str, Layer],
                     allow_nonfinite: bool = False) -> None:
    """Read a Keras 3 weights group (``model.weights.h5``, or a ``.weights.h5`` file) into
    ``layers`` built from ``config``: every dataset checked before any is read."""
    plan = _keras3_plan(r, weights, config, layers)
    _check_plan(r, plan, layers)
    _assign(r, plan, layers, allow_nonfinite)


# -- files ---------------------------------------------------------------------------------------
def _build(config: Any, keras2: bool) -> tuple[Sequential | Model, dict[str, Layer]]:
    n = count_layer_entries(config)
    if n > MAX_LAYERS:
        raise KerasImportError(f"expected at most {MAX_LAYERS} layers in the config, got {n}")
    return build_model(config, keras2=keras2)


def _load_weights(
    r: H5Reader, weights: Any, config: Entry, keras2: bool, keras3_layout: bool,
    allow_nonfinite: bool,
) -> Sequential | Model:
    """Check the file's datasets against a model built on the meta device (no memory), then
    build the real model and read the weights into it."""
    with torch.device("meta"):
        _, skeleton = _build(config, keras2)
    plan = (_keras3_plan(r, weights, config, skeleton) if keras3_layout
            else _h5_plan(r, weights, skeleton))
    _check_plan(r, plan, skeleton)
    model, layers = _build(config, keras2)
    _assign(r, plan, layers, allow_nonfinite)
    return model


def _load_keras_zip(f: Any, fail: _bounded.Fail, allow_nonfinite: bool) -> Sequential | Model:
    with _bounded.open_zip(f, fail, max_members=64) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise KerasImportError(f"expected config.json in the .keras zip, got {sorted(names)}")
        if "model.weights.h5" not in names:
            raise KerasImportError(
                "expected model.weights.h5 in the .keras zip (sharded or npz weights are not "
                f"supported), got {sorted(names)[:20]}"
            )
        raw = _bounded.read_member(z, "config.json", MAX_CONFIG_BYTES, fail)
        config = _bounded.parse_json(raw, fail, "config.json")
        with torch.device("meta"):
            _, skeleton = _build(config, keras2=False)
        n_params = sum(p.numel() for layer in skeleton.values() for p in layer.keras_weights())
        # float64 weights and two optimizer slots each, plus HDF5's own metadata
        limit = 32 * n_params + (1 << 20) + (64 << 10) * len(skeleton)
        data = _bounded.read_member(z, "model.weights.h5", limit, fail)
    r = H5Reader(fail, len(data))
    with r.h5py.File(io.BytesIO(data), "r") as weights:
        return _load_weights(r, weights, config, False, True, allow_nonfinite)


def _load_h5(f: Any, fail: _bounded.Fail, allow_nonfinite: bool) -> Sequential | Model:
    r = H5Reader(fail, _bounded.file_size(f))
    with r.h5py.File(f, "r") as h5:
        raw = r.attr(h5, "model_config")
        if raw is None:
            raise KerasImportError(
                "expected a full Keras model (a 'model_config' attribute), got a weights-only "
                "file: rebuild the model in rnnkit and use model.set_weights"
            )
        config = _bounded.parse_json(text(raw), fail, "the model_config attribute")
        version = text(r.attr(h5, "keras_version") or "")
        weights = r.group(h5, "model_weights") or h5
        return _load_weights(r, weights, config, not version.startswith("3."), False,
                             allow_nonfinite)


def load_keras(
    path: str | os.PathLike[str], *, sha256: str | None = None, allow_nonfinite: bool = False
) -> Sequential | Model:
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

    The file is checked before weights are allocated: the architecture is built on PyTorch's
    ``meta`` device and every dataset's shape and dtype compared with it; only hard links,
    float datasets stored in the file, and bounded zip members are read. HDF5 has no checksum
    over the weights: pass ``sha256`` (the file's SHA-256, hex) to detect any change to the
    file. ``allow_nonfinite=True`` loads weights holding NaN/Inf (refused by default).

    Raises:
        ImportError: h5py is not installed (``pip install 'rnnkit[keras]'``).
        FileNotFoundError: no file at ``path``.
        KerasImportError: (a :class:`rnnkit.errors.ModelFileError`) the file is damaged,
            hostile, not a full Keras model or uses unsupported features.
    """
    p = Path(path)

    def fail(reason: str) -> KerasImportError:
        return KerasImportError(reason, path=p)

    h5py_module()
    if sha256 is not None:
        sha256 = _bounded.sha256_argument(sha256)
    try:
        if sha256 is not None:
            _bounded.check_sha256(p, sha256, fail)
        with _bounded.open_regular(p, fail) as f:
            magic = f.read(len(HDF5_MAGIC))
            f.seek(0)
            if magic == HDF5_MAGIC:
                return _load_h5(f, fail, allow_nonfinite)
            if not magic.startswith(b"PK"):
                raise fail("expected a Keras .keras (zip) or .h5 (HDF5) file, got neither")
            return _load_keras_zip(f, fail, allow_nonfinite)
    except KerasImportError as e:
        if e.path is None:
            raise fail(e.reason) from e
        raise
    except FileNotFoundError:
        raise FileNotFoundError(
            f"expected a Keras model file at {str(p)!r}, got no such file"
        ) from None
    except _FOREIGN as e:  # h5py and numpy on damaged structures, bad layer arguments
        raise fail(f"expected a readable Keras model, got {type(e).__name__}: {e}") from e
