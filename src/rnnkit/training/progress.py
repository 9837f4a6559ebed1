"""Keras-like progress output for fit / evaluate / predict.

``verbose``: ``"auto"`` = 1; 0 = silent; 1 = a progress bar updated in place per batch when the
stream is a terminal (``stream.isatty()``), otherwise one line per epoch; 2 = one line per epoch.

Formats::

    Epoch 3/10
     7/10 [====================>.........] - ETA: 1s - loss: 0.1234 - accuracy: 0.5000   (tty)
    10/10 [==============================] - 2s 5ms/step - loss: 0.1234 - val_loss: 0.2000 (tty)
    Epoch 3/10 - 2s - loss: 0.1234 - val_loss: 0.2000                     (verbose 2 or non-tty)

Numbers use ``%.4f`` when ``|v| > 1e-3`` and ``%.4e`` otherwise (Keras). All output goes through
``stream.write`` (default ``sys.stdout``, looked up at construction).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import TextIO

__all__ = ["Progress", "format_duration", "format_logs", "normalize_verbose"]


def normalize_verbose(verbose: int | str) -> int:
    """``"auto"`` -> 1; 0, 1, 2 unchanged; anything else is an error."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, int) or verbose not in (0, 1, 2):
        raise ValueError(f"expected verbose in ('auto', 0, 1, 2), got {verbose!r}")
    return verbose


def _format_value(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"
    return str(value)


def format_logs(logs: Mapping[str, object]) -> str:
    """``" - loss: 0.1234 - accuracy: 0.5000"`` (empty string for no logs)."""
    return "".join(f" - {k}: {_format_value(v)}" for k, v in logs.items())


def format_duration(seconds: float) -> str:
    """Keras's duration format: ``2s``, ``45ms`` or ``12us``."""
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds) // 3600}:{(int(seconds) % 3600) // 60:02d}:{int(seconds) % 60:02d}"
    if seconds > 60:
        return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
    return f"{seconds:.0f}s"


class Progress:
    """Writes progress for one run (fit, evaluate or predict).

    Call order: ``begin(steps, epoch=None, epochs=None)``, ``update(step, logs)`` after each
    batch (``step`` counts finished batches, 1-based), ``end(logs)``; repeat per epoch.
    ``message(text)`` writes a line (callbacks' notes) without breaking an in-place bar.

    Args:
        verbose: "auto", 0, 1 or 2.
        stream: text stream with ``write`` (and ``isatty``); default ``sys.stdout``.
        interval: minimum seconds between in-place bar redraws (the last step always draws).
        width: bar width in characters.
    """

    def __init__(
        self,
        verbose: int | str = "auto",
        stream: TextIO | None = None,
        *,
        interval: float = 0.05,
        width: int = 30,
    ) -> None:
        self.verbose = normalize_verbose(verbose)
        self.stream: TextIO = sys.stdout if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(callable(isatty) and isatty())
        self.interval = interval
        self.width = width
        self._steps = 0
        self._epoch: int | None = None
        self._epochs: int | None = None
        self._start = 0.0
        self._last_draw = -math.inf
        self._line_width = 0  # width of the in-place line on screen, 0 when none is open

    @property
    def in_place(self) -> bool:
        return self.verbose == 1 and self.interactive

    def _write(self, text: str) -> None:
        self.stream.write(text)
        flush = getattr(self.stream, "flush", None)
        if callable(flush):
            flush()

    def begin(self, steps: int, epoch: int | None = None, epochs: int | None = None) -> None:
        """Start a pass of ``steps`` batches; ``epoch`` is 0-based (None outside fit)."""
        self._steps = steps
        self._epoch = epoch
        self._epochs = epochs
        self._start = time.perf_counter()
        self._last_draw = -math.inf
        if self.in_place and epoch is not None:
            self._write(f"Epoch {epoch + 1}/{epochs}\n")

    def _bar(self, step: int) -> str:
        steps = max(self._steps, 1)
        digits = int(math.log10(steps)) + 1
        text = f"{step:{digits}d}/{steps} ["
        filled = int(self.width * min(step, steps) / steps)
        if filled > 0:
            text += "=" * (filled - 1) + (">" if step < steps else "=")
        return text + "." * (self.width - filled) + "]"

    def _draw(self, line: str, final: bool) -> None:
        pad = " " * max(self._line_width - len(line), 0)
        self._write("\r" + line + pad + ("\n" if final else ""))
        self._line_width = 0 if final else len(line)

    def wants_update(self, step: int) -> bool:
        """Whether :meth:`update` after batch ``step`` would redraw (tty mode 1, not the last
        step, ``interval`` seconds since the last redraw); lets callers skip computing logs."""
        if not self.in_place or step >= self._steps:
            return False
        return time.perf_counter() - self._last_draw >= self.interval

    def update(self, step: int, logs: Mapping[str, float] | None = None) -> None:
        """Redraw the bar after batch ``step`` (1-based) with running ``logs`` (tty mode 1 only;
        the last step is drawn by :meth:`end`)."""
        if not self.in_place or step >= self._steps:
            return
        now = time.perf_counter()
        self._last_draw = now
        eta = (now - self._start) / max(step, 1) * (self._steps - step)
        self._draw(f"{self._bar(step)} - ETA: {_format_eta(eta)}{format_logs(logs or {})}", False)

    def end(self, logs: Mapping[str, float] | None = None) -> None:
        """Finish the pass with the final (epoch) logs."""
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self._start
        logs = logs or {}
        if self.in_place:
            per_step = format_duration(elapsed / max(self._steps, 1))
            line = f"{self._bar(self._steps)} - {format_duration(elapsed)} {per_step}/step"
            self._draw(line + format_logs(logs), True)
            return
        head = (
            f"Epoch {self._epoch + 1}/{self._epochs}"
            if self._epoch is not None
            else f"{self._steps}/{self._steps}"
        )
        self._write(f"{head} - {format_duration(elapsed)}{format_logs(logs)}\n")

    def message(self, text: str) -> None:
        """Write ``text`` on its own line (nothing when verbose is 0)."""
        if self.verbose == 0:
            return
        if self._line_width:
            self._write("\n")
            self._line_width = 0
        self._write(text + "\n")
