"""Panel workload (issue 13, item 8): 1,000 series x 500 steps, window 48, horizon 24.

Run from the repository root:

    PYTHONPATH=src python bench/panel.py                   # rnnkit only
    PYTHONPATH=src python bench/panel.py --darts PYTHON    # also Darts, in PYTHON's env

Measured, for rnnkit (main environment):

* the peak memory (tracemalloc: numpy reports its allocations) of building the panel from
  a long table and of listing every window (``window_index``: two int64 arrays), beside
  what copies of the windows would take, and of gathering one batch;
* training an LSTM(32) -> Dense(24), batch 256, Adam, MSE, on the ``--per-series`` most
  recent windows of every series (26 by default: 26,000 windows, about 100 batches; a full
  epoch over all 429,000 windows is ``windows / trained`` times longer): batches gathered
  from the index arrays (``gather``) and trained with ``train_on_batch``, and the same
  windows with ``Model.fit`` on materialised arrays (after one warm-up batch);
* the process's peak resident memory.

For Darts (``--darts PYTHON``: an interpreter whose environment has ``darts[torch]``, run
as a subprocess so its memory is its own): ``BlockRNNModel(model="LSTM", hidden_dim=32,
input_chunk_length=48, output_chunk_length=24, batch_size=256, n_epochs=1)`` fitted on the
same 1,000 series (float32) with ``max_samples_per_ts`` = ``--per-series`` (Darts keeps
the most recent windows of each series), on the same number of torch threads; the second
of two ``fit`` calls is timed (the first pays the start-up costs).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

SERIES, STEPS, WINDOW, HORIZON, UNITS, BATCH = 1000, 500, 48, 24, 32, 256


def synthetic(series: int, steps: int, seed: int = 0) -> pd.DataFrame:
    """Hourly series of different levels, daily seasons, trends and noise (a long table)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    level = rng.uniform(10, 100, (series, 1))
    season = rng.uniform(1, 10, (series, 1)) * np.sin(2 * np.pi * t / 24 + rng.uniform(
        0, 6.3, (series, 1)))
    values = level + season + rng.normal(0, 1, (series, steps)).cumsum(axis=1) * 0.3
    return pd.DataFrame({
        "id": np.repeat(np.arange(series), steps),
        "time": np.tile(pd.date_range("2024-01-01", periods=steps, freq="h"), series),
        "y": values.reshape(-1),
    })


def mib(n: float) -> float:
    return round(n / 2**20, 2)


def traced(fn):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, mib(peak), round(seconds, 3)


def run_rnnkit(series: int, steps: int, per_series: int) -> dict[str, object]:
    import torch

    from rnnkit import Sequential
    from rnnkit.data import PanelScaler, gather, make_panel, window_index
    from rnnkit.layers import LSTM, Dense, Input

    table = synthetic(series, steps)
    panel, build_mib, build_s = traced(lambda: make_panel(table, "y", id_column="id",
                                                          time_column="time"))
    panel = PanelScaler().fit(panel).transform(panel)
    index, index_mib, index_s = traced(lambda: window_index(panel, WINDOW, HORIZON))
    n = len(index.series)
    copy_bytes = n * (WINDOW + HORIZON) * 4  # float32 inputs and targets, materialised
    _, batch_mib, _ = traced(lambda: gather(panel, type(index)(index.series[:BATCH],
                                                               index.start[:BATCH]),
                                            WINDOW, HORIZON))
    torch.manual_seed(0)
    model = Sequential([Input((WINDOW, 1)), LSTM(UNITS), Dense(HORIZON)])
    model.compile(optimizer="adam", loss="mse")
    last_start = panel.lengths[index.series] - WINDOW - HORIZON  # (n,)
    chosen = np.flatnonzero(index.start > last_start - per_series)  # most recent windows
    order = np.random.default_rng(0).permutation(chosen)
    warm = gather(panel, type(index)(index.series[:BATCH], index.start[:BATCH]), WINDOW, HORIZON)
    model.train_on_batch(warm.target[:, :, None].astype(np.float32), warm.y.astype(np.float32))
    t0 = time.perf_counter()
    for k in range(0, len(order), BATCH):
        rows = order[k:k + BATCH]
        b = gather(panel, type(index)(index.series[rows], index.start[rows]), WINDOW, HORIZON)
        model.train_on_batch(b.target[:, :, None].astype(np.float32), b.y.astype(np.float32))
    epoch_index_s = time.perf_counter() - t0
    part = gather(panel, type(index)(index.series[chosen], index.start[chosen]), WINDOW,
                  HORIZON)
    x, y = part.target[:, :, None].astype(np.float32), part.y.astype(np.float32)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    epoch_fit_s = time.perf_counter() - t0
    return {
        "framework": "rnnkit", "windows": n, "trained": len(chosen),
        "panel_build_peak_mib": build_mib,
        "panel_build_s": build_s, "window_index_peak_mib": index_mib,
        "window_index_s": index_s, "windows_as_copies_mib": mib(copy_bytes),
        "one_batch_gather_peak_mib": batch_mib,
        "train_s_gather_train_on_batch": round(epoch_index_s, 1),
        "train_s_fit_materialised": round(epoch_fit_s, 1), "threads": torch.get_num_threads(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_darts(series: int, steps: int, per_series: int) -> dict[str, object]:
    import darts
    import torch
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    table = synthetic(series, steps)
    t0 = time.perf_counter()
    ts = [TimeSeries.from_dataframe(g, time_col="time", value_cols="y").astype(np.float32)
          for _, g in table.groupby("id")]
    build_s = time.perf_counter() - t0
    model = BlockRNNModel(model="LSTM", hidden_dim=UNITS, n_rnn_layers=1,
                          input_chunk_length=WINDOW, output_chunk_length=HORIZON,
                          batch_size=BATCH, n_epochs=1, random_state=0,
                          pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                             "enable_model_summary": False, "logger": False,
                                             "enable_checkpointing": False})
    model.fit(ts, verbose=False, max_samples_per_ts=per_series)
    t0 = time.perf_counter()
    model.fit(ts, verbose=False, max_samples_per_ts=per_series)
    epoch_s = time.perf_counter() - t0
    return {
        "framework": f"darts {darts.__version__}", "series_build_s": round(build_s, 2),
        "trained": series * per_series, "train_s_fit": round(epoch_s, 1),
        "threads": torch.get_num_threads(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=SERIES)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--per-series", type=int, default=26)
    parser.add_argument("--darts", default=None, help="python of an environment with darts")
    parser.add_argument("--only", choices=["rnnkit", "darts"], default=None,
                        help=argparse.SUPPRESS)  # one framework in this process
    args = parser.parse_args()
    if args.only is not None:
        fn = run_rnnkit if args.only == "rnnkit" else run_darts
        print(json.dumps(fn(args.series, args.steps, args.per_series)))
        return
    here = str(Path(__file__).resolve())
    size = ["--series", str(args.series), "--steps", str(args.steps), "--per-series",
            str(args.per_series)]
    runs = [[sys.executable, here, "--only", "rnnkit", *size]]
    if args.darts:
        runs.append([args.darts, here, "--only", "darts", *size])
    print(f"panel: {args.series} series x {args.steps} steps, window {WINDOW}, "
          f"horizon {HORIZON}, LSTM({UNITS}), batch {BATCH}")
    for cmd in runs:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{cmd[3]} failed:\n{done.stderr[-2000:]}")
            continue
        print(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
