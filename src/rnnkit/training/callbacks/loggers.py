"""Experiment tracking callbacks: JSON lines (always available) and TensorBoard (optional).

:class:`JSONLogger` writes one JSON object per epoch; :class:`TensorBoardLogger` writes
Keras-style scalars through ``torch.utils.tensorboard`` (needs ``pip install tensorboard``).
:func:`default_loggers` is what ``fit(..., log_dir=DIR)`` attaches: ``DIR/history.csv``
(:class:`CSVLogger`) and ``DIR/history.jsonl`` (:class:`JSONLogger`).

Under ``torch.distributed`` these callbacks run on rank 0 only (``rank_zero_only = True``);
the logged values are global (see :mod:`rnnkit.training.distributed`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Callback, Logs, read_saved
from .basic import CSVLogger

__all__ = ["JSONLogger", "TensorBoardLogger", "default_loggers"]

#: File names that ``fit(..., log_dir=DIR)`` writes in ``DIR``.
CSV_NAME = "history.csv"
JSON_NAME = "history.jsonl"


def _json_value(value: Any) -> Any:
    """Numbers as floats (non-finite ones as the strings "NaN", "Infinity", "-Infinity", so
    every line is strict JSON); anything else as its ``str``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


class JSONLogger(Callback):
    """Append one JSON object per epoch to ``path`` (JSON lines):
    ``{"epoch": 0, "loss": 0.25, "val_loss": 0.3, ...}`` (``epoch`` 0-based, as Keras's
    ``CSVLogger``; the other keys are the epoch logs in their order).

    The file is opened per line, so no handle stays open if training fails. With
    ``append=False`` (default) the file is truncated at the start of training. On a resumed
    ``fit`` the file is restored to what it held at the checkpoint (lines of a lost epoch are
    removed), so it matches the file of an uninterrupted run.
    """

    rank_zero_only = True

    def __init__(self, path: str | os.PathLike[str], append: bool = False) -> None:
        super().__init__()
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"expected path to be a str or os.PathLike, got {type(path).__name__}")
        if not isinstance(append, bool):
            raise TypeError(f"expected append to be a bool, got {type(append).__name__}")
        self.path = os.fspath(path)
        self.append = append
        self._start = 0  # file size (bytes) when this run began writing
        self._text = ""  # what this run wrote

    def on_train_begin(self, logs: Logs | None = None) -> None:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._text = ""
        if self.append and os.path.exists(self.path):
            self._start = os.path.getsize(self.path)
        else:
            with open(self.path, "w", encoding="utf-8"):
                pass
            self._start = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        record: dict[str, Any] = {"epoch": int(epoch)}
        for key, value in (logs or {}).items():
            record[str(key)] = _json_value(value)
        line = json.dumps(record, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
        self._text += line

    def state_dict(self) -> dict[str, Any]:
        return {"start": self._start, "text": self._text}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        owner = "JSONLogger"
        start = read_saved(state, owner, "start", (int,))
        text = read_saved(state, owner, "text", (str,))
        if start < 0:
            raise ValueError(f"{owner}: expected 'start' >= 0, got {start}")
        self._start, self._text = start, text
        mode = "r+b" if os.path.exists(self.path) else "wb"
        with open(self.path, mode) as f:
            if f.seek(0, os.SEEK_END) > start:
                f.truncate(start)
            f.seek(0, os.SEEK_END)
            f.write(text.encode("utf-8"))


def _summary_writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(
            "TensorBoardLogger needs the tensorboard package, which is not installed: "
            "pip install tensorboard"
        ) from e
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Write the epoch logs as TensorBoard scalars, laid out like Keras's ``TensorBoard``:
    ``log_dir/train`` gets ``epoch_<name>`` for the training values (plus
    ``epoch_learning_rate`` of the first parameter group), ``log_dir/validation`` gets
    ``epoch_<name>`` for the ``val_<name>`` values. The step is the 0-based epoch.

    Needs ``tensorboard`` (``pip install tensorboard``); without it the constructor raises
    ``ImportError`` saying so. ``torch.utils.tensorboard`` is imported only here.
    """

    rank_zero_only = True

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(
                f"expected log_dir to be a str or os.PathLike, got {type(log_dir).__name__}"
            )
        self.log_dir = os.fspath(log_dir)
        self._writer_class = _summary_writer_class()
        self._writers: dict[str, Any] = {}

    def _writer(self, split: str) -> Any:
        writer = self._writers.get(split)
        if writer is None:
            writer = self._writers[split] = self._writer_class(os.path.join(self.log_dir, split))
        return writer

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._close()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        opt = self.optimizer
        if opt is not None and "learning_rate" not in logs:
            logs["learning_rate"] = float(opt.param_groups[0]["lr"])
        for key, value in logs.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if key.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{key[4:]}", v, epoch)
            else:
                self._writer("train").add_scalar(f"epoch_{key}", v, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class _CSVLoggerInDir(CSVLogger):
    """:class:`CSVLogger` that creates its folder when training starts."""

    rank_zero_only = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        super().on_train_begin(logs)


def default_loggers(log_dir: str | os.PathLike[str], *, append: bool = False) -> list[Callback]:
    """The loggers ``fit(..., log_dir=log_dir)`` attaches: ``CSVLogger(log_dir/history.csv)``
    and ``JSONLogger(log_dir/history.jsonl)`` (``log_dir`` is created when training starts;
    ``append`` keeps existing files, used when continuing with ``initial_epoch > 0``). Both
    are resumable: a ``fit`` resumed from a checkpoint (with the same arguments) restores both
    files to what they held at that checkpoint, so they match an uninterrupted run's."""
    if not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(
            f"expected log_dir to be a str or os.PathLike, got {type(log_dir).__name__}"
        )
    root = Path(log_dir)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"expected log_dir to be a directory, got the file {str(root)!r}")
    return [
        _CSVLoggerInDir(root / CSV_NAME, append=append),
        JSONLogger(root / JSON_NAME, append=append),
    ]
