"""``ModelCheckpoint``: save the module after every epoch (or every ``save_freq`` batches),
optionally only when a monitored value improves, with :func:`save_state_dict` (safetensors)
when the model has no ``save`` method.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from safetensors.torch import save_file
from torch import nn

from .base import Logs, read_saved
from .monitor import MonitorCallback, saved_best, saved_sign

__all__ = ["ModelCheckpoint", "save_state_dict"]


def save_state_dict(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Write ``module.state_dict()`` to ``path`` with safetensors (CPU, contiguous copies, so
    tied / non-contiguous tensors are fine)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata={"format": "pt"})


class ModelCheckpoint(MonitorCallback):
    """Save the module after every epoch (or every ``save_freq`` batches).

    ``filepath`` may hold ``str.format`` fields from the logs plus ``epoch`` (1-based) and
    ``batch``: ``"ckpt/{epoch:02d}-{val_loss:.3f}.safetensors"``. With ``save_weights_only=True``,
    or when ``callback.model`` has no callable ``save``, the ``state_dict`` is written with
    safetensors and ``filepath`` must end in ``.safetensors``; otherwise ``model.save(path)``
    is called (duck typing). ``save_best_only`` saves only when ``monitor`` improves.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, 0.0, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(f"expected save_freq 'epoch' or an int >= 1, got {save_freq!r}")
        self.save_freq = save_freq
        if save_weights_only and not self.filepath.endswith(".safetensors"):
            raise ValueError(
                "ModelCheckpoint with save_weights_only=True: expected a filepath ending in "
                f"'.safetensors', got {self.filepath!r}"
            )
        self._epoch = 0
        self._batches_since_save = 0

    def _writes_weights(self) -> bool:
        return self.save_weights_only or not callable(getattr(self.model, "save", None))

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._writes_weights() and not self.filepath.endswith(".safetensors"):
            raise ValueError(
                "ModelCheckpoint: the model has no save() method, so weights are written with "
                f"safetensors; expected a filepath ending in '.safetensors', got {self.filepath!r}"
            )

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= int(self.save_freq):
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint: cannot format filepath {self.filepath!r}: no {e} in the logs "
                f"(available: {sorted(fields)})"
            ) from None

    def _should_save(self, epoch: int, logs: Logs, path: str) -> bool:
        if not self.save_best_only:
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ModelCheckpoint: can save best model only with {self.monitor} available; "
                "saving anyway",
                stacklevel=3,
            )
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(float(current), self.best):
            if self.verbose > 0:
                self._log(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{float(current):.5f}, saving model to {path}"
                )
            self.best = float(current)
            return True
        if self.verbose > 0:
            self._log(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = dict(logs or {})
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"ModelCheckpoint: expected a file path, got the existing directory {path!r}"
            )
        if self._writes_weights():
            save_state_dict(self.module, path)
        else:
            self.model.save(path)
        if self.verbose > 0 and not self.save_best_only:
            self._log(f"Epoch {epoch + 1}: saving model to {path}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "epoch": self._epoch,
            "batches_since_save": self._batches_since_save,
            "sign": self._sign,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = "ModelCheckpoint"
        best = saved_best(state, owner)
        epoch = read_saved(state, owner, "epoch", (int,))
        since = read_saved(state, owner, "batches_since_save", (int,))
        sign = saved_sign(state, owner)
        self.best, self._epoch, self._batches_since_save, self._sign = best, epoch, since, sign
