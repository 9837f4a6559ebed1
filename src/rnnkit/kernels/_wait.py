"""How torch's OpenMP threads wait: spinning while the cores are free, sleeping while not.

libgomp's threads spin for about 3 ms (300,000 spins) before they sleep, both the workers
between two parallel regions and the calling thread at a region's end. On free cores that makes
the next region start at once. When other work holds a core, the spinning threads take the
time slices the threads they wait for need: measured on the 2-core machine with one busy loop
beside a W1 LSTM b32 training step (bench/RESULTS.md; other sessions also ran), 124 ms per
step with spinning and 9.7 ms with sleeping; with free cores sleeping cost 7.8 ms against
6.1 ms (each wake-up is a system call and an inter-processor interrupt).

So the wait follows the load, measured where it shows: the run delay of this process's threads
(the time they were ready to run but waited for a core, ``/proc/self/task/*/schedstat``). Every
:data:`WINDOW` seconds (checked at each fused call), a share of the wall time above
:data:`SLEEP_ABOVE` makes the threads sleep at once (spin count 0); a share below
:data:`SPIN_BELOW` lets them spin again (libgomp's default), after a hold that doubles each
time spinning brings the delay straight back (no flapping under a light load). Sleeping threads
on free cores wait for nothing, so the share falls and they spin again; spinning threads on busy
cores wait for each other, so it rises. How threads wait never changes a result.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

from . import _omp

#: Seconds between looks at the run delay (at least; see :data:`MAX_OVERHEAD`).
WINDOW = 0.05
#: The most time the looks may take, as a share of the time between them (a process with
#: hundreds of threads reads hundreds of files per look: its looks are spaced further).
MAX_OVERHEAD = 0.01
#: Run delay (summed over this process's threads) per second of wall time above which the
#: threads sleep while they wait.
SLEEP_ABOVE = 0.15
#: ... and below which they spin again, after :attr:`WaitPolicy.hold` windows in a row.
SPIN_BELOW = 0.04
#: Windows spent spinning after which a return to sleeping does not lengthen the hold.
SETTLED = 20
#: The most windows of low delay asked for before spinning again (a load that comes back
#: whenever the threads spin makes each try wait twice as long).
MAX_HOLD = 64


def run_delays() -> dict[int, int] | None:
    """Nanoseconds each thread of this process has waited for a core since it started (None
    where the kernel does not report it)."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                out[int(tid)] = int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended
    return out or None


class WaitPolicy:
    """Sets libgomp's spin count from the run delay of this process's threads."""

    def __init__(
        self,
        find: Callable[[], _omp.SpinCount | None] = _omp.spin_count,
        read: Callable[[], dict[int, int] | None] = run_delays,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._find: Callable[[], _omp.SpinCount | None] | None = find
        self._spin: _omp.SpinCount | None = None
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[int, int] | None = None
        self._since = -math.inf
        self._window = WINDOW
        #: The last measured share of wall time spent waiting for a core (None before one).
        self.share: float | None = None
        self.sleeping = False
        #: Windows of low delay in a row needed before sleeping threads spin again.
        self.hold = 1
        self._quiet = 0  # windows of low delay in a row while sleeping
        self._spun = 0  # windows spent spinning since the last switch
        self._enabled = True

    @property
    def enabled(self) -> bool:
        """False: the threads wait as libgomp was told at start (the benchmarks' fixed way);
        True again puts back the policy's choice."""
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        with self._lock:
            self._enabled = on
            if self._spin is not None:
                self._spin.value = 0 if on and self.sleeping else _omp.DEFAULT_SPINS

    def tick(self) -> None:
        """Look at the run delay if :data:`WINDOW` has passed since the last look."""
        if self._find is not None:  # first call: find libgomp's spin count
            self._spin, self._find = self._find(), None
        if self._spin is None or not self._enabled:
            return
        now = self._clock()
        if now - self._since < self._window:
            return
        with self._lock:
            delays = self._read()
            self._window = max(WINDOW, (self._clock() - now) / MAX_OVERHEAD)
            if delays is None:
                self._spin = None  # nothing to go by: libgomp's own policy stays
                return
            last, self._last = self._last, delays
            elapsed, self._since = now - self._since, now
            if last is None:
                return
            waited = sum(max(0, d - last.get(tid, 0)) for tid, d in delays.items())
            self.share = waited * 1e-9 / elapsed
            self._decide(self.share)

    def _decide(self, share: float) -> None:
        if not self.sleeping:
            self._spun += 1
            if share > SLEEP_ABOVE:
                # back to sleeping soon after the last try: the next try waits longer
                self.hold = 1 if self._spun > SETTLED else min(2 * self.hold, MAX_HOLD)
                self._set(True)
            return
        self._quiet = self._quiet + 1 if share < SPIN_BELOW else 0
        if self._quiet >= self.hold:
            self._set(False)

    def _set(self, sleeping: bool) -> None:
        if self._spin is not None:
            self._spin.value = 0 if sleeping else _omp.DEFAULT_SPINS
        self.sleeping = sleeping
        self._quiet = self._spun = 0

    def restore(self) -> None:
        """libgomp's default (spinning), and no measurement yet."""
        with self._lock:
            if self.sleeping:
                self._set(False)
            self._last, self.share, self.hold = None, None, 1

    def describe(self) -> str | None:
        """How the threads wait now, in words (None where this is not controlled)."""
        if self._spin is None or self.share is None:
            return None
        share = f"threads waited {self.share:.0%} of the time for a core"
        if self.sleeping:
            return f"waits sleeping (other work holds the cores: {share})"
        return f"waits spinning ({share})"


#: The process's policy (attached to torch's libgomp on its first look).
WAIT = WaitPolicy()
