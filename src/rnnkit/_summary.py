"""The text of ``Model.summary()``: a Keras-style table rendered with rich, engines listed below."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from . import kernels
from .layers import RNN, Bidirectional


def _engine_lines(layers: Sequence[Any]) -> list[str]:
    lines = []
    for layer in layers:
        rnns: list[RNN] = (
            [layer]
            if isinstance(layer, RNN)
            else (
                [layer.forward_layer, layer.backward_layer]
                if isinstance(layer, Bidirectional)
                else []
            )
        )
        for rnn in rnns:
            choice = rnn.engine_plan()
            threads = kernels.threads_chosen() if choice.name == "fused" else None
            reason = choice.reason if threads is None else f"{choice.reason}; {threads}"
            lines.append(f" {rnn.name}: engine {choice.name} ({reason})")
    return lines


def render_summary(
    name: str,
    kind: str,
    rows: list[tuple[str, str, int, str]],
    layers: Sequence[Any],
    width: int = 100,
) -> str:
    """Render the summary table of a model called ``name`` as plain text."""
    connected = any(r[3] for r in rows)
    table = Table(box=box.HEAVY_HEAD, show_lines=True)
    table.add_column("Layer (type)", no_wrap=True)
    table.add_column("Output Shape", no_wrap=True)
    table.add_column("Param #", justify="right")
    if connected:
        table.add_column("Connected to")
    for layer, shape, params, src in rows:
        cells = [layer, shape, f"{params:,}"] + ([src] if connected else [])
        table.add_row(*cells)
    weights = [*(p for layer in layers for p in layer.parameters()),
               *(b for layer in layers for b in layer.buffers())]  # moving statistics
    unique = list({id(p): p for p in weights}.values())
    total = sum(p.numel() for p in unique)
    trainable = sum(p.numel() for p in unique if p.requires_grad)
    nbytes = sum(p.numel() * p.element_size() for p in unique)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    console.print(f'Model: "{name}" ({kind})')
    console.print(table)
    console.print(f" Total params: {total:,} ({nbytes / 1024:.2f} KB)")
    console.print(f" Trainable params: {trainable:,}")
    console.print(f" Non-trainable params: {total - trainable:,}")
    engines = _engine_lines(layers)
    if engines:
        console.print(" Recurrent engines (for a training batch of 32):")
        for line in engines:
            console.print(line, highlight=False)
    return buf.getvalue().rstrip("\n")
