"""Baselines reported beside every model.

Forecasting, for a forecast made at origin ``t`` (the last observed step) for step
``t + h`` (``h = 1 .. horizon``) of the series ``y``:

* naive: ``y_hat[t + h] = y[t]`` (the last observed value);
* seasonal naive with period ``m``: ``y_hat[t + h] = y[t + h - m * ceil(h / m)]`` (the
  value one season before, from observed data only).

* statistical (``"theta"``: statsforecast's ``AutoTheta``; ``"ets"``: its ``AutoETS``, both
  with the season length ``m`` and automatic model selection), each series on its own,
  from ``y[0 .. t]`` only. A backtest with many origins (a long test part at horizon 1)
  would fit the model hundreds of times (about 0.5 s each at ``m = 48``), so it is fitted
  at no more than :data:`MAX_FITS` origins per series, evenly spaced, the first included;
  at the origins between, the last fitted model's parameters forecast from the history up
  to the origin (statsforecast's ``forward``, what its ``cross_validation(refit=k)``
  does): no origin sees data after it. A constant history is forecast as that constant
  (what ETS gives; Theta's decomposition divides by zero on it).

:func:`panel_baselines` gives all three for every backtest origin of a panel.

Classification: the majority class of the training labels, and a non-recurrent network
(see :class:`rnnkit.tasks.SequenceClassifier`).
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..data import Origins, Panel

__all__ = ["STATISTICAL_METHODS", "majority_class", "naive_forecast", "panel_baselines",
           "seasonal_naive_forecast", "statistical_forecast"]

#: method name -> (statsforecast model class name, fewest observed values it fits)
STATISTICAL_METHODS: dict[str, tuple[str, int]] = {"theta": ("AutoTheta", 5),
                                                   "ets": ("AutoETS", 6)}
#: Fits of the statistical baseline per series in one backtest (more origins: see above).
MAX_FITS = 24


def _check(series: ArrayLike, origins: ArrayLike, horizon: int) -> tuple[NDArray[np.float64],
                                                                         NDArray[np.int64]]:
    y = np.asarray(series, dtype=np.float64).reshape(-1)
    t = np.asarray(origins, dtype=np.int64).reshape(-1)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"expected horizon >= 1, got {horizon!r}")
    if t.size and (t.min() < 0 or t.max() >= y.size):
        raise ValueError(f"expected origins in [0, {y.size}), got {t.min()}..{t.max()}")
    return y, t


def naive_forecast(series: ArrayLike, origins: ArrayLike, horizon: int) -> NDArray[np.float64]:
    """Naive forecasts ``(len(origins), horizon)``: the value at each origin, repeated.

    >>> naive_forecast([1.0, 2.0, 3.0, 4.0], [1, 2], 2).tolist()
    [[2.0, 2.0], [3.0, 3.0]]
    """
    y, t = _check(series, origins, horizon)
    return np.repeat(y[t][:, None], horizon, axis=1)  # (n, horizon)


def seasonal_naive_forecast(
    series: ArrayLike, origins: ArrayLike, horizon: int, period: int
) -> NDArray[np.float64]:
    """Seasonal naive forecasts ``(len(origins), horizon)`` with season length ``period``.

    ``y_hat[t + h] = y[t + h - period * ceil(h / period)]``; every origin needs
    ``t + 1 >= period`` observed steps.

    >>> s = [10.0, 20.0, 30.0, 11.0, 21.0, 31.0]
    >>> seasonal_naive_forecast(s, [5], 4, period=3).tolist()
    [[11.0, 21.0, 31.0, 11.0]]
    """
    y, t = _check(series, origins, horizon)
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
        raise ValueError(f"expected a seasonal period >= 1, got {period!r}")
    if t.size and t.min() + 1 < period:
        raise ValueError(
            f"expected at least period={period} observed steps before each forecast origin, "
            f"got an origin at step {int(t.min())}"
        )
    h = np.arange(1, horizon + 1)
    back = period * np.ceil(h / period).astype(np.int64)  # (horizon,)
    idx = t[:, None] + h[None, :] - back[None, :]  # (n, horizon)
    return y[idx]


def _model_class(method: str) -> tuple[Any, int]:
    """The statsforecast model class for ``method``. statsforecast is imported here, on
    first use, because importing it takes about two seconds (scipy, statsmodels)."""
    if method not in STATISTICAL_METHODS:
        raise ValueError(f"expected method from {sorted(STATISTICAL_METHODS)}, got {method!r}")
    name, fewest = STATISTICAL_METHODS[method]
    try:
        models = importlib.import_module("statsforecast.models")
    except ImportError as err:
        raise ImportError(f"expected statsforecast for the {method!r} baseline, got {err}; "
                          "install it: pip install statsforecast") from None
    return getattr(models, name), fewest


def statistical_forecast(series: ArrayLike, origins: ArrayLike, horizon: int, period: int = 1,
                         method: str = "theta", max_fits: int | None = MAX_FITS
                         ) -> NDArray[np.float64]:
    """Forecasts ``(len(origins), horizon)`` of a statistical model (statsforecast's
    ``AutoTheta`` or ``AutoETS``, season length ``period``) from ``series[: t + 1]``.

    The model is fitted at no more than ``max_fits`` origins (evenly spaced in time order,
    the first included; ``None``: at every origin); at the others the last fit's parameters
    forecast from the history up to the origin.

    Raises ``ValueError`` when an origin has too little history for the method (Theta 5
    values, ETS 6) or the fit gives a non-finite forecast.

    Theta tests for seasonality only from 4 seasons of history (fewer: a non-seasonal
    fit); ETS fits seasonal models from 2 seasons but is slower on long seasons.

    >>> y = 10 + np.sin(np.arange(60) * np.pi / 6)
    >>> f = statistical_forecast(y, [47], 12, period=12)
    >>> f.shape, bool(np.abs(f - y[48:]).max() < 0.1)
    ((1, 12), True)
    >>> bool(np.abs(statistical_forecast(y, [23], 12, 12, "ets") - y[24:36]).max() < 0.1)
    True
    """
    y, t = _check(series, origins, horizon)
    model, fewest = _model_class(method)
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
        raise ValueError(f"expected a seasonal period >= 1, got {period!r}")
    if max_fits is not None and (isinstance(max_fits, bool) or max_fits < 1):
        raise ValueError(f"expected max_fits >= 1 or None, got {max_fits!r}")
    every = 1 if max_fits is None else max(1, math.ceil(t.size / max_fits))
    out = np.empty((t.size, horizon), dtype=np.float64)
    fitted, since_fit = None, 0
    for k in np.argsort(t, kind="stable").tolist():
        origin = int(t[k])
        history = y[: origin + 1]
        if history.size < fewest:
            raise ValueError(f"expected at least {fewest} observed values before a {method!r} "
                             f"forecast, got {history.size} at origin {origin}")
        if np.ptp(history) == 0.0:
            out[k] = history[-1]
            continue
        with np.errstate(all="ignore"):
            if fitted is None or since_fit >= every:
                fitted, since_fit = model(season_length=int(period)).fit(y=history), 0
            forecast = fitted.forward(y=history, h=horizon)["mean"]
        since_fit += 1
        if not np.isfinite(forecast).all():
            raise ValueError(f"expected a finite {method!r} forecast, got {forecast.tolist()} "
                             f"at origin {origin}")
        out[k] = forecast
    return out


def panel_baselines(panel: Panel, origins: Origins, horizon: int, period: int = 1,
                    method: str | None = "theta") -> dict[str, NDArray[np.float64]]:
    """Baseline forecasts for every backtest origin of a panel (unscaled units).

    Origin ``k`` forecasts rows ``cut[k] .. cut[k] + horizon - 1`` of series
    ``series[k]`` from its first ``cut[k]`` rows. Returns ``{"naive", "seasonal_naive",
    method}`` (``method=None`` leaves the statistical one out), each ``(n, horizon)``.
    Errors name the series.

    >>> p = Panel.from_arrays({"a": np.arange(10.0), "b": np.arange(8.0) % 4})
    >>> o = Origins(np.array([0, 1]), np.array([8, 6]), np.array([0, 0]))
    >>> f = panel_baselines(p, o, 2, period=4, method=None)
    >>> f["naive"].tolist(), f["seasonal_naive"].tolist()
    ([[7.0, 7.0], [1.0, 1.0]], [[4.0, 5.0], [2.0, 3.0]])
    """
    names = ["naive", "seasonal_naive"] + ([method] if method is not None else [])
    out = {name: np.empty((len(origins.series), horizon), dtype=np.float64) for name in names}
    for i in np.unique(origins.series).tolist():
        rows = np.flatnonzero(origins.series == i)
        y = panel.target[panel.rows(i)]
        last = origins.cut[rows] - 1  # (k,) the origin: last observed row
        try:
            out["naive"][rows] = naive_forecast(y, last, horizon)
            out["seasonal_naive"][rows] = seasonal_naive_forecast(y, last, horizon, period)
            if method is not None:
                out[method][rows] = statistical_forecast(y, last, horizon, period, method)
        except ValueError as err:
            raise ValueError(f"series {panel.ids[i]!r}: {err}") from None
    return out


def majority_class(labels: ArrayLike) -> int:
    """The most frequent class id (the smallest id on ties).

    >>> majority_class([2, 1, 2, 1, 0])
    1
    """
    ids = np.asarray(labels, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("expected at least one label, got none")
    return int(np.argmax(np.bincount(ids)))
