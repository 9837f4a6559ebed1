"""Keras layer and model configs (JSON) -> rnnkit layers and models with fresh weights.

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
from dataclasses import dataclass, field
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
    Input,
    Layer,
    Masking,
    MaxPooling1D,
    SimpleRNN,
    SymbolicTensor,
    TimeDistributed,
)
from ..layers._recurrent import RNN
from ..model import Model, Sequential


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


# -- models --------------------------------------------------------------------------------------
def _input_spec(cfg: dict[str, Any]) -> tuple[tuple[int | None, ...], str, str | None] | None:
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if shape is None:
        return None
    dtype = cfg.get("dtype") or "float32"
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name", "float32")
    if dtype not in _INPUT_DTYPES:
        raise KerasImportError(
            f"expected an input dtype in {list(_INPUT_DTYPES)}, got {dtype!r} for input "
            f"{cfg.get('name')!r}"
        )
    return tuple(shape), str(dtype), cfg.get("name")


def _make_input(spec: tuple[tuple[int | None, ...], str, str | None]) -> SymbolicTensor:
    shape, dtype, name = spec
    if len(shape) < 2:
        raise KerasImportError(f"expected an input shape (batch, ...), got {list(shape)}")
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None  # batch_shape=
    return Input(tuple(shape[1:]), batch_size=batch, dtype=dtype, name=name)


def layer_entries(config: Entry) -> list[Entry]:
    """The layer entries of a model config (InputLayers and functional ops included)."""
    cfg = config.get("config")
    if isinstance(cfg, list):  # Keras 2.0-era Sequential: the config is the layer list
        return cfg
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        raise KerasImportError(f"expected a model config with a 'layers' list, got {config!r:.200}")
    return cfg["layers"]


def build_sequential(config: Entry, keras2: bool) -> tuple[Sequential | Model, dict[str, Layer]]:
    entries = layer_entries(config)
    check_supported(entries)
    cfg = config["config"] if isinstance(config["config"], dict) else {}
    spec = None
    body: list[Entry] = []
    for e in entries:
        if e.get("class_name") == "InputLayer":
            if spec is None and not body:
                spec = _input_spec(e.get("config") or {})
            continue
        body.append(e)
    if spec is None and body:
        spec = _input_spec(body[0].get("config") or {})  # Keras 2: batch_input_shape on layer 0
    if spec is None and cfg.get("build_input_shape") is not None:
        spec = (tuple(cfg["build_input_shape"]), "float32", None)
    if spec is None:
        raise KerasImportError(
            "expected a Sequential model with a known input shape (an Input, batch_input_shape "
            "or build_input_shape), got none: the Keras model was never built"
        )
    graph = _Graph(keras2)
    if any(e.get("class_name") in MODELS for e in body):  # inlined: a functional model
        inp = _make_input(spec)
        out = graph.sequential(body, "", [inp])
        return Model(inp, out[0] if len(out) == 1 else out, name=cfg.get("name")), graph.layers
    model = Sequential(name=cfg.get("name"))
    model.add(_make_input(spec))
    for e in body:
        model.add(graph.layer(_entry_name(e), e))
    return model, graph.layers


def _entry_name(e: Entry) -> str:
    name = e.get("name") or (e.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise KerasImportError(f"expected a layer name in the config, got {name!r}")
    return name


_IGNORED_CALL_ARGS = ("training",)
_PLAIN_CALL_ARGS = ("use_causal_mask", "return_attention_scores")
Ref = tuple[str, int, int]


def _history(t: Any) -> tuple[str, int, int] | None:
    """A Keras 3 ``__keras_tensor__`` or a Keras 2 ``[name, node, index, kwargs]`` reference."""
    if isinstance(t, dict) and t.get("class_name") == "__keras_tensor__":
        h = t["config"]["keras_history"]
        return str(h[0]), int(h[1]), int(h[2])
    if isinstance(t, (list, tuple)) and len(t) >= 3 and isinstance(t[0], str):
        return str(t[0]), int(t[1]), int(t[2])
    return None


def _refs(x: Any) -> tuple[list[tuple[str, int, int]], bool]:
    """Tensor references in a call's first argument and whether it was a list."""
    single = _history(x)
    if single is not None:
        return [single], False
    if isinstance(x, (list, tuple)):
        refs = [_history(t) for t in x]
        if refs and all(r is not None for r in refs):
            return [r for r in refs if r is not None], True
    raise KerasImportError(f"expected Keras tensors as a layer's input, got {x!r:.200}")


def _node_parts(node: Any) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) of one inbound node in either dialect."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return list(node.get("args", [])), dict(node.get("kwargs") or {})
    items = list(node)  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
    kwargs: dict[str, Any] = {}
    for t in items:
        if isinstance(t, (list, tuple)) and len(t) > 3 and isinstance(t[3], dict):
            kwargs.update(t[3])
    return [items], kwargs


def _all_refs(x: Any) -> list[str]:
    """Names of the layers referenced anywhere in ``x`` (nested lists/dicts)."""
    ref = _history(x)
    if ref is not None:
        return [ref[0]]
    if isinstance(x, dict):
        return [n for v in x.values() for n in _all_refs(v)]
    if isinstance(x, (list, tuple)):
        return [n for v in x for n in _all_refs(v)]
    return []


def mask_only_entries(entries: list[Entry], outputs: set[str]) -> set[str]:
    """Entries whose outputs only feed ``mask=`` call arguments, directly or through each other.

    Keras 3 records the automatically propagated masks of a functional model as ``keras.ops``
    nodes (``NotEqual``, ``Any`` ...) passed as ``mask=``; rnnkit propagates masks itself, so
    these are skipped. (Legacy .h5 configs do not say which entries are ops: this is structural.)
    """
    uses: dict[str, list[tuple[str, bool]]] = {}  # producer -> [(consumer, as_mask)]
    for e in entries:
        consumer = str(e.get("name") or (e.get("config") or {}).get("name"))
        for node in e.get("inbound_nodes") or []:
            args, kwargs = _node_parts(node)
            for n in _all_refs(args):
                uses.setdefault(n, []).append((consumer, False))
            for k, v in kwargs.items():
                for n in _all_refs(v):
                    uses.setdefault(n, []).append((consumer, k == "mask"))
    inputs = {str(e.get("name")) for e in entries if e.get("class_name") == "InputLayer"}
    candidates = {n for n in uses if n not in outputs and n not in inputs}
    changed = True
    while changed:
        changed = False
        for n in list(candidates):
            if any(not as_mask and c not in candidates for c, as_mask in uses[n]):
                candidates.discard(n)
                changed = True
    return candidates


def _auto_mask(key: str, value: Any, ops: set[str]) -> bool:
    """Whether a ``mask``/``<input>_mask`` argument is a propagated mask (see
    mask_only_entries): rnnkit propagates masks itself."""
    ref = _history(value)
    return (key == "mask" or key.endswith("_mask")) and ref is not None and ref[0] in ops


@dataclass
class _Call:
    """One inbound node: the first argument's references and the symbolic/plain keywords."""

    refs: list[Ref]
    is_list: bool
    tensors: dict[str, tuple[list[Ref], bool]] = field(default_factory=dict)
    plain: dict[str, Any] = field(default_factory=dict)


def _keyword(call: _Call, key: str, value: Any, where: str) -> None:
    try:
        refs, is_list = _refs(value)
    except KerasImportError:
        if key in _PLAIN_CALL_ARGS and isinstance(value, bool):
            call.plain[key] = value
            return
        raise KerasImportError(
            f"expected no {key!r} call argument for layer {where} (rnnkit's functional graph "
            f"cannot take it), got {value!r:.200}"
        ) from None
    call.tensors[key] = (refs, is_list)


def _node_call(node: Any, where: str, ops: set[str], layer: Layer | None) -> _Call:
    """The tensor references and keyword arguments of one inbound node."""
    args, kwargs = _node_parts(node)
    if not args:
        raise KerasImportError(f"expected an input for layer {where}, got a call without one")
    if isinstance(node, dict):  # Keras 3: the first argument is a tensor or a list of them
        call = _Call(*_refs(args[0]))
    else:  # Keras 2: one [name, node, index, kwargs] per input tensor
        refs = [r for r in (_history(t) for t in args[0]) if r is not None]
        if len(refs) != len(args[0]) or not refs:
            raise KerasImportError(f"expected tensor references for layer {where}, got {node!r}")
        call = _Call(refs, len(refs) > 1)
        if isinstance(layer, (RNN, Bidirectional)) and len(refs) > 1:  # [x, *initial_state]
            call = _Call(refs[:1], False, {"initial_state": (refs[1:], True)})
    extra = [a for a in args[1:] if a is not None]
    names = layer.positional_names() if layer is not None else ()
    if len(extra) > len(names):
        raise KerasImportError(
            f"expected one input argument for layer {where}, got extra arguments {extra!r:.200}"
        )
    for key, value in zip(names, extra):
        _keyword(call, key, value, where)
    for k, v in kwargs.items():
        if k in _IGNORED_CALL_ARGS or v is None or _auto_mask(k, v, ops):
            continue
        _keyword(call, k, v, where)
    return call


def _refs_of(spec: Any) -> tuple[list[Ref], bool]:
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str):
        return [(str(spec[0]), int(spec[1]), int(spec[2]))], False
    if isinstance(spec, (list, tuple)) and spec:
        return [(str(s[0]), int(s[1]), int(s[2])) for s in spec], True
    raise KerasImportError(f"expected input/output layer references, got {spec!r}")


class _Graph:
    """Builds the rnnkit graph of a Keras model, nested models inlined: their layers join the
    graph under the key ``"<model name>/<layer name>"`` (renamed ``<model>_<layer>`` if the name
    is taken)."""

    def __init__(self, keras2: bool) -> None:
        self.keras2 = keras2
        self.layers: dict[str, Layer] = {}
        self.names: set[str] = set()

    def layer(self, key: str, entry: Entry) -> Layer:
        if key not in self.layers:
            layer = build_layer(entry, self.keras2)
            if layer.name in self.names:
                layer.name = key.replace("/", "_")
            if layer.name in self.names:
                raise KerasImportError(f"expected unique layer names, got {layer.name!r} twice")
            self.names.add(layer.name)
            self.layers[key] = layer
        return self.layers[key]

    def apply(self, key: str, entry: Entry, ins: list[Any], is_list: bool,
              kwargs: dict[str, Any]) -> list[Any]:
        """Call one entry (a layer, or a nested model inlined) on symbolic tensors."""
        cls = entry.get("class_name")
        if cls == "Sequential":
            body = [e for e in layer_entries(entry) if e.get("class_name") != "InputLayer"]
            return self.sequential(body, f"{key}/", ins)
        if cls in MODELS:
            return self.functional(entry, f"{key}/", ins)[1]
        out = self.layer(key, entry)(ins if is_list else ins[0], **kwargs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def sequential(self, body: list[Entry], prefix: str, ins: list[Any]) -> list[Any]:
        for e in body:
            ins = self.apply(prefix + _entry_name(e), e, ins, len(ins) > 1, {})
        return ins

    def functional(
        self, config: Entry, prefix: str, given: list[Any] | None
    ) -> tuple[list[Any], list[Any]]:
        """(inputs, outputs) of a functional config; ``given`` replaces its inputs (nested)."""
        entries = layer_entries(config)
        cfg = config["config"]
        by_name: dict[str, Entry] = {}
        for e in entries:
            name = _entry_name(e)
            if name in by_name:
                raise KerasImportError(f"expected unique layer names in the config, got {name!r}")
            by_name[name] = e
        in_refs, _ = _refs_of(cfg.get("input_layers"))
        out_refs, _ = _refs_of(cfg.get("output_layers"))
        if given is not None and len(given) != len(in_refs):
            raise KerasImportError(
                f"expected {len(in_refs)} input(s) for nested model {cfg.get('name')!r}, "
                f"got {len(given)}"
            )
        ops = mask_only_entries(entries, {r[0] for r in out_refs})
        check_supported([e for e in entries if _entry_name(e) not in ops])
        ops |= {n for n, e in by_name.items() if is_op(e)}
        run = _Run(self, by_name, ops, prefix)
        if given is not None:
            for ref, t in zip(in_refs, given):
                run.outputs[(ref[0], ref[1])] = [t]
        return [run.tensor(r) for r in in_refs], [run.tensor(r) for r in out_refs]


class _Run:
    """Resolves tensor references of one functional config, calling each node once."""

    def __init__(self, graph: _Graph, by_name: dict[str, Entry], ops: set[str], prefix: str):
        self.graph, self.by_name, self.ops, self.prefix = graph, by_name, ops, prefix
        self.outputs: dict[tuple[str, int], list[Any]] = {}
        self.resolving: set[tuple[str, int]] = set()

    def tensor(self, ref: Ref) -> Any:
        name, node_index, index = ref
        key = (name, node_index)
        if key not in self.outputs:
            if name not in self.by_name:
                raise KerasImportError(f"expected layer {name!r} in the config, got no such layer")
            if key in self.resolving:
                raise KerasImportError(f"expected an acyclic graph, got a cycle through {name!r}")
            self.resolving.add(key)
            self.outputs[key] = self.node(name, node_index)
        outs = self.outputs[key]
        if index >= len(outs):
            raise KerasImportError(f"expected output {index} of {name!r} to exist, got {len(outs)}")
        return outs[index]

    def tensors(self, refs: list[Ref], is_list: bool) -> Any:
        ts = [self.tensor(r) for r in refs]
        return ts if is_list else ts[0]

    def node(self, name: str, node_index: int) -> list[Any]:
        e = self.by_name[name]
        cls = e.get("class_name")
        if cls == "InputLayer":
            spec = _input_spec(e.get("config") or {})
            if spec is None:
                raise KerasImportError(f"expected a shape for input {name!r}, got none")
            return [_make_input(spec)]
        if name in self.ops:
            raise KerasImportError(
                f"expected layers only between inputs and outputs, got the operation {name!r} "
                f"({cls}, keras.ops), which rnnkit cannot import"
            )
        nodes = e.get("inbound_nodes") or []
        if node_index >= len(nodes):
            raise KerasImportError(
                f"expected call {node_index} of layer {name!r}, got {len(nodes)}"
            )
        key = self.prefix + name
        layer = None if cls in MODELS else self.graph.layer(key, e)
        call = _node_call(nodes[node_index], repr(name), self.ops, layer)
        kwargs = {k: self.tensors(r, lst) for k, (r, lst) in call.tensors.items()}
        ins = [self.tensor(r) for r in call.refs]
        return self.graph.apply(key, e, ins, call.is_list, {**kwargs, **call.plain})


def build_functional(config: Entry, keras2: bool) -> tuple[Model, dict[str, Layer]]:
    graph = _Graph(keras2)
    inputs, outs = graph.functional(config, "", None)
    cfg = config["config"]
    multi_in = _refs_of(cfg.get("input_layers"))[1]
    multi_out = _refs_of(cfg.get("output_layers"))[1]
    model = Model(
        inputs if multi_in else inputs[0], outs if multi_out else outs[0], name=cfg.get("name")
    )
    # Layers that feed no output are not part of the rnnkit model (nor of Keras's predictions).
    return model, {n: l for n, l in graph.layers.items() if any(l is m for m in model.layers)}


def build_model(config: Entry, keras2: bool) -> tuple[Sequential | Model, dict[str, Layer]]:
    """A Keras model config -> (rnnkit model, {keras layer name: rnnkit layer})."""
    if not isinstance(config, dict):
        raise KerasImportError(
            f"expected a model config (JSON object), got {type(config).__name__}"
        )
    cls = config.get("class_name")
    if cls == "Sequential":
        return build_sequential(config, keras2)
    if cls in ("Functional", "Model"):
        return build_functional(config, keras2)
    raise KerasImportError(
        f"expected a Sequential or functional model, got class {cls!r} (subclassed models "
        "have no config rnnkit can rebuild)"
    )
