"""What Sequential and the functional Model share: Keras's compile/fit/evaluate/predict
(delegated to :mod:`rnnkit.training`, which works on any module), weights and weights files,
summary, save and export."""

from __future__ import annotations

import abc
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .. import _archive, training
from .._summary import render_summary
from ..layers import Layer
from ._exporters import EXPORTERS, registered

ArrayLike = Any


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
                "clipnorm": clipnorm,
                "clipvalue": clipvalue,
                "global_clipnorm": global_clipnorm,
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
            registered("keras_weights")(self, path)
            return
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in self.state_dict().items()}
        save_file(tensors, os.fspath(path), metadata={"format": "pt"})

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Read weights written by :meth:`save_weights` (or by Keras's ``save_weights`` for a
        ``.weights.h5``); names and shapes must match, else nothing changes."""
        if _weights_format(path) == "keras":
            registered("keras_weights_reader")(self, path)
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
