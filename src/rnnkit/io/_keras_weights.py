"""``model.save_weights("w.weights.h5")`` / ``model.load_weights(...)``: Keras 3's weights-only
file, the ``model.weights.h5`` of a ``.keras`` archive on its own (each layer's variables under
Keras's attribute paths), so that ``keras_model.load_weights`` reads what rnnkit writes and the
other way round. The paths come from the model's Keras config (:mod:`._keras_out`); reading
builds a twin of the model from that config, loads the file into it with the ``.keras`` reader
and copies the weights over (nothing changes on an error).
"""

from __future__ import annotations

import io
import os
from typing import Any

from .. import _bounded
from .._archive import atomic_write_bytes
from ..model import Model, Sequential
from ._h5 import HDF5_MAGIC, H5Reader, h5py_module
from ._keras import load_keras3_into
from ._keras_config import KerasImportError
from ._keras_graph import build_model
from ._keras_out import _write_weights, functional_config, sequential_config
from ._keras_out_layers import Entry, KerasExportError

__all__ = ["load_keras_weights", "save_keras_weights"]


def _config(model: Any) -> Entry:
    if isinstance(model, Sequential):
        return sequential_config(model)
    if isinstance(model, Model):
        return functional_config(model)
    raise KerasExportError(f"expected an rnnkit Sequential or Model, got {type(model).__name__}")


def save_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s weights as Keras 3's ``.weights.h5`` (atomically)."""
    config = _config(model)
    buf = io.BytesIO()
    with h5py_module().File(buf, "w") as h5:
        _write_weights(h5, model, config)
    atomic_write_bytes(path, buf.getvalue())


def load_keras_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Read Keras 3's ``.weights.h5`` (written by Keras or by :func:`save_keras_weights`) into
    ``model``; a missing or mis-shaped weight is a :class:`KerasImportError` naming the layer."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"expected a weights file at {os.fspath(path)!r}, got none")
    config = _config(model)
    twin, layers = build_model(config, keras2=False)

    def fail(reason: str) -> KerasImportError:
        return KerasImportError(reason, path=path)

    with _bounded.open_regular(path, fail) as f:
        if f.read(len(HDF5_MAGIC)) != HDF5_MAGIC:
            raise fail("expected an HDF5 .weights.h5 file, got other bytes")
        f.seek(0)
        r = H5Reader(fail, _bounded.file_size(f))
        try:
            with r.h5py.File(f, "r") as h5:
                load_keras3_into(r, h5, config, layers)
        except KerasImportError:
            raise
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as e:
            raise fail(f"expected a readable Keras weights file, got {type(e).__name__}: {e}"
                       ) from None
    model.set_weights(twin.get_weights())
