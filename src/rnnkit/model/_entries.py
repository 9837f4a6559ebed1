"""A model's layers one by one: calling a layer with the carried mask, marking an output with
its mask, a layer's and an Input's config entries, and the cells of the summary table."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..layers import Input, Layer, SymbolicTensor, layer_class


def layer_config(layer: nn.Module) -> dict[str, Any]:
    if not isinstance(layer, Layer):
        raise TypeError(
            f"expected rnnkit layers to save a model, got {type(layer).__name__} "
            "(save its state_dict with safetensors instead)"
        )
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def layer_from_config(entry: dict[str, Any]) -> Layer:
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"expected a layer entry with 'class_name' and 'config', got {entry!r}")
    return layer_class(entry["class_name"]).from_config(dict(entry.get("config", {})))


def call_layer(layer: nn.Module, x: Any, mask: Any, kwargs: dict[str, Any] | None = None) -> Any:
    """``layer(x, mask=mask, **kwargs)``; a ``mask`` among the call's own keyword arguments
    (``layer(x, mask=m)`` in the functional API, as Keras allows) replaces the carried one."""
    if isinstance(layer, Layer):
        return layer(x, **{"mask": mask, **(kwargs or {})})
    return layer(x)


def output_mask(layer: nn.Module, x: Any, mask: Any, kwargs: dict[str, Any] | None = None) -> Any:
    if not isinstance(layer, Layer):
        return None
    return layer.compute_mask(x, (kwargs or {}).get("mask", mask))


def param_count(layer: nn.Module) -> int:
    """A layer's weights as Keras counts them (non-trainable moving statistics included)."""
    return sum(p.numel() for p in layer.parameters()) + sum(b.numel() for b in layer.buffers())


def input_config(t: SymbolicTensor) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(t.shape[1:]), "dtype": t.dtype}
    if t.shape[0] is not None:
        out["batch_size"] = t.shape[0]
    return out


def input_from_config(spec: dict[str, Any]) -> SymbolicTensor:
    return Input(
        tuple(spec["shape"]),
        batch_size=spec.get("batch_size"),
        dtype=spec["dtype"],
        name=spec.get("name"),
    )


def with_mask(y: Any, mask: Any) -> Any:
    """Mark the valid entries of an output as Keras does (``y._keras_mask``), so that
    training leaves masked steps out of the loss and metrics."""
    if isinstance(y, Tensor) and isinstance(mask, Tensor):
        y._keras_mask = mask  # type: ignore[attr-defined]
    return y


def format_shape(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(format_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
