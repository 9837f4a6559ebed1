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
seasonal-naive forecast, from the window's seasonal differences. Prediction intervals:
with ``quantiles=(0.1, 0.9)`` the network also outputs those quantiles of each step,
trained with the pinball loss ``max(q e, (q - 1) e)``, ``e = y - y_q`` (direct only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..data import (
    Origins,
    Panel,
    PanelScaler,
    horizon_times,
    infer_frequency,
    seasonal_period,
    split_points,
    window_index,
)
from ..data import future_covariates as horizon_covariates
from ..layers import GRU, LSTM, Conv1D, IndRNN, SimpleRNN
from ._backtest import Backtest, interval_metrics, mase_scales, scored, test_origins
from ._base import InspectBatch, PredictRequest, Task, _predict, build_layer, clone, fmt
from ._baselines import STATISTICAL_METHODS, panel_baselines
from ._checks import check_choice, check_float, check_int, check_units
from ._copula import correlated_uniforms, step_correlation
from ._files import csv_text, read_panel_csv, read_series_csv
from ._forecast_input import (
    ColumnRoles,
    panel_from_arrays,
    panel_head,
    panel_tail,
    panel_to_arrays,
    to_panel,
)
from ._forecast_net import NetShape, build_network, window_arrays
from ._forecast_residual import (
    resolve_residual,
    resolve_window,
    seasonal_base,
    seasonal_differences,
    seasonal_future_differences,
    seasonal_scale,
)
from ._likelihood import LIKELIHOODS, Head, check_counts, crps, likelihood_loss, wql
from ._report import plot_forecast
from ._training import TrainingConfig

__all__ = ["Backtest", "Forecaster", "future_index", "infer_seasonal_period"]

DRAWS = 100  # sample paths per forecast for the backtest's CRPS
RNN_CELLS: dict[str, Any] = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN, "indrnn": IndRNN}
CELLS = (*RNN_CELLS, "cnn-lstm")


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


def _pinball_loss(horizon: int, quantiles: Sequence[float], point: str) -> Any:
    """Keras-order loss on outputs ``(batch, horizon * (1 + Q))``: the point loss on the
    first ``horizon`` columns plus the mean pinball loss of each quantile block."""
    qs = [float(q) for q in quantiles]

    def forecast_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y = y_true.reshape(y_true.shape[0], horizon)  # (batch, horizon)
        err = y - y_pred[:, :horizon]
        total = err.abs().mean() if point == "mae" else (err ** 2).mean()
        for j, q in enumerate(qs):
            e = y - y_pred[:, horizon * (1 + j) : horizon * (2 + j)]  # (batch, horizon)
            total = total + torch.maximum(q * e, (q - 1.0) * e).mean()
        return total

    return forecast_loss


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        raise ValueError(f"expected {what} as a list of column names, got the string "
                         f"{value!r}; wrap it: [{value!r}]")
    return tuple(str(v) for v in value)


class Forecaster(Task):
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
            ``"auto"`` (default): ``"seasonal"`` when that applies and the data have a
            season, else ``False`` (the value itself).
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
    ``seasonal_period_``, ``freq_``, ``mase_scales_``, ``history_``.

    >>> import numpy as np
    >>> f = Forecaster(window=8, horizon=2, units=4, epochs=1, verbose=0)
    >>> f.fit(np.sin(np.arange(200) / 5)).predict().shape
    (2,)
    """

    task_name = "forecaster"
    tuple_params = ("units", "quantiles", "past_covariates", "future_covariates",
                    "static_covariates", "ignore")
    training_defaults = TrainingConfig(epochs=100, batch_size=32, learning_rate=1e-3,
                                       validation=0.15, patience=10)

    def __init__(
        self,
        cell: str = "lstm",
        window: int | str = "auto",
        horizon: int = 1,
        *,
        units: int | Sequence[int] = (64,),
        layers: Sequence[dict[str, Any]] | None = None,
        strategy: str = "direct",
        target: str | int | None = None,
        id_column: str | None = None,
        time_column: str | None = None,
        past_covariates: Sequence[str] | None = None,
        future_covariates: Sequence[str] | None = None,
        static_covariates: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
        calendar: bool = False,
        pad_short: bool = False,
        freq: str | None = None,
        static_embedding: int = 4,
        residual: bool | str = "auto",
        quantiles: Sequence[float] | None = None,
        likelihood: str | None = None,
        seasonal_period: int | None = None,
        baseline: str | None = "theta",
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
        self.id_column = id_column
        self.time_column = time_column
        self.past_covariates = past_covariates
        self.future_covariates = future_covariates
        self.static_covariates = static_covariates
        self.ignore = ignore
        self.calendar = calendar
        self.pad_short = pad_short
        self.freq = freq
        self.static_embedding = static_embedding
        self.residual = residual
        self.quantiles = quantiles
        self.likelihood = likelihood
        self.seasonal_period = seasonal_period
        self.baseline = baseline
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
        if self.window != "auto":
            check_int("window", self.window, 1)
        check_int("horizon", self.horizon, 1)
        check_choice("strategy", self.strategy, ("direct", "recursive"))
        if self.layers is None:
            check_units(self.units)
        check_float("dropout", self.dropout, 0.0, 1.0)
        if self.scaler is not None:
            check_choice("scaler", self.scaler, ("standard",))
        check_choice("loss", self.loss, ("mse", "mae"))
        check_int("static_embedding", self.static_embedding, 1)
        if self.seasonal_period is not None:
            check_int("seasonal_period", self.seasonal_period, 1)
        if self.baseline is not None:
            check_choice("baseline", self.baseline, tuple(STATISTICAL_METHODS))
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
        if isinstance(self.residual, str):
            check_choice("residual", self.residual, ("auto", "seasonal"))
            if self.residual == "seasonal" and not self._direct:
                raise ValueError("expected strategy='direct' with residual='seasonal', got "
                                 "'recursive'")
        if self.likelihood is not None:
            check_choice("likelihood", self.likelihood, tuple(LIKELIHOODS))
            if self.strategy == "recursive":
                raise ValueError("expected strategy='direct' with a likelihood, got "
                                 "'recursive'")
            if self._head.counts and self.residual not in (False, "auto"):
                raise ValueError(f"expected residual=False with likelihood="
                                 f"{self.likelihood!r} (a distribution of counts), got "
                                 f"residual={self.residual!r}")
        if self.cell == "cnn-lstm" and self.layers is None:
            check_int("filters", self.filters, 1)
            check_int("kernel_size", self.kernel_size, 1)
            if self.window != "auto" and self.kernel_size > int(self.window):
                raise ValueError(f"expected kernel_size <= window ({self.window}), "
                                 f"got {self.kernel_size}")
            if self.pad_short:
                raise ValueError("expected a recurrent cell with pad_short=True (Conv1D "
                                 "reads padding as data), got cell='cnn-lstm'")

    def _roles(self, id_column: str | None, time_column: str | None) -> ColumnRoles:
        calendar = tuple(self.calendar_) if self.fitted else bool(self.calendar)
        for name, given, own in (("id_column", id_column, self.id_column),
                                 ("time_column", time_column, self.time_column)):
            if given is not None and own is not None and given != own:
                raise ValueError(f"expected {name} {own!r} (as constructed), got {given!r}")
        return ColumnRoles(
            target=self.target, id_column=id_column or self.id_column,
            time_column=time_column or self.time_column,
            past=_names(self.past_covariates, "past_covariates"),
            future=_names(self.future_covariates, "future_covariates"),
            static=_names(self.static_covariates, "static_covariates"),
            ignore=_names(self.ignore, "ignore"), calendar=calendar, freq=self.freq,
        )

    @property
    def _direct(self) -> bool:
        return self.strategy.lower() == "direct"

    @property
    def _head(self) -> Head:
        """The distribution head (a likelihood is set)."""
        return LIKELIHOODS[str(self.likelihood)]

    # -- model --------------------------------------------------------------------------------
    def _n_out(self, shape: NetShape) -> int:
        if not self._direct:
            return 1 + shape.n_past
        if self.likelihood is not None:
            return self.horizon * self._head.n_params
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

    def _shape(self, panel: Panel) -> NetShape:
        return NetShape(
            window=self.window_, n_past=len(panel.past_names),
            n_future=len(panel.future_names), n_static=len(panel.static_names),
            categories=tuple(len(panel.categories[c]) for c in panel.categorical_names),
            steps=int(self.horizon) if self._direct else 1, masked=bool(self.pad_short),
            static_embedding=int(self.static_embedding),
        )

    # -- fitting ------------------------------------------------------------------------------
    def read_panel(self, data: Any, *, id_column: str | None = None,
                   time_column: str | None = None) -> Panel:
        """``data`` as the validated :class:`~rnnkit.data.Panel` this forecaster reads
        (with the columns it was told, or was fitted with)."""
        if self.fitted and id_column is None and time_column is None:
            id_column, time_column = self.id_column_, self.time_column_
        return to_panel(data, self._roles(id_column, time_column))

    def _examples(self, scaled: Panel, series: NDArray[np.int64], cut: NDArray[np.int64],
                  shape: NetShape) -> tuple[Any, NDArray[np.float32]]:
        """Network inputs and targets of the windows ending at ``cut`` (scaled units)."""
        inputs, y = window_arrays(scaled, series, cut, shape, shape.steps)
        x = inputs[0]
        if not self._direct:  # the next row: target and past covariates
            rows = scaled.offsets[series] + cut  # (n,)
            y = np.column_stack([scaled.target[rows], scaled.past[rows]])  # (n, 1 + P)
        if self._direct:
            y = y - self._base(x)
            inputs = self._net_inputs(inputs, shape)
            x = inputs[0]
        elif self.residual_:
            y = y - x[:, -1, : y.shape[1]]
        return (x if shape.plain else inputs), y.astype(np.float32)

    def _net_inputs(self, inputs: list[NDArray[Any]], shape: NetShape) -> list[NDArray[Any]]:
        """The inputs as the direct network reads them: with ``residual="seasonal"``, the
        target's seasonal differences in the window and the future covariates' changes
        from the rows the seasonal-naive forecast reads
        (:mod:`rnnkit.tasks._forecast_residual`)."""
        if self.residual_ != "seasonal":
            return inputs
        m, x = self.seasonal_period_, inputs[0]
        out = [seasonal_differences(x, m, bool(self.pad_short)), *inputs[1:]]
        if shape.n_future:
            out[1] = seasonal_future_differences(x, inputs[1], m, 1 + shape.n_past)
        return out

    def _direct_out(self, inputs: list[NDArray[Any]]) -> NDArray[np.float64]:
        """The direct network's raw outputs for (unchanged) ``inputs``."""
        net_in = self._net_inputs(inputs, self.net_)
        return _predict(self.model_, net_in[0] if self.net_.plain else net_in)

    def _base(self, x: NDArray[Any]) -> Any:
        """What the direct network's output is added to (scaled): 0, the last value
        ``(n, 1)`` (``residual=True``) or the seasonal-naive forecast ``(n, horizon)``
        (``residual="seasonal"``) read from the window ``x``."""
        if self.residual_ == "seasonal":
            return seasonal_base(x, self.seasonal_period_, int(self.horizon))
        return x[:, -1, 0:1].astype(np.float64) if self.residual_ else 0.0

    def _fit_scaler(self, panel: Panel, train_end: NDArray[np.int64]) -> PanelScaler:
        """Per-series scaling on the training rows: standard (with
        ``residual="seasonal"``, the target divided by its mean absolute seasonal
        difference), none (``scaler=None``) or, for counts, the target divided by its mean
        (no shift: counts stay counts)."""
        scaler = PanelScaler().fit(panel, end=train_end)
        if self.scaler is None:
            scaler.mean[:], scaler.std[:] = 0.0, 1.0
            scaler.static_mean[:], scaler.static_std[:] = 0.0, 1.0
        if self.residual_ == "seasonal" and self.scaler is not None:
            scaler.std[:, 0] = seasonal_scale(panel, train_end, self.seasonal_period_)
        if self.likelihood is not None and self._head.counts:
            check_counts(panel)
            level = PanelScaler().fit(panel.with_values(
                np.abs(panel.target), panel.past, panel.future, panel.static),
                end=train_end).mean[:, 0]
            scaler.mean[:, 0], scaler.std[:, 0] = 0.0, np.where(level > 0, level, 1.0)
        return scaler

    def _with_scale(self, y: NDArray[np.float32], scaler: PanelScaler,
                    series: NDArray[np.int64]) -> NDArray[np.float32]:
        """Targets for a likelihood loss: the scaled targets, then the series' scale."""
        if self.likelihood is None:
            return y
        return np.column_stack([y, scaler.std[series, 0]]).astype(np.float32)  # (n, h + 1)

    def _fit_copula(self, x: Any, y: NDArray[np.float32]) -> list[list[float]]:
        """The step correlation of the forecast errors (:mod:`rnnkit.tasks._copula`) on
        the examples ``x, y`` (targets with the scale column); identity without a
        likelihood."""
        h = int(self.horizon)
        if self.likelihood is None or not self._direct:
            return np.eye(h).tolist()
        out = _predict(self.model_, x)
        pit = self._head.cdf(y[:, :h].astype(np.float64), out, h, y[:, h].astype(np.float64))
        return step_correlation(pit).tolist()

    def _resolve(self, panel: Panel) -> None:
        """Set ``seasonal_period_``, ``window_`` and ``residual_`` from the data."""
        self.seasonal_period_ = int(self.seasonal_period or seasonal_period(panel.freq))
        self.window_ = resolve_window(self.window, self.seasonal_period_)
        counts = self.likelihood is not None and self._head.counts
        self.residual_ = resolve_residual(self.residual, direct=self._direct, counts=counts,
                                          window=self.window_, period=self.seasonal_period_)
        if self.residual_ == "seasonal" and self.window_ < self.seasonal_period_:
            raise ValueError(f"expected window >= the seasonal period "
                             f"{self.seasonal_period_} with residual='seasonal', got "
                             f"{self.window_}")

    def fit(self, data: Any, y: None = None, *, id_column: str | None = None,
            time_column: str | None = None) -> Forecaster:
        """Train one model on every series of ``data``: a ``(T,)``/``(T, F)`` array, a
        ``Series`` or ``DataFrame`` (one series), a long ``DataFrame`` with ``id_column``
        (and ``time_column``), an ``(id, time)`` MultiIndex frame, a dict of series or a
        :class:`~rnnkit.data.Panel`. Returns ``self``."""
        self._check_params()
        panel = to_panel(data, self._roles(id_column, time_column))
        config = self.training_config()
        split = split_points(panel, validation=float(config.validation), min_train=2)
        self._resolve(panel)
        scaler = self._fit_scaler(panel, split.train_end)
        scaled = scaler.transform(panel)
        shape = self._shape(panel)
        w, pad = self.window_, bool(self.pad_short)
        tr = window_index(panel, w, shape.steps, end=split.train_end, pad_short=pad)
        x_tr, y_tr = self._examples(scaled, tr.series, tr.start + w, shape)
        y_tr = self._with_scale(y_tr, scaler, tr.series)
        val = None
        if (split.val_end > split.train_end).any():
            va = window_index(panel, w, shape.steps, targets_from=split.train_end,
                              pad_short=pad)
            keep = va.start + w >= split.train_end[va.series]  # targets in validation rows
            if keep.any():
                x_va, y_va = self._examples(scaled, va.series[keep], va.start[keep] + w, shape)
                val = (x_va, self._with_scale(y_va, scaler, va.series[keep]))
        config.seed()
        units = check_units(self.units)[-1] if self.layers is None else 32
        model = build_network(shape, self._hidden_layers(), self._n_out(shape), units)
        loss: Any = self.loss.lower()
        if self.likelihood is not None:
            loss = likelihood_loss(self._head, int(self.horizon))
        elif self._direct and self.quantiles is not None:
            loss = _pinball_loss(self.horizon, self.quantiles, self.loss.lower())
        self._train(model, loss, x_tr, y_tr, val)
        self.model_ = model
        self.net_ = shape
        self.step_correlation_ = self._fit_copula(*(val or (x_tr, y_tr)))
        self.scaler_ = scaler
        self.id_column_ = id_column or self.id_column
        self.time_column_ = time_column or self.time_column
        self.target_ = panel.target_name
        self.inputs_ = [panel.target_name, *panel.past_names, *panel.future_names]
        self.ids_ = list(panel.ids)
        self.freq_ = None if panel.freq is None else str(panel.freq.freqstr)
        self.calendar_ = list(panel.calendar)
        self.mase_scales_ = mase_scales(panel, split.train_end).tolist()
        self.tail_ = panel_tail(panel, w)
        self.n_train_windows_ = int(len(tr.series))
        return self

    # -- forecasting --------------------------------------------------------------------------
    def _scaler_for(self, panel: Panel) -> PanelScaler:
        """The fitted statistics of ``panel``'s series, in its order."""
        pos = {key: i for i, key in enumerate(self.scaler_.ids)}
        unseen = [key for key in panel.ids if key not in pos]
        if unseen:
            raise ValueError(f"expected series seen in fit, got {len(unseen)} new one(s): "
                             f"{unseen[:5]!r}; fit the forecaster on them too")
        idx = [pos[key] for key in panel.ids]
        sub = PanelScaler()
        sub.ids, sub.columns = panel.ids, self.scaler_.columns
        sub.mean, sub.std = self.scaler_.mean[idx], self.scaler_.std[idx]
        sub.static_mean, sub.static_std = self.scaler_.static_mean, self.scaler_.static_std
        return sub

    def _check_history(self, panel: Panel, series: NDArray[np.int64],
                       cut: NDArray[np.int64]) -> None:
        short = np.flatnonzero(cut < (1 if self.pad_short else self.window_))
        if short.size:
            i = int(series[short[0]])
            raise ValueError(f"expected window={self.window_} rows before every forecast "
                             f"origin, got {int(cut[short[0]])} in series {panel.ids[i]!r} "
                             "(pad_short=True keeps short series with masked padding)")

    def _forecast_scaled(self, inputs: list[NDArray[Any]], scale: NDArray[np.float64]
                         ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Network inputs (with ``horizon`` rows of future covariates) -> point
        ``(n, horizon)`` and quantiles ``(n, horizon, Q)`` in scaled units; ``scale``
        ``(n,)``: each row's series scale (read by count distributions)."""
        h = int(self.horizon)
        if self.likelihood is not None:
            out = self._direct_out(inputs)
            levels = np.asarray(self.quantiles or (0.1, 0.9), dtype=np.float64)
            u = np.broadcast_to(levels[:, None, None], (len(levels), len(out), h))
            exact = self._head.ppf(u, out, h, scale).transpose(1, 2, 0)  # (n, h, Q)
            base = self._base(inputs[0])
            return self._head.mean(out, h) + base, exact + np.expand_dims(base, -1)
        if self._direct:
            out = self._direct_out(inputs)
            base = self._base(inputs[0])
            quants = None
            if self.quantiles is not None:
                nq = len(self.quantiles)
                quants = out[:, h : h * (1 + nq)].reshape(len(out), nq, h).transpose(0, 2, 1)
                quants = quants + np.expand_dims(base, -1)
            return out[:, :h] + base, quants
        return self._recursive_scaled(inputs), None

    def _recursive_scaled(self, inputs: list[NDArray[Any]]) -> NDArray[np.float64]:
        """The recursive strategy's ``(n, horizon)`` forecasts in scaled units."""
        h, shape = int(self.horizon), self.net_
        cur = inputs[0].copy()
        width = 1 + shape.n_past
        steps = []
        for k in range(h):
            net_in = [cur, *([inputs[1][:, k : k + 1]] if shape.n_future else []),
                      *inputs[1 + bool(shape.n_future):]]
            nxt = _predict(self.model_, cur if shape.plain else net_in)  # (n, 1 + P)
            if self.residual_:
                nxt = nxt + cur[:, -1, :width]
            steps.append(nxt[:, 0])
            row = [nxt, *([inputs[1][:, k]] if shape.n_future else []),
                   *([np.ones((len(cur), 1))] if shape.masked else [])]
            new = np.concatenate(row, axis=1).astype(np.float32)[:, None, :]  # (n, 1, feat)
            cur = np.concatenate([cur[:, 1:], new], axis=1)
        return np.stack(steps, axis=1)

    def _forecast_at(self, panel: Panel, series: NDArray[np.int64], cut: NDArray[np.int64]
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Forecasts in the target's units after the first ``cut`` rows of ``series``
        (their horizon rows must be in the panel when there are future covariates)."""
        inputs, scaler = self._inputs_at(panel, series, cut)
        point, quants = self._forecast_scaled(inputs, scaler.std[series, 0])
        return scaler.inverse_target(point, series), (
            None if quants is None else scaler.inverse_target(quants, series))

    def _inputs_at(self, panel: Panel, series: NDArray[np.int64], cut: NDArray[np.int64]
                   ) -> tuple[list[NDArray[Any]], PanelScaler]:
        self._check_history(panel, series, cut)
        scaler = self._scaler_for(panel)
        steps = int(self.horizon) if self.net_.n_future else 0
        inputs, _ = window_arrays(scaler.transform(panel), series, cut, self.net_, steps)
        return inputs, scaler

    def _paths(self, inputs: list[NDArray[Any]], scaler: PanelScaler,
               series: NDArray[np.int64], samples: int) -> NDArray[np.float64]:
        """Sample paths ``(samples, n, horizon)`` in the target's units (a likelihood)."""
        if self.likelihood is None:
            raise ValueError(f"expected a Forecaster fitted with likelihood= one of "
                             f"{sorted(LIKELIHOODS)} for sample paths, got likelihood=None")
        out = self._direct_out(inputs)
        h = int(self.horizon)
        u = correlated_uniforms(np.asarray(self.step_correlation_), samples, len(out))
        paths = self._head.ppf(u, out, h, scaler.std[series, 0])  # (S, n, horizon)
        paths = paths + np.expand_dims(self._base(inputs[0]), 0)
        return scaler.inverse_target(paths.transpose(1, 0, 2), series).transpose(1, 0, 2)

    def sample_paths(self, data: Any = None, *, future_covariates: Any = None,
                     samples: int = 100) -> NDArray[np.float64]:
        """``samples`` sample paths ``(samples, n_series, horizon)`` of the steps after
        every series of ``data`` (default: the training data), in the target's units: each
        step follows its distribution, and the steps of a path are correlated as the
        errors of the validation windows were (a Gaussian copula,
        :mod:`rnnkit.tasks._copula`; a seeded generator)."""
        self._require_fitted()
        panel = self.tail_ if data is None else self.read_panel(data)
        series = np.arange(panel.n_series, dtype=np.int64)
        inputs, scaler = self._end_inputs(panel, future_covariates)
        return self._paths(inputs, scaler, series, check_int("samples", samples, 1))

    def _end_inputs(self, panel: Panel, future_data: Any
                    ) -> tuple[list[NDArray[Any]], PanelScaler]:
        """Network inputs of the forecasts after the end of every series of ``panel``."""
        series = np.arange(panel.n_series, dtype=np.int64)
        cut = panel.lengths
        self._check_history(panel, series, cut)
        scaler = self._scaler_for(panel)
        h, k = int(self.horizon), 1 + self.net_.n_past
        fut = np.zeros((panel.n_series, h, 0))
        if self.net_.n_future:
            fut = horizon_covariates(panel, h, future_data, id_column=self.id_column_,
                                     time_column=self.time_column_)  # (n, h, F)
            fut = (fut - scaler.mean[:, None, k:]) / scaler.std[:, None, k:]
        inputs, _ = window_arrays(scaler.transform(panel), series, cut, self.net_, 0, fut)
        return inputs, scaler

    def _forecast_end(self, panel: Panel, future_data: Any
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Forecasts of the ``horizon`` steps after every series of ``panel``."""
        series = np.arange(panel.n_series, dtype=np.int64)
        inputs, scaler = self._end_inputs(panel, future_data)
        point, quants = self._forecast_scaled(inputs, scaler.std[series, 0])
        return scaler.inverse_target(point, series), (
            None if quants is None else scaler.inverse_target(quants, series))

    def predict_at(self, data: Any, origins: Sequence[int] | NDArray[np.int64],
                   series: Sequence[int] | NDArray[np.int64] | None = None
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Forecasts made at each origin (position of the last observed row within its
        series; ``series``: series numbers, default the first) of ``data``:
        ``(len(origins), horizon)`` and the quantiles ``(len(origins), horizon, Q)`` or
        ``None``, in the target's units."""
        self._require_fitted()
        panel = self.read_panel(data)
        cut = np.asarray(origins, dtype=np.int64).reshape(-1) + 1
        idx = np.zeros_like(cut) if series is None else np.asarray(series, np.int64)
        if cut.size and (cut.max() > panel.lengths[idx]).any():
            raise ValueError(f"expected origins inside their series, got "
                             f"{int(cut.max()) - 1} (series of {panel.lengths[idx].min()} rows)")
        return self._forecast_at(panel, idx, cut)

    def predict(self, data: Any = None, *, future_covariates: Any = None,
                return_quantiles: bool = False) -> Any:
        """Forecast the ``horizon`` steps after the end of every series of ``data``
        (default: the training data): ``(horizon,)`` for one series, else
        ``(n_series, horizon)``, in the target's units; with ``return_quantiles``,
        ``(point, quantiles)`` with quantiles ``(..., horizon, Q)``. ``future_covariates``:
        their values over the horizon (a table like the training data; not needed for
        calendar features)."""
        self._require_fitted()
        panel = self.tail_ if data is None else self.read_panel(data)
        point, quants = self._forecast_end(panel, future_covariates)
        one = panel.n_series == 1
        if return_quantiles:
            if quants is None:
                raise ValueError("expected a Forecaster fitted with quantiles=... for "
                                 "return_quantiles=True, got quantiles=None")
            return (point[0], quants[0]) if one else (point, quants)
        return point[0] if one else point

    def forecast_table(self, data: Any = None, *, future_covariates: Any = None
                       ) -> pd.DataFrame:
        """The next ``horizon`` steps of every series as a long table: the series id
        (with an id column or several series), ``step`` (the timestamp when the series
        are regular, else 1..horizon), the forecast and its quantiles ``q<level>``."""
        self._require_fitted()
        panel = self.tail_ if data is None else self.read_panel(data)
        point, quants = self._forecast_end(panel, future_covariates)
        h = int(self.horizon)
        try:
            stamps = [str(t) for times in horizon_times(panel, h) for t in times]
        except ValueError:
            stamps = [str(s) for s in np.tile(np.arange(1, h + 1), panel.n_series)]
        table: dict[str, Any] = {}
        if self.id_column_ is not None or panel.n_series > 1:
            table[self.id_column_ or "id"] = np.repeat(np.array(panel.ids, dtype=object), h)
        table["step"] = stamps
        table[f"forecast_{self.target_}"] = point.reshape(-1)
        levels = (self.quantiles or (0.1, 0.9)) if quants is not None else ()
        for j, q in enumerate(levels):
            table[f"q{q:g}"] = quants[:, :, j].reshape(-1)  # type: ignore[index]
        return pd.DataFrame(table)

    # -- evaluation ---------------------------------------------------------------------------
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
        }

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
        if residual not in (True, False, "seasonal"):
            raise ValueError(f"expected 'residual' true, false or 'seasonal', got {residual!r}")
        self.residual_ = residual
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
