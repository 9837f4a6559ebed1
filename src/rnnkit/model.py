"""Models: ``Sequential`` and the functional ``Model``, with Keras's compile/fit/evaluate/predict.

The models are ``torch.nn.Module`` graphs of rnnkit layers that carry masks from layer to layer.
Training is delegated to :mod:`rnnkit.training`, which works on any module.
"""

from __future__ import annotations

import abc
import copy
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from . import _archive, _bounded, training
from ._summary import render_summary
from .errors import ModelFileError
from .layers import Input, Layer, SymbolicTensor, layer_class
from .layers._symbolic import Node, bind_kwargs, keyword_masks

ArrayLike = Any

#: Exporters that higher layers register (``rnnkit.io`` registers "onnx" when it is imported, as
#: ``import rnnkit`` does), so that ``model.export_onnx`` works without model importing io.
EXPORTERS: dict[str, Callable[..., Any]] = {}


def register_exporter(name: str, fn: Callable[..., Any]) -> None:
    """Make ``fn(model, path, **kwargs)`` available as ``model.export_<name>(path, **kwargs)``."""
    EXPORTERS[name] = fn


def _layer_config(layer: nn.Module) -> dict[str, Any]:
    if not isinstance(layer, Layer):
        raise TypeError(
            f"expected rnnkit layers to save a model, got {type(layer).__name__} "
            "(save its state_dict with safetensors instead)"
        )
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_from_config(entry: dict[str, Any]) -> Layer:
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"expected a layer entry with 'class_name' and 'config', got {entry!r}")
    return layer_class(entry["class_name"]).from_config(dict(entry.get("config", {})))


def _call(layer: nn.Module, x: Any, mask: Any, kwargs: dict[str, Any] | None = None) -> Any:
    """``layer(x, mask=mask, **kwargs)``; a ``mask`` among the call's own keyword arguments
    (``layer(x, mask=m)`` in the functional API, as Keras allows) replaces the carried one."""
    if isinstance(layer, Layer):
        return layer(x, **{"mask": mask, **(kwargs or {})})
    return layer(x)


def _out_mask(layer: nn.Module, x: Any, mask: Any, kwargs: dict[str, Any] | None = None) -> Any:
    if not isinstance(layer, Layer):
        return None
    return layer.compute_mask(x, (kwargs or {}).get("mask", mask))


class _Base(nn.Module, abc.ABC):
    """What Sequential and Model share: compile/fit/evaluate/predict, weights, summary, save."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or type(self).__name__.lower()
        self._compiled: dict[str, Any] | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.history: training.History | None = None

    # -- structure -----------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def layers(self) -> list[nn.Module]:
        """The model's layers in order (each once)."""

    @property
    def built(self) -> bool:
        return all(getattr(layer, "built", True) for layer in self.layers)

    def build(self, input_shape: Any) -> None:
        """Create every weight for inputs of ``input_shape`` (batch axis included)."""

    def count_params(self) -> int:
        """Every weight, non-trainable ones (moving statistics) included, as Keras counts."""
        return sum(p.numel() for p in self.parameters()) + sum(b.numel() for b in self.buffers())

    def get_layer(self, name: str) -> nn.Module:
        for layer in self.layers:
            if getattr(layer, "name", None) == name:
                return layer
        raise ValueError(
            f"expected a layer name in {[getattr(lay, 'name', '?') for lay in self.layers]}, "
            f"got {name!r}"
        )

    def _keras_params(self) -> list[Tensor]:
        out: list[Tensor] = []
        for layer in self.layers:
            out += layer.keras_weights() if isinstance(layer, Layer) else list(layer.parameters())
        return out

    def get_weights(self) -> list[np.ndarray]:
        """All weights as numpy arrays in Keras's order (layer by layer, Keras layout)."""
        return [p.detach().cpu().numpy().copy() for p in self._keras_params()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Set all weights from a list in Keras's order, e.g. ``keras_model.get_weights()``."""
        params = self._keras_params()
        if len(weights) != len(params):
            raise ValueError(f"expected a list of {len(params)} weight arrays, got {len(weights)}")
        with torch.no_grad():
            for i, (p, w) in enumerate(zip(params, weights)):
                t = torch.as_tensor(np.asarray(w))
                if tuple(t.shape) != tuple(p.shape):
                    raise ValueError(
                        f"expected weight {i} of shape {tuple(p.shape)}, got {tuple(t.shape)}"
                    )
                p.copy_(t.to(p.dtype))

    # -- training ------------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "adam",
        loss: Any = None,
        metrics: Iterable[Any] | None = None,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ) -> None:
        """Choose the optimizer, loss and metrics, by name or object (Keras's names).

        Gradient clipping as Keras's optimizers define it: ``clipnorm`` per variable,
        ``global_clipnorm`` over all of them, ``clipvalue`` element-wise (at most one)."""
        if loss is None:
            raise ValueError("expected a loss (a name such as 'mse' or a callable), got None")
        self._compiled = {
            "optimizer": training.get_optimizer(optimizer),
            "loss": training.get_loss(loss),
            "metrics": [training.get_metric(m) for m in (metrics or [])],
            "clipping": {
                "clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm
            },
        }
        self.optimizer = None

    def _clipping(self, **given: float | None) -> dict[str, float | None]:
        """Clipping given to fit wins as a whole over compile's (never a mix of the two)."""
        if any(v is not None for v in given.values()):
            return given
        return dict(self._require_compiled()["clipping"])

    def _require_compiled(self) -> dict[str, Any]:
        if self._compiled is None:
            raise ValueError("expected a compiled model: call model.compile(optimizer, loss) first")
        return self._compiled

    def _ensure_built_for(self, x: ArrayLike) -> None:
        if self.built or training.loaders.is_batch_source(x):
            return
        xs = x if isinstance(x, (list, tuple)) else [x]
        shapes = [(None, *np.shape(t)[1:]) for t in xs]
        self.build(shapes if isinstance(x, (list, tuple)) else shapes[0])

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.optimizer is None:
            spec = self._require_compiled()["optimizer"]
            self.optimizer = training.build_optimizer(spec, self)
        return self.optimizer

    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike = None,
        *,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        **kwargs: Any,
    ) -> training.History:
        """Train for ``epochs`` epochs (Keras semantics); returns the :class:`History`."""
        c = self._require_compiled()
        self._ensure_built_for(x)
        clip: dict[str, Any] = self._clipping(
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm
        )
        self.history = training.fit(
            self,
            x,
            y,
            loss=c["loss"],
            optimizer=self._optimizer(),
            metrics=c["metrics"],
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=list(callbacks or []),
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
            **clip,
            **kwargs,
        )
        return self.history

    def evaluate(
        self,
        x: ArrayLike,
        y: ArrayLike = None,
        *,
        batch_size: int = 32,
        verbose: int | str = "auto",
        return_dict: bool = False,
        sample_weight: ArrayLike | None = None,
        steps: int | None = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on ``x, y``: a float, a list ``[loss, *metrics]`` or a dict.
        ``x`` may be a Dataset, DataLoader or iterable of ``(x, y[, sample_weight])``."""
        c = self._require_compiled()
        self._ensure_built_for(x)
        logs = training.evaluate(
            self,
            x,
            y,
            loss=c["loss"],
            metrics=c["metrics"],
            batch_size=batch_size,
            verbose=verbose,
            sample_weight=sample_weight,
            steps=steps,
        )
        return _logs_out(logs, return_dict)

    def predict(self, x: ArrayLike, *, batch_size: int = 32, verbose: int | str = 0) -> np.ndarray:
        """Outputs for ``x`` computed in batches, as a numpy array."""
        self._ensure_built_for(x)
        return training.predict(self, x, batch_size=batch_size, verbose=verbose)

    def predict_on_batch(self, x: ArrayLike) -> np.ndarray:
        """Outputs for ``x`` as one batch (eval mode, no gradients), as a numpy array."""
        self._ensure_built_for(x)
        first = x[0] if isinstance(x, (list, tuple)) and x else x
        return training.predict(self, x, batch_size=max(1, int(np.shape(first)[0])), verbose=0)

    def train_on_batch(
        self,
        x: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        class_weight: dict[int, float] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """One gradient step on one batch; returns the loss (and metrics) before the step."""
        c = self._require_compiled()
        self._ensure_built_for(x)
        clip: dict[str, Any] = self._clipping()
        logs = training.train_on_batch(
            self,
            x,
            y,
            loss=c["loss"],
            optimizer=self._optimizer(),
            metrics=c["metrics"],
            sample_weight=sample_weight,
            class_weight=class_weight,
            **clip,
        )
        return _logs_out(logs, return_dict)

    def test_on_batch(
        self,
        x: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) of one batch in eval mode, without an update."""
        c = self._require_compiled()
        self._ensure_built_for(x)
        first = x[0] if isinstance(x, (list, tuple)) and x else x
        logs = training.evaluate(
            self,
            x,
            y,
            loss=c["loss"],
            metrics=c["metrics"],
            batch_size=max(1, int(np.shape(first)[0])),
            verbose=0,
            sample_weight=sample_weight,
        )
        return _logs_out(logs, return_dict)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(x)`` on tensors, or on numpy arrays (converted to tensors of the model's
        float dtype, integer arrays to int64), as Keras accepts them."""
        return super().__call__(*(_as_input_tensor(self, a) for a in args), **kwargs)

    # -- weights files -------------------------------------------------------------------------
    def save_weights(self, path: str | os.PathLike[str]) -> None:
        """Write every weight to ``path``: ``*.safetensors`` (the ``state_dict``) or Keras 3's
        ``*.weights.h5`` (needs ``rnnkit.io``, imported by ``import rnnkit``)."""
        if _weights_format(path) == "keras":
            _registered("keras_weights")(self, path)
            return
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()}
        save_file(tensors, os.fspath(path), metadata={"format": "pt"})

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Read weights written by :meth:`save_weights` (or by Keras's ``save_weights`` for a
        ``.weights.h5``); names and shapes must match, else nothing changes."""
        if _weights_format(path) == "keras":
            _registered("keras_weights_reader")(self, path)
            return
        tensors = load_file(os.fspath(path))
        current = self.state_dict()
        if set(tensors) != set(current):
            missing = sorted(set(current) - set(tensors))[:5]
            unexpected = sorted(set(tensors) - set(current))[:5]
            raise ValueError(
                f"{os.fspath(path)}: expected the weights {sorted(current)[:5]}..., got missing "
                f"{missing} and unexpected {unexpected}"
            )
        for name, t in current.items():
            if tuple(tensors[name].shape) != tuple(t.shape):
                raise ValueError(
                    f"{os.fspath(path)}: expected {name!r} of shape {tuple(t.shape)}, got "
                    f"{tuple(tensors[name].shape)}"
                )
        self.load_state_dict(tensors, strict=True)

    # -- reporting -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        """(layer (type), output shape, parameter count, connected to) per row."""

    def summary(self, print_fn: Callable[[str], Any] | None = None, width: int = 100) -> None:
        """Print a Keras-style table: layer (type), output shape, parameter count; engines below."""
        text = render_summary(
            self.name, type(self).__name__, self._summary_rows(), self.layers, width=width
        )
        if print_fn is None:
            import sys

            sys.stdout.write(text + "\n")
        else:
            print_fn(text)

    # -- saving --------------------------------------------------------------------------------
    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-compatible data (no weights)."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to one file: a path ending in ``.keras`` gets a Keras 3 archive that
        ``keras.saving.load_model`` opens (layers without a Keras counterpart are an error
        naming them); any other path rnnkit's own archive (architecture as JSON, weights as
        safetensors; ``.rnnkit`` by convention), which ``rnnkit.load_model`` reads."""
        suffix = os.fspath(path).lower().rpartition(".")[2]
        if suffix in ("h5", "hdf5"):
            raise ValueError(
                f"expected a .keras or .rnnkit path, got {os.fspath(path)!r} (rnnkit writes no "
                "legacy HDF5 model files: use .keras for Keras)"
            )
        if suffix == "keras":
            if "keras" not in EXPORTERS:
                raise ValueError("expected rnnkit.io to be importable to write .keras, got none")
            EXPORTERS["keras"](self, path)
            return
        _archive.write_archive(path, {"model": self.get_config()}, self.state_dict())

    def export_onnx(self, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Export to ONNX (needs the ``onnx`` extra); see :func:`rnnkit.io.export_onnx`."""
        if "onnx" not in EXPORTERS:
            raise ValueError("expected rnnkit.io to be importable for ONNX export, got none")
        return EXPORTERS["onnx"](self, path, **kwargs)


def _param_count(layer: nn.Module) -> int:
    """A layer's weights as Keras counts them (non-trainable moving statistics included)."""
    return sum(p.numel() for p in layer.parameters()) + sum(b.numel() for b in layer.buffers())


def _input_config(t: SymbolicTensor) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(t.shape[1:]), "dtype": t.dtype}
    if t.shape[0] is not None:
        out["batch_size"] = t.shape[0]
    return out


def _input_from_config(spec: dict[str, Any]) -> SymbolicTensor:
    return Input(
        tuple(spec["shape"]),
        batch_size=spec.get("batch_size"),
        dtype=spec["dtype"],
        name=spec.get("name"),
    )


def _logs_out(logs: dict[str, float], return_dict: bool) -> Any:
    """Keras's return value: the dict, or the loss alone, or ``[loss, *metrics]``."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _as_input_tensor(model: nn.Module, value: Any) -> Any:
    if not isinstance(value, np.ndarray):
        return value
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(value))
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        tensor = tensor.to(dtype)
    else:
        tensor = tensor.to(torch.int64)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return tensor.to(device)


def _weights_format(path: str | os.PathLike[str]) -> str:
    name = os.fspath(path)
    if name.endswith(".weights.h5"):
        return "keras"
    if name.endswith(".safetensors"):
        return "safetensors"
    raise ValueError(
        f"expected a weights file ending in .safetensors or .weights.h5, got {name!r} (the "
        "whole model: model.save('m.rnnkit') or 'm.keras')"
    )


def _registered(name: str) -> Callable[..., Any]:
    if name not in EXPORTERS:
        raise ValueError(f"expected rnnkit.io to be importable for {name}, got none")
    return EXPORTERS[name]


def _with_mask(y: Any, mask: Any) -> Any:
    """Mark the valid entries of an output as Keras does (``y._keras_mask``), so that
    training leaves masked steps out of the loss and metrics."""
    if isinstance(y, Tensor) and isinstance(mask, Tensor):
        y._keras_mask = mask  # type: ignore[attr-defined]
    return y


def _fmt_shape(shape: Any) -> str:
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


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
            y = _call(layer, x, mask)
            if isinstance(y, (list, tuple)):
                raise ValueError(
                    f"expected one output per layer in a Sequential model, got {len(y)} from "
                    f"{getattr(layer, 'name', type(layer).__name__)} (use the functional Model)"
                )
            mask = _out_mask(layer, x, mask)
            x = y
        return _with_mask(x, mask)

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        shapes = self._shapes(self.input_spec.shape) if self.input_spec is not None else []
        rows = []
        for i, layer in enumerate(self._layers):
            shape = _fmt_shape(shapes[i]) if i < len(shapes) and shapes[i] is not None else "?"
            name = getattr(layer, "name", f"layer_{i}")
            rows.append(
                (
                    f"{name} ({type(layer).__name__})",
                    shape,
                    _param_count(layer),
                    "",
                )
            )
        return rows

    def get_config(self) -> dict[str, Any]:
        spec = self.input_spec
        return {
            "class_name": "Sequential",
            "name": self.name,
            "input": None if spec is None else _input_config(spec),
            "layers": [_layer_config(layer) for layer in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls(name=config.get("name"))
        if config.get("input") is not None:
            model.add(_input_from_config(config["input"]))
        for entry in config.get("layers", []):
            model.add(_layer_from_config(entry))
        return model


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
            y = _call(node.layer, x_in, m_in, kwargs)
            m = _out_mask(node.layer, x_in, m_in, kwargs)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            ms = list(m) if isinstance(m, (list, tuple)) else [m] * len(ys)
            values[node.id], masks[node.id] = ys, ms
        outs = [
            _with_mask(values[t.node.id][t.index], masks[t.node.id][t.index])
            for t in self.outputs
        ]
        return outs if self._multi_out else outs[0]

    def _summary_rows(self) -> list[tuple[str, str, int, str]]:
        rows = []
        for node in self._nodes:
            if node.layer is None:
                t = node.outputs[0]
                rows.append((f"{t.name} (InputLayer)", _fmt_shape(t.shape), 0, ""))
                continue
            shapes = [o.shape for o in node.outputs]
            src = ", ".join(
                (t.node.layer.name if t.node.layer is not None else t.name) for t in node.inputs
            )
            rows.append(
                (
                    f"{node.layer.name} ({type(node.layer).__name__})",
                    _fmt_shape(shapes if len(shapes) > 1 else shapes[0]),
                    _param_count(node.layer),
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
                nodes.append({"input": {**_input_config(t), "name": t.name}})
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
            "layers": [_layer_config(layer) for layer in self.layers],
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
            layer = _layer_from_config(entry)
            layers[layer.name] = layer
        built: list[Any] = []
        for spec in config["nodes"]:
            if "input" in spec:
                i = spec["input"]
                built.append([_input_from_config(i)])
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


def model_from_config(config: dict[str, Any]) -> Sequential | Model:
    """Rebuild a model (fresh weights) from :meth:`get_config`'s JSON-compatible dict."""
    kinds: dict[str, Any] = {"Sequential": Sequential, "Model": Model}
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in kinds:
        raise ValueError(f"expected a model class_name in {sorted(kinds)}, got {name!r}")
    return kinds[name].from_config(copy.deepcopy(config))


#: A model config naming more layers than this is refused before anything is built.
MAX_LAYERS = 4096
_BUILD_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError,
                 OverflowError, RecursionError, NotImplementedError, ZeroDivisionError)


def count_layer_entries(config: Any) -> int:
    """How many ``class_name`` entries a parsed config holds, at any depth (iterative)."""
    n = 0
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            n += "class_name" in item
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    return n


def _from_untrusted_config(config: Any, fail: Callable[[str], Exception]) -> Sequential | Model:
    """``model_from_config`` of a config read from a file: errors become ``fail(reason)``."""
    n = count_layer_entries(config)
    if n > MAX_LAYERS:
        raise fail(f"expected at most {MAX_LAYERS} layers in the config, got {n} entries")
    try:
        return model_from_config(config)
    except _BUILD_ERRORS as e:
        raise fail(f"expected a config rnnkit can build, got {type(e).__name__}: {e}") from e


def _check_tensors(
    expected: dict[str, Tensor], tensors: dict[str, Tensor], fail: Callable[[str], Exception]
) -> None:
    if set(tensors) != set(expected):
        extra, missing = sorted(set(tensors) - set(expected)), sorted(set(expected) - set(tensors))
        raise fail(f"expected the weights of the config's architecture, got missing {missing[:10]}"
                   f" and unexpected {extra[:10]}")
    for name, t in tensors.items():
        want = expected[name]
        if t.shape != want.shape or t.dtype != want.dtype:
            raise fail(f"expected {name} of shape {tuple(want.shape)} and dtype {want.dtype}, "
                       f"got shape {tuple(t.shape)} and dtype {t.dtype}")


def load_model(
    path: str | os.PathLike[str], *, sha256: str | None = None, allow_nonfinite: bool = False
) -> Sequential | Model:
    """Load a model saved with :meth:`Model.save`. Reads JSON and safetensors only.

    The file is checked before any weight is allocated: its members' sizes, the safetensors
    header, then the architecture, built on PyTorch's ``meta`` device (no memory), against the
    tensors' names, shapes and dtypes. ``sha256``: the file's expected SHA-256 (hex), compared
    first. ``allow_nonfinite``: load weights holding NaN/Inf (refused by default).

    Raises:
        ModelFileError: anything wrong with the file (it names the file and the problem).
    """
    where = os.fspath(path)

    def fail(reason: str) -> ModelFileError:
        return ModelFileError(reason, path=where)

    if sha256 is not None:
        sha256 = _bounded.sha256_argument(sha256)
        try:
            _bounded.check_sha256(where, sha256, fail)
        except FileNotFoundError:
            raise fail("expected an rnnkit model file, got no such file") from None
    config, tensors = _archive.read_archive(path)
    arch = config.get("model")
    with torch.device("meta"):
        skeleton = _from_untrusted_config(arch, fail)
    _check_tensors(skeleton.state_dict(), tensors, fail)
    if not allow_nonfinite:
        _archive.check_finite(tensors, fail)
    model = _from_untrusted_config(arch, fail)
    model.load_state_dict(tensors)
    return model
