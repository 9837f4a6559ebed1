"""The simple callbacks: :class:`History` (returned by ``fit``), :class:`TerminateOnNaN` and
:class:`CSVLogger`."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from typing import Any

from .base import Callback, Logs, read_saved

__all__ = ["CSVLogger", "History", "TerminateOnNaN"]


class History(Callback):
    """Records epoch logs: ``history.history = {"loss": [...], "val_loss": [...], ...}`` and
    ``history.epoch = [0, 1, ...]`` (0-based epoch indices). Returned by ``fit``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": {k: list(v) for k, v in self.history.items()},
            "epoch": list(self.epoch),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        history = read_saved(state, "History", "history", (dict,))
        epoch = read_saved(state, "History", "epoch", (list,))
        if not all(isinstance(e, int) and not isinstance(e, bool) for e in epoch):
            raise ValueError("History: expected integer epochs in the saved state")
        for key, values in history.items():
            if not isinstance(key, str) or not isinstance(values, list):
                raise ValueError("History: expected {name: [values]} in the saved state")
        self.history = {k: list(v) for k, v in history.items()}
        self.epoch = list(epoch)


class TerminateOnNaN(Callback):
    """Stop training when a batch's ``loss`` is NaN or infinite (Keras). With
    ``raise_error=True`` raise ``RuntimeError`` instead."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            self._log(f"Batch {batch}: Invalid loss, terminating training")
            self.stop()


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (0-based, Keras) then the logs keys sorted.

    The file is opened per row (no handle stays open if training fails). ``append=True`` keeps
    an existing file and writes the header only if it is empty. On a resumed ``fit`` the file
    is restored to what it held at the checkpoint (rows of a lost epoch are removed), so it
    matches the file of an uninterrupted run.
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._write_header = True
        self._start = 0  # file size (bytes) when this run began writing
        self._text = ""  # what this run wrote

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.keys = None
        self._text = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self._write_header = not f.readline()
            self._start = os.path.getsize(self.filename)
        else:
            with open(self.filename, "w", encoding="utf-8"):
                pass
            self._write_header = True
            self._start = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.sep)
        if self._write_header:
            writer.writerow(["epoch", *self.keys])
            self._write_header = False
        writer.writerow([epoch, *(logs.get(k, "NA") for k in self.keys)])
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            f.write(buf.getvalue())
        self._text += buf.getvalue()

    def state_dict(self) -> dict[str, Any]:
        return {
            "keys": None if self.keys is None else list(self.keys),
            "write_header": self._write_header,
            "start": self._start,
            "text": self._text,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = "CSVLogger"
        keys = read_saved(state, owner, "keys", (list,), optional=True)
        if keys is not None and not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{owner}: expected 'keys' as a list of strings")
        write_header = read_saved(state, owner, "write_header", (bool,))
        start = read_saved(state, owner, "start", (int,))
        text = read_saved(state, owner, "text", (str,))
        if start < 0:
            raise ValueError(f"{owner}: expected 'start' >= 0, got {start}")
        self.keys, self._write_header, self._start, self._text = keys, write_header, start, text
        mode = "r+b" if os.path.exists(self.filename) else "wb"
        with open(self.filename, mode) as f:
            size = f.seek(0, os.SEEK_END)
            if size > start:
                f.truncate(start)
            f.seek(0, os.SEEK_END)
            f.write(text.encode("utf-8"))
