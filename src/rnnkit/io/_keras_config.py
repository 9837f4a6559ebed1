"""Keras layer configs (JSON) -> rnnkit layers with fresh weights: the core builders, the
registry the other builders join, and the check that every layer is supported. Whole model
configs are wired into graphs by :mod:`._keras_graph`.

Both dialects are read: Keras 3 (``{"module", "class_name", "config", "registered_name"}``
entries, dtype policies as dicts, functional ``inbound_nodes`` as ``{"args", "kwargs"}``) and
Keras 2 / tf.keras (dtype strings, ``batch_input_shape``, ``inbound_nodes`` as lists of
``[layer, node_index, tensor_index, kwargs]``).

Only what changes predictions or training semantics is mapped; initializers are mapped by name
where rnnkit has them (they only matter if the weights are re-initialised) and regularizers,
constraints and ``unroll``/``implementation``/``use_cudnn`` hints, which rnnkit has no notion of,
are not carried over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..errors import ModelFileError
from ..layers import (
    ACTIVATIONS,
    GRU,
    LSTM,
    Activation,
    Add,
    Bidirectional,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Layer,
    Masking,
    MaxPooling1D,
    SimpleRNN,
    TimeDistributed,
)
from ..layers._recurrent import RNN


class KerasImportError(ModelFileError):
    """A Keras file or config that rnnkit cannot turn into an equivalent model (damaged,
    hostile, or using features rnnkit lacks)."""


Entry = dict[str, Any]

_FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
_INPUT_DTYPES = (*_FLOAT_DTYPES, "int32", "int64", "int16", "int8", "uint8", "bool")

# Keras initializer class names -> rnnkit initializer names (Keras defaults only).
_INITIALIZERS = {
    "GlorotUniform": "glorot_uniform",
    "glorot_uniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal",
    "glorot_normal": "glorot_normal",
    "HeUniform": "he_uniform",
    "he_uniform": "he_uniform",
    "Orthogonal": "orthogonal",
    "orthogonal": "orthogonal",
    "Zeros": "zeros",
    "zeros": "zeros",
    "Ones": "ones",
    "ones": "ones",
}

RECURRENT = ("SimpleRNN", "LSTM", "GRU")


def is_op(entry: Entry) -> bool:
    """Whether a functional-graph entry is a ``keras.ops`` operation rather than a layer."""
    return str(entry.get("module") or "").startswith("keras.src.ops")


# -- value conversions -----------------------------------------------------------------------------
def _where(cfg: dict[str, Any]) -> str:
    return repr(cfg.get("name", "?"))


def _dtype(value: Any, where: str) -> str | None:
    """A Keras dtype or dtype policy -> an rnnkit float dtype name (None: the default)."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value in _FLOAT_DTYPES:
        return str(value)
    raise KerasImportError(
        f"expected a float dtype policy in {list(_FLOAT_DTYPES)} for layer {where}, got {value!r} "
        "(mixed-precision policies are not supported)"
    )


def _activation(value: Any, where: str, keras2: bool) -> str:
    if isinstance(value, dict):  # {"class_name": "function", "config": "tanh"} and the like
        value = value.get("config")
        if isinstance(value, dict):
            value = value.get("name")
    name = "linear" if value is None else value
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise KerasImportError(
            f"expected an activation in {sorted(ACTIVATIONS)} for layer {where}, got {value!r}"
        )
    if keras2 and name == "hard_sigmoid":
        raise KerasImportError(
            f"layer {where} uses Keras 2's hard_sigmoid (clip(0.2 x + 0.5)), which differs from "
            "Keras 3's and rnnkit's (relu6(x + 3) / 6): expected another activation"
        )
    return name


def _initializer(value: Any, default: str) -> str:
    name = value.get("class_name") if isinstance(value, dict) else value
    return _INITIALIZERS.get(name, default) if isinstance(name, str) else default


def _int1(value: Any, what: str, where: str) -> int:
    """Keras stores 1-D sizes as ``3`` or ``[3]``."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise KerasImportError(f"expected an int {what} for layer {where}, got {value!r}")
    return value


def _require(cfg: dict[str, Any], key: str, allowed: tuple[Any, ...], where: str) -> None:
    if key in cfg and cfg[key] not in allowed:
        raise KerasImportError(
            f"expected {key} in {list(allowed)} for layer {where} (rnnkit has no other), "
            f"got {cfg[key]!r}"
        )


def _common(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": cfg.get("name"), "trainable": bool(cfg.get("trainable", True))}
    dtype = _dtype(cfg.get("dtype"), _where(cfg))
    if dtype is not None:
        out["dtype"] = dtype
    return out


# -- layer builders ------------------------------------------------------------------------------
def _recurrent(cls: str, cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    if cfg.get("time_major"):
        raise KerasImportError(f"expected time_major=False for layer {w}, got True")
    kw: dict[str, Any] = {
        **_common(cfg),
        "units": cfg["units"],
        "activation": _activation(cfg.get("activation", "tanh"), w, keras2),
        "use_bias": bool(cfg.get("use_bias", True)),
        "return_sequences": bool(cfg.get("return_sequences", False)),
        "return_state": bool(cfg.get("return_state", False)),
        "go_backwards": bool(cfg.get("go_backwards", False)),
        "stateful": bool(cfg.get("stateful", False)),
        "zero_output_for_mask": bool(cfg.get("zero_output_for_mask", False)),
        "dropout": float(cfg.get("dropout", 0.0)),
        "recurrent_dropout": float(cfg.get("recurrent_dropout", 0.0)),
        "kernel_initializer": _initializer(cfg.get("kernel_initializer"), "glorot_uniform"),
        "recurrent_initializer": _initializer(cfg.get("recurrent_initializer"), "orthogonal"),
        "bias_initializer": _initializer(cfg.get("bias_initializer"), "zeros"),
    }
    if cls == "SimpleRNN":
        return SimpleRNN(**kw)
    kw["recurrent_activation"] = _activation(cfg.get("recurrent_activation", "sigmoid"), w, keras2)
    if cls == "LSTM":
        return LSTM(unit_forget_bias=bool(cfg.get("unit_forget_bias", True)), **kw)
    # Keras <= 2.2 wrote no reset_after and defaulted to False; tf.keras 2 and Keras 3 to True.
    return GRU(reset_after=bool(cfg.get("reset_after", not keras2)), **kw)


def _dense(cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "lora_rank", (None, 0), w)
    _require(cfg, "quantization_config", (None,), w)
    return Dense(
        cfg["units"],
        activation=_activation(cfg.get("activation"), w, keras2),
        use_bias=bool(cfg.get("use_bias", True)),
        kernel_initializer=_initializer(cfg.get("kernel_initializer"), "glorot_uniform"),
        bias_initializer=_initializer(cfg.get("bias_initializer"), "zeros"),
        **_common(cfg),
    )


def _embedding(cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "lora_rank", (None, 0), w)
    _require(cfg, "quantization_config", (None,), w)
    _require(cfg, "sparse", (False,), w)
    return Embedding(
        cfg["input_dim"],
        cfg["output_dim"],
        mask_zero=bool(cfg.get("mask_zero", False)),
        **_common(cfg),
    )


def _conv1d(cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "data_format", ("channels_last", None), w)
    _require(cfg, "groups", (1,), w)
    _require(cfg, "lora_rank", (None, 0), w)
    return Conv1D(
        cfg["filters"],
        _int1(cfg["kernel_size"], "kernel_size", w),
        strides=_int1(cfg.get("strides", 1), "strides", w),
        padding=str(cfg.get("padding", "valid")).lower(),
        dilation_rate=_int1(cfg.get("dilation_rate", 1), "dilation_rate", w),
        activation=_activation(cfg.get("activation"), w, keras2),
        use_bias=bool(cfg.get("use_bias", True)),
        kernel_initializer=_initializer(cfg.get("kernel_initializer"), "glorot_uniform"),
        bias_initializer=_initializer(cfg.get("bias_initializer"), "zeros"),
        **_common(cfg),
    )


def _max_pool(cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    _require(cfg, "data_format", ("channels_last", None), w)
    pool = _int1(cfg.get("pool_size", 2), "pool_size", w)
    strides = cfg.get("strides")
    return MaxPooling1D(
        pool,
        strides=None if strides is None else _int1(strides, "strides", w),
        padding=str(cfg.get("padding", "valid")).lower(),
        **_common(cfg),
    )


def _global_pool(cls: type[Layer]) -> Callable[[dict[str, Any], bool], Layer]:
    def build(cfg: dict[str, Any], keras2: bool) -> Layer:
        w = _where(cfg)
        _require(cfg, "data_format", ("channels_last", None), w)
        _require(cfg, "keepdims", (False,), w)
        return cls(**_common(cfg))

    return build


def _flatten(cfg: dict[str, Any], keras2: bool) -> Layer:
    _require(cfg, "data_format", ("channels_last", None), _where(cfg))
    return Flatten(**_common(cfg))


def _dropout(cfg: dict[str, Any], keras2: bool) -> Layer:
    _require(cfg, "noise_shape", (None,), _where(cfg))
    return Dropout(float(cfg.get("rate", 0.0)), **_common(cfg))


def _masking(cfg: dict[str, Any], keras2: bool) -> Layer:
    return Masking(float(cfg.get("mask_value", 0.0)), **_common(cfg))


def _activation_layer(cfg: dict[str, Any], keras2: bool) -> Layer:
    return Activation(_activation(cfg.get("activation"), _where(cfg), keras2), **_common(cfg))


def _concatenate(cfg: dict[str, Any], keras2: bool) -> Layer:
    return Concatenate(axis=int(cfg.get("axis", -1)), **_common(cfg))


def _add(cfg: dict[str, Any], keras2: bool) -> Layer:
    return Add(**_common(cfg))


def _bidirectional(cfg: dict[str, Any], keras2: bool) -> Layer:
    w = _where(cfg)
    inner = build_layer(cfg["layer"], keras2)
    back = cfg.get("backward_layer")
    backward = None if back is None else build_layer(back, keras2)
    for rnn in (inner, backward):
        if rnn is not None and not isinstance(rnn, RNN):
            raise KerasImportError(
                f"expected a recurrent layer inside Bidirectional {w}, got {type(rnn).__name__}"
            )
    merge_mode = cfg.get("merge_mode", "concat")
    return Bidirectional(
        cast(RNN, inner),
        merge_mode=merge_mode,
        backward_layer=cast("RNN | None", backward),
        **_common(cfg),
    )


def _time_distributed(cfg: dict[str, Any], keras2: bool) -> Layer:
    return TimeDistributed(build_layer(cfg["layer"], keras2), **_common(cfg))


_BUILDERS: dict[str, Callable[[dict[str, Any], bool], Layer]] = {
    "Dense": _dense,
    "Embedding": _embedding,
    "Conv1D": _conv1d,
    "Convolution1D": _conv1d,
    "MaxPooling1D": _max_pool,
    "MaxPool1D": _max_pool,
    "GlobalAveragePooling1D": _global_pool(GlobalAveragePooling1D),
    "GlobalAvgPool1D": _global_pool(GlobalAveragePooling1D),
    "GlobalMaxPooling1D": _global_pool(GlobalMaxPooling1D),
    "GlobalMaxPool1D": _global_pool(GlobalMaxPooling1D),
    "Flatten": _flatten,
    "Dropout": _dropout,
    "Masking": _masking,
    "Activation": _activation_layer,
    "Concatenate": _concatenate,
    "Add": _add,
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
}
MODELS = ("Sequential", "Functional", "Model")  # a nested model: its layers are inlined


def register_builders(builders: dict[str, Callable[[dict[str, Any], bool], Layer]]) -> None:
    """Add layer builders (``rnnkit.io._keras_layers`` adds its own when io is imported)."""
    _BUILDERS.update(builders)


def supported() -> tuple[str, ...]:
    return tuple(sorted((*_BUILDERS, *RECURRENT, *MODELS, "InputLayer")))


def unsupported_layers(entries: list[Entry]) -> list[str]:
    """``"name (ClassName)"`` for every layer (wrapped ones included) rnnkit cannot build."""
    bad: list[str] = []
    for e in entries:
        cls, cfg = e.get("class_name"), e.get("config") or {}
        if is_op(e) or cls == "InputLayer":
            continue
        if cls in MODELS:
            bad += unsupported_layers(layer_entries(e))
            continue
        if cls not in _BUILDERS and cls not in RECURRENT:
            bad.append(f"{cfg.get('name', e.get('name', '?'))} ({cls})")
            continue
        inner = [cfg[k] for k in ("layer", "backward_layer") if isinstance(cfg.get(k), dict)]
        bad += unsupported_layers(inner)
    return bad


def check_supported(entries: list[Entry]) -> None:
    bad = unsupported_layers(entries)
    if bad:
        raise KerasImportError(
            f"expected layers rnnkit supports ({', '.join(supported())}), got unsupported "
            f"layer(s): {', '.join(bad)}"
        )


def build_layer(entry: Entry, keras2: bool) -> Layer:
    """One Keras layer entry ``{"class_name", "config"}`` -> an (unbuilt) rnnkit layer."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise KerasImportError(f"expected a layer entry with a class_name, got {entry!r}")
    check_supported([entry])
    cls, cfg = entry["class_name"], dict(entry.get("config") or {})
    if cls in RECURRENT:
        return _recurrent(cls, cfg, keras2)
    try:
        return _BUILDERS[cls](cfg, keras2)
    except KerasImportError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise KerasImportError(
            f"could not map Keras layer {_where(cfg)} ({cls}) onto rnnkit: {e}"
        ) from e


# -- nested models ----------------------------------------------------------------------------
def layer_entries(config: Entry) -> list[Entry]:
    """The layer entries of a model config (InputLayers and functional ops included)."""
    cfg = config.get("config")
    if isinstance(cfg, list):  # Keras 2.0-era Sequential: the config is the layer list
        return cfg
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        raise KerasImportError(f"expected a model config with a 'layers' list, got {config!r:.200}")
    return cfg["layers"]
