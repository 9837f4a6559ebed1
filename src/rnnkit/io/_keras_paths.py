"""Where a Keras 3 ``.keras`` weights file keeps each layer's variables, and where a legacy
``.h5`` file keeps a nested model's.

In ``model.weights.h5`` a layer's variables sit in ``vars`` groups under its attribute path,
named after classes, not layer names: ``layers/lstm/cell/vars`` (a recurrent layer),
``layers/bidirectional/forward_layer/cell/vars``, ``layers/time_distributed/layer/vars``,
``layers/rnn/cell/cells/lstm_cell/vars`` (StackedRNNCells), ``layers/multi_head_attention/
query_dense/vars`` (and key_dense, value_dense, output_dense), and a nested model's layers under
``layers/sequential/layers/dense/vars``. A second layer of a class gets ``_1``, ``_2`` ...
"""

from __future__ import annotations

import re
from typing import Any

Entry = dict[str, Any]
RECURRENT = ("SimpleRNN", "LSTM", "GRU")
_MHA_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")


def snake(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (how ``.keras`` files name a layer's weight group)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def class_paths(entries: list[Entry]) -> list[str]:
    """Keras's path names of a list of trackables: the class in snake case, then ``_1`` ..."""
    used: dict[str, int] = {}
    out = []
    for e in entries:
        base = snake(str(e.get("class_name")))
        used[base] = used.get(base, -1) + 1
        out.append(base if used[base] == 0 else f"{base}_{used[base]}")
    return out


def weight_paths(entry: Entry) -> list[tuple[str, ...]]:
    """The groups (relative to the layer's own) whose ``vars`` hold the layer's weights, in
    Keras's weight order."""
    cls, cfg = entry.get("class_name"), entry.get("config") or {}
    if cls in RECURRENT:
        return [("cell",)]
    if cls == "RNN":
        cell = cfg.get("cell") or {}
        if cell.get("class_name") == "StackedRNNCells":
            cells = (cell.get("config") or {}).get("cells") or []
            return [("cell", "cells", p) for p in class_paths(cells)]
        return [("cell",)]
    if cls == "MultiHeadAttention":
        return [(p,) for p in _MHA_PARTS]
    if cls == "Bidirectional":
        fw = cfg.get("layer") or {}
        bw = cfg.get("backward_layer") or fw
        return [("forward_layer", *p) for p in weight_paths(fw)] + [
            ("backward_layer", *p) for p in weight_paths(bw)
        ]
    if cls == "TimeDistributed":
        return [("layer", *p) for p in weight_paths(cfg.get("layer") or {})]
    return [()]


def h5_names_of(names: list[str], inner: str) -> list[str]:
    """The weight names of a nested model's layer ``inner`` in a legacy ``.h5`` group: those with
    ``inner`` as a path component (``inner_seq/dense/kernel``, Keras 2's ``dense/kernel:0``)."""
    return [n for n in names if inner in n.split("/")[:-1]]
