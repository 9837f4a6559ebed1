"""Any cell with Keras's cell protocol, run over time; and StackedRNNCells.

The protocol (Keras 3): ``cell(inputs, states) -> (output, new_states)`` with ``states`` a list
of (batch, size) tensors, a ``state_size`` attribute (an int, or a list of ints, one per state)
and optionally ``output_size`` (default: the first state's size) and
``get_initial_state(batch_size)``. A cell written as an rnnkit :class:`Layer` may define the step
as ``call`` (Keras's name) or ``forward``. :func:`run_cell` is the reference loop for such a cell:
the engines only know the built-in cell kinds.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._base import Layer, layer_class, register


def state_sizes(cell: Any) -> list[int]:
    """The flat list of a cell's state sizes."""
    size = getattr(cell, "state_size", None)
    sizes = [size] if isinstance(size, int) else size
    if not isinstance(sizes, (list, tuple)) or not sizes or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise TypeError(
            f"expected a cell with a state_size (a positive int or a list of them), got "
            f"{type(cell).__name__} with state_size={size!r}"
        )
    return list(sizes)


def output_size(cell: Any) -> int:
    size = getattr(cell, "output_size", None)
    return size if isinstance(size, int) else state_sizes(cell)[0]


def call_cell(
    cell: Any, x: Tensor, states: list[Tensor], training: bool
) -> tuple[Tensor, list[Tensor]]:
    """One step of ``cell``: ``call`` if it has one (Keras's name), else ``cell(x, states)``."""
    step = getattr(cell, "call", None) or cell
    fn = getattr(step, "forward", step)
    kwargs = {"training": training} if "training" in inspect.signature(fn).parameters else {}
    out, new = step(x, states, **kwargs)
    new_states = [new] if isinstance(new, Tensor) else list(new)
    return out, new_states


def initial_states(cell: Any, x: Tensor) -> list[Tensor]:
    make = getattr(cell, "get_initial_state", None)
    if make is not None:
        made = make(batch_size=x.shape[0])
        return [made] if isinstance(made, Tensor) else list(made)
    return [x.new_zeros(x.shape[0], s) for s in state_sizes(cell)]


def run_cell(
    cell: Any,
    x: Tensor,
    states: Sequence[Tensor],
    *,
    mask: Tensor | None,
    go_backwards: bool,
    return_sequences: bool,
    zero_output_for_mask: bool,
    training: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Keras's RNN loop: masked steps keep the states and repeat the previous output (or
    give zeros with ``zero_output_for_mask``); ``go_backwards`` reads time in reverse."""
    batch, time = x.shape[0], x.shape[1]
    state_list = list(states)
    prev = x.new_zeros(batch, output_size(cell))
    outputs: list[Tensor] = []
    for t in range(time - 1, -1, -1) if go_backwards else range(time):
        out, new = call_cell(cell, x[:, t], state_list, training)
        if len(new) != len(state_list):
            raise ValueError(
                f"expected {len(state_list)} new state(s) from cell {type(cell).__name__}, "
                f"got {len(new)}"
            )
        if mask is not None:
            keep = mask[:, t].unsqueeze(1)  # (batch, 1)
            new = [torch.where(keep, n, s) for n, s in zip(new, state_list, strict=True)]
            out = torch.where(keep, out, torch.zeros_like(out) if zero_output_for_mask else prev)
        state_list, prev = new, out
        if return_sequences:
            outputs.append(out)
    result = torch.stack(outputs, dim=1) if return_sequences else prev  # (batch, [time,] out)
    return result, tuple(state_list)


def cell_weights(cell: Any) -> list[Tensor]:
    """A cell's weights in Keras's order."""
    weights = getattr(cell, "keras_weights", None)
    return list(weights()) if weights is not None else list(cell.parameters())


def cell_config(cell: Any) -> dict[str, Any]:
    if not isinstance(cell, Layer):
        raise TypeError(
            f"expected an rnnkit Layer as the cell to save the layer, got {type(cell).__name__}"
        )
    return {"class_name": type(cell).__name__, "config": cell.get_config()}


def cell_from_config(entry: Any) -> Layer:
    """A registered cell class from its config entry (a loader never runs other code)."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(
            f"expected a cell entry with 'class_name' and 'config', got {entry!r:.200}"
        )
    return layer_class(entry["class_name"]).from_config(copy.deepcopy(entry.get("config") or {}))


@register
class StackedRNNCells(Layer):
    """Cells run one after the other within each step (Keras's ``StackedRNNCells``).

    ``state_size`` is the flat list of every cell's state sizes, in cell order; the step takes
    and returns the states flat in that order. The output is the last cell's output.
    """

    def __init__(self, cells: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"expected a non-empty list of cells, got {cells!r:.100}")
        for c in cells:
            state_sizes(c)
        self.cells = nn.ModuleList(cells)

    @property
    def state_size(self) -> list[int]:
        return [s for c in self.cells for s in state_sizes(c)]

    @property
    def output_size(self) -> int:
        return output_size(self.cells[-1])

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        for c in self.cells:
            if isinstance(c, Layer):
                c.ensure_built(shape)
            shape = (shape[0], output_size(c))

    def keras_weights(self) -> list[Tensor]:
        return [w for c in self.cells for w in cell_weights(c)]

    def forward(
        self, inputs: Tensor, states: Sequence[Tensor], training: bool = False
    ) -> tuple[Tensor, list[Tensor]]:
        flat = list(states)
        new_states: list[Tensor] = []
        x = inputs
        for c in self.cells:
            n = len(state_sizes(c))
            x, new = call_cell(c, x, flat[:n], training)
            flat = flat[n:]
            new_states += new
        return x, new_states

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cells": [cell_config(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        cells = [cell_from_config(e) for e in config.pop("cells", [])]
        return cls(cells, **config)
