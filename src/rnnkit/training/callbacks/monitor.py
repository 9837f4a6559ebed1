"""The callbacks that watch a logged value: the shared :class:`MonitorCallback` (``mode`` and
``min_delta`` comparison), :class:`EarlyStopping` and :class:`ReduceLROnPlateau`
(:class:`ModelCheckpoint` is in :mod:`.model_checkpoint`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .base import Callback, Logs, read_saved

__all__ = ["EarlyStopping", "MonitorCallback", "ReduceLROnPlateau", "saved_best", "saved_sign"]


def saved_sign(state: Mapping[str, Any], owner: str) -> int | None:
    sign = read_saved(state, owner, "sign", (int,), optional=True)
    if sign not in (None, 1, -1):
        raise ValueError(f"{owner}: expected 'sign' in (None, 1, -1), got {sign!r}")
    return sign  # type: ignore[no-any-return]


def saved_best(state: Mapping[str, Any], owner: str) -> float | None:
    best = read_saved(state, owner, "best", (int, float), optional=True)
    return None if best is None else float(best)


_MIN_NAMES = {"loss", "mae", "mse", "mean_absolute_error", "mean_squared_error", "learning_rate"}


class MonitorCallback(Callback):
    """Keras's ``MonitorCallback``: ``mode`` "min"/"max"/"auto" and ``min_delta`` comparison.

    ``mode="auto"`` takes the direction from the run's metrics (accuracy: max; loss and errors:
    min) and raises ``ValueError`` when it cannot tell.
    """

    def __init__(
        self, monitor: str, mode: str, min_delta: float, baseline: float | None = None
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"expected mode in ('auto', 'min', 'max'), got {mode!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"expected monitor to be a str, got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.baseline = baseline
        self.best: float | None = baseline
        self._sign: int | None = None  # +1: larger is better, -1: smaller is better

    def _resolve_sign(self) -> int:
        if self.mode == "max":
            return 1
        if self.mode == "min":
            return -1
        name = self.monitor.removeprefix("val_")
        direction = self.state.directions.get(name) if self.state is not None else None
        if direction is None:
            lname = name.lower()
            if lname in _MIN_NAMES or lname.endswith(("loss", "error")):
                direction = "down"
            elif "acc" in lname or "auc" in lname:
                direction = "up"
        if direction is None:
            raise ValueError(
                f"{type(self).__name__}: cannot tell whether monitor={self.monitor!r} should be "
                "minimized or maximized; expected mode='min' or mode='max', got mode='auto'"
            )
        return 1 if direction == "up" else -1

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if self._sign is None:
            self._sign = self._resolve_sign()
        if reference is None:
            return True
        if self._sign > 0:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def _monitor_value(self, logs: Logs | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} conditioned on metric {self.monitor!r} which is not "
                f"available. Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
            return None
        return float(value)


def _copy_state_dict(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras semantics).

    Args:
        monitor: logs key, default ``"val_loss"``.
        min_delta: an absolute change smaller than this is no improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 writes a message when stopping / restoring.
        mode: "auto", "min" or "max".
        baseline: a value the monitor must beat; until it does, patience runs out.
        restore_best_weights: keep a copy of the best epoch's ``state_dict`` and load it at the
            end of training (also when training ran all epochs without stopping).
        start_from_epoch: epochs to wait before monitoring starts.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta, baseline)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"expected patience to be an int >= 0, got {patience!r}")
        self.patience = patience
        self.verbose = verbose
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: dict[str, Tensor] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_state_dict(self.module)
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state_dict(self.module)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            self._log(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                self._log(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.module.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "sign": self._sign,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = "EarlyStopping"
        wait = read_saved(state, owner, "wait", (int,))
        stopped = read_saved(state, owner, "stopped_epoch", (int,))
        best = saved_best(state, owner)
        best_epoch = read_saved(state, owner, "best_epoch", (int,))
        weights = read_saved(state, owner, "best_weights", (dict,), optional=True)
        if weights is not None and not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in weights.items()
        ):
            raise ValueError(f"{owner}: expected best_weights as {{name: tensor}}")
        sign = saved_sign(state, owner)
        self.wait, self.stopped_epoch, self.best, self.best_epoch = wait, stopped, best, best_epoch
        self.best_weights = None if weights is None else dict(weights)
        self._sign = sign


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate of every param group by ``factor`` when ``monitor`` has not
    improved for ``patience`` epochs (Keras semantics; ``lr_new = max(lr * factor, min_lr)``).
    Adds ``"learning_rate"`` (before any reduction this epoch, like Keras) to the epoch logs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1.0:
            raise ValueError(f"expected factor in (0, 1), got {factor}")
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def _optimizer(self) -> torch.optim.Optimizer:
        opt = self.optimizer
        if opt is None:
            raise RuntimeError("ReduceLROnPlateau: expected a run with an optimizer, got none")
        return opt

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        opt = self._optimizer()
        if logs is not None:
            logs["learning_rate"] = float(opt.param_groups[0]["lr"])
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                reduced = False
                for group in opt.param_groups:
                    old = float(group["lr"])
                    if old > np.float32(self.min_lr):
                        group["lr"] = max(old * self.factor, self.min_lr)
                        reduced = True
                if reduced:
                    if self.verbose > 0:
                        new = float(opt.param_groups[0]["lr"])
                        self._log(
                            f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "sign": self._sign,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = "ReduceLROnPlateau"
        best = saved_best(state, owner)
        wait = read_saved(state, owner, "wait", (int,))
        cooldown = read_saved(state, owner, "cooldown_counter", (int,))
        sign = saved_sign(state, owner)
        self.best, self.wait, self.cooldown_counter, self._sign = best, wait, cooldown, sign
