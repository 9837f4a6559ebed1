"""The processes of a distributed run on this machine, watched until they end.

:class:`Workers` starts ``python ARGV`` once per rank with torchrun's environment (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and a heartbeat file
(:mod:`.heartbeat`), then polls them. The job ends at the first of:

* every rank exited 0;
* a rank died from a signal (SIGKILL, a crash) or exited non-zero: the others are stopped and
  :class:`~rnnkit.errors.WorkerFailedError` names the rank and what happened (the signal, or
  the last line the rank wrote to stderr, e.g. its ``rnnkit: error: ...`` line);
* a rank's heartbeat stood still longer than its timeout (:func:`.heartbeat.scaled_timeout`;
  the ceiling before the steps are measured): a stopped (SIGSTOP) or frozen rank. The others
  are stopped and the error says so;
* ``timeout`` passed: everything is stopped and ``TimeoutError`` raised.

The workers' stderr goes through this process: forwarded line by line with
``forward_stderr=True``, else kept (the last 200 lines per rank) and written out in rank order
when the job succeeded, so that a failure is reported in one line.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from ...errors import WorkerFailedError
from .heartbeat import HEARTBEAT_ENV, ceiling, read_heartbeat

__all__ = ["Workers"]

POLL = 0.2
GRACE = 5.0  # seconds a SIGTERMed worker gets before SIGKILL
_KEEP_LINES = 200
_PEER_ERRORS = ("DistBackendError", "Connection closed by peer", "Connection reset by peer",
                "gloo", "NCCL")


class _Worker:
    """One rank: its process, stderr reader and heartbeat bookkeeping."""

    def __init__(self, rank: int, proc: subprocess.Popen[bytes], beat: str, forward: bool):
        self.rank = rank
        self.proc = proc
        self.beat = beat
        self.lines: collections.deque[str] = collections.deque(maxlen=_KEEP_LINES)
        self.count = -1
        self.changed = time.monotonic()
        self.timeout = ceiling()
        if proc.stderr is None:
            raise RuntimeError("launch: expected the worker's stderr as a pipe, got none")
        self.reader = threading.Thread(target=self._read, args=(proc.stderr, forward),
                                       daemon=True)
        self.reader.start()

    def _read(self, stream: IO[bytes], forward: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if forward:
                sys.stderr.write(line)
                sys.stderr.flush()
        stream.close()

    def last_line(self) -> str:
        self.reader.join(timeout=5)
        for line in reversed(self.lines):
            if line.strip():
                return line.strip().removeprefix("rnnkit: error: ")
        return "no message on stderr"

    def stalled_for(self, now: float) -> float:
        """Seconds since the heartbeat last moved (updates the bookkeeping)."""
        beat = read_heartbeat(self.beat)
        if beat is not None and beat[0] != self.count:
            self.count, self.timeout = beat
            self.changed = now
        return now - self.changed

    def stopped(self) -> bool:
        """Whether the process is stopped (state T in /proc; False where there is no /proc)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
        except (OSError, IndexError):
            return False


class Workers:
    """``nproc`` processes of ``python ARGV``, one per rank (see the module docstring)."""

    def __init__(self, nproc: int, argv: Sequence[str], env: Mapping[str, str], port: int,
                 forward_stderr: bool) -> None:
        self._dir = tempfile.mkdtemp(prefix="rnnkit-launch-")
        self._forward = forward_stderr
        self.workers: list[_Worker] = []
        common = {**os.environ, **env, "WORLD_SIZE": str(nproc),
                  "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1",
                  "MASTER_PORT": str(port)}
        try:
            for rank in range(nproc):
                beat = os.path.join(self._dir, f"rank-{rank}")
                proc = subprocess.Popen(
                    [sys.executable, *argv], stderr=subprocess.PIPE,
                    env={**common, "RANK": str(rank), "LOCAL_RANK": str(rank),
                         HEARTBEAT_ENV: beat})
                self.workers.append(_Worker(rank, proc, beat, forward_stderr))
        except BaseException:
            self.stop()
            raise

    def wait(self, timeout: float | None = None) -> None:
        """Until every rank exited 0; else stop them all and raise (module docstring)."""
        start = last = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if now - last > 10 * POLL + 5:  # this process was not scheduled: not a stall
                    for w in self.workers:
                        w.changed += now - last
                last = now
                failure = self._failure(now)
                if failure is not None:
                    raise failure
                if all(w.proc.returncode == 0 for w in self.workers):
                    break
                if timeout is not None and now - start > timeout:
                    raise TimeoutError(f"launch: the {len(self.workers)} processes did not "
                                       f"finish within {timeout} s; stopped them")
                time.sleep(POLL)
        finally:
            self.stop()
        if not self._forward:
            for w in self.workers:
                w.reader.join(timeout=5)
                sys.stderr.write("".join(w.lines))

    def _failure(self, now: float) -> WorkerFailedError | None:
        failed = [w for w in self.workers if w.proc.poll() not in (None, 0)]
        if failed:
            return self._exit_failure(failed)
        for w in self.workers:
            if w.proc.returncode is None and w.stalled_for(now) > w.timeout:
                state = "; its process is stopped (SIGSTOP)" if w.stopped() else ""
                return WorkerFailedError(
                    f"rank {w.rank} (pid {w.proc.pid}) stopped responding: no heartbeat for "
                    f"{now - w.changed:.0f} s (timeout {w.timeout:.0f} s){state}; stopped the "
                    "other ranks", rank=w.rank)
        return None

    def _exit_failure(self, failed: list[_Worker]) -> WorkerFailedError:
        """The root cause among the failed ranks: a signal, else an error that is not a peer's
        failure seen through a collective, else the lowest rank."""
        killed = [w for w in failed if (w.proc.returncode or 0) < 0]
        if killed:
            w = killed[0]
            name = signal.Signals(-(w.proc.returncode or 0)).name
            return WorkerFailedError(f"rank {w.rank} (pid {w.proc.pid}) was killed by {name}; "
                                     "stopped the other ranks", rank=w.rank)
        own = [w for w in failed if not any(e in w.last_line() for e in _PEER_ERRORS)]
        w = (own or failed)[0]
        return WorkerFailedError(f"rank {w.rank} (pid {w.proc.pid}) failed with exit status "
                                 f"{w.proc.returncode}: {w.last_line()}", rank=w.rank)

    def stop(self) -> None:
        """SIGTERM the running ranks (SIGKILL a stopped one), SIGKILL after ``GRACE`` s."""
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGKILL if w.stopped() else signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for w in self.workers:
            try:
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
