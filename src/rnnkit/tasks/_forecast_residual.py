"""What the forecaster's direct network reads and what its output is added to.

The default recipe (``window="auto"``, ``residual="auto"``) for seasonal data is the
seasonal-difference one, chosen on validation data carved from the training part of real
panels (quarterly, monthly, daily; README "Forecasting many series"):

* the window is two seasons long (``2 m`` steps; 33 when there is no season);
* the network reads the window's seasonal differences ``x_t - x_{t-m}`` in place of the
  target (0 for the first ``m`` steps, and wherever either row is padding): the input is
  stationary even when the level drifts beyond anything seen in training;
* future covariates are read over the horizon as their changes from the rows the
  seasonal-naive forecast reads (step ``h`` minus the row ``m ceil(h/m)`` before it, in the
  window; their values stay in the window): what changed since the reference row is what
  moves the target away from it. On the three validation parts of Victoria's daily demand
  (``scripts/forecast_covariates.py``, median of seeds 0-4) this was best or tied on two
  and no alternative was better on all three (the values alone, the values beside their
  changes or beside the reference rows' values, a ridge regression on the changes added to
  the seasonal-naive base, the window's covariates differenced too); working day and
  temperature then cut the one-step MAE of this network alone by 42 % on the validation
  part, 9 % on the test part (seeds 0-2), hence the combination below;
* it forecasts the change from the seasonal-naive forecast ``y_{T+h} - y_{T+h-m ceil(h/m)}``
  (an all-zero output is that forecast);
* the target is scaled by the mean absolute seasonal difference of each series' training
  rows (the seasonal MASE denominator; the mean is still subtracted), so one unit is the
  typical error of the seasonal-naive forecast in every series.

With future covariates the default (``residual="combined"``) forecasts the mean of two
networks' forecasts: the seasonal-difference one above and a level one (``residual=False``:
the window's scaled values and the covariates' values in, the scaled value out, with its
own standard scaling, trained with ``LEVEL_PATIENCE`` times the early-stopping patience).
How a covariate moves the target is a relation of levels (a U-shaped temperature response,
holidays) that the level network reads directly, while the seasonal one stays close to the
seasonal-naive forecast where training is short; the level network starts from the mean,
so on small training parts (a few months of one series, 11-22 validation rows) a patience
of 10 epochs stopped it after 5-12, before it had learned the levels. Chosen on the three
validation parts of two daily load series (``scripts/forecast_covariates.py --residual``,
seeds 0-4, median one-step MAE, change against past-only covariates): victoria -45 / -14 /
+21 % (seasonal alone), -46 / -12 / +3 % (the mean, patience 10 for both), -50 / -19 / -6 %
(this); peak -31 / -28 / +27 %, -37 / -22 / +8 %, -37 / -22 / -8 %. The level network
alone: +54 % and +42 % on the third parts; choosing the one of lower internal validation
MAE: +45 % (victoria validation2). Scored once afterwards, the test parts: -40 % (victoria)
and -41 % (peak), against -12 % and -21 % for the seasonal network alone (per seed:
README "Forecasting many series"). Panels without future covariates are unaffected.

``residual=True`` forecasts the change from the last value, ``False`` the scaled value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data import Panel

__all__ = ["LEVEL_PATIENCE", "SEASONAL", "resolve_residual", "resolve_window",
           "seasonal_base", "seasonal_differences", "seasonal_future_differences",
           "seasonal_scale"]

#: the window without a season
PLAIN_WINDOW = 33
#: the level network of ``residual="combined"`` trains with this many times the patience
LEVEL_PATIENCE = 3
#: the recipes whose (first) network reads seasonal differences
SEASONAL = ("seasonal", "combined")


def resolve_window(window: int | str, period: int) -> int:
    """``"auto"``: two seasons (``2 m``), or 33 without a season; else ``window``."""
    if window == "auto":
        return 2 * period if period > 1 else PLAIN_WINDOW
    return int(window)


def resolve_residual(residual: bool | str, *, direct: bool, counts: bool, window: int,
                     period: int, future: bool = False, likelihood: bool = False
                     ) -> bool | str:
    """``"auto"``: for the direct strategy of a seasonal target (``period > 1``) whose
    window holds a season, without a count distribution, ``"combined"`` when the network
    reads future covariates without a likelihood, else ``"seasonal"``; ``False`` for
    anything else. Other values are returned as they are."""
    if residual != "auto":
        return residual
    if not (direct and not counts and period > 1 and window >= period):
        return False
    return "combined" if future and not likelihood else "seasonal"


def seasonal_base(x: NDArray[Any], period: int, horizon: int) -> NDArray[np.float64]:
    """The seasonal-naive forecast ``(n, horizon)`` read from the target of windows ``x``
    ``(n, w, features)``."""
    h = np.arange(1, horizon + 1)
    back = period * np.ceil(h / period).astype(np.int64)  # (horizon,)
    return np.asarray(x[:, x.shape[1] - 1 + h - back, 0], dtype=np.float64)


def seasonal_differences(x: NDArray[Any], period: int, masked: bool) -> NDArray[Any]:
    """The windows ``x`` with the target replaced by its seasonal differences (0 where the
    row a season before is outside the window or either row is padding; with ``masked``
    the last feature is 1 on real rows)."""
    out = x.copy()
    diff = x[:, period:, 0] - x[:, :-period, 0]  # (n, w - m)
    if masked:
        diff = diff * x[:, period:, -1] * x[:, :-period, -1]
    out[:, :period, 0] = 0.0
    out[:, period:, 0] = diff
    return out


def seasonal_future_differences(x: NDArray[Any], future: NDArray[Any], period: int,
                                first: int) -> NDArray[Any]:
    """The future covariates ``future`` ``(n, steps, F)`` minus their values in the rows
    of the windows ``x`` ``(n, w, features)`` that the seasonal-naive forecast of each step
    reads (``m ceil(h/m)`` before step ``h``); ``first``: the window column of the first
    future covariate."""
    h = np.arange(1, future.shape[1] + 1)
    back = period * np.ceil(h / period).astype(np.int64)  # (steps,)
    ref = x[:, x.shape[1] - 1 + h - back, first : first + future.shape[2]]  # (n, steps, F)
    return (future - ref).astype(future.dtype)


def seasonal_scale(panel: Panel, train_end: NDArray[np.int64], period: int
                   ) -> NDArray[np.float64]:
    """Mean absolute seasonal difference ``(n_series,)`` of each series' first
    ``train_end`` rows; 1 where there is none or it is 0."""
    out = np.ones(panel.n_series)
    for i in range(panel.n_series):
        y = panel.target[panel.offsets[i] : panel.offsets[i] + int(train_end[i])]
        if len(y) > period:
            d = float(np.abs(y[period:] - y[:-period]).mean())
            out[i] = d if d > 0 else 1.0
    return out
