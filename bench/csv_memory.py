"""Peak memory of rnnkit.data.read_csv on a ~250 MB CSV (a date column and 8 float columns).

Run from the repository root:  PYTHONPATH=src python bench/csv_memory.py [MB]

The file is generated in a temporary folder (not kept). Each reader runs in a fresh
subprocess and reports its peak RSS (ru_maxrss) above the cost of importing rnnkit, next to the
file's size; pandas' default reader is measured the same way for comparison.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = 8
READERS = {
    "rnnkit.data.read_csv": "rnnkit.data.read_csv(PATH, time_column='date', freq=None)",
    "pandas.read_csv (default engine)": "pandas.read_csv(PATH)",
}


def write_csv(path: Path, megabytes: float) -> None:
    rng = np.random.default_rng(0)
    rows = int(megabytes * 2**20 / (17 + COLUMNS * 10))  # bytes per row, about
    chunk = 200_000
    start = pd.Timestamp("2000-01-01")
    with open(path, "w", encoding="utf-8") as f:
        f.write("date," + ",".join(f"x{i}" for i in range(COLUMNS)) + "\n")
        for first in range(0, rows, chunk):
            n = min(chunk, rows - first)
            dates = pd.date_range(start + pd.Timedelta(minutes=first), periods=n, freq="min")
            values = rng.standard_normal((n, COLUMNS))
            frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(COLUMNS)])
            frame.insert(0, "date", dates.strftime("%Y-%m-%d %H:%M"))
            frame.to_csv(f, header=False, index=False, float_format="%.6f")


def peak_rss(call: str, path: Path) -> tuple[int, float]:
    prog = (
        "import resource, time, pandas, rnnkit.data\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"PATH = {str(path)!r}\n"
        "t = time.perf_counter()\n"
        f"out = {call}\n"
        "t = time.perf_counter() - t\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024, t)\n"
    )
    env = {**os.environ, "PYTHONPATH": "src"}
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env,
                         check=True)
    rss, seconds = out.stdout.split()
    return int(rss), float(seconds)


def main() -> None:
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 250.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "series.csv"
        write_csv(path, megabytes)
        size = path.stat().st_size
        print(f"file: {size / 2**20:,.0f} MiB, 1 date column + {COLUMNS} float columns")
        for name, call in READERS.items():
            rss, seconds = peak_rss(call, path)
            print(f"{name:<34} peak {rss / 2**20:7,.0f} MiB above import "
                  f"({rss / size:.2f}x the file), {seconds:.1f} s")


if __name__ == "__main__":
    main()
