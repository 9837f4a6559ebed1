"""Keras layer configs -> rnnkit layers, for the layers beyond the core set of
:mod:`rnnkit.io._keras_config`: normalisation, shape, pooling, attention and ``RNN(cell)``.

Each builder takes a Keras layer config (either dialect) and returns an unbuilt rnnkit layer;
:func:`register_builders` adds them to the loader's table when :mod:`rnnkit.io` is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..layers import (
    RNN,
    AdditiveAttention,
    Attention,
    AveragePooling1D,
    BatchNormalization,
    GRUCell,
    Layer,
    LayerNormalization,
    LSTMCell,
    MultiHeadAttention,
    Permute,
    RepeatVector,
    Reshape,
    SimpleRNNCell,
    SpatialDropout1D,
    StackedRNNCells,
)
from ._keras_config import (
    KerasImportError,
    _activation,
    _common,
    _initializer,
    _int1,
    _require,
    _where,
    register_builders,
)

Config = dict[str, Any]


def _axis(value: Any, where: str) -> int | list[int]:
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return int(value[0])
        return [int(a) for a in value]
    if not isinstance(value, int) or isinstance(value, bool):
        raise KerasImportError(f"expected an int axis for layer {where}, got {value!r}")
    return value


def _layer_norm(cfg: Config, keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "rms_scaling", (False,), w)
    return LayerNormalization(
        axis=_axis(cfg.get("axis", -1), w),
        epsilon=float(cfg.get("epsilon", 1e-3)),
        center=bool(cfg.get("center", True)),
        scale=bool(cfg.get("scale", True)),
        beta_initializer=_initializer(cfg.get("beta_initializer"), "zeros"),
        gamma_initializer=_initializer(cfg.get("gamma_initializer"), "ones"),
        **_common(cfg),
    )


def _batch_norm(cfg: Config, keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "renorm", (False,), w)
    _require(cfg, "virtual_batch_size", (None,), w)
    _require(cfg, "adjustment", (None,), w)
    axis = _axis(cfg.get("axis", -1), w)
    if isinstance(axis, list):
        raise KerasImportError(f"expected one axis for BatchNormalization {w}, got {axis}")
    return BatchNormalization(
        axis=axis,
        momentum=float(cfg.get("momentum", 0.99)),
        epsilon=float(cfg.get("epsilon", 1e-3)),
        center=bool(cfg.get("center", True)),
        scale=bool(cfg.get("scale", True)),
        beta_initializer=_initializer(cfg.get("beta_initializer"), "zeros"),
        gamma_initializer=_initializer(cfg.get("gamma_initializer"), "ones"),
        moving_mean_initializer=_initializer(cfg.get("moving_mean_initializer"), "zeros"),
        moving_variance_initializer=_initializer(cfg.get("moving_variance_initializer"), "ones"),
        **_common(cfg),
    )


def _reshape(cfg: Config, keras2: bool) -> Layer:
    return Reshape(tuple(cfg["target_shape"]), **_common(cfg))


def _permute(cfg: Config, keras2: bool) -> Layer:
    return Permute(tuple(cfg["dims"]), **_common(cfg))


def _repeat_vector(cfg: Config, keras2: bool) -> Layer:
    return RepeatVector(int(cfg["n"]), **_common(cfg))


def _avg_pool(cfg: Config, keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "data_format", ("channels_last", None), w)
    strides = cfg.get("strides")
    return AveragePooling1D(
        _int1(cfg.get("pool_size", 2), "pool_size", w),
        strides=None if strides is None else _int1(strides, "strides", w),
        padding=str(cfg.get("padding", "valid")).lower(),
        **_common(cfg),
    )


def _spatial_dropout(cfg: Config, keras2: bool) -> Layer:
    return SpatialDropout1D(float(cfg.get("rate", 0.0)), **_common(cfg))


def _attention(cfg: Config, keras2: bool) -> Layer:
    _require(cfg, "causal", (False,), _where(cfg))  # Keras 2's constructor argument
    return Attention(
        use_scale=bool(cfg.get("use_scale", False)),
        score_mode=str(cfg.get("score_mode", "dot")),
        dropout=float(cfg.get("dropout", 0.0)),
        **_common(cfg),
    )


def _additive_attention(cfg: Config, keras2: bool) -> Layer:
    _require(cfg, "causal", (False,), _where(cfg))
    return AdditiveAttention(
        use_scale=bool(cfg.get("use_scale", True)),
        dropout=float(cfg.get("dropout", 0.0)),
        **_common(cfg),
    )


def _multi_head(cfg: Config, keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "use_gate", (False,), w)
    _require(cfg, "sliding_window", (None,), w)
    axes = cfg.get("attention_axes")
    return MultiHeadAttention(
        int(cfg["num_heads"]),
        int(cfg["key_dim"]),
        value_dim=cfg.get("value_dim"),
        dropout=float(cfg.get("dropout", 0.0)),
        use_bias=bool(cfg.get("use_bias", True)),
        output_shape=cfg.get("output_shape"),
        attention_axes=tuple(axes) if isinstance(axes, list) else axes,
        kernel_initializer=_initializer(cfg.get("kernel_initializer"), "glorot_uniform"),
        bias_initializer=_initializer(cfg.get("bias_initializer"), "zeros"),
        **_common(cfg),
    )


# -- RNN(cell) -----------------------------------------------------------------------------------
def _cell_kwargs(cfg: Config, keras2: bool) -> dict[str, Any]:
    w = _where(cfg)
    return {
        **_common(cfg),
        "activation": _activation(cfg.get("activation", "tanh"), w, keras2),
        "use_bias": bool(cfg.get("use_bias", True)),
        "kernel_initializer": _initializer(cfg.get("kernel_initializer"), "glorot_uniform"),
        "recurrent_initializer": _initializer(cfg.get("recurrent_initializer"), "orthogonal"),
        "bias_initializer": _initializer(cfg.get("bias_initializer"), "zeros"),
    }


def _gated(cfg: Config, keras2: bool) -> dict[str, Any]:
    ract = _activation(cfg.get("recurrent_activation", "sigmoid"), _where(cfg), keras2)
    return {**_cell_kwargs(cfg, keras2), "recurrent_activation": ract}


_CELLS: dict[str, Callable[[Config, bool], Layer]] = {
    "SimpleRNNCell": lambda c, k2: SimpleRNNCell(int(c["units"]), **_cell_kwargs(c, k2)),
    "LSTMCell": lambda c, k2: LSTMCell(
        int(c["units"]), unit_forget_bias=bool(c.get("unit_forget_bias", True)), **_gated(c, k2)
    ),
    "GRUCell": lambda c, k2: GRUCell(
        int(c["units"]), reset_after=bool(c.get("reset_after", not k2)), **_gated(c, k2)
    ),
}


def _dropouts(cfg: Config) -> tuple[float, float]:
    return float(cfg.get("dropout", 0.0)), float(cfg.get("recurrent_dropout", 0.0))


def cell_entries(entry: Any) -> list[Any]:
    """The cell entries of an RNN's ``cell`` (several for StackedRNNCells)."""
    if not isinstance(entry, dict):
        raise KerasImportError(f"expected a cell config in RNN, got {entry!r:.200}")
    if entry.get("class_name") == "StackedRNNCells":
        return list((entry.get("config") or {}).get("cells") or [])
    return [entry]


def _build_cell(entry: Any, keras2: bool, stacked: bool) -> Layer:
    cls, cfg = entry.get("class_name"), dict(entry.get("config") or {})
    if cls not in _CELLS:
        raise KerasImportError(
            f"expected a cell in {sorted(_CELLS)} or StackedRNNCells, got {cls!r} (rnnkit runs "
            "no code from a file, so user-defined Keras cells cannot be imported)"
        )
    if stacked and any(_dropouts(cfg)):
        raise KerasImportError(
            f"expected no dropout in the cells of StackedRNNCells {_where(cfg)}, got "
            f"{_dropouts(cfg)}"
        )
    return _CELLS[cls](cfg, keras2)


def _rnn(cfg: Config, keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "time_major", (False, None), w)
    cells = cell_entries(cfg.get("cell"))
    stacked = (cfg.get("cell") or {}).get("class_name") == "StackedRNNCells"
    built = [_build_cell(e, keras2, stacked) for e in cells]
    dropout, recurrent = (0.0, 0.0) if stacked else _dropouts(cells[0].get("config") or {})
    cell: Any = StackedRNNCells(built) if stacked else built[0]
    return RNN(
        cell,
        dropout=dropout,
        recurrent_dropout=recurrent,
        return_sequences=bool(cfg.get("return_sequences", False)),
        return_state=bool(cfg.get("return_state", False)),
        go_backwards=bool(cfg.get("go_backwards", False)),
        stateful=bool(cfg.get("stateful", False)),
        zero_output_for_mask=bool(cfg.get("zero_output_for_mask", False)),
        **_common(cfg),
    )


register_builders({
    "LayerNormalization": _layer_norm,
    "BatchNormalization": _batch_norm,
    "Reshape": _reshape,
    "Permute": _permute,
    "RepeatVector": _repeat_vector,
    "AveragePooling1D": _avg_pool,
    "AvgPool1D": _avg_pool,
    "SpatialDropout1D": _spatial_dropout,
    "Attention": _attention,
    "AdditiveAttention": _additive_attention,
    "MultiHeadAttention": _multi_head,
    "RNN": _rnn,
})
