"""Peak memory of make_windows on a 10-million-step series (tracemalloc).

Run from the repository root:  PYTHONPATH=src python bench/window_memory.py

numpy reports its array allocations to tracemalloc, so the peak below is every byte
allocated while windowing (the series itself is allocated before tracing starts).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from rnnkit.data import make_windows

STEPS = 10_000_000
WINDOW = 100


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def measure(features: int, horizon: int, target: object) -> None:
    rng = np.random.default_rng(0)
    series = rng.standard_normal((STEPS, features), dtype=np.float32)
    if features == 1:
        series = series[:, 0]
    tracemalloc.start()
    t0 = time.perf_counter()
    X, y = make_windows(series, WINDOW, horizon=horizon, target=target)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    batch = np.array(X[:256])  # what a training step materialises
    batch_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    copy_bytes = X.size * X.itemsize + y.size * y.itemsize
    print(
        f"| {features} | {horizon} | {mib(series.nbytes)} | {X.shape} | {y.shape} | "
        f"{mib(copy_bytes)} | {mib(peak)} | {copy_bytes / max(peak, 1):,.0f}x | "
        f"{seconds * 1e3:,.0f} ms | {mib(batch_peak)} ({batch.shape}) |"
    )


def main() -> None:
    print(f"make_windows on {STEPS:,} steps, window={WINDOW}, float32\n")
    print("| features | horizon | series | X shape | y shape | a copy would need | "
          "peak while windowing | saving | time | one batch of 256 |")
    print("| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |")
    measure(1, 1, "all")
    measure(3, 1, "all")
    measure(3, 24, [0])


if __name__ == "__main__":
    main()
