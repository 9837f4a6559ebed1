"""Merging layers for functional models with branches: Concatenate and Add."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import Layer, register


def _check_list(inputs: Any, name: str) -> list[Any]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"expected a list of at least 2 inputs for {name}, got {inputs!r}")
    return list(inputs)


@register
class Concatenate(Layer):
    """Concatenates a list of tensors along ``axis`` (default: the last)."""

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, inputs: list[Tensor], mask: Any = None) -> Tensor:
        return torch.cat(_check_list(inputs, "Concatenate"), dim=self.axis)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _check_list(input_shape, "Concatenate")
        out = list(shapes[0])
        sizes = [s[self.axis] for s in shapes]
        out[self.axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def compute_mask(self, inputs: Any, mask: Any) -> Tensor | None:
        if mask is None or all(m is None for m in mask):
            return None
        # Keras: broadcast each mask to its input's shape (None = all kept), concatenate along
        # `axis`, then keep a position if ANY entry along the last axis is kept.
        masks = []
        for x, m in zip(inputs, mask, strict=True):
            if m is None:
                m = torch.ones(x.shape, dtype=torch.bool, device=x.device)
            else:
                m = m.bool().reshape(*m.shape, *([1] * (x.dim() - m.dim()))).expand(x.shape)
            masks.append(m)
        return torch.cat(masks, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


@register
class Add(Layer):
    """Element-wise sum of a list of tensors of the same shape."""

    supports_masking = True

    def forward(self, inputs: list[Tensor], mask: Any = None) -> Tensor:
        items = _check_list(inputs, "Add")
        out = items[0]
        for t in items[1:]:
            out = out + t
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(_check_list(input_shape, "Add")[0])

    def compute_mask(self, inputs: Any, mask: Any) -> Tensor | None:
        if mask is None or any(m is None for m in mask):
            return None
        out = mask[0]
        for m in mask[1:]:
            out = out | m
        return out
