"""The functional ``Model`` over a graph of layer calls, and the graph's orders: the nodes in
topological order (how it runs) and the layers in Keras's order (its weights' order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..layers import Layer, SymbolicTensor
from ..layers._symbolic import Node, bind_kwargs, keyword_masks
from ._base import _Base
from ._entries import (
    call_layer,
    format_shape,
    input_config,
    input_from_config,
    layer_config,
    layer_from_config,
    output_mask,
    param_count,
    with_mask,
)


def _topological_nodes(outputs: list[SymbolicTensor]) -> list[Node]:
    order: list[Node] = []
    seen: set[int] = set()

    def visit(node: Node) -> None:
        if node.id in seen:
            return
        seen.add(node.id)
        for t in node.inputs:
            visit(t.node)
        order.append(node)

    for t in outputs:
        visit(t.node)
    return order


def _keras_layer_order(outputs: list[SymbolicTensor], nodes: list[Node]) -> list[Layer]:
    """The graph's layers in Keras's Functional order (the order of ``get_weights``).

    Keras sorts layers by decreasing depth (the longest path to an output), ties broken by the
    order in which a depth-first walk from the outputs first meets them (``map_graph``).
    ``nodes`` is the depth-first post-order of :func:`_topological_nodes`.
    """
    first_seen: dict[int, int] = {}
    entered: set[int] = set()

    def visit(node: Node) -> None:
        if node.id in entered:
            return
        entered.add(node.id)
        if node.layer is not None:
            first_seen.setdefault(id(node.layer), len(first_seen))
        for t in node.inputs:
            visit(t.node)

    for t in outputs:
        visit(t.node)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, Layer] = {}
    for node in reversed(nodes):
        depth = node_depth.setdefault(node.id, 0)
        if node.layer is not None:
            depth = max(depth, layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            layers[id(node.layer)] = node.layer
            node_depth[node.id] = depth
        for t in node.inputs:
            node_depth[t.node.id] = max(depth + 1, node_depth.get(t.node.id, 0))
    order = sorted(layers, key=lambda k: (-layer_depth[k], first_seen[k]))
    return [layers[k] for k in order]


class Model(_Base):
    """A functional model: ``Model(inputs, outputs)`` over a graph of layer calls.

    Branches, shared layers and several inputs are allowed (``Concatenate``/``Add`` to merge);
    calling it takes the inputs in the order given. Masks flow along the graph.
    """

    def __init__(
        self,
        inputs: SymbolicTensor | Sequence[SymbolicTensor],
        outputs: SymbolicTensor | Sequence[SymbolicTensor],
        name: str | None = None,
    ) -> None:
        super().__init__(name or "functional")
        self._multi_in = isinstance(inputs, (list, tuple))
        self._multi_out = isinstance(outputs, (list, tuple))
        self.inputs: list[SymbolicTensor] = (
            [inputs] if isinstance(inputs, SymbolicTensor) else list(inputs)
        )
        self.outputs: list[SymbolicTensor] = (
            [outputs] if isinstance(outputs, SymbolicTensor) else list(outputs)
        )
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    f"expected symbolic tensors from Input/layers, got {type(t).__name__}"
                )
        self._nodes = _topological_nodes(self.outputs)
        missing = [n for n in self._nodes if n.layer is None and n.outputs[0] not in self.inputs]
        if missing:
            raise ValueError(
                "expected every Input of the graph in inputs, "
                f"got {missing[0].outputs[0]!r} missing"
            )
        self._layer_dict = nn.ModuleDict()
        for layer in _keras_layer_order(self.outputs, self._nodes):  # Keras's weight order
            if layer.name not in self._layer_dict:
                self._layer_dict[layer.name] = layer

    @property
    def layers(self) -> list[nn.Module]:
        return list(self._layer_dict.values())

    def forward(self, *xs: Tensor) -> Any:
        if len(xs) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} input tensor(s), got {len(xs)}")
        values: dict[int, list[Any]] = {}
        masks: dict[int, list[Any]] = {}
        for t, x in zip(self.inputs, xs):
            values[t.node.id], masks[t.node.id] = [x], [None]
        for node in self._nodes:
            if node.layer is None:
                continue
            every = [values[t.node.id][t.index] for t in node.inputs]
            ins = every[: node.n_args]
            ims = [masks[t.node.id][t.index] for t in node.inputs[: node.n_args]]
            x_in = ins if node.input_is_list else ins[0]
            m_in = ims if node.input_is_list else ims[0]
            kwargs = bind_kwargs(node.kwargs, every)
            every_mask = [masks[t.node.id][t.index] for t in node.inputs]
            kwargs.update(keyword_masks(node.layer, node.kwargs, every_mask))
            y = call_layer(node.layer, x_in, m_in, kwargs)
            m = output_mask(node.layer, x_in, m_in, kwargs)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            ms = list(m) if isinstance(m, (list, tuple)) else [m] * len(ys)
            values[node.id], masks[node.id] = ys, ms
        outs = [
            with_mask(values[t.node.id][t.index], masks[t.node.id][t.index]) for t in self.outputs
        ]
        return outs if self._multi_out else outs[0]

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        rows = []
        for node in self._nodes:
            if node.layer is None:
                t = node.outputs[0]
                rows.append((f"{t.name} (InputLayer)", format_shape(t.shape), 0, ""))
                continue
            shapes = [o.shape for o in node.outputs]
            src = ", ".join(
                (t.node.layer.name if t.node.layer is not None else t.name) for t in node.inputs
            )
            rows.append(
                (
                    f"{node.layer.name} ({type(node.layer).__name__})",
                    format_shape(shapes if len(shapes) > 1 else shapes[0]),
                    param_count(node.layer),
                    src,
                )
            )
        return rows

    def get_config(self) -> dict[str, Any]:
        ids = {node.id: i for i, node in enumerate(self._nodes)}
        nodes: list[dict[str, Any]] = []
        for node in self._nodes:
            if node.layer is None:
                t = node.outputs[0]
                nodes.append({"input": {**input_config(t), "name": t.name}})
            else:
                nodes.append(
                    {
                        "layer": node.layer.name,
                        "inputs": [[ids[t.node.id], t.index] for t in node.inputs],
                        "input_is_list": node.input_is_list,
                        "n_args": node.n_args,
                        "kwargs": node.kwargs,
                    }
                )
        return {
            "class_name": "Model",
            "name": self.name,
            "layers": [layer_config(layer) for layer in self.layers],
            "nodes": nodes,
            "inputs": [[ids[t.node.id], t.index] for t in self.inputs],
            "outputs": [[ids[t.node.id], t.index] for t in self.outputs],
            "multi_input": self._multi_in,
            "multi_output": self._multi_out,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        layers = {}
        for entry in config["layers"]:
            layer = layer_from_config(entry)
            layers[layer.name] = layer
        built: list[Any] = []
        for spec in config["nodes"]:
            if "input" in spec:
                i = spec["input"]
                built.append([input_from_config(i)])
                continue
            if spec["layer"] not in layers:
                raise ValueError(f"expected layer {spec['layer']!r} in the config's layers")
            ins = [built[n][k] for n, k in spec["inputs"]]
            args = ins[: spec.get("n_args", len(ins))]
            out = layers[spec["layer"]](
                args if spec["input_is_list"] else args[0], **bind_kwargs(spec["kwargs"], ins)
            )
            built.append(list(out) if isinstance(out, list) else [out])
        inputs = [built[n][k] for n, k in config["inputs"]]
        outputs = [built[n][k] for n, k in config["outputs"]]
        return cls(
            inputs if config.get("multi_input") else inputs[0],
            outputs if config.get("multi_output") else outputs[0],
            name=config.get("name"),
        )
