"""Symbolic tensors for the functional API: ``Input`` -> layers -> ``Model(inputs, outputs)``.

Calling a layer on a :class:`SymbolicTensor` builds the layer, computes its output shape and
records a :class:`Node` (the layer, its symbolic inputs and call arguments). ``rnnkit.Model``
walks these nodes to run and to save the graph.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._base import unique_name

if TYPE_CHECKING:
    from ._base import Layer, Shape

_ids = itertools.count()


@dataclass(eq=False)
class Node:
    """One call of ``layer``: ``inputs[:n_args]`` are the positional input(s), the rest are symbolic
    tensors passed by keyword (e.g. ``initial_state``), referenced from ``kwargs`` (see
    :func:`bind_kwargs`)."""

    layer: Layer | None  # None for an Input
    inputs: list[SymbolicTensor]
    input_is_list: bool
    kwargs: dict[str, Any]
    outputs: list[SymbolicTensor] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    n_args: int = 1


@dataclass(eq=False)
class SymbolicTensor:
    """A placeholder with a shape (batch axis None) and dtype name, produced by a node."""

    shape: Shape
    dtype: str
    node: Node
    index: int = 0
    name: str = ""

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"


def Input(  # noqa: N802 - Keras's spelling
    shape: tuple[int | None, ...], *, name: str | None = None, dtype: str = "float32"
) -> SymbolicTensor:
    """A model input of per-sample ``shape`` (without the batch axis), e.g. ``Input((200, 3))``.

    Use ``dtype="int64"`` for token ids feeding an ``Embedding``.
    """
    if not isinstance(shape, (tuple, list)) or not all(
        d is None or (isinstance(d, int) and d > 0) for d in shape
    ):
        raise ValueError(f"expected a shape tuple of positive ints or None, got {shape!r}")
    node = Node(layer=None, inputs=[], input_is_list=False, kwargs={})
    t = SymbolicTensor((None, *shape), dtype, node, 0, name or unique_name("input_layer"))
    node.outputs = [t]
    return t


REF = "__symbolic__"


def _split_kwargs(
    kwargs: dict[str, Any], first: int
) -> tuple[dict[str, Any], list[SymbolicTensor]]:
    """Replace symbolic keyword values by ``{REF: [input indices]}`` (JSON-safe)."""
    plain: dict[str, Any] = {}
    extra: list[SymbolicTensor] = []
    for key, value in kwargs.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if items and all(isinstance(v, SymbolicTensor) for v in items):
            idx = list(range(first + len(extra), first + len(extra) + len(items)))
            extra.extend(items)
            plain[key] = {REF: idx, "list": isinstance(value, (list, tuple))}
        elif any(isinstance(v, SymbolicTensor) for v in items):
            raise TypeError(f"expected all or none of {key!r} to be symbolic, got a mix")
        else:
            plain[key] = value
    return plain, extra


def bind_kwargs(kwargs: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """Resolve the references :func:`_split_kwargs` left, against a node's input values."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and REF in value:
            items = [values[i] for i in value[REF]]
            out[key] = items if value["list"] else items[0]
        else:
            out[key] = value
    return out


def call_symbolic(layer: Layer, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(inputs, **kwargs)`` in the graph and return symbolic output(s)."""
    is_list = isinstance(inputs, (list, tuple))
    ins: list[SymbolicTensor] = list(inputs) if is_list else [inputs]
    in_shape: Any = [t.shape for t in ins] if is_list else ins[0].shape
    layer.ensure_built(in_shape)
    out_shape = layer.compute_output_shape(in_shape)
    plain, extra = _split_kwargs(kwargs, len(ins))
    node = Node(layer=layer, inputs=ins + extra, input_is_list=is_list, kwargs=plain,
                n_args=len(ins))
    dtype = "float32" if layer.dtype is None else str(layer.dtype).removeprefix("torch.")
    if isinstance(out_shape, list):
        node.outputs = [
            SymbolicTensor(tuple(s), dtype, node, i, f"{layer.name}/{i}")
            for i, s in enumerate(out_shape)
        ]
        return list(node.outputs)
    node.outputs = [SymbolicTensor(tuple(out_shape), dtype, node, 0, layer.name)]
    return node.outputs[0]
