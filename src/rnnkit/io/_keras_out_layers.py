"""rnnkit layers -> Keras 3 layer entries (``{"module", "class_name", "config"}``) and the
groups of their weights in Keras's ``.keras`` layout (see :mod:`rnnkit.io._keras_paths`).

Every layer with a Keras counterpart is written; what Keras cannot represent (IndRNN, a
user-defined cell, a forced engine, an initializer Keras lacks) is a :class:`KerasExportError`
naming the layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from torch import Tensor

from ..layers import (
    GRU,
    LSTM,
    RNN,
    Activation,
    Add,
    AdditiveAttention,
    Attention,
    AveragePooling1D,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    GRUCell,
    Layer,
    LayerNormalization,
    LSTMCell,
    Masking,
    MaxPooling1D,
    MultiHeadAttention,
    Permute,
    RepeatVector,
    Reshape,
    SimpleRNN,
    SimpleRNNCell,
    SpatialDropout1D,
    StackedRNNCells,
    TimeDistributed,
)
from ..layers._cell_loop import cell_weights

Entry = dict[str, Any]
Config = dict[str, Any]

_KERAS_INITIALIZERS = {
    "glorot_uniform": "glorot_uniform",
    "glorot_normal": "glorot_normal",
    "he_uniform": "he_uniform",
    "orthogonal": "orthogonal",
    "zeros": "zeros",
    "ones": "ones",
    "uniform": "random_uniform",
    "random_uniform": "random_uniform",
    "normal": "random_normal",
    "random_normal": "random_normal",
}


class KerasExportError(ValueError):
    """A model with a layer or setting that a Keras 3 file cannot represent."""


def _init(layer: Layer, name: str) -> str:
    if name not in _KERAS_INITIALIZERS:
        raise KerasExportError(
            f"expected initializers Keras has for layer {layer.name!r}, got {name!r}"
        )
    return _KERAS_INITIALIZERS[name]


# Keras names the operations it records for masks (ops.concatenate in Concatenate's mask ...)
# automatically when it rebuilds a graph; a layer called the same would clash with them.
_OP_NAMES = re.compile(
    r"(concatenate|add|not_equal|equal|any|all|expand_dims|logical_and|logical_or|logical_not|"
    r"cast|broadcast_to|squeeze|where|multiply|reshape|transpose|stack|ones_like)(_\d+)?"
)


def keras_name(name: str) -> str:
    """The layer's name in the Keras file (``concatenate`` -> ``concatenate_layer``)."""
    return f"{name}_layer" if _OP_NAMES.fullmatch(name) else name


def _base(layer: Layer) -> Config:
    return {"name": keras_name(layer.name), "trainable": layer.trainable,
            "dtype": str(layer.dtype).removeprefix("torch.")}


def entry(class_name: str, config: Config) -> Entry:
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


# -- per layer -----------------------------------------------------------------------------------
def _dense(layer: Any) -> Config:
    return {**_base(layer), "units": layer.units, "activation": layer.activation,
            "use_bias": layer.use_bias,
            "kernel_initializer": _init(layer, layer.kernel_initializer),
            "bias_initializer": _init(layer, layer.bias_initializer)}


def _embedding(layer: Any) -> Config:
    return {**_base(layer), "input_dim": layer.input_dim, "output_dim": layer.output_dim,
            "embeddings_initializer": _init(layer, layer.embeddings_initializer),
            "mask_zero": layer.mask_zero}


def _conv1d(layer: Any) -> Config:
    return {**_base(layer), "filters": layer.filters, "kernel_size": [layer.kernel_size],
            "strides": [layer.strides], "padding": layer.padding,
            "dilation_rate": [layer.dilation_rate], "data_format": "channels_last",
            "activation": layer.activation, "use_bias": layer.use_bias,
            "kernel_initializer": _init(layer, layer.kernel_initializer),
            "bias_initializer": _init(layer, layer.bias_initializer)}


def _pool(layer: Any) -> Config:
    return {**_base(layer), "pool_size": [layer.pool_size], "strides": [layer.strides],
            "padding": layer.padding, "data_format": "channels_last"}


def _cell(cell: Any, rnn: RNN) -> Entry:
    cfg: Config = {**_base(cell), "units": cell.units, "activation": cell.activation,
                   "use_bias": cell.use_bias,
                   "kernel_initializer": _init(rnn, cell.kernel_initializer),
                   "recurrent_initializer": _init(rnn, cell.recurrent_initializer),
                   "bias_initializer": _init(rnn, cell.bias_initializer),
                   "dropout": rnn.dropout, "recurrent_dropout": rnn.recurrent_dropout}
    if not isinstance(cell, SimpleRNNCell):
        cfg["recurrent_activation"] = cell.recurrent_activation
    if isinstance(cell, LSTMCell):
        cfg["unit_forget_bias"] = cell.unit_forget_bias
    if isinstance(cell, GRUCell):
        cfg["reset_after"] = cell.reset_after
    return entry(type(cell).__name__, cfg)


def _rnn_args(layer: Any) -> Config:
    if layer.engine is not None:
        raise KerasExportError(
            f"expected no forced engine for layer {layer.name!r} (Keras has no engine "
            f"setting), got engine={layer.engine!r}: set layer.engine = None to export"
        )
    return {**_base(layer), "return_sequences": layer.return_sequences,
            "return_state": layer.return_state, "go_backwards": layer.go_backwards,
            "stateful": layer.stateful, "zero_output_for_mask": layer.zero_output_for_mask}


def _recurrent(layer: Any) -> Config:
    cell = _cell(layer.cell, layer)["config"]
    cell.pop("name")
    return {**cell, **_rnn_args(layer)}


def _generic_rnn(layer: Any) -> Config:
    cell = layer.cell
    if isinstance(cell, StackedRNNCells):
        if layer.dropout or layer.recurrent_dropout:
            raise KerasExportError(f"expected no dropout on StackedRNNCells in {layer.name!r}")
        cfg = {**_base(cell), "cells": [_cell_entry(c, layer) for c in cell.cells]}
        return {**_rnn_args(layer), "cell": entry("StackedRNNCells", cfg)}
    return {**_rnn_args(layer), "cell": _cell_entry(cell, layer)}


def _cell_entry(cell: Any, rnn: RNN) -> Entry:
    if not isinstance(cell, (LSTMCell, GRUCell, SimpleRNNCell)):
        raise KerasExportError(
            f"expected Keras cells (LSTMCell, GRUCell, SimpleRNNCell) in layer {rnn.name!r}, "
            f"got {type(cell).__name__}, which Keras cannot represent"
        )
    return _cell(cell, rnn)


def _bidirectional(layer: Any) -> Config:
    fw = layer_entry(layer.forward_layer)
    fw["config"]["name"] = fw["config"]["name"].removeprefix("forward_")
    return {**_base(layer), "layer": fw, "merge_mode": layer.merge_mode,
            "backward_layer": layer_entry(layer.backward_layer)}


def _layer_norm(layer: Any) -> Config:
    return {**_base(layer), "axis": layer.axis, "epsilon": layer.epsilon,
            "center": layer.center, "scale": layer.scale,
            "beta_initializer": _init(layer, layer.beta_initializer),
            "gamma_initializer": _init(layer, layer.gamma_initializer)}


def _batch_norm(layer: Any) -> Config:
    return {**_layer_norm(layer), "momentum": layer.momentum,
            "moving_mean_initializer": _init(layer, layer.moving_mean_initializer),
            "moving_variance_initializer": _init(layer, layer.moving_variance_initializer)}


def _mha(layer: Any) -> Config:
    return {**_base(layer), "num_heads": layer.num_heads, "key_dim": layer.key_dim,
            "value_dim": layer.value_dim, "dropout": layer.dropout, "use_bias": layer.use_bias,
            "output_shape": layer.output_shape, "attention_axes": layer.attention_axes,
            "kernel_initializer": _init(layer, layer.kernel_initializer),
            "bias_initializer": _init(layer, layer.bias_initializer)}


_WRITERS: dict[type, tuple[str, Callable[[Any], Config]]] = {
    Dense: ("Dense", _dense),
    Activation: ("Activation", lambda l: {**_base(l), "activation": l.activation}),
    Dropout: ("Dropout", lambda l: {**_base(l), "rate": l.rate}),
    SpatialDropout1D: ("SpatialDropout1D",  # Keras's takes no `trainable`
                       lambda l: {"name": l.name, "dtype": _base(l)["dtype"], "rate": l.rate}),
    Flatten: ("Flatten", lambda l: {**_base(l), "data_format": "channels_last"}),
    Embedding: ("Embedding", _embedding),
    Masking: ("Masking", lambda l: {**_base(l), "mask_value": l.mask_value}),
    Conv1D: ("Conv1D", _conv1d),
    MaxPooling1D: ("MaxPooling1D", _pool),
    AveragePooling1D: ("AveragePooling1D", _pool),
    GlobalAveragePooling1D: ("GlobalAveragePooling1D",
                             lambda l: {**_base(l), "data_format": "channels_last"}),
    GlobalMaxPooling1D: ("GlobalMaxPooling1D",
                         lambda l: {**_base(l), "data_format": "channels_last"}),
    Concatenate: ("Concatenate", lambda l: {**_base(l), "axis": l.axis}),
    Add: ("Add", _base),
    SimpleRNN: ("SimpleRNN", _recurrent),
    LSTM: ("LSTM", _recurrent),
    GRU: ("GRU", _recurrent),
    RNN: ("RNN", _generic_rnn),
    Bidirectional: ("Bidirectional", _bidirectional),
    TimeDistributed: ("TimeDistributed",
                      lambda l: {**_base(l), "layer": layer_entry(l.layer)}),
    LayerNormalization: ("LayerNormalization", _layer_norm),
    BatchNormalization: ("BatchNormalization", _batch_norm),
    Reshape: ("Reshape", lambda l: {**_base(l), "target_shape": list(l.target_shape)}),
    Permute: ("Permute", lambda l: {**_base(l), "dims": list(l.dims)}),
    RepeatVector: ("RepeatVector", lambda l: {**_base(l), "n": l.n}),
    Attention: ("Attention", lambda l: {**_base(l), "use_scale": l.use_scale,
                                        "score_mode": l.score_mode, "dropout": l.dropout}),
    AdditiveAttention: ("AdditiveAttention", lambda l: {**_base(l), "use_scale": l.use_scale,
                                                        "dropout": l.dropout}),
    MultiHeadAttention: ("MultiHeadAttention", _mha),
}


def layer_entry(layer: Any) -> Entry:
    """The Keras 3 entry of one rnnkit layer (a clear error for one Keras cannot represent)."""
    writer = _WRITERS.get(type(layer))
    if writer is None:
        raise KerasExportError(
            f"expected layers with a Keras counterpart to write a .keras file, got layer "
            f"{getattr(layer, 'name', '?')!r} ({type(layer).__name__}), which Keras has not: "
            "save it as .rnnkit instead"
        )
    class_name, config = writer
    return entry(class_name, config(layer))


def weight_groups(layer: Any) -> list[list[Tensor]]:
    """A layer's weights split as :func:`rnnkit.io._keras_paths.weight_paths` splits the
    groups of its Keras entry."""
    if isinstance(layer, Bidirectional):
        return weight_groups(layer.forward_layer) + weight_groups(layer.backward_layer)
    if isinstance(layer, TimeDistributed):
        return weight_groups(layer.layer)
    if isinstance(layer, RNN) and isinstance(layer.cell, StackedRNNCells):
        return [cell_weights(c) for c in layer.cell.cells]
    if isinstance(layer, MultiHeadAttention):
        parts = ("query", "key", "value", "output")
        return [[w for w in (getattr(layer, f"{p}_kernel"), getattr(layer, f"{p}_bias"))
                 if w is not None] for p in parts]
    return [list(layer.keras_weights())]
