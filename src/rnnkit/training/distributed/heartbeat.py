"""How long a distributed run waits for a rank: a timeout scaled to the measured step time,
and the heartbeat a worker started by :func:`~rnnkit.training.distributed.launch` sends.

The timeout (:func:`scaled_timeout`) is ``FACTOR`` times the median of the training steps 2-4
(the first step compiles kernels), clamped to ``[floor, ceiling]`` (defaults 60 s and 600 s;
``$RNNKIT_DIST_TIMEOUT_FLOOR`` / ``$RNNKIT_DIST_TIMEOUT_CEILING`` in seconds change them).
Until the steps are measured, and outside ``fit``'s loop, the ceiling applies. It is both

* the process group's timeout (a collective that waits longer for a rank fails on the others,
  set by :class:`StepClock` once it has measured the steps), and
* the launcher's stall timeout: each worker's heartbeat thread bumps a counter in
  ``$RNNKIT_HEARTBEAT_FILE`` every second (together with its current timeout); a rank whose
  counter stands still longer than that (stopped by SIGSTOP, or frozen) ends the job.

The heartbeat thread also ends a worker whose launcher died (its parent process changed).
"""

from __future__ import annotations

import datetime
import os
import statistics
import threading
import time
from typing import Any

import torch.distributed as dist

from ..callbacks import Callback

__all__ = [
    "FACTOR",
    "HEARTBEAT_ENV",
    "StepClock",
    "ceiling",
    "current_timeout",
    "floor",
    "read_heartbeat",
    "scaled_timeout",
    "start_heartbeat",
]

FACTOR = 100
HEARTBEAT_ENV = "RNNKIT_HEARTBEAT_FILE"
INTERVAL = 1.0
_RECORD = 48  # bytes of one heartbeat record: "counter timeout\n", space-padded
_MEASURED_STEPS = slice(1, 4)  # steps 2-4: the first one compiles
_TIMEOUT = [0.0]  # the current timeout of this process (0: the ceiling)
_HEART: list[_Heart] = []  # this worker's heartbeat, once started


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e7:
        raise ValueError(f"expected ${name} to be a number of seconds > 0, got {value!r}")
    return seconds


def floor() -> float:
    """The shortest timeout, seconds (``$RNNKIT_DIST_TIMEOUT_FLOOR``, default 60)."""
    return _env_seconds("RNNKIT_DIST_TIMEOUT_FLOOR", 60.0)


def ceiling() -> float:
    """The longest timeout, seconds (``$RNNKIT_DIST_TIMEOUT_CEILING``, default 600): also the
    timeout before the steps are measured."""
    return max(floor(), _env_seconds("RNNKIT_DIST_TIMEOUT_CEILING", 600.0))


def scaled_timeout(step_seconds: float) -> float:
    """``FACTOR * step_seconds`` clamped to ``[floor(), ceiling()]``: with the defaults,
    60 s for steps up to 0.6 s, 200 s for 2 s steps, 600 s from 6 s steps on."""
    return min(ceiling(), max(floor(), FACTOR * step_seconds))


def current_timeout() -> float:
    """This process's timeout, seconds: the scaled one inside ``fit``'s loop once measured."""
    return _TIMEOUT[0] or ceiling()


def _set_timeout(seconds: float) -> None:
    _TIMEOUT[0] = seconds
    if dist.is_available() and dist.is_initialized():
        dist.distributed_c10d._set_pg_timeout(datetime.timedelta(seconds=current_timeout()))
    for heart in _HEART:
        heart.beat()


class StepClock(Callback):
    """Measures steps 2-4 of ``fit`` and sets the process group's timeout to
    :func:`scaled_timeout` of their median while the loop runs (the ceiling outside it)."""

    def __init__(self) -> None:
        super().__init__()
        self._started = 0.0
        self._steps: list[float] = []

    def on_train_begin(self, logs: Any = None) -> None:
        if len(self._steps) > _MEASURED_STEPS.stop - 1:
            _set_timeout(scaled_timeout(statistics.median(self._steps[_MEASURED_STEPS])))

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._started = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if len(self._steps) >= _MEASURED_STEPS.stop:
            return
        self._steps.append(time.monotonic() - self._started)
        if len(self._steps) == _MEASURED_STEPS.stop:
            _set_timeout(scaled_timeout(statistics.median(self._steps[_MEASURED_STEPS])))

    def on_train_end(self, logs: Any = None) -> None:
        _set_timeout(0.0)


class _Heart:
    """Writes ``counter timeout`` records to the heartbeat file (from the thread, and at once
    when the timeout changes, so that the launcher applies a new timeout without delay)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        self.counter = 0
        self.lock = threading.Lock()

    def beat(self) -> None:
        with self.lock:
            self.counter += 1
            record = f"{self.counter} {current_timeout():.3f}".ljust(_RECORD - 1) + "\n"
            os.pwrite(self.fd, record.encode("ascii"), 0)

    def run(self, parent: int) -> None:
        while True:
            if os.getppid() != parent:  # the launcher is gone: nobody would stop this rank
                os._exit(1)
            self.beat()
            time.sleep(INTERVAL)


def start_heartbeat() -> bool:
    """Start this worker's heartbeat thread when ``$RNNKIT_HEARTBEAT_FILE`` names a file (set
    by :func:`~rnnkit.training.distributed.launch`); once per process. Returns whether it
    runs."""
    path = os.environ.get(HEARTBEAT_ENV, "")
    if not path or _HEART:
        return bool(path)
    _HEART.append(_Heart(path))
    threading.Thread(target=_HEART[0].run, args=(os.getppid(),), name="rnnkit-heartbeat",
                     daemon=True).start()
    return True


def read_heartbeat(path: str) -> tuple[int, float] | None:
    """``(counter, timeout seconds)`` of a heartbeat file, None before the first beat or for a
    record caught mid-write."""
    try:
        with open(path, "rb") as f:
            fields = f.read(_RECORD).decode("ascii").split()
        return int(fields[0]), float(fields[1])
    except (OSError, UnicodeError, ValueError, IndexError):
        return None
