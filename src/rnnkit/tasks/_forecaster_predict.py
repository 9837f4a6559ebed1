"""How the forecaster forecasts (the third layer of :class:`~rnnkit.tasks.Forecaster`):
the direct network's outputs plus their base, the recursive strategy's loop, quantiles,
the mean of the seasonal and the level network's forecasts (``residual="combined"``),
sample paths, and the public ``predict``, ``predict_at``, ``forecast_table`` and
``sample_paths``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import Panel, PanelScaler, horizon_times
from ._base import _predict
from ._checks import check_int
from ._copula import correlated_uniforms
from ._forecaster_fit import ForecasterFitting
from ._likelihood import LIKELIHOODS

__all__ = ["ForecasterPrediction"]

#: a point forecast ``(n, horizon)`` and its quantiles ``(n, horizon, Q)`` or ``None``
Forecast = tuple[NDArray[np.float64], NDArray[np.float64] | None]


def _quantile_block(out: NDArray[np.float64], horizon: int, nq: int) -> NDArray[np.float64]:
    """The quantile outputs ``(n, horizon, Q)`` of a direct network's outputs."""
    block = out[:, horizon : horizon * (1 + nq)]
    return block.reshape(len(out), nq, horizon).transpose(0, 2, 1)


def mean_forecast(first: Forecast, second: Forecast) -> Forecast:
    """The mean of two forecasts, point and quantile by quantile."""
    quants = None
    if first[1] is not None and second[1] is not None:
        quants = (first[1] + second[1]) / 2
    return (first[0] + second[0]) / 2, quants


class ForecasterPrediction(ForecasterFitting):
    """Forecasting with a fitted network (see the module docs)."""

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
                quants = _quantile_block(out, h, len(self.quantiles))
                quants = quants + np.expand_dims(base, -1)
            return out[:, :h] + base, quants
        return self._recursive_scaled(inputs), None

    def _level_scaled(self, inputs: list[NDArray[Any]]) -> Forecast:
        """The level network's point ``(n, horizon)`` and quantiles in its scaled units
        (``residual="combined"``; its inputs scaled by ``level_scaler_``)."""
        h = int(self.horizon)
        out = _predict(self.level_model_, inputs)
        quants = None if self.quantiles is None else _quantile_block(out, h, len(self.quantiles))
        return out[:, :h], quants

    def _in_units(self, forecast: Forecast, scaler: PanelScaler,
                  series: NDArray[np.int64]) -> Forecast:
        point, quants = forecast
        return scaler.inverse_target(point, series), (
            None if quants is None else scaler.inverse_target(quants, series))

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
        out = self._in_units(self._forecast_scaled(inputs, scaler.std[series, 0]), scaler,
                             series)
        if self.residual_ != "combined":
            return out
        inputs, scaler = self._inputs_at(panel, series, cut, self.level_scaler_)
        return mean_forecast(out, self._in_units(self._level_scaled(inputs), scaler, series))


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


    def _forecast_end(self, panel: Panel, future_data: Any
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Forecasts of the ``horizon`` steps after every series of ``panel``."""
        series = np.arange(panel.n_series, dtype=np.int64)
        inputs, scaler = self._end_inputs(panel, future_data)
        out = self._in_units(self._forecast_scaled(inputs, scaler.std[series, 0]), scaler,
                             series)
        if self.residual_ != "combined":
            return out
        inputs, scaler = self._end_inputs(panel, future_data, self.level_scaler_)
        return mean_forecast(out, self._in_units(self._level_scaled(inputs), scaler, series))

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

