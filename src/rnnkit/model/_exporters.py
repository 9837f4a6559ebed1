"""The writers that higher layers register, so that model needs no import of io.

``rnnkit.io`` registers "onnx", "keras", "keras_weights" and "keras_weights_reader" when it is
imported (``import rnnkit`` does); ``model.save``, ``save_weights``, ``load_weights`` and
``export_onnx`` look them up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Exporters that higher layers register (``rnnkit.io`` registers "onnx" when it is imported, as
#: ``import rnnkit`` does), so that ``model.export_onnx`` works without model importing io.
EXPORTERS: dict[str, Callable[..., Any]] = {}


def register_exporter(name: str, fn: Callable[..., Any]) -> None:
    """Make ``fn(model, path, **kwargs)`` available as ``model.export_<name>(path, **kwargs)``."""
    EXPORTERS[name] = fn


def registered(name: str) -> Callable[..., Any]:
    if name not in EXPORTERS:
        raise ValueError(f"expected rnnkit.io to be importable for {name}, got none")
    return EXPORTERS[name]
