"""Rolling-origin backtests over every series of a panel, and their metrics.

Forecasts are made at every ``step``-th origin of each series' test part (its last
``test`` rows: a count, or a fraction of the series' length) whose ``horizon`` targets are
observed, from the rows up to that origin. Beside the model, on the same origins: the
naive forecast (the last value), the seasonal naive one (the value a season before) and a
statistical model fitted per series and origin (statsforecast's Theta or ETS; see
:func:`rnnkit.tasks.panel_baselines`).
MASE scales each series' errors by the in-sample MAE of its one-step naive forecast on the
rows before its test part; the aggregated MASE is the mean of the scaled errors over every
series, origin and step (series of constant history, whose scale is 0, are left out of it).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import Panel
from ._metrics import mape, panel_metrics

__all__ = ["Backtest", "TestOrigins", "interval_metrics", "mase_scales", "scored",
           "test_origins", "test_rows"]


@dataclass
class Backtest:
    """Forecasts made at every origin of the test part of every series.

    ``origins[i]`` is the position (within its series) of the last observed step of
    forecast ``i`` and ``series[i]`` the series' number in ``ids``; ``actual``,
    ``forecast``, ``naive`` and ``seasonal_naive`` are ``(n, horizon)`` in the target's
    units, ``quantiles`` ``(n, horizon, Q)`` or ``None``. ``metrics`` is JSON-ready:
    ``mae``, ``rmse``, ``mape``, ``mase`` of the model and the same keys under
    ``baselines.naive`` and ``baselines.seasonal_naive``. ``history`` and ``index``: the
    target values and the timestamps of the series (of the first one when several).
    """

    origins: NDArray[np.int64]
    actual: NDArray[np.float64]
    forecast: NDArray[np.float64]
    naive: NDArray[np.float64]
    seasonal_naive: NDArray[np.float64]
    quantiles: NDArray[np.float64] | None
    metrics: dict[str, Any]
    index: Any = None
    history: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    series: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    ids: tuple[Hashable, ...] = ()

    def of_series(self, panel: Panel, i: int) -> Backtest:
        """The forecasts of series number ``i`` alone (its history and timestamps)."""
        keep = self.series == i
        times = panel.time[panel.rows(i)]
        return replace(
            self, origins=self.origins[keep], actual=self.actual[keep],
            forecast=self.forecast[keep], naive=self.naive[keep],
            seasonal_naive=self.seasonal_naive[keep],
            quantiles=None if self.quantiles is None else self.quantiles[keep],
            index=times if isinstance(times, pd.DatetimeIndex) else None,
            history=panel.target[panel.rows(i)], series=self.series[keep],
        )


@dataclass(frozen=True)
class TestOrigins:
    """Forecast origins: ``series`` numbers, ``cut`` (rows observed: origin + 1) and the
    number of test rows of each series ``n_test`` ``(n_series,)``."""

    series: NDArray[np.int64]
    cut: NDArray[np.int64]
    n_test: NDArray[np.int64]


def test_rows(test: float | int, lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Test rows per series: ``test`` rows (an int >= 1) or a fraction in (0, 1) of each."""
    if isinstance(test, (int, np.integer)) and not isinstance(test, bool) and test >= 1:
        return np.full(lengths.shape, int(test), dtype=np.int64)
    if isinstance(test, bool) or not isinstance(test, (int, float)) or \
            not 0.0 < float(test) < 1.0:
        raise ValueError(f"expected test as a row count >= 1 or a fraction in (0, 1), got "
                         f"{test!r}")
    return np.floor(lengths * float(test)).astype(np.int64)


def test_origins(panel: Panel, test: float | int, horizon: int, need: int,
                 step: int = 1) -> TestOrigins:
    """Every ``step``-th origin of each series' test part whose targets are observed;
    ``need``: rows of history every origin needs (window, season). A series without
    such an origin is an error naming it."""
    lengths = panel.lengths
    n_test = test_rows(test, lengths)
    first = lengths - n_test  # (n_series,) first cut
    last = lengths - horizon  # last cut
    bad = np.flatnonzero((n_test < horizon) | (first < need) | (last < first))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"expected a test part of at least horizon={horizon} rows after {need} rows of "
            f"history in every series, got {int(n_test[i])} test rows of {int(lengths[i])} "
            f"in series {panel.ids[i]!r} ({bad.size} series)"
        )
    counts = (last - first) // step + 1  # (n_series,)
    series = np.repeat(np.arange(panel.n_series, dtype=np.int64), counts)
    within = np.arange(int(counts.sum()), dtype=np.int64) - \
        np.repeat(np.cumsum(counts) - counts, counts)
    cut = np.repeat(first, counts) + within * step
    return TestOrigins(series, cut, n_test)


def scored(actual: NDArray[np.float64], forecasts: Mapping[str, NDArray[np.float64]],
           series: NDArray[np.int64], scales: NDArray[np.float64], ids: Sequence[Hashable]
           ) -> dict[str, Any]:
    """The metrics of every forecast in ``forecasts`` (the model's, then the baselines'):
    each aggregated (``mae``, ``rmse``, ``mape``, ``smape``, ``mase``), per horizon step
    (``per_step``) and per series (``per_series``)."""
    out: dict[str, Any] = {}
    for name, pred in forecasts.items():
        m = panel_metrics(actual, pred, series, scales, ids)
        out[name] = {**m["aggregate"], "mape": mape(actual, pred), "per_step": m["per_step"],
                     "per_series": m["per_series"]}
    return out


def mase_scales(panel: Panel, ends: NDArray[np.int64]) -> NDArray[np.float64]:
    """Each series' in-sample one-step naive MAE over its rows before ``ends[i]``."""
    out = np.empty(panel.n_series)
    for i in range(panel.n_series):
        rows = panel.target[panel.offsets[i] : panel.offsets[i] + ends[i]]
        out[i] = float(np.mean(np.abs(np.diff(rows)))) if len(rows) > 1 else math.nan
    return out


def interval_metrics(actual: NDArray[np.float64], quants: NDArray[np.float64],
                     quantiles: Sequence[float]) -> dict[str, float] | None:
    """Coverage of the widest interval of ``quantiles`` (``None`` with fewer than two)."""
    qs = [float(q) for q in quantiles]
    lo, hi = int(np.argmin(qs)), int(np.argmax(qs))
    if not qs[hi] > qs[lo]:
        return None
    inside = (actual >= quants[..., lo]) & (actual <= quants[..., hi])
    return {"lower_quantile": qs[lo], "upper_quantile": qs[hi],
            "nominal_coverage": qs[hi] - qs[lo], "coverage": float(inside.mean())}
