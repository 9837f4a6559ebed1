"""Interop: Keras model import, PyTorch RNN conversion and ONNX export.

* :func:`load_keras` reads Keras 3 ``.keras`` and Keras 2 ``.h5`` model files (json + h5py).
* :func:`from_torch` / :func:`to_torch` convert ``torch.nn.RNN/LSTM/GRU`` to rnnkit layers and
  back, weights included.
* :func:`export_onnx` writes an ONNX file (dynamic batch and time, masks, optional state I/O)
  after checking it against rnnkit in onnxruntime.
"""

from ..model import register_exporter
from . import _keras_layers  # noqa: F401  (registers the loader's builders of more layers)
from ._keras import load_keras
from ._keras_config import KerasImportError
from ._keras_out import save_keras
from ._keras_out_layers import KerasExportError
from ._keras_weights import load_keras_weights, save_keras_weights
from ._onnx import OnnxExport, export_onnx
from ._onnx_builder import OnnxExportError
from ._torch import from_torch, to_torch

register_exporter("onnx", export_onnx)  # model.export_onnx(path, ...) without model importing io
register_exporter("keras", save_keras)  # model.save("m.keras")
register_exporter("keras_weights", save_keras_weights)  # model.save_weights("w.weights.h5")
register_exporter("keras_weights_reader", load_keras_weights)  # model.load_weights(...)

__all__ = [
    "KerasExportError",
    "KerasImportError",
    "OnnxExport",
    "OnnxExportError",
    "export_onnx",
    "from_torch",
    "load_keras",
    "load_keras_weights",
    "save_keras",
    "save_keras_weights",
    "to_torch",
]
