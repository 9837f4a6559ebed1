"""How many threads a fused call uses: all of torch's, or one, chosen by timing both.

On an idle machine a call split over the cores is faster; on a busy one (a notebook, a data
loader, a second training) the split call may wait for a thread the scheduler gave to someone
else (how the threads wait meanwhile, spinning or sleeping, is ``_wait``'s choice). Which way
wins depends on the load of the moment, so it is measured, per call site (the forward or
backward pass of one layer shape), with no setting to find:

* a site starts on all threads; every ``interval`` calls it runs :data:`PROBE_CALLS` calls the
  other way and keeps the way whose median wall time is lower by more than :data:`SWITCH`
  (hysteresis: noise does not flip it);
* a probe that confirms the current way doubles the interval (up to :data:`MAX_INTERVAL`), a
  switch resets it; a current way that has become :data:`DRIFT` times slower than when it was
  chosen (the load changed) is probed again at once.

The choice is the number of threads the kernels split the batch rows over (one: the recurrence
runs on the calling thread). torch's own thread count is never changed: its reductions (a loss,
a bias gradient) round differently on another count, and a choice made from wall times would
then make a training depend on the load of the moment. Splitting never changes results: the
threads split the batch rows, and every row is computed the same way on any thread; so a seeded
training, and a resumed one, are bit-identical whatever the policy picks.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

import torch

from ._wait import WAIT

#: Calls run the other way per probe (their median is compared).
PROBE_CALLS = 3
#: The other way must be this much faster (median) to be taken.
SWITCH = 0.9
#: Calls between probes: the first, and the most after confirmations.
MIN_INTERVAL = 24
MAX_INTERVAL = 200
#: The current way this many times slower than when chosen: probe now.
DRIFT = 1.3
#: Samples of the current way kept (the last :data:`PROBE_CALLS` are compared).
WINDOW = 5


@dataclasses.dataclass
class _Site:
    full: int  # torch's thread count when the site was first seen
    threads: int  # the way in use
    samples: dict[int, deque[float]]
    until_probe: int = MIN_INTERVAL
    interval: int = MIN_INTERVAL
    probing: int = 0  # probe calls still to run the other way
    chosen_at: float = 0.0  # median of the chosen way when chosen
    ratio: float = 1.0  # other way / chosen way at the last decision

    def other(self) -> int:
        return 1 if self.threads > 1 else self.full


class ThreadPolicy:
    """Per call site: the thread count to run with, from the wall times of earlier calls."""

    def __init__(self) -> None:
        self._sites: dict[Hashable, _Site] = {}
        self._lock = threading.Lock()
        self._last: _Site | None = None
        #: False: every call runs on torch's count as it is (the benchmarks' fixed way).
        self.enabled = True

    def choose(self, key: Hashable, full: int) -> int:
        """Threads for the next call of site ``key`` (``full``: torch's current count)."""
        if full <= 1:
            return full
        with self._lock:
            site = self._sites.get(key)
            if site is None or site.full != full:
                site = _Site(full, full, {full: deque(maxlen=WINDOW), 1: deque(maxlen=WINDOW)})
                self._sites[key] = site
            if site.probing == 0 and site.until_probe <= 0:
                site.probing = PROBE_CALLS
                site.samples[site.other()].clear()
            return site.other() if site.probing else site.threads

    def record(self, key: Hashable, threads: int, seconds: float) -> None:
        """The wall time of a call of site ``key`` run on ``threads`` (the next
        :meth:`choose` reads the decision)."""
        with self._lock:
            site = self._sites[key]
            site.samples[threads].append(seconds)
            self._last = site
            if threads != site.threads:
                site.probing = max(0, site.probing - 1)
                if site.probing == 0:
                    self._decide(site)
                return
            site.until_probe -= 1
            mine = site.samples[threads]
            if site.chosen_at and len(mine) >= 3:
                recent = statistics.median(list(mine)[-3:])
                if recent > DRIFT * site.chosen_at:
                    site.until_probe = 0

    @staticmethod
    def _decide(site: _Site) -> None:
        mine = statistics.median(list(site.samples[site.threads])[-PROBE_CALLS:])  # recent
        other = statistics.median(site.samples[site.other()])
        if other < SWITCH * mine:
            site.threads = site.other()
            site.samples[site.threads] = deque(
                list(site.samples[site.threads])[-PROBE_CALLS:], maxlen=WINDOW
            )
            site.interval = MIN_INTERVAL
            site.chosen_at, site.ratio = other, mine / other
        else:
            site.interval = min(2 * site.interval, MAX_INTERVAL)
            site.chosen_at, site.ratio = mine, other / mine
        site.until_probe = site.interval

    def describe(self) -> str | None:
        """What the last measured site chose, in words (None before any split call)."""
        site = self._last
        if site is None:
            return None
        if site.chosen_at == 0.0:
            return f"{site.full} threads, measuring whether 1 is faster under the current load"
        if site.threads == 1:
            return (
                f"1 thread (the other cores are busy: {site.full} threads measured "
                f"{site.ratio:.2f}x slower)"
            )
        return f"{site.threads} threads (1 thread measured {site.ratio:.2f}x their time)"

    def reset(self) -> None:
        with self._lock:
            self._sites.clear()
            self._last = None


POLICY = ThreadPolicy()


def threads_chosen() -> str | None:
    """What the fused engine's thread policy chose for its last split call and how torch's
    threads wait (``_wait``), in words (None before any): ``summary()``'s engine lines add it."""
    said = [d for d in (POLICY.describe(), WAIT.describe()) if d is not None]
    return "; ".join(said) or None


_chosen = threading.local()


def kernel_threads() -> int:
    """The threads the fused kernels split their rows over: the policy's choice inside a
    call it measures, else torch's count."""
    return int(getattr(_chosen, "threads", 0)) or torch.get_num_threads()


@contextmanager
def adaptive_threads(key: Hashable, split: bool) -> Iterator[int]:
    """Run the body with the kernels' row split on the thread count :data:`POLICY` picks
    for ``key`` (:func:`kernel_threads`); ``split`` False (a call too small to split) leaves
    torch's count. torch's own count is not changed (see the module docs). Each call also lets
    the wait policy (``_wait``) look at the load."""
    WAIT.tick()
    full = torch.get_num_threads()
    if not split or full <= 1 or not POLICY.enabled:
        yield full
        return
    threads = POLICY.choose(key, full)
    _chosen.threads = threads
    start = time.perf_counter()
    try:
        yield threads
    finally:
        _chosen.threads = 0
        POLICY.record(key, threads, time.perf_counter() - start)
