"""The W1 LSTM model one step at a time, batch 1, state carried (for ``bench/load.py``):
rnnkit's ``Streamer``, onnxruntime on the model exported with its states as inputs and outputs,
PyTorch eager ``nn.LSTM`` (two layers) and ``nn.Linear``. Each ``build`` returns ``step(x)``
for x (1, 3) float32."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

FEATURES, UNITS, OUTPUTS = 3, (32, 32), 12


def _rnnkit_model() -> Any:
    import torch

    import rnnkit as rk
    from rnnkit import layers

    torch.manual_seed(0)
    model = rk.Sequential([rk.Input((None, FEATURES)), layers.LSTM(UNITS[0], return_sequences=True),
                           layers.LSTM(UNITS[1]), layers.Dense(OUTPUTS)])  # fmt: skip
    model.eval()
    return model


def build(framework: str) -> Callable[[np.ndarray], Any]:
    if framework == "rnnkit":
        import rnnkit as rk

        return rk.Streamer(_rnnkit_model()).step
    if framework == "onnxruntime":
        return _onnx()
    if framework == "torch":
        return _torch()
    raise ValueError(f"expected rnnkit, onnxruntime or torch, got {framework!r}")


def _onnx() -> Callable[[np.ndarray], Any]:
    import onnxruntime as ort

    import rnnkit as rk

    model = _rnnkit_model()
    path = os.path.join(tempfile.mkdtemp(), "w1.onnx")
    rk.export_onnx(model, path, with_states=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    first, *states = sess.get_inputs()  # input, then <layer>.h_in / .c_in (1, units)
    feeds = {i.name: np.zeros((1, int(i.shape[-1])), np.float32) for i in states}
    outs = [o.name for o in sess.get_outputs()]
    state_out = {o: o.replace("_out", "_in") for o in outs if o.endswith("_out")}
    first = first.name

    def step(x: np.ndarray) -> Any:
        feeds[first] = x.reshape(1, 1, FEATURES)
        res = sess.run(None, feeds)
        for name, value in zip(outs, res):
            if name in state_out:
                feeds[state_out[name]] = value
        return res[0]

    return step


def _torch() -> Callable[[np.ndarray], Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(1)
    l1, l2 = nn.LSTM(FEATURES, UNITS[0]), nn.LSTM(UNITS[0], UNITS[1])
    head = nn.Linear(UNITS[1], OUTPUTS)
    state: list[Any] = [None, None]

    def step(x: np.ndarray) -> Any:
        with torch.inference_mode():
            h, state[0] = l1(torch.from_numpy(x).view(1, 1, FEATURES), state[0])
            h, state[1] = l2(h, state[1])
            return head(h[0])

    return step
