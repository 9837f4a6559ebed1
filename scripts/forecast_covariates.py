"""Known-future against past-only covariates on a daily load series (issue 13's check).

Two daily load series built from the bundled Victoria demand of 2014
(``load_victoria_demand``), each with a working-day flag and the day's maximum temperature
given once as past covariates (known up to the forecast origin) and once as future
covariates (the network also reads their values at the forecast step: tomorrow's working
day and the temperature forecast):

* ``--data victoria``: daily energy ``demand_gwh`` (``load_victoria_demand("D")``), the
  series the recipe's future-covariate input was chosen on (validation parts only);
* ``--data peak``: each day's peak half-hourly demand ``peak_gw`` with the maximum of the
  half-hourly temperatures, aggregated here from ``load_victoria_demand("30min")``: a
  second daily load series that no choice was made on.

One-step MAE on the last ``--test`` days (``--part validation``: on the ``--test`` days
before them, training on the days before those; ``validation2``/``validation3``: the
blocks of ``--test`` days before that), the Forecaster's defaults otherwise, 1 thread,
median over seeds::

    python scripts/forecast_covariates.py --data victoria,peak --seeds 0,1,2 [--part validation]

``--residual seasonal`` (or ``value``) gives the known-future model that recipe in place of
the default (``residual="combined"`` with future covariates).
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd
import torch

from rnnkit.datasets import load_victoria_demand
from rnnkit.tasks import Forecaster

PARTS = {"test": 0, "validation": 1, "validation2": 2, "validation3": 3}


def victoria_daily() -> tuple[pd.DataFrame, str]:
    """Daily energy (GWh) with ``workday`` and ``temp_max``."""
    return load_victoria_demand("D")[["demand_gwh", "workday", "temp_max"]], "demand_gwh"


def victoria_peak() -> tuple[pd.DataFrame, str]:
    """Each day's peak half-hourly demand (GW), its ``workday`` and its maximum
    half-hourly temperature (deg C)."""
    half_hourly = load_victoria_demand("30min")
    days = half_hourly.groupby(half_hourly.index.normalize())
    frame = pd.DataFrame({"peak_gw": days["demand_gw"].max(),
                          "workday": days["workday"].first(),
                          "temp_max": days["temperature"].max()})
    frame.index = pd.DatetimeIndex(frame.index, freq="D", name="date")
    return frame, "peak_gw"


DATA = {"victoria": victoria_daily, "peak": victoria_peak}


RESIDUALS = {"auto": "auto", "seasonal": "seasonal", "value": False}


def one_step_mae(data: str, kind: str, seed: int, test: int, part: str,
                 residual: str = "auto") -> float:
    frame, target = DATA[data]()
    if PARTS[part]:
        frame = frame.iloc[: -test * PARTS[part]]
    covariates = [c for c in frame.columns if c != target]
    task = Forecaster("lstm", horizon=1, target=target, random_state=seed, verbose=0,
                      baseline=None, residual=RESIDUALS[residual] if kind == "future" else "auto",
                      **{f"{kind}_covariates": covariates})
    task.fit(frame.iloc[:-test])
    return float(task.evaluate(frame, test=test)["mae"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="victoria",
                        help=f"comma-separated, of {', '.join(DATA)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test", type=int, default=73, help="held-out days (last 20 %%)")
    parser.add_argument("--part", choices=tuple(PARTS), default="test")
    parser.add_argument("--residual", choices=tuple(RESIDUALS), default="auto",
                        help="the known-future model's recipe (auto: the default, the mean "
                             "of the seasonal and the level network; seasonal: the seasonal "
                             "network alone, the default before; value: the level one)")
    args = parser.parse_args()
    names = args.data.split(",")
    unknown = [n for n in names if n not in DATA]
    if unknown:
        parser.error(f"expected --data among {', '.join(DATA)}, got {', '.join(unknown)}")
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in names:
        maes = {kind: [one_step_mae(name, kind, s, args.test, args.part, args.residual)
                       for s in seeds]
                for kind in ("past", "future")}
        for kind, values in maes.items():
            shown = ", ".join(f"{v:.3f}" for v in values)
            print(f"{name} {args.part}: {kind:6s} covariates: one-step MAE "
                  f"{statistics.median(values):.3f} ({shown})")
        cut = 1 - statistics.median(maes["future"]) / statistics.median(maes["past"])
        print(f"{name} {args.part}: known-future covariates lower the median one-step MAE "
              f"by {100 * cut:.0f} %")


if __name__ == "__main__":
    main()
