"""Symbolic tensors for the functional API: ``Input`` -> layers -> ``Model(inputs, outputs)``.

Calling a layer on a :class:`SymbolicTensor` builds the layer, computes its output shape and
records a :class:`Node` (the layer, its symbolic inputs and call arguments). ``rnnkit.Model``
walks these nodes to run and to save the graph.
"""

from __future__ import annotations

import inspect
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
    shape: tuple[int | None, ...] | None = None,
    *,
    batch_size: int | None = None,
    batch_shape: tuple[int | None, ...] | None = None,
    name: str | None = None,
    dtype: str = "float32",
) -> SymbolicTensor:
    """A model input of per-sample ``shape`` (without the batch axis), e.g. ``Input((200, 3))``.

    ``batch_shape=(32, 200, 3)`` (or ``batch_size=32``) fixes the batch axis too, as Keras's
    ``Input(batch_shape=)`` does for stateful models. Use ``dtype="int64"`` for token ids
    feeding an ``Embedding``.
    """
    if batch_shape is not None:
        if shape is not None or batch_size is not None:
            raise ValueError(
                f"expected either shape/batch_size or batch_shape, got shape={shape!r}, "
                f"batch_size={batch_size!r} and batch_shape={batch_shape!r}"
            )
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise ValueError(f"expected batch_shape as a non-empty tuple, got {batch_shape!r}")
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    if not isinstance(shape, (tuple, list)) or not all(
        d is None or (isinstance(d, int) and d > 0) for d in shape
    ):
        raise ValueError(f"expected a shape tuple of positive ints or None, got {shape!r}")
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
    ):
        raise ValueError(f"expected batch_size to be a positive int or None, got {batch_size!r}")
    node = Node(layer=None, inputs=[], input_is_list=False, kwargs={})
    t = SymbolicTensor((batch_size, *shape), dtype, node, 0, name or unique_name("input_layer"))
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


def keyword_masks(layer: Layer, kwargs: dict[str, Any], masks: list[Any]) -> dict[str, Any]:
    """``{name}_mask`` for each symbolic keyword input whose mask the layer's call takes (as
    Keras fills MultiHeadAttention's ``value_mask`` from the value's mask)."""
    params = inspect.signature(layer.forward).parameters
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = f"{key}_mask"
        if isinstance(value, dict) and REF in value and not value["list"] and name in params:
            mask = masks[value[REF][0]]
            if mask is not None and kwargs.get(name) is None:
                out[name] = mask
    return out


def call_symbolic(layer: Layer, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """Record ``layer(inputs, **kwargs)`` in the graph and return symbolic output(s)."""
    is_list = isinstance(inputs, (list, tuple))
    ins: list[SymbolicTensor] = list(inputs) if is_list else [inputs]
    in_shape: Any = [t.shape for t in ins] if is_list else ins[0].shape
    layer.ensure_built(layer.call_shape(inputs, kwargs))
    plain, extra = _split_kwargs(kwargs, len(ins))
    out_shape = layer.call_output_shape(in_shape, plain)
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
