"""Baselines reported beside every model.

Forecasting, for a forecast made at origin ``t`` (the last observed step) for step
``t + h`` (``h = 1 .. horizon``) of the series ``y``:

* naive: ``y_hat[t + h] = y[t]`` (the last observed value);
* seasonal naive with period ``m``: ``y_hat[t + h] = y[t + h - m * ceil(h / m)]`` (the
  value one season before, from observed data only).

Classification: the majority class of the training labels, and a non-recurrent network
(see :class:`rnnkit.tasks.SequenceClassifier`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["majority_class", "naive_forecast", "seasonal_naive_forecast"]


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


def majority_class(labels: ArrayLike) -> int:
    """The most frequent class id (the smallest id on ties).

    >>> majority_class([2, 1, 2, 1, 0])
    1
    """
    ids = np.asarray(labels, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("expected at least one label, got none")
    return int(np.argmax(np.bincount(ids)))
