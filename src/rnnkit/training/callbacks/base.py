"""The callback protocol: :class:`TrainState`, the :class:`Callback` base class and the list
that dispatches hooks in order (``CallbackList``), plus ``_get``, the type-checked reader of
saved callback states used by every ``load_state_dict``.

The protocol (what the loop hands every callback, how to stop, resumable state) is described in
:mod:`rnnkit.training.callbacks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..progress import Progress

__all__ = [
    "Callback",
    "CallbackList",
    "Logs",
    "TrainState",
    "check_callbacks",
    "overrides",
    "read_saved",
]

Logs = dict[str, Any]


@dataclass
class TrainState:
    """Shared state of one ``fit`` / ``evaluate`` / ``predict`` run, handed to callbacks.

    Attributes:
        module: the ``nn.Module`` being trained.
        model: what callbacks see as ``callback.model`` (default: ``module``).
        optimizer: the torch optimizer (None outside ``fit``).
        params: ``{"epochs", "steps", "verbose", "batch_size", "samples"}``.
        stop_training: set True to stop after the current batch / epoch.
        epoch: current 0-based epoch.
        directions: ``"up"``/``"down"`` per logged metric name (without ``val_``), for
            ``mode="auto"`` of monitoring callbacks.
        progress: the progress writer; :meth:`log` writes callback messages through it.
    """

    module: nn.Module
    model: Any = None
    optimizer: torch.optim.Optimizer | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stop_training: bool = False
    epoch: int = 0
    directions: dict[str, str] = field(default_factory=dict)
    progress: Progress | None = None

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = self.module

    def log(self, message: str) -> None:
        """Write a callback message (silent when verbose is 0)."""
        if self.progress is not None:
            self.progress.message(message)

    def should_stop(self) -> bool:
        return self.stop_training or bool(getattr(self.model, "stop_training", False))


class Callback:
    """Base class; override any hook. ``logs`` are dicts of floats keyed like Keras
    (``loss``, metric names, ``val_``-prefixed validation values)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.state: TrainState | None = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_state(self, state: TrainState) -> None:
        self.state = state

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        return None if self.state is None else self.state.optimizer

    @property
    def module(self) -> nn.Module:
        if self.state is not None:
            return self.state.module
        if isinstance(self.model, nn.Module):
            return self.model
        raise RuntimeError("callback is not attached to a run (no module)")

    def stop(self) -> None:
        """Ask the loop to stop training."""
        if self.state is not None:
            self.state.stop_training = True
        elif self.model is not None:
            self.model.stop_training = True

    def _log(self, message: str) -> None:
        if self.state is not None:
            self.state.log(message)

    # ----------------------------------------------------------------------- resumable state
    def state_dict(self) -> dict[str, Any]:
        """What this callback needs to continue exactly after a resume (default: nothing).

        Called by ``fit`` at the end of every epoch when checkpointing; the values must be
        JSON-compatible or tensors."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (after ``on_train_begin`` of the resumed run).

        Raises ``ValueError`` for a state this callback did not write."""
        if state:
            raise ValueError(
                f"{type(self).__name__}: expected an empty state, got keys {sorted(state)}"
            )

    # ----------------------------------------------------------------------- hooks
    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


def read_saved(
    state: Mapping[str, Any], owner: str, key: str, kinds: tuple[type, ...], optional: bool = False
) -> Any:
    """``state[key]`` checked against ``kinds`` (bool is never an int here)."""
    if not isinstance(state, Mapping) or key not in state:
        raise ValueError(f"{owner}: expected key {key!r} in the saved state, got none")
    value = state[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(
            f"{owner}: expected {key!r} of type {'/'.join(k.__name__ for k in kinds)}, got bool"
        )
    if not isinstance(value, kinds):
        raise ValueError(
            f"{owner}: expected {key!r} of type {'/'.join(k.__name__ for k in kinds)}, "
            f"got {type(value).__name__}"
        )
    return value


class CallbackList:
    """Dispatches hooks to a list of callbacks in order."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def attach(self, state: TrainState, params: Mapping[str, Any]) -> None:
        for cb in self.callbacks:
            cb.set_model(state.model)
            cb.set_state(state)
            cb.set_params(dict(params))

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn: Callable[..., None] = getattr(cb, hook)
            fn(*args)


def check_callbacks(callbacks: Iterable[Callback] | Callback) -> list[Callback]:
    """``callbacks`` as a new list, every item checked to be a :class:`Callback`."""
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    out = list(callbacks)
    for cb in out:
        if not isinstance(cb, Callback):
            raise TypeError(f"expected Callback instances in callbacks, got {type(cb).__name__}")
    return out


def overrides(callbacks: Sequence[Callback], *hooks: str) -> bool:
    """True when some callback overrides one of ``hooks`` (so it wants per-batch logs)."""
    return any(getattr(type(cb), h) is not getattr(Callback, h) for cb in callbacks for h in hooks)
