"""``Sequential``: a plain stack of layers, each fed the previous one's output and mask."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from ..layers import Input, Layer, SymbolicTensor
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


class Sequential(_Base):
    """A plain stack of layers: ``Sequential([Input((200, 3)), LSTM(32), Dense(12)])``.

    An ``Input`` (or a first layer's ``input_shape=``) builds every layer at once; otherwise
    the model is built by the first call or ``fit``.
    """

    def __init__(self, layers: Iterable[Any] | None = None, name: str | None = None) -> None:
        super().__init__(name or "sequential")
        self._layers = nn.ModuleList()
        self.input_spec: SymbolicTensor | None = None
        for item in layers or []:
            self.add(item)

    @property
    def layers(self) -> list[nn.Module]:
        return list(self._layers)

    def add(self, layer: Any) -> None:
        """Append a layer (or an ``Input`` as the first item)."""
        if isinstance(layer, SymbolicTensor):
            if len(self._layers) or self.input_spec is not None:
                raise ValueError("expected Input only as the first item of a Sequential model")
            self.input_spec = layer
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(f"expected a layer (torch.nn.Module), got {type(layer).__name__}")
        if not len(self._layers) and self.input_spec is None:
            hint = getattr(layer, "input_shape_hint", None)
            if hint is not None:
                self.input_spec = Input(hint[1:])
        self._layers.append(layer)
        if self.input_spec is not None:
            self.build(self.input_spec.shape)

    def pop(self) -> nn.Module:
        if not len(self._layers):
            raise ValueError("expected a non-empty model to pop from, got no layers")
        last = self._layers[-1]
        del self._layers[-1]
        return last

    def _shapes(self, input_shape: Any) -> list[Any]:
        shapes = []
        shape = input_shape
        for layer in self._layers:
            if isinstance(layer, Layer):
                layer.ensure_built(shape)
                shape = layer.compute_output_shape(shape)
            else:
                shape = None
            shapes.append(shape)
            if shape is None:
                break
        return shapes

    def build(self, input_shape: Any) -> None:
        self._shapes(tuple(input_shape))
        if self.input_spec is None:
            self.input_spec = Input(tuple(input_shape)[1:])

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self._layers:
            y = call_layer(layer, x, mask)
            if isinstance(y, (list, tuple)):
                raise ValueError(
                    f"expected one output per layer in a Sequential model, got {len(y)} from "
                    f"{getattr(layer, 'name', type(layer).__name__)} (use the functional Model)"
                )
            mask = output_mask(layer, x, mask)
            x = y
        return with_mask(x, mask)

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        shapes = self._shapes(self.input_spec.shape) if self.input_spec is not None else []
        rows = []
        for i, layer in enumerate(self._layers):
            shape = format_shape(shapes[i]) if i < len(shapes) and shapes[i] is not None else "?"
            name = getattr(layer, "name", f"layer_{i}")
            rows.append(
                (
                    f"{name} ({type(layer).__name__})",
                    shape,
                    param_count(layer),
                    "",
                )
            )
        return rows

    def get_config(self) -> dict[str, Any]:
        spec = self.input_spec
        return {
            "class_name": "Sequential",
            "name": self.name,
            "input": None if spec is None else input_config(spec),
            "layers": [layer_config(layer) for layer in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls(name=config.get("name"))
        if config.get("input") is not None:
            model.add(input_from_config(config["input"]))
        for entry in config.get("layers", []):
            model.add(layer_from_config(entry))
        return model
