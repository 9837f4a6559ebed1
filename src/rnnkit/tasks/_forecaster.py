"""Forecaster: a recurrent network that forecasts the next ``horizon`` steps of a series.

Data flow (leak-free): the series (target column first, then the covariates) is split in
time order into a training part and a validation part (the last ``validation`` fraction,
used for early stopping); the scaler is fitted on the training rows only; each part is cut
into windows of ``window`` steps with :func:`rnnkit.data.windowed_split`, so no window
crosses the boundary.

Strategies:

* ``"direct"``: one network maps a window ``(window, features)`` to the ``horizon`` next
  target values at once: ``Dense(horizon)``.
* ``"recursive"``: the network forecasts the next row of *every* input column
  (``Dense(features)``); ``horizon`` steps are made by appending each forecast to the
  window and forecasting again (covariates are forecast as well).

``residual=True`` makes the network forecast the change from the last observed value
(``y[t + h] - y[t]``, in scaled units), so that an all-zero output is the naive forecast:
use it for trending, random-walk-like series (prices). Prediction intervals: with
``quantiles=(0.1, 0.9)`` the network also outputs those quantiles of each step, trained
with the pinball loss ``max(q e, (q - 1) e)``, ``e = y - y_q`` (direct strategy only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from torch import Tensor

from ..data import MinMaxScaler, StandardScaler, scaler_from_dict, validate_series, windowed_split
from ..layers import GRU, LSTM, Conv1D, Dense, IndRNN, Input, SimpleRNN
from ..model import Sequential
from ._base import InspectBatch, PredictRequest, Task, _predict, build_layer, clone, fmt
from ._baselines import naive_forecast, seasonal_naive_forecast
from ._checks import check_choice, check_float, check_int, check_units
from ._files import csv_text, read_series_csv
from ._metrics import forecast_metrics, mase_scale
from ._report import plot_forecast
from ._training import TrainingConfig

__all__ = ["Backtest", "Forecaster", "future_index", "infer_seasonal_period"]

RNN_CELLS: dict[str, Any] = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN, "indrnn": IndRNN}
CELLS = (*RNN_CELLS, "cnn-lstm")


def infer_seasonal_period(index: Any) -> int:
    """Season length from a ``DatetimeIndex`` frequency (its ``freq``, else its step when
    all steps are equal): steps per day for sub-daily data
    (30 min -> 48), 7 for daily, 5 for business days, 52 weekly, 12 monthly, 4 quarterly;
    1 (no season) otherwise.

    >>> infer_seasonal_period(pd.date_range("2000", periods=3, freq="30min"))
    48
    >>> infer_seasonal_period(pd.RangeIndex(3))
    1
    """
    if not isinstance(index, pd.DatetimeIndex):
        return 1
    freq = index.freq
    if freq is None and len(index) >= 3:
        steps = np.diff(index.asi8)
        if steps[0] > 0 and np.all(steps == steps[0]):  # regular: a fixed step
            freq = pd.tseries.frequencies.to_offset(pd.Timedelta(index[1] - index[0]))
    if freq is None:
        return 1
    name = str(getattr(freq, "rule_code", "")).upper()
    if isinstance(freq, (pd.offsets.Tick, pd.offsets.Day)):
        step = pd.Timedelta(freq.nanos if hasattr(freq, "nanos") else "1D")
        day = pd.Timedelta(days=1)
        if step == day:
            return 7
        if step < day and day % step == pd.Timedelta(0):
            return int(day // step)
        return 1
    for prefix, period in (("B", 5), ("W", 52), ("Q", 4), ("M", 12)):
        if name.startswith(prefix):
            return period
    return 1


def future_index(index: Any, horizon: int) -> list[str] | None:
    """Timestamps of the ``horizon`` steps after a regular ``DatetimeIndex`` (its ``freq``,
    else its constant step); ``None`` when the index has no fixed step.

    >>> future_index(pd.date_range("2024-01-01", periods=3, freq="D"), 2)
    ['2024-01-04 00:00:00', '2024-01-05 00:00:00']
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    step: Any = index.freq
    if step is None:
        gaps = np.diff(index.asi8)
        if not (gaps[0] > 0 and np.all(gaps == gaps[0])):
            return None
        step = pd.Timedelta(index[1] - index[0])
    return [str(index[-1] + (h + 1) * step) for h in range(horizon)]


def series_frame(series: Any) -> pd.DataFrame:
    """A validated numeric DataFrame (string column names) from an array/Series/DataFrame."""
    if isinstance(series, pd.Series):
        frame = series.to_frame(name=str(series.name) if series.name is not None else "y")
    elif isinstance(series, pd.DataFrame):
        frame = series.copy(deep=False)
    else:
        arr = np.asarray(series)
        if arr.ndim == 1:
            frame = pd.DataFrame({"y": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
        else:
            raise ValueError(
                f"expected a series of shape (T,) or (T, features), got shape {arr.shape}"
            )
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != frame.shape[1]:
        raise ValueError(f"expected distinct column names, got {list(frame.columns)}")
    return validate_series(frame, freq=None)


@dataclass
class Backtest:
    """Rolling-origin evaluation: forecasts made at every origin of the test part.

    ``origins[i]`` is the position of the last observed step of forecast ``i``;
    ``actual``, ``forecast``, ``naive`` and ``seasonal_naive`` are ``(n, horizon)`` in the
    target's units, ``quantiles`` ``(n, horizon, len(quantiles))`` or ``None``. ``metrics``
    is JSON-ready: ``mae``, ``rmse``, ``mape``, ``mase`` of the model and the same keys
    under ``baselines.naive`` and ``baselines.seasonal_naive``.
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


def _pinball_loss(horizon: int, quantiles: Sequence[float], point: str) -> Any:
    """Keras-order loss on outputs ``(batch, horizon * (1 + Q))``: the point loss on the
    first ``horizon`` columns plus the mean pinball loss of each quantile block."""
    qs = [float(q) for q in quantiles]

    def forecast_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y = y_true.reshape(y_true.shape[0], horizon)  # (batch, horizon)
        p = y_pred[:, :horizon]
        err = y - p
        total = err.abs().mean() if point == "mae" else (err ** 2).mean()
        for j, q in enumerate(qs):
            e = y - y_pred[:, horizon * (1 + j) : horizon * (2 + j)]  # (batch, horizon)
            total = total + torch.maximum(q * e, (q - 1.0) * e).mean()
        return total

    return forecast_loss


class Forecaster(Task):
    """Forecast the next ``horizon`` steps of a series with an LSTM, GRU, RNN or CNN-LSTM.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` (SimpleRNN), ``"indrnn"`` or ``"cnn-lstm"``
            (``Conv1D(filters, kernel_size, relu)`` then the LSTM layers).
        window: input steps per forecast (seed 003's energy example: 33).
        horizon: steps forecast at once.
        units: units of the recurrent layers (one int or a list: stacked layers).
        layers: instead of ``cell``/``units``, the hidden layers as specs
            ``[{"class": "LSTM", "units": 32}, ...]``; the input and the ``Dense`` output
            head are added.
        strategy: ``"direct"`` or ``"recursive"`` (see the module docs).
        target: the column to forecast (name or position); needed with several columns.
        covariates: input columns besides the target (default: all other columns; ``[]``:
            the target only).
        residual: forecast the change from the last observed value (see the module docs).
        quantiles: e.g. ``(0.1, 0.9)``: also forecast these quantiles (pinball loss).
        seasonal_period: season length for the seasonal-naive baseline; default: from the
            index frequency (:func:`infer_seasonal_period`), else 1.
        scaler: ``"standard"``, ``"minmax"`` or ``None`` (fitted on the training rows).
        dropout: input dropout of the recurrent layers.
        filters, kernel_size: the CNN-LSTM's convolution.
        loss: ``"mse"`` or ``"mae"`` for the point forecast.
        **training: :class:`TrainingConfig`'s arguments (``epochs=100``, ``batch_size=32``,
            ``learning_rate=1e-3``, ``clipnorm=1.0``, ``validation=0.15`` (the last
            fraction of the series), ``patience=10``, ``max_time``, ``checkpoint_dir``,
            ``random_state=0``, ``verbose=0``).

    Learned attributes: ``model_``, ``scaler_``, ``target_``, ``inputs_`` (input columns,
    target first), ``seasonal_period_``, ``mase_scale_``, ``history_``, ``last_window_``.

    >>> import numpy as np
    >>> f = Forecaster(window=8, horizon=2, units=4, epochs=1, verbose=0)
    >>> f.fit(np.sin(np.arange(200) / 5)).predict().shape
    (2,)
    """

    task_name = "forecaster"
    tuple_params = ("units", "quantiles", "covariates")
    training_defaults = TrainingConfig(epochs=100, batch_size=32, learning_rate=1e-3,
                                       validation=0.15, patience=10)

    def __init__(
        self,
        cell: str = "lstm",
        window: int = 33,
        horizon: int = 1,
        *,
        units: int | Sequence[int] = (64,),
        layers: Sequence[dict[str, Any]] | None = None,
        strategy: str = "direct",
        target: str | int | None = None,
        covariates: Sequence[str] | None = None,
        residual: bool = False,
        quantiles: Sequence[float] | None = None,
        seasonal_period: int | None = None,
        scaler: str | None = "standard",
        dropout: float = 0.0,
        filters: int = 64,
        kernel_size: int = 5,
        loss: str = "mse",
        **training: Any,
    ) -> None:
        self.cell = cell
        self.window = window
        self.horizon = horizon
        self.units = units
        self.layers = layers
        self.strategy = strategy
        self.target = target
        self.covariates = covariates
        self.residual = residual
        self.quantiles = quantiles
        self.seasonal_period = seasonal_period
        self.scaler = scaler
        self.dropout = dropout
        self.filters = filters
        self.kernel_size = kernel_size
        self.loss = loss
        self._store_training(training)

    # -- validation ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        self.training_config().check()
        check_choice("cell", self.cell, CELLS)
        check_int("window", self.window, 1)
        check_int("horizon", self.horizon, 1)
        check_choice("strategy", self.strategy, ("direct", "recursive"))
        if self.layers is None:
            check_units(self.units)
        check_float("dropout", self.dropout, 0.0, 1.0)
        if self.scaler is not None:
            check_choice("scaler", self.scaler, ("standard", "minmax"))
        check_choice("loss", self.loss, ("mse", "mae"))
        if self.seasonal_period is not None:
            check_int("seasonal_period", self.seasonal_period, 1)
        if self.quantiles is not None:
            qs = list(self.quantiles)
            if not qs:
                raise ValueError("expected quantiles as a non-empty list or None, got []")
            for q in qs:
                check_float("quantile", q, 0.0, 1.0)
                if q <= 0:
                    raise ValueError(f"expected quantiles in (0, 1), got {q}")
            if self.strategy == "recursive":
                raise ValueError("expected strategy='direct' with quantiles (intervals are "
                                 "not propagated through the recursion), got 'recursive'")
        if self.cell == "cnn-lstm" and self.layers is None:
            check_int("filters", self.filters, 1)
            check_int("kernel_size", self.kernel_size, 1)
            if self.kernel_size > self.window:
                raise ValueError(f"expected kernel_size <= window ({self.window}), "
                                 f"got {self.kernel_size}")

    def _resolve_columns(self, frame: pd.DataFrame) -> tuple[str, list[str]]:
        cols = list(frame.columns)
        if self.target is None:
            if len(cols) != 1:
                raise ValueError(
                    f"expected target= naming the column to forecast, got a table with "
                    f"columns {cols}"
                )
            target = cols[0]
        elif isinstance(self.target, (int, np.integer)) and not isinstance(self.target, bool):
            if not 0 <= int(self.target) < len(cols):
                raise ValueError(f"expected a target position in [0, {len(cols)}), "
                                 f"got {self.target}")
            target = cols[int(self.target)]
        elif isinstance(self.target, str) and self.target in cols:
            target = self.target
        else:
            raise ValueError(f"expected target to be one of the columns {cols}, "
                             f"got {self.target!r}")
        if self.covariates is None:
            covs = [c for c in cols if c != target]
        else:
            if isinstance(self.covariates, str):
                raise ValueError(f"expected covariates as a list of column names, got the "
                                 f"string {self.covariates!r}; wrap it: [{self.covariates!r}]")
            covs = [str(c) for c in self.covariates]
            bad = [c for c in covs if c not in cols or c == target]
            if bad:
                raise ValueError(f"expected covariates among {[c for c in cols if c != target]},"
                                 f" got {bad}")
        return target, covs

    # -- model --------------------------------------------------------------------------------
    def _n_out(self, n_features: int) -> int:
        if self.strategy == "recursive":
            return n_features
        nq = len(self.quantiles) if self.quantiles is not None else 0
        return self.horizon * (1 + nq)

    def _hidden_layers(self) -> list[Any]:
        if self.layers is not None:
            return [build_layer(spec) for spec in self.layers]
        units = check_units(self.units)
        cell = self.cell.lower()
        out: list[Any] = []
        rnn = RNN_CELLS["lstm" if cell == "cnn-lstm" else cell]
        if cell == "cnn-lstm":
            out.append(Conv1D(self.filters, self.kernel_size, activation="relu"))
        for i, u in enumerate(units):
            out.append(rnn(u, return_sequences=i < len(units) - 1, dropout=float(self.dropout)))
        return out

    def _build(self, n_features: int) -> Sequential:
        return Sequential(
            [Input((self.window, n_features)), *self._hidden_layers(),
             Dense(self._n_out(n_features))],
            name="forecaster",
        )

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, series: Any, y: None = None) -> Forecaster:
        """Train on a series: ``(T,)``/``(T, F)`` array, ``pandas.Series`` or ``DataFrame``
        (rows in time order; covariates as further columns). Returns ``self``."""
        self._check_params()
        frame = series_frame(series)
        target, covs = self._resolve_columns(frame)
        inputs = [target, *covs]
        values = frame[inputs].to_numpy(np.float64)  # (T, F)
        n_feat = values.shape[1]
        scaler = None
        if self.scaler is not None:
            scaler = StandardScaler() if self.scaler.lower() == "standard" else MinMaxScaler()
        direct = self.strategy.lower() == "direct"
        split = windowed_split(
            values, self.window, self.horizon if direct else 1,
            target=0 if direct else "all", val=float(self.training_config().validation),
            test=0.0,
            scaler=scaler, dtype="float32",
        )
        (x_tr, y_tr), (x_va, y_va) = split.train, split.val
        x_tr, x_va = np.array(x_tr), np.array(x_va)  # (n, window, F)
        width = self.horizon if direct else n_feat
        y_tr = np.array(y_tr).reshape(len(x_tr), width)  # (n, horizon) or (n, F)
        y_va = np.array(y_va).reshape(len(x_va), width)
        if self.residual:
            cols = slice(0, 1) if direct else slice(0, n_feat)
            y_tr = y_tr - x_tr[:, -1, cols]
            y_va = y_va - x_va[:, -1, cols]
        config = self.training_config()
        n_train_rows = len(values) - math.floor(float(config.validation) * len(values))

        config.seed()
        model = self._build(n_feat)
        if direct and self.quantiles is not None:
            loss: Any = _pinball_loss(self.horizon, self.quantiles, self.loss.lower())
        else:
            loss = self.loss.lower()
        val = (x_va, y_va) if len(x_va) else None
        self._train(model, loss, x_tr, y_tr, val)
        self.model_ = model
        self.scaler_ = split.scaler
        self.target_ = target
        self.inputs_ = inputs
        self.n_features_ = n_feat
        self.seasonal_period_ = int(self.seasonal_period or infer_seasonal_period(frame.index))
        self.mase_scale_ = mase_scale(values[:n_train_rows, 0])
        self.last_window_ = values[-self.window :].tolist()
        self.n_train_windows_ = int(len(x_tr))
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _scale(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values if self.scaler_ is None else np.asarray(self.scaler_.transform(values))

    def _unscale_target(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.scaler_ is None:
            return values
        return np.asarray(self.scaler_.select(0).inverse_transform(values), dtype=np.float64)

    def _input_values(self, series: Any) -> tuple[NDArray[np.float64], pd.DataFrame]:
        frame = series_frame(series)
        if list(frame.columns) == [f"x{j}" for j in range(frame.shape[1])] and \
                frame.shape[1] == len(self.inputs_) and frame.columns[0] not in self.inputs_:
            frame.columns = list(self.inputs_)  # a plain array in the fitted column order
        if frame.shape[1] == 1 and len(self.inputs_) == 1:
            frame.columns = list(self.inputs_)
        missing = [c for c in self.inputs_ if c not in frame.columns]
        if missing:
            raise ValueError(f"expected columns {self.inputs_} (as fitted), got "
                             f"{list(frame.columns)}")
        return frame[self.inputs_].to_numpy(np.float64), frame

    def _forecast_scaled(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                                 NDArray[np.float64] | None]:
        """Scaled windows ``(n, window, F)`` -> point ``(n, horizon)`` and quantiles
        ``(n, horizon, Q)`` (scaled target units)."""
        h = self.horizon
        x = x.astype(np.float32)
        if self.strategy.lower() == "direct":
            out = _predict(self.model_, x)  # (n, horizon * (1 + Q))
            last = x[:, -1, 0:1].astype(np.float64) if self.residual else 0.0
            point = out[:, :h] + last
            quants = None
            if self.quantiles is not None:
                nq = len(self.quantiles)
                quants = out[:, h : h * (1 + nq)].reshape(len(x), nq, h).transpose(0, 2, 1)
                quants = quants + (last[:, :, None] if self.residual else 0.0)  # type: ignore[index]
            return point, quants
        cur = x.copy()
        steps = []
        for _ in range(h):
            nxt = _predict(self.model_, cur)  # (n, F)
            if self.residual:
                nxt = nxt + cur[:, -1, :]
            steps.append(nxt[:, 0])
            cur = np.concatenate([cur[:, 1:], nxt[:, None, :].astype(np.float32)], axis=1)
        return np.stack(steps, axis=1), None

    def predict_at(
        self, series: Any, origins: Sequence[int] | NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Forecasts made at each origin (position of the last observed row) of ``series``:
        ``(len(origins), horizon)`` and the quantiles ``(len(origins), horizon, Q)`` or
        ``None``, in the target's units."""
        self._require_fitted()
        values, _ = self._input_values(series)
        return self._predict_values(values, np.asarray(origins, dtype=np.int64))

    def _predict_values(self, values: NDArray[np.float64], origins: NDArray[np.int64]
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        w = self.window
        if origins.size and (origins.min() < w - 1 or origins.max() >= len(values)):
            raise ValueError(f"expected origins in [{w - 1}, {len(values)}) (a full window of "
                             f"{w} rows before each), got {origins.min()}..{origins.max()}")
        scaled = self._scale(values)
        views = sliding_window_view(scaled, w, axis=0)  # (T - w + 1, F, w)
        x = np.ascontiguousarray(views[origins - w + 1].transpose(0, 2, 1))  # (n, w, F)
        point, quants = self._forecast_scaled(x)
        point = self._unscale_target(point)
        if quants is not None:
            quants = self._unscale_target(quants)
        return point, quants

    def predict(self, series: Any = None, *, return_quantiles: bool = False) -> Any:
        """Forecast the ``horizon`` steps after the end of ``series`` (default: after the
        training series): an array ``(horizon,)`` in the target's units; with
        ``return_quantiles``, ``(point, quantiles)`` with quantiles ``(horizon, Q)``."""
        self._require_fitted()
        if series is None:
            values = np.asarray(self.last_window_, dtype=np.float64)
        else:
            values, _ = self._input_values(series)
        if len(values) < self.window:
            raise ValueError(f"expected at least window={self.window} rows to forecast from, "
                             f"got {len(values)}")
        point, quants = self._predict_values(values, np.array([len(values) - 1]))
        if return_quantiles:
            if quants is None:
                raise ValueError("expected a Forecaster fitted with quantiles=... for "
                                 "return_quantiles=True, got quantiles=None")
            return point[0], quants[0]
        return point[0]

    # -- evaluation ---------------------------------------------------------------------------
    def backtest(
        self,
        series: Any,
        *,
        test: float | int = 0.2,
        step: int = 1,
        refit: bool = False,
        folds: int = 3,
    ) -> Backtest:
        """Rolling-origin evaluation on the last part of ``series``.

        Forecasts are made at every ``step``-th origin whose ``horizon`` targets lie in the
        test part (the last ``test`` fraction of the rows, or ``test`` rows when an int),
        from the rows observed up to that origin. ``refit=True`` re-trains a clone before
        each of ``folds`` consecutive blocks of origins on all rows observed up to the
        block (slow: ``folds`` trainings). The naive and seasonal-naive forecasts are
        scored on the same origins; MASE is scaled by the one-step naive MAE of the rows
        before the test part.
        """
        self._require_fitted()
        values, frame = self._input_values(series)
        n_rows = len(values)
        if isinstance(test, (int, np.integer)) and not isinstance(test, bool) and test >= 1:
            n_test = int(test)
        else:
            n_test = math.floor(float(check_float("test", test, 0.0, 1.0) or 0.0) * n_rows)
        step = check_int("step", step, 1)
        first = n_rows - n_test - 1
        last = n_rows - 1 - self.horizon
        need = max(self.window, self.seasonal_period_) - 1
        if n_test < self.horizon or first < need or last < first:
            raise ValueError(
                f"expected a test part of at least horizon={self.horizon} rows after "
                f"{need + 1} rows of history, got {n_test} test rows of {n_rows}"
            )
        origins = np.arange(first, last + 1, step, dtype=np.int64)
        if refit:
            folds = check_int("folds", folds, 1)
            blocks = np.array_split(origins, min(folds, len(origins)))
            parts, qparts = [], []
            for block in blocks:
                model = clone(self).fit(frame.iloc[: int(block[0]) + 1])
                p, q = model._predict_values(values, block)
                parts.append(p)
                qparts.append(q)
            point = np.concatenate(parts)
            quants: NDArray[np.float64] | None = (
                None if qparts[0] is None else np.concatenate([q for q in qparts if q is not None])
            )
        else:
            point, quants = self._predict_values(values, origins)
        y = values[:, 0]
        h = np.arange(1, self.horizon + 1)
        actual = y[origins[:, None] + h[None, :]]  # (n, horizon)
        naive = naive_forecast(y, origins, self.horizon)
        snaive = seasonal_naive_forecast(y, origins, self.horizon, self.seasonal_period_)
        scale = mase_scale(y[: first + 1])
        metrics: dict[str, Any] = {
            **forecast_metrics(actual, point, scale),
            "baselines": {
                "naive": forecast_metrics(actual, naive, scale),
                "seasonal_naive": forecast_metrics(actual, snaive, scale),
            },
            "horizon": self.horizon,
            "seasonal_period": self.seasonal_period_,
            "n_origins": int(len(origins)),
            "n_test_rows": int(n_test),
            "target": self.target_,
        }
        if quants is not None and self.quantiles is not None:
            qs = [float(q) for q in self.quantiles]
            lo, hi = int(np.argmin(qs)), int(np.argmax(qs))
            if qs[hi] > qs[lo]:
                inside = (actual >= quants[..., lo]) & (actual <= quants[..., hi])
                metrics["interval"] = {
                    "lower_quantile": qs[lo],
                    "upper_quantile": qs[hi],
                    "nominal_coverage": qs[hi] - qs[lo],
                    "coverage": float(inside.mean()),
                }
        index = frame.index if isinstance(frame.index, pd.DatetimeIndex) else None
        return Backtest(origins, actual, point, naive, snaive, quants, metrics, index, y)

    def evaluate(self, series: Any, *, test: float | int = 0.2) -> dict[str, Any]:
        """Held-out metrics (``mae``, ``rmse``, ``mape``, ``mase`` and the baselines'
        under ``baselines``): :meth:`backtest` without refitting."""
        return self.backtest(series, test=test).metrics

    # -- the run protocol (held-out data: the series and its number of test rows) ------------
    def heldout_metrics(self, heldout: tuple[pd.DataFrame, int]) -> dict[str, Any]:
        series, n_test = heldout
        return self.evaluate(series, test=n_test)

    def heldout_arrays(self, heldout: tuple[pd.DataFrame, int]) -> dict[str, np.ndarray]:
        frame, n_test = series_frame(heldout[0]), heldout[1]
        arrays: dict[str, np.ndarray] = {
            "values": frame.to_numpy(np.float64),
            "columns": np.array([str(c) for c in frame.columns]),
            "n_test": np.array(n_test),
        }
        if isinstance(frame.index, pd.DatetimeIndex):
            arrays["index_ns"] = frame.index.as_unit("ns").asi8
        return arrays

    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> tuple[pd.DataFrame, int]:
        index = None
        if "index_ns" in arrays:
            index = pd.DatetimeIndex(pd.to_datetime(arrays["index_ns"], unit="ns"))
        frame = pd.DataFrame(arrays["values"], columns=[str(c) for c in arrays["columns"]],
                             index=index)
        return frame, int(arrays["n_test"])

    def write_plots(self, folder: Path, heldout: tuple[pd.DataFrame, int],
                    metrics: Mapping[str, Any]) -> list[Path]:
        series, n_test = heldout
        data = metrics.get("data") or "held-out part"
        path = plot_forecast(self.backtest(series, test=n_test), folder / "forecast.png",
                             title=f"{self.cell.upper()} forecast vs actual ({data})")
        return [path]

    def inspect_batch(self, heldout: tuple[pd.DataFrame, int], samples: int) -> InspectBatch:
        """Windows from the start of the test part, with the squared error of the scaled
        forecast (per sample) as the loss."""
        series, n_test = heldout
        values, _ = self._input_values(series)
        first = max(len(values) - n_test - 1, self.window - 1)
        origins = np.arange(first, len(values) - self.horizon)[: max(1, int(samples))]
        scaled = self._scale(values)
        x = np.stack([scaled[t - self.window + 1 : t + 1] for t in origins]).astype(np.float32)
        h = np.arange(1, self.horizon + 1)
        direct = self.strategy.lower() == "direct"
        y = scaled[origins[:, None] + h[None, :], 0] if direct else scaled[origins + 1]
        if self.residual:
            y = y - (x[:, -1, 0:1] if direct else x[:, -1, :])
        width = y.shape[1]

        def squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
            return ((y_pred[:, :width] - y_true.to(y_pred.dtype)) ** 2).mean(dim=1)

        return InspectBatch(x, y.astype(np.float32), squared_error)

    def predict_file(self, request: PredictRequest) -> str:
        """CSV of the ``horizon`` steps after the end of the series in ``request.file``:
        ``step`` (the timestamp when the index is regular), the forecast and the quantiles."""
        self._require_fitted()
        series = read_series_csv(request.file)
        point, quants = self.predict_at(series, [len(series) - 1])
        header = ["step", f"forecast_{self.target_}"]
        if quants is not None:
            header += [f"q{q:g}" for q in (self.quantiles or ())]
        stamps = future_index(series.index, self.horizon)
        rows = []
        for h in range(self.horizon):
            row = [stamps[h] if stamps is not None else h + 1, float(point[0, h])]
            if quants is not None:
                row += [float(v) for v in quants[0, h]]
            rows.append(row)
        return csv_text(header, rows)

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        keys = ("mae", "rmse", "mape", "mase")
        lines = ["held-out       " + "  ".join(f"{k}={fmt(metrics.get(k))}" for k in keys)]
        base = metrics.get("baselines", {})
        for name in ("naive", "seasonal_naive"):
            b = base.get(name, {})
            lines.append(f"{name:<15}" + "  ".join(f"{k}={fmt(b.get(k))}" for k in keys))
        if "interval" in metrics:
            iv = metrics["interval"]
            lines.append(f"interval       coverage={fmt(iv['coverage'])} "
                         f"(nominal {fmt(iv['nominal_coverage'])})")
        return lines

    # -- state --------------------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        return {
            "scaler": None if self.scaler_ is None else self.scaler_.to_dict(),
            "target": self.target_,
            "inputs": self.inputs_,
            "n_features": self.n_features_,
            "seasonal_period": self.seasonal_period_,
            "mase_scale": self.mase_scale_,
            "last_window": self.last_window_,
            "n_train_windows": self.n_train_windows_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        sc = state.get("scaler")
        self.scaler_ = None if sc is None else scaler_from_dict(sc)
        self.target_ = str(state["target"])
        self.inputs_ = [str(c) for c in state["inputs"]]
        self.n_features_ = int(state["n_features"])
        self.seasonal_period_ = int(state["seasonal_period"])
        self.mase_scale_ = float(state["mase_scale"])
        self.last_window_ = [list(map(float, row)) for row in state["last_window"]]
        self.n_train_windows_ = int(state.get("n_train_windows", 0))
