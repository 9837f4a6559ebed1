"""How the forecaster learns (the second layer of :class:`~rnnkit.tasks.Forecaster`):
the network's shape and layers, the windows it reads and the targets it learns (with the
seasonal recipe of :mod:`rnnkit.tasks._forecast_residual`), the per-series scaling, and
``fit``; and the network inputs of forecasts made at given origins or after the end of
every series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..data import Panel, PanelScaler, PanelSplit, seasonal_period, split_points, window_index
from ..data import future_covariates as horizon_covariates
from ..layers import Conv1D
from ._backtest import mase_scales
from ._base import _predict, build_layer
from ._checks import check_units
from ._copula import step_correlation
from ._forecast_input import ColumnRoles, panel_tail, to_panel
from ._forecast_net import NetShape, build_network, window_arrays
from ._forecast_residual import (
    LEVEL_PATIENCE,
    SEASONAL,
    resolve_residual,
    resolve_window,
    seasonal_base,
    seasonal_differences,
    seasonal_future_differences,
    seasonal_scale,
)
from ._forecaster_params import RNN_CELLS, ForecasterParams
from ._likelihood import check_counts, likelihood_loss
from ._training import train_model

__all__ = ["ForecasterFitting"]


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        raise ValueError(f"expected {what} as a list of column names, got the string "
                         f"{value!r}; wrap it: [{value!r}]")
    return tuple(str(v) for v in value)


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


class ForecasterFitting(ForecasterParams):
    """Fitting, and the inputs of forecasts (see the module docs)."""

    # -- reading data -------------------------------------------------------------------------
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

    def read_panel(self, data: Any, *, id_column: str | None = None,
                   time_column: str | None = None) -> Panel:
        """``data`` as the validated :class:`~rnnkit.data.Panel` this forecaster reads
        (with the columns it was told, or was fitted with)."""
        if self.fitted and id_column is None and time_column is None:
            id_column, time_column = self.id_column_, self.time_column_
        return to_panel(data, self._roles(id_column, time_column))

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
        """The inputs as the direct network reads them: with ``residual="seasonal"`` (or
        ``"combined"``), the target's seasonal differences in the window and the future
        covariates' changes from the rows the seasonal-naive forecast reads
        (:mod:`rnnkit.tasks._forecast_residual`)."""
        if self.residual_ not in SEASONAL:
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
        (``residual="seasonal"`` or ``"combined"``) read from the window ``x``."""
        if self.residual_ in SEASONAL:
            return seasonal_base(x, self.seasonal_period_, int(self.horizon))
        return x[:, -1, 0:1].astype(np.float64) if self.residual_ else 0.0

    def _standard_scaler(self, panel: Panel, train_end: NDArray[np.int64]) -> PanelScaler:
        """Standard per-series scaling on the training rows, or none (``scaler=None``)."""
        scaler = PanelScaler().fit(panel, end=train_end)
        if self.scaler is None:
            scaler.mean[:], scaler.std[:] = 0.0, 1.0
            scaler.static_mean[:], scaler.static_std[:] = 0.0, 1.0
        return scaler

    def _fit_scaler(self, panel: Panel, train_end: NDArray[np.int64]) -> PanelScaler:
        """Per-series scaling on the training rows: standard (with
        ``residual="seasonal"`` or ``"combined"``, the target divided by its mean absolute
        seasonal difference), none (``scaler=None``) or, for counts, the target divided by
        its mean (no shift: counts stay counts)."""
        scaler = self._standard_scaler(panel, train_end)
        if self.residual_ in SEASONAL and self.scaler is not None:
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
        self.residual_ = resolve_residual(
            self.residual, direct=self._direct, counts=counts, window=self.window_,
            period=self.seasonal_period_, future=bool(panel.future_names),
            likelihood=self.likelihood is not None)
        if self.residual_ in SEASONAL and self.window_ < self.seasonal_period_:
            raise ValueError(f"expected window >= the seasonal period "
                             f"{self.seasonal_period_} with residual={self.residual_!r}, got "
                             f"{self.window_}")

    def _validation_windows(self, panel: Panel, split: PanelSplit, shape: NetShape
                            ) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
        """Series and cuts of the windows whose targets lie in the validation rows."""
        if not (split.val_end > split.train_end).any():
            return None
        va = window_index(panel, self.window_, shape.steps, targets_from=split.train_end,
                          pad_short=bool(self.pad_short))
        keep = va.start + self.window_ >= split.train_end[va.series]
        return (va.series[keep], va.start[keep] + self.window_) if keep.any() else None

    def _loss(self) -> Any:
        if self.likelihood is not None:
            return likelihood_loss(self._head, int(self.horizon))
        if self._direct and self.quantiles is not None:
            return _pinball_loss(self.horizon, self.quantiles, self.loss.lower())
        return self.loss.lower()

    def _build(self, shape: NetShape) -> Any:
        """A fresh network for ``shape`` (seeded by the training arguments)."""
        self.training_config().seed()
        units = check_units(self.units)[-1] if self.layers is None else 32
        return build_network(shape, self._hidden_layers(), self._n_out(shape), units)

    def _fit_level(self, panel: Panel, split: PanelSplit, shape: NetShape,
                   train: tuple[NDArray[np.int64], NDArray[np.int64]],
                   val: tuple[NDArray[np.int64], NDArray[np.int64]] | None) -> None:
        """``residual="combined"``: the level network (values in, the value out, its own
        standard scaling) on the same windows, with ``LEVEL_PATIENCE`` times the patience
        (:mod:`rnnkit.tasks._forecast_residual`); sets ``level_model_`` and
        ``level_scaler_``."""
        self.level_scaler_ = self._standard_scaler(panel, split.train_end)
        scaled = self.level_scaler_.transform(panel)
        x_tr, y_tr = window_arrays(scaled, *train, shape, shape.steps)
        data = None if val is None else window_arrays(scaled, *val, shape, shape.steps)
        config = self.training_config()
        if config.patience is not None:
            config = replace(config, patience=LEVEL_PATIENCE * int(config.patience))
        model = self._build(shape)
        result = train_model(model, self._loss(), x_tr, y_tr.astype(np.float32),
                             None if data is None else (data[0], data[1].astype(np.float32)),
                             config, name="level")
        self.train_seconds_ += result.seconds
        self.level_model_ = model

    def fit(self, data: Any, y: None = None, *, id_column: str | None = None,
            time_column: str | None = None) -> Self:
        """Train one model on every series of ``data``: a ``(T,)``/``(T, F)`` array, a
        ``Series`` or ``DataFrame`` (one series), a long ``DataFrame`` with ``id_column``
        (and ``time_column``), an ``(id, time)`` MultiIndex frame, a dict of series or a
        :class:`~rnnkit.data.Panel`. Returns ``self``."""
        self._check_params()
        panel = to_panel(data, self._roles(id_column, time_column))
        split = split_points(panel, validation=float(self.training_config().validation),
                             min_train=2)
        self._resolve(panel)
        scaler = self._fit_scaler(panel, split.train_end)
        scaled = scaler.transform(panel)
        shape = self._shape(panel)
        tr = window_index(panel, self.window_, shape.steps, end=split.train_end,
                          pad_short=bool(self.pad_short))
        x_tr, y_tr = self._examples(scaled, tr.series, tr.start + self.window_, shape)
        y_tr = self._with_scale(y_tr, scaler, tr.series)
        windows = self._validation_windows(panel, split, shape)
        val = None
        if windows is not None:
            x_va, y_va = self._examples(scaled, *windows, shape)
            val = (x_va, self._with_scale(y_va, scaler, windows[0]))
        model = self._build(shape)
        self._train(model, self._loss(), x_tr, y_tr, val)
        self.model_ = model
        self.net_ = shape
        if self.residual_ == "combined":
            self._fit_level(panel, split, shape, (tr.series, tr.start + self.window_), windows)
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
        self.tail_ = panel_tail(panel, self.window_)
        self.n_train_windows_ = int(len(tr.series))
        return self

    # -- the inputs of forecasts --------------------------------------------------------------
    def _scaler_for(self, panel: Panel, fitted: PanelScaler | None = None) -> PanelScaler:
        """The fitted statistics (``fitted``, default ``scaler_``) of ``panel``'s series,
        in its order."""
        fitted = self.scaler_ if fitted is None else fitted
        pos = {key: i for i, key in enumerate(fitted.ids)}
        unseen = [key for key in panel.ids if key not in pos]
        if unseen:
            raise ValueError(f"expected series seen in fit, got {len(unseen)} new one(s): "
                             f"{unseen[:5]!r}; fit the forecaster on them too")
        idx = [pos[key] for key in panel.ids]
        sub = PanelScaler()
        sub.ids, sub.columns = panel.ids, fitted.columns
        sub.mean, sub.std = fitted.mean[idx], fitted.std[idx]
        sub.static_mean, sub.static_std = fitted.static_mean, fitted.static_std
        return sub

    def _check_history(self, panel: Panel, series: NDArray[np.int64],
                       cut: NDArray[np.int64]) -> None:
        short = np.flatnonzero(cut < (1 if self.pad_short else self.window_))
        if short.size:
            i = int(series[short[0]])
            raise ValueError(f"expected window={self.window_} rows before every forecast "
                             f"origin, got {int(cut[short[0]])} in series {panel.ids[i]!r} "
                             "(pad_short=True keeps short series with masked padding)")


    def _inputs_at(self, panel: Panel, series: NDArray[np.int64], cut: NDArray[np.int64],
                   fitted: PanelScaler | None = None
                   ) -> tuple[list[NDArray[Any]], PanelScaler]:
        """Network inputs (scaled by ``fitted``, default ``scaler_``) of the forecasts
        made after the first ``cut`` rows of ``series``, and that scaling."""
        self._check_history(panel, series, cut)
        scaler = self._scaler_for(panel, fitted)
        steps = int(self.horizon) if self.net_.n_future else 0
        inputs, _ = window_arrays(scaler.transform(panel), series, cut, self.net_, steps)
        return inputs, scaler


    def _end_inputs(self, panel: Panel, future_data: Any, fitted: PanelScaler | None = None
                    ) -> tuple[list[NDArray[Any]], PanelScaler]:
        """Network inputs (scaled by ``fitted``, default ``scaler_``) of the forecasts
        after the end of every series of ``panel``, and that scaling."""
        series = np.arange(panel.n_series, dtype=np.int64)
        cut = panel.lengths
        self._check_history(panel, series, cut)
        scaler = self._scaler_for(panel, fitted)
        h, k = int(self.horizon), 1 + self.net_.n_past
        fut = np.zeros((panel.n_series, h, 0))
        if self.net_.n_future:
            fut = horizon_covariates(panel, h, future_data, id_column=self.id_column_,
                                     time_column=self.time_column_)  # (n, h, F)
            fut = (fut - scaler.mean[:, None, k:]) / scaler.std[:, None, k:]
        inputs, _ = window_arrays(scaler.transform(panel), series, cut, self.net_, 0, fut)
        return inputs, scaler

