"""Choose and check the Forecaster's default recipe on real panels (issue 13).

Selection uses validation data carved from the training part only: the last ``test`` rows of
every series are cut off first (the test part), and each recipe is backtested on the last
``test`` rows of what remains. ``--final`` scores the recipes on the test part itself (run it
once, for the chosen recipe; never choose on it).

    python scripts/forecast_recipe.py --data aus --recipes default,seasonal --seeds 0,1,2
    python scripts/forecast_recipe.py --data aus,employment,macro,victoria --final

Prints one line per (data, recipe, seed) and the median and range of MASE over the seeds.
No download: every panel comes from rnnkit's bundle or an installed package (statsmodels).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from rnnkit.datasets import load_aus_accommodation, load_us_employment, load_victoria_demand
from rnnkit.tasks import Forecaster
from rnnkit.tasks._backtest import mase_scales, test_rows

# name -> (panel loader, constructor arguments that describe the data, test rows)
Loaded = tuple[pd.DataFrame, dict[str, Any], int]


def _aus() -> Loaded:
    df = load_aus_accommodation()[["state", "quarter", "takings"]]
    return df, {"target": "takings", "id_column": "state", "time_column": "quarter",
                "horizon": 4}, 8


def _employment() -> Loaded:
    df = load_us_employment()
    keep = df["series_id"].drop_duplicates().iloc[::6]  # 25 of the 148 series (CPU time)
    df = df[df["series_id"].isin(keep)][["series_id", "month", "employed"]]
    df = df.groupby("series_id").tail(240)  # the last 20 years of each
    return df, {"target": "employed", "id_column": "series_id", "time_column": "month",
                "horizon": 12}, 24


def _macro() -> Loaded:
    from statsmodels.datasets import macrodata

    raw = macrodata.load_pandas().data
    cols = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "pop"]
    time_index = pd.date_range("1959-01-01", periods=len(raw), freq="QS")
    long = [pd.DataFrame({"series": c, "quarter": time_index, "value": raw[c].to_numpy()})
            for c in cols]
    return pd.concat(long, ignore_index=True), {
        "target": "value", "id_column": "series", "time_column": "quarter", "horizon": 4}, 16


def _victoria() -> Loaded:
    daily = load_victoria_demand("D")[["demand_gwh"]]
    return daily, {"target": "demand_gwh", "horizon": 7}, 56


DATA = {"aus": _aus, "employment": _employment, "macro": _macro, "victoria": _victoria}

RECIPES: dict[str, dict[str, Any]] = {
    # the defaults before this recipe: a 33-step window of scaled values, LSTM(64)
    "old": {"window": 33, "residual": False},
    # the defaults now: window two seasons, residual "seasonal" (README)
    "default": {},
    "units32": {"units": 32},
    "units8": {"units": 8},
}


def _cut(df: pd.DataFrame, args: dict[str, Any], rows: int) -> pd.DataFrame:
    if "id_column" not in args:
        return df.iloc[:-rows]
    return df.groupby(args["id_column"], sort=False).head(-rows) if rows else df


def _mase(actual: np.ndarray, forecast: np.ndarray, series: np.ndarray,
          scales: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - forecast) / scales[series][:, None]))


def run(data: str, recipe: str, seed: int, final: bool) -> dict[str, Any]:
    df, args, test = DATA[data]()
    if not final:
        df = _cut(df, args, test)
    train = _cut(df, args, test)
    f = Forecaster(**{**args, **RECIPES[recipe]}, random_state=seed, baseline="theta")
    t0 = time.perf_counter()
    f.fit(train)
    seconds = round(time.perf_counter() - t0, 1)
    bt = f.backtest(df, test=test)
    forecast = bt.forecast
    panel = f.read_panel(df)
    scales = mase_scales(panel, panel.lengths - test_rows(test, panel.lengths))
    m = bt.metrics
    b = m["baselines"]
    return {"data": data, "recipe": recipe, "seed": seed, "final": final,
            "mase": _mase(bt.actual, forecast, bt.series, scales),
            "snaive": b["seasonal_naive"]["mase"],
            "naive": b["naive"]["mase"], "theta": b.get("theta", {}).get("mase"),
            "seconds": seconds, "forecast": forecast, "actual": bt.actual,
            "series": bt.series, "scales": scales}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="aus")
    p.add_argument("--recipes", default="default")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--final", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    for data in a.data.split(","):
        for recipe in a.recipes.split(","):
            rows = [run(data, recipe, int(s), a.final) for s in a.seeds.split(",")]
            for r in rows:
                print(json.dumps({k: v for k, v in r.items()
                                  if not isinstance(v, np.ndarray)}), flush=True)
            mase = np.array([r["mase"] for r in rows])
            mean = np.mean([r["forecast"] for r in rows], axis=0)
            ens = _mase(rows[0]["actual"], mean, rows[0]["series"], rows[0]["scales"])
            print(f"== {data} {recipe} {'test' if a.final else 'validation'}: MASE median "
                  f"{np.median(mase):.3f} range {mase.min():.3f}-{mase.max():.3f}; seasonal "
                  f"naive {rows[0]['snaive']:.3f}, naive {rows[0]['naive']:.3f}, theta "
                  f"{rows[0]['theta']}; ensemble of the seeds {ens:.3f}", flush=True)


if __name__ == "__main__":
    main()
