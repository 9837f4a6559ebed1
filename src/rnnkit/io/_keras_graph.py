"""Keras model configs -> rnnkit models: Sequential and functional graphs in both dialects.

Nested models are inlined (their layers join the graph under ``"<model>/<layer>"``), tensors
passed by keyword (``initial_state``, attention's ``value``) are wired as keyword inputs, and the
masks Keras 3 records as ``keras.ops`` nodes are skipped (rnnkit propagates masks itself). The
layers themselves come from :mod:`._keras_config`'s builders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..layers import Bidirectional, Input, Layer, SymbolicTensor
from ..layers._recurrent import RNN
from ..model import Model, Sequential
from ._keras_config import (
    _INPUT_DTYPES,
    MODELS,
    Entry,
    KerasImportError,
    build_layer,
    check_supported,
    is_op,
    layer_entries,
)


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
