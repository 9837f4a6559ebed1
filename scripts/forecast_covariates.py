"""Known-future against past-only covariates on a daily load series (issue 13's check).

The bundled Victoria daily demand of 2014 (``load_victoria_demand("D")``): the target
``demand_gwh`` with ``workday`` and ``temp_max`` given once as past covariates (known up to
the forecast origin) and once as future covariates (the network also reads their values at
the forecast step: tomorrow's working day and the temperature forecast). One-step MAE on the
last ``--test`` days (``--part validation``: on the ``--test`` days before them, training
on the days before those), the Forecaster's defaults otherwise, 1 thread, median over
seeds::

    python scripts/forecast_covariates.py --seeds 0,1,2 [--part validation]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rnnkit.datasets import load_victoria_demand
from rnnkit.tasks import Forecaster

COVARIATES = ["workday", "temp_max"]


def one_step_mae(kind: str, seed: int, test: int, part: str) -> float:
    frame = load_victoria_demand("D")[["demand_gwh", *COVARIATES]]
    if part == "validation":
        frame = frame.iloc[:-test]
    task = Forecaster("lstm", horizon=1, target="demand_gwh", random_state=seed, verbose=0,
                      baseline=None, **{f"{kind}_covariates": COVARIATES})
    task.fit(frame.iloc[:-test])
    return float(task.evaluate(frame, test=test)["mae"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test", type=int, default=73, help="held-out days (last 20 %%)")
    parser.add_argument("--part", choices=("test", "validation"), default="test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    maes = {kind: [one_step_mae(kind, s, args.test, args.part) for s in seeds]
            for kind in ("past", "future")}
    for kind, values in maes.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{kind:6s} covariates: one-step MAE {statistics.median(values):.2f} GWh ({shown})")
    cut = 1 - statistics.median(maes["future"]) / statistics.median(maes["past"])
    print(f"known-future covariates lower the median one-step MAE by {100 * cut:.0f} %")


if __name__ == "__main__":
    main()
