"""Forecaster: one global recurrent network that forecasts the next ``horizon`` steps of
one series or of many (a panel).

Data flow (leak-free): the input becomes a :class:`~rnnkit.data.Panel`
(:mod:`rnnkit.tasks._forecast_input`); every series is split in time order into a
training part and a validation part (its last ``validation`` fraction, for early
stopping); each series is scaled with the mean and standard deviation of its own training
rows; the network learns from the windows of every series, listed as ``(series, start)``
index pairs that never cross two series (:func:`rnnkit.data.window_index`). A series too
short for one window is an error naming it, or (``pad_short=True``) kept with masked left
padding.

Covariates (Darts' names): ``past_covariates`` are known up to the forecast origin,
``future_covariates`` over the horizon too (the network reads their values at the steps
it forecasts; ``predict`` needs them for the future steps), ``static_covariates`` are one
value per series (numbers, or categories through an embedding). ``calendar=True`` adds
hour/day-of-week/month features of the time index as future covariates.

Strategies:

* ``"direct"``: the network maps a window to the ``horizon`` next target values at once.
* ``"recursive"``: the network forecasts the next target and past covariates; ``horizon``
  steps are made by appending each forecast to the window and forecasting again (future
  covariates are known, never forecast).

``residual=True`` makes the network forecast the change from the last observed value (in
scaled units), so that an all-zero output is the naive forecast; ``residual="seasonal"``
(the default for seasonal data, :mod:`rnnkit.tasks._forecast_residual`) the change from the
seasonal-naive forecast, from the window's seasonal differences; with future covariates
the default ``residual="combined"`` averages that network's forecasts with those of a
second, level network (``residual=False``). Prediction intervals:
with ``quantiles=(0.1, 0.9)`` the network also outputs those quantiles of each step,
trained with the pinball loss ``max(q e, (q - 1) e)``, ``e = y - y_q`` (direct only).

The class is built in layers, one module each: the arguments and their checks
(:mod:`~rnnkit.tasks._forecaster_params`), fitting and the network's inputs
(:mod:`~rnnkit.tasks._forecaster_fit`), forecasting (:mod:`~rnnkit.tasks._forecaster_predict`),
backtests (:mod:`~rnnkit.tasks._forecaster_backtest`); this module adds the run protocol
(held-out data, plots, ``inspect``, ``rnnkit predict``) and the saved state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ..data import Panel, PanelScaler, infer_frequency, seasonal_period
from ._backtest import Backtest
from ._base import InspectBatch, Network, PredictRequest, _load_extra, fmt
from ._files import csv_text, read_panel_csv, read_series_csv
from ._forecast_input import panel_from_arrays, panel_to_arrays
from ._forecast_net import NetShape
from ._forecaster_backtest import ForecasterBacktest
from ._forecaster_params import RNN_CELLS
from ._report import plot_forecast

__all__ = ["RNN_CELLS", "Backtest", "Forecaster", "future_index", "infer_seasonal_period"]


def infer_seasonal_period(index: Any) -> int:
    """Season length of a regular ``DatetimeIndex`` (:func:`rnnkit.data.seasonal_period`:
    steps per day for sub-daily data, 7 daily, 5 business days, 52 weekly, 12 monthly, 4
    quarterly); 1 for anything else (irregular, or not datetimes).

    >>> infer_seasonal_period(pd.date_range("2000", periods=3, freq="30min"))
    48
    >>> infer_seasonal_period(pd.RangeIndex(3))
    1
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return 1
    try:
        return seasonal_period(index.freq or infer_frequency(index))
    except ValueError:
        return 1


def future_index(index: Any, horizon: int) -> list[str] | None:
    """Timestamps of the ``horizon`` steps after a regular ``DatetimeIndex``; ``None`` when
    the index has no fixed step.

    >>> future_index(pd.date_range("2024-01-01", periods=3, freq="D"), 2)
    ['2024-01-04 00:00:00', '2024-01-05 00:00:00']
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    try:
        step = index.freq or infer_frequency(index)
    except ValueError:
        return None
    return [str(index[-1] + (h + 1) * step) for h in range(horizon)]


class Forecaster(ForecasterBacktest):
    """Forecast the next ``horizon`` steps of one series or many with an LSTM, GRU, RNN or
    CNN-LSTM (one global model over every series).

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` (SimpleRNN), ``"indrnn"`` or ``"cnn-lstm"``
            (``Conv1D(filters, kernel_size, relu)`` then the LSTM layers).
        window: input steps per forecast; ``"auto"``: two seasons (``2 m``), or 33 without
            a season.
        horizon: steps forecast.
        units: units of the recurrent layers (one int or a list: stacked layers).
        layers: instead of ``cell``/``units``, the hidden layers as specs
            ``[{"class": "LSTM", "units": 32}, ...]``; the inputs and the head are added.
        strategy: ``"direct"`` or ``"recursive"`` (see the module docs).
        target: the column to forecast (name or position); needed with several columns.
        id_column, time_column: the series id and the timestamps of a long table (also
            accepted by :meth:`fit`); with no time column a ``DatetimeIndex`` is the time,
            else the row order.
        past_covariates, future_covariates, static_covariates: column names (see the
            module docs). Any other column is an error naming it.
        ignore: columns to drop.
        calendar: add hour/day-of-week/month features (those that vary at the data's
            frequency; the month only when the data span two years) as future covariates.
        pad_short: keep series shorter than ``window + horizon`` rows with masked left
            padding (default: an error naming them).
        freq: the spacing every series must follow (``"D"``, ``"MS"``...); default: the
            common step of the series when all are regular, else none.
        static_embedding: embedding size of each categorical static covariate.
        residual: ``True``: forecast the change from the last observed value;
            ``"seasonal"``: the change from the seasonal-naive forecast, reading the
            window's seasonal differences, the target scaled by its mean absolute seasonal
            difference (direct strategy, ``window >= seasonal period``; an all-zero output
            is the seasonal-naive forecast; :mod:`rnnkit.tasks._forecast_residual`);
            ``"combined"``: the mean of the ``"seasonal"`` network's forecasts and those
            of a second network trained with ``residual=False`` on its own standard
            scaling (with three times the patience; ``likelihood=None``);
            ``"auto"`` (default): ``"combined"`` with future covariates and without a
            likelihood, else ``"seasonal"``, when that applies and the data have a
            season; else ``False`` (the value itself).
        quantiles: e.g. ``(0.1, 0.9)``: also forecast these quantiles (pinball loss; with
            ``likelihood``, the quantiles reported from the distribution).
        likelihood: ``"normal"``, ``"studentt"`` or ``"negbin"`` (counts: non-negative
            integer targets, scaled by their mean): the network outputs a distribution per
            step, trained by likelihood (:mod:`rnnkit.tasks._likelihood`); sample paths
            join the steps with a Gaussian copula fitted on validation windows; the
            backtest reports CRPS and interval coverage (direct strategy only).
        seasonal_period: season of the seasonal-naive baseline; default: from the frequency
            (monthly 12, quarterly 4, business days 5, daily 7, hourly 24), else 1.
        baseline: the statistical baseline fitted per series and backtest origin beside the
            naive ones: ``"theta"`` (statsforecast's AutoTheta), ``"ets"`` (AutoETS) or
            ``None`` (none; faster on many series).
        scaler: ``"standard"`` (per series, on its training rows) or ``None``.
        dropout: input dropout of the recurrent layers.
        filters, kernel_size: the CNN-LSTM's convolution.
        loss: ``"mse"`` or ``"mae"`` for the point forecast.
        **training: :class:`TrainingConfig`'s arguments (``epochs=100``, ``batch_size=32``,
            ``learning_rate=1e-3``, ``clipnorm=1.0``, ``validation=0.15`` (the last
            fraction of every series), ``patience=10``, ``max_time``, ``checkpoint_dir``,
            ``random_state=0``, ``verbose=0``).

    Learned attributes: ``model_``, ``scaler_`` (a :class:`~rnnkit.data.PanelScaler`),
    ``target_``, ``inputs_`` (target, past and future covariates), ``ids_``,
    ``seasonal_period_``, ``freq_``, ``mase_scales_``, ``history_``; with
    ``residual_ == "combined"`` also ``level_model_`` and ``level_scaler_``.

    >>> import numpy as np
    >>> f = Forecaster(window=8, horizon=2, units=4, epochs=1, verbose=0)
    >>> f.fit(np.sin(np.arange(200) / 5)).predict().shape
    (2,)
    """

    task_name = "forecaster"

    # -- the run protocol (held-out data: the panel and its test part) -----------------------
    def heldout_metrics(self, heldout: tuple[Panel, float | int]) -> dict[str, Any]:
        panel, test = heldout
        if not test:
            return {"n_test_rows": 0, "n_series": panel.n_series,
                    "note": "trained on every row (test=0): nothing was held out"}
        return self.evaluate(panel, test=test)

    def heldout_arrays(self, heldout: tuple[Panel, float | int]) -> dict[str, np.ndarray]:
        panel, test = heldout
        return {**panel_to_arrays(panel), "test": np.array(test)}

    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]
                            ) -> tuple[Panel, float | int]:
        return panel_from_arrays(arrays), arrays["test"].item()

    def write_plots(self, folder: Path, heldout: tuple[Panel, float | int],
                    metrics: Mapping[str, Any]) -> list[Path]:
        """``forecast.png`` (the first series) and, for a panel, ``forecast-<k>.png`` for
        up to three more series spread over the panel."""
        panel, test = heldout
        if not test:
            return []
        bt = self.backtest(panel, test=test, statistical=False)
        data = metrics.get("data") or "held-out part"
        shown = np.unique(np.linspace(0, panel.n_series - 1, min(panel.n_series, 4)).astype(int))
        paths = []
        for k, i in enumerate(shown.tolist()):
            name = "" if panel.n_series == 1 else f", series {panel.ids[i]!r}"
            file = "forecast.png" if k == 0 else f"forecast-{k}.png"
            paths.append(plot_forecast(bt.of_series(panel, i), folder / file,
                                       title=f"{self.cell.upper()} forecast vs actual "
                                             f"({data}{name})"))
        return paths

    def inspect_batch(self, heldout: tuple[Panel, float | int], samples: int) -> InspectBatch:
        """Windows from the start of the test part of the first series, with the squared
        error of the scaled forecast (per sample) as the loss."""
        panel, test = heldout
        if not self.net_.plain:
            raise ValueError("expected a forecaster whose only input is the window for "
                             "inspect, got one with covariate inputs")
        scaled = self._scaler_for(panel).transform(panel)
        length = int(panel.lengths[0])
        n_test = int(test) if isinstance(test, int) else math.floor(float(test) * length)
        first = max(length - n_test, self.window_)
        cut = np.arange(first, length - self.net_.steps + 1)[: max(1, int(samples))]
        x, y = self._examples(scaled, np.zeros_like(cut), cut, self.net_)
        width = y.shape[1]

        def squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
            return ((y_pred[:, :width] - y_true.to(y_pred.dtype)) ** 2).mean(dim=1)

        return InspectBatch(x, y, squared_error)

    def predict_file(self, request: PredictRequest) -> str:
        """CSV of the ``horizon`` steps after every series in ``request.file`` (a CSV like
        the training data), with ``request.future_covariates`` (a CSV) when the model
        reads future covariates."""
        self._require_fitted()
        if self.time_column_ is None and self.id_column_ is None:
            data: Any = read_series_csv(request.file)
        else:
            data = read_panel_csv(request.file, self.id_column_, self.time_column_)
        future = None
        if request.future_covariates is not None:
            future = read_panel_csv(request.future_covariates, self.id_column_,
                                    self.time_column_)
        table = self.forecast_table(data, future_covariates=future)
        return csv_text([str(c) for c in table.columns], table.to_numpy().tolist())

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        if "mae" not in metrics:
            return [f"held-out       none ({metrics.get('note', 'no test part')})"]
        keys = ("mae", "rmse", "mape", "mase")
        lines = ["held-out       " + "  ".join(f"{k}={fmt(metrics.get(k))}" for k in keys)]
        rows = {**metrics.get("baselines", {}), **(
            {"per-series": metrics["per_series_models"]} if "per_series_models" in metrics
            else {})}
        for name, b in rows.items():
            lines.append(f"{name:<15}" + "  ".join(f"{k}={fmt(b.get(k))}" for k in keys
                                                   if k in b))
        if "interval" in metrics:
            iv = metrics["interval"]
            extra = "".join(f"  {k}={fmt(metrics[k])}" for k in ("wql", "crps") if k in metrics)
            lines.append(f"interval       coverage={fmt(iv['coverage'])} "
                         f"(nominal {fmt(iv['nominal_coverage'])}){extra}")
        return lines

    # -- state --------------------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        return {
            "scaler": self.scaler_.to_dict(),
            "id_column": self.id_column_,
            "time_column": self.time_column_,
            "target": self.target_,
            "inputs": self.inputs_,
            "ids": self.ids_,
            "net": asdict(self.net_),
            "freq": self.freq_,
            "calendar": self.calendar_,
            "seasonal_period": self.seasonal_period_,
            "window": self.window_,
            "residual": self.residual_,
            "mase_scales": self.mase_scales_,
            "tail": {k: v.tolist() for k, v in panel_to_arrays(self.tail_).items()},
            "n_train_windows": self.n_train_windows_,
            "step_correlation": self.step_correlation_,
            **({"level_scaler": self.level_scaler_.to_dict()}
               if self.residual_ == "combined" else {}),
        }

    def _extra_models(self) -> dict[str, Network]:
        return {"level": self.level_model_} if self.residual_ == "combined" else {}

    def _load_extra_models(self, root: Path) -> None:
        if self.residual_ != "combined":
            return
        model = _load_extra(root, "level")
        if model is None:
            raise FileNotFoundError(f"expected level.rnnkit beside task.json (a forecaster "
                                    f"with residual='combined'), got none in {root}")
        model.eval()
        self.level_model_ = model

    def _set_state(self, state: dict[str, Any]) -> None:
        self.scaler_ = PanelScaler.from_dict(state["scaler"])
        self.id_column_ = state.get("id_column")
        self.time_column_ = state.get("time_column")
        self.target_ = str(state["target"])
        self.inputs_ = [str(c) for c in state["inputs"]]
        self.ids_ = list(state["ids"])
        net = dict(state["net"])
        self.net_ = NetShape(**{**net, "categories": tuple(net["categories"])})
        self.freq_ = state.get("freq")
        self.calendar_ = [str(c) for c in state.get("calendar", [])]
        self.seasonal_period_ = int(state["seasonal_period"])
        self.window_ = int(state.get("window", self.net_.window))
        residual = state.get("residual", False)
        if residual not in (True, False, "seasonal", "combined"):
            raise ValueError(f"expected 'residual' true, false, 'seasonal' or 'combined', "
                             f"got {residual!r}")
        self.residual_ = residual
        if residual == "combined":
            self.level_scaler_ = PanelScaler.from_dict(state["level_scaler"])
        self.mase_scales_ = [float(v) if v is not None else math.nan
                             for v in state["mase_scales"]]
        tail = {k: np.asarray(v) for k, v in state["tail"].items()}
        self.tail_ = panel_from_arrays(tail)
        self.n_train_windows_ = int(state.get("n_train_windows", 0))
        h = int(self.horizon)
        corr = np.asarray(state.get("step_correlation", np.eye(h)), dtype=np.float64)
        if corr.shape != (h, h) or not np.isfinite(corr).all():
            raise ValueError(f"expected 'step_correlation' finite of shape ({h}, {h}), got "
                             f"{corr.shape}")
        self.step_correlation_ = corr.tolist()
