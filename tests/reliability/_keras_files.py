"""Keras model files written with h5py (no Keras needed): a Keras 2 ``.h5`` and a Keras 3
``.keras`` of ``LSTM(4) -> Dense(1)`` on inputs ``(None, 5, 2)``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

LSTM_CFG = {"name": "lstm", "units": 4, "activation": "tanh", "recurrent_activation": "sigmoid",
            "use_bias": True, "return_sequences": False, "dtype": "float32",
            "batch_input_shape": [None, 5, 2]}
DENSE_CFG = {"name": "dense", "units": 1, "activation": "linear", "use_bias": True,
             "dtype": "float32"}
Arrays = dict[str, list[tuple[str, np.ndarray]]]


def h5_config(units: int = 4) -> dict[str, Any]:
    lstm = {**LSTM_CFG, "units": units}
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "LSTM", "config": lstm}, {"class_name": "Dense", "config": DENSE_CFG}]}}


def h5_weights(units: int = 4) -> Arrays:
    rng = np.random.default_rng(0)
    return {
        "lstm": [(f"lstm/lstm_cell/{n}:0", rng.normal(size=s).astype(np.float32))
                 for n, s in (("kernel", (2, 4 * units)), ("recurrent_kernel", (units, 4 * units)),
                              ("bias", (4 * units,)))],
        "dense": [("dense/kernel:0", rng.normal(size=(units, 1)).astype(np.float32)),
                  ("dense/bias:0", np.zeros(1, np.float32))],
    }


def write_h5(path: Path, config: Any = None, arrays: Arrays | None = None) -> h5py.File:
    """A Keras 2 full-model .h5 file; returned open (mode r+) for further damage."""
    f = h5py.File(path, "w")
    f.attrs["keras_version"] = "2.15.0"
    f.attrs["model_config"] = json.dumps(h5_config() if config is None else config)
    g = f.create_group("model_weights")
    for layer, items in (h5_weights() if arrays is None else arrays).items():
        lg = g.create_group(layer)
        lg.attrs["weight_names"] = [n.encode() for n, _ in items]
        for n, a in items:
            lg.create_dataset(n, data=a)
    return f


def keras3_config() -> dict[str, Any]:
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 5, 2],
                                                      "dtype": "float32", "name": "in"}},
              {"class_name": "LSTM", "config": {k: v for k, v in LSTM_CFG.items()
                                                if k != "batch_input_shape"}},
              {"class_name": "Dense", "config": DENSE_CFG}]
    return {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}


def keras3_weights() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for group, items in (("layers/lstm/cell/vars", h5_weights()["lstm"]),
                             ("layers/dense/vars", h5_weights()["dense"])):
            g = f.create_group(group)
            for i, (_, a) in enumerate(items):
                g.create_dataset(str(i), data=a)
    return buf.getvalue()


def keras_zip(path: Path, weights_member: bytes | None = None, config: Any = None) -> None:
    """A Keras 3 ``.keras`` zip (config.json + model.weights.h5)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(keras3_config() if config is None else config))
        z.writestr("model.weights.h5",
                   keras3_weights() if weights_member is None else weights_member)
