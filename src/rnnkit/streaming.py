"""One step at a time: a Sequential model fed one time step per call, its states carried.

    >>> stream = Streamer(model)          # a trained Sequential (LSTM/GRU/SimpleRNN, Dense...)
    >>> y = stream.step(x_t)              # x_t (features,) or (1, features) -> the model's output
    >>> stream.reset()                    # start a new sequence (states back to zeros)

Each call runs every layer once, at batch 1, in compiled step kernels (``kernels._stream``) on
NumPy views of the model's weights (a weight updated in place is seen by the next step): a few
microseconds per step, for live inputs (sensors, a generator's next token). The outputs are the
model's on the whole sequence so far, to float rounding.

Layers: ``LSTM``, ``GRU`` (both ``reset_after`` forms), ``SimpleRNN`` with the built-in cells
(any activations the fused kernels have, no ``go_backwards``, projection or zoneout), ``Dense``
(activations linear, tanh, sigmoid, relu, hard_sigmoid), ``Dropout`` (inference: nothing). The
recurrent layers of a streamed model return sequences or not alike: one step is one step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .kernels import _stream
from .layers import GRU, LSTM, Dense, Dropout, SimpleRNN
from .layers._cells import GRUCell, LSTMCell, SimpleRNNCell
from .model import Sequential

StepFn = Callable[[np.ndarray], np.ndarray]


def _view(t: Any) -> np.ndarray:
    arr = t.detach().numpy()
    if not arr.flags.c_contiguous:
        raise ValueError(f"expected contiguous weights, got a {arr.shape} view with strides")
    return arr


def _code(name: str, layer: Any) -> int:
    code = _stream.ACTIVATION_CODES.get(name)
    if code is None:
        raise ValueError(
            f"expected an activation in {sorted(_stream.ACTIVATION_CODES)} for streaming, got "
            f"{name!r} in layer {layer.name!r}"
        )
    return code


class _Recurrent:
    """One recurrent layer's step: its kernel, weights, states and scratch vectors."""

    def __init__(self, layer: Any, dtype: np.dtype) -> None:
        cell = layer.cell
        if type(cell) not in (LSTMCell, GRUCell, SimpleRNNCell) or layer.go_backwards:
            raise ValueError(
                f"expected LSTM, GRU or SimpleRNN layers with built-in cells reading forwards, "
                f"got {type(layer).__name__} {layer.name!r}"
            )
        if cell.options():
            raise ValueError(f"expected no projection or zoneout, got them in {layer.name!r}")
        units = cell.units
        self.act = _code(cell.activation, layer)
        self.ract = _code(cell.recurrent_activation_name, layer)
        gates = cell.gates * units
        W, U = _view(cell.kernel), _view(cell.recurrent_kernel)
        zeros = np.zeros(gates, dtype)
        self.states = [np.zeros(units, dtype) for _ in range(cell.n_states)]
        self.h = self.states[0]
        z, zr = np.zeros(gates, dtype), np.zeros(gates, dtype)
        bias = _view(cell.bias) if cell.bias is not None else None
        self.rest: tuple[np.ndarray, ...]
        if cell.kind == "lstm":
            self.name, self.rest = "lstm", (W, U, zeros if bias is None else bias, self.h,
                                            self.states[1], z)  # fmt: skip
        elif cell.kind == "gru" and cell.reset_after:
            b = np.zeros((2, gates), dtype) if bias is None else bias
            self.name, self.rest = "gru", (W, U, b[0], b[1], self.h, z, zr)
        elif cell.kind == "gru":
            b1 = zeros if bias is None else bias
            self.name, self.rest = "gru_v1", (W, U, b1, self.h, z, zr, np.zeros(units, dtype))
        else:
            self.name, self.rest = "simple_rnn", (W, U, zeros if bias is None else bias, self.h, z)
        self.entry: Any = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.entry is None:
            self.entry = _stream.step_kernel(self.name, (x, *self.rest), self.act, self.ract)
        self.entry(x, *self.rest, self.act, self.ract)
        return self.h

    def reset(self) -> None:
        for s in self.states:
            s[...] = 0.0


class _Dense:
    def __init__(self, layer: Any, dtype: np.dtype) -> None:
        self.act = _code(layer.activation, layer)
        units = layer.units
        b = _view(layer.bias) if layer.bias is not None else np.zeros(units, dtype)
        self.rest: tuple[np.ndarray, ...] = (_view(layer.kernel), b, np.zeros(units, dtype))
        self.entry: Any = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.entry is None:
            self.entry = _stream.step_kernel("dense", (x, *self.rest), self.act, 0)
        self.entry(x, *self.rest, self.act, 0)
        return self.rest[2]

    def reset(self) -> None:
        pass


class Streamer:
    """Runs a :class:`~rnnkit.Sequential` model one time step per :meth:`step`, carrying the
    recurrent states from step to step (batch 1)."""

    def __init__(self, model: Sequential) -> None:
        if not isinstance(model, Sequential):
            raise TypeError(f"expected a Sequential model, got {type(model).__name__}")
        self._dtype: np.dtype | None = None
        self._model = model
        self._layers: list[_Recurrent | _Dense] = []
        self._features = 0

    def _build(self) -> None:
        layers = self._model.layers
        first = next((lay for lay in layers if isinstance(lay, (LSTM, GRU, SimpleRNN))), None)
        if first is None or first.cell.kernel is None:
            raise ValueError("expected a built model with a recurrent layer to stream")
        dtype = np.dtype(_view(first.cell.kernel).dtype)
        for layer in layers:
            if isinstance(layer, (LSTM, GRU, SimpleRNN)):
                self._layers.append(_Recurrent(layer, dtype))
            elif isinstance(layer, Dense):
                self._layers.append(_Dense(layer, dtype))
            elif not isinstance(layer, Dropout):
                raise ValueError(
                    f"expected LSTM, GRU, SimpleRNN, Dense or Dropout layers to stream, got "
                    f"{type(layer).__name__} {layer.name!r}"
                )
        self._dtype = dtype
        self._features = int(first.cell.kernel.shape[0])

    def step(self, x: ArrayLike) -> np.ndarray:
        """The model's output after one more time step ``x`` ((features,) or (1, features));
        the output has the batch axis when ``x`` has it."""
        if self._dtype is None:
            self._build()
        arr = np.ascontiguousarray(x, dtype=self._dtype)
        if arr.shape not in ((self._features,), (1, self._features)):
            raise ValueError(
                f"expected one step of shape ({self._features},) or (1, {self._features}), "
                f"got {arr.shape}"
            )
        v = arr.reshape(self._features)
        for layer in self._layers:
            v = layer(v)
        return v.copy() if arr.ndim == 1 else v.reshape(1, -1).copy()

    def reset(self) -> None:
        """Forget the carried states (the next step starts a new sequence)."""
        for layer in self._layers:
            layer.reset()

    @property
    def states(self) -> list[list[np.ndarray]]:
        """The carried states per recurrent layer (LSTM: h, c), as copies."""
        recurrent = [lay for lay in self._layers if isinstance(lay, _Recurrent)]
        return [[s.copy() for s in lay.states] for lay in recurrent]
