"""The forecaster's rolling-origin evaluation (the fourth layer of
:class:`~rnnkit.tasks.Forecaster`): ``backtest`` (optionally refitting before each fold of
origins) and ``evaluate``, scored beside the naive, seasonal-naive and statistical
baselines (:mod:`rnnkit.tasks._backtest`, :mod:`rnnkit.tasks._baselines`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..data import Origins, Panel
from ._backtest import Backtest, interval_metrics, mase_scales, scored, test_origins
from ._base import clone
from ._baselines import panel_baselines
from ._checks import check_int
from ._forecast_input import panel_head
from ._forecaster_predict import ForecasterPrediction
from ._likelihood import crps, wql

__all__ = ["ForecasterBacktest"]

DRAWS = 100  # sample paths per forecast for the backtest's CRPS


class ForecasterBacktest(ForecasterPrediction):
    """Backtests of a fitted forecaster (see the module docs)."""

    def backtest(self, data: Any, *, test: float | int = 0.2, step: int = 1,
                 refit: bool = False, folds: int = 3, statistical: bool = True) -> Backtest:
        """Rolling-origin evaluation on the last part of every series of ``data``
        (:mod:`rnnkit.tasks._backtest`): forecasts at every ``step``-th origin whose
        ``horizon`` targets lie in the series' test part (its last ``test`` rows, or
        ``test`` fraction), from the rows up to that origin. ``refit=True`` re-trains a
        clone before each of ``folds`` consecutive blocks of origins on every row before
        the block (``folds`` trainings). ``statistical=False`` leaves the statistical
        baseline out (faster)."""
        self._require_fitted()
        panel = self.read_panel(data)
        step = check_int("step", step, 1)
        need = max(1 if self.pad_short else self.window_, self.seasonal_period_)
        origins = test_origins(panel, test, int(self.horizon), need, step)
        if refit:
            point, quants = self._refit_forecasts(panel, origins.series, origins.cut,
                                                  check_int("folds", folds, 1))
        else:
            point, quants = self._forecast_at(panel, origins.series, origins.cut)
        h = int(self.horizon)
        flat = panel.offsets[origins.series] + origins.cut  # (n,) first forecast rows
        actual = panel.target[flat[:, None] + np.arange(h)[None, :]]  # (n, horizon)
        found = panel_baselines(panel, Origins(origins.series, origins.cut,
                                               np.zeros_like(origins.cut)),
                                h, self.seasonal_period_,
                                method=self.baseline if statistical else None)
        scales = mase_scales(panel, panel.lengths - origins.n_test)
        figures = scored(actual, {"model": point, **found}, origins.series, scales, panel.ids)
        metrics: dict[str, Any] = {
            **figures.pop("model"), "baselines": figures,
            "horizon": h, "seasonal_period": self.seasonal_period_,
            "n_origins": int(len(origins.cut)), "n_series": panel.n_series,
            "n_test_rows": int(origins.n_test.sum()), "target": self.target_,
        }
        if quants is not None:
            levels = self.quantiles or (0.1, 0.9)
            metrics["wql"] = wql(quants, levels, actual)
            interval = interval_metrics(actual, quants, levels)
            if interval is not None:
                metrics["interval"] = interval
        if self.likelihood is not None and not refit:
            inputs, scaler = self._inputs_at(panel, origins.series, origins.cut)
            metrics["crps"] = crps(self._paths(inputs, scaler, origins.series, DRAWS),
                                   actual)
        naive, snaive = found["naive"], found["seasonal_naive"]
        bt = Backtest(origins.cut - 1, actual, point, naive, snaive, quants, metrics,
                      series=origins.series, ids=panel.ids)
        first = bt.of_series(panel, 0)
        return Backtest(bt.origins, actual, point, naive, snaive, quants, metrics,
                        first.index, first.history, origins.series, panel.ids)

    def _refit_forecasts(self, panel: Panel, series: NDArray[np.int64], cut: NDArray[np.int64],
                         folds: int) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        counts = np.bincount(series, minlength=panel.n_series)
        within = np.arange(len(series)) - np.repeat(np.cumsum(counts) - counts, counts)
        fold = within * min(folds, int(counts.min())) // counts[series]  # (n,)
        point = np.zeros((len(series), int(self.horizon)))
        quants: NDArray[np.float64] | None = None
        for f in np.unique(fold):
            sel = fold == f
            ends = cut[sel][np.searchsorted(series[sel], np.arange(panel.n_series))]
            model = clone(self).fit(panel_head(panel, ends))
            p, q = model._forecast_at(panel, series[sel], cut[sel])
            point[sel] = p
            if q is not None:
                quants = np.zeros((*point.shape, q.shape[2])) if quants is None else quants
                quants[sel] = q
        return point, quants

    def evaluate(self, data: Any, *, test: float | int = 0.2) -> dict[str, Any]:
        """Held-out metrics (``mae``, ``rmse``, ``mape``, ``mase`` and the baselines'
        under ``baselines``): :meth:`backtest` without refitting."""
        return self.backtest(data, test=test).metrics

