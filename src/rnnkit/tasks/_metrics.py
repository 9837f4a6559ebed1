"""Held-out metrics of the tasks, in plain numpy.

Forecasting, for actual values ``y`` and forecasts ``f`` (any matching shapes, all points
pooled), and the training series ``s``:

* ``mae  = mean |y - f|``
* ``rmse = sqrt(mean (y - f)^2)``
* ``mape = 100 * mean |y - f| / |y|`` (percent; ``nan`` when some ``y == 0``)
* ``smape = 100 * mean 2 |y - f| / (|y| + |f|)`` (percent, 0..200; a point where
  ``y = f = 0`` counts 0)
* ``mase = mae / mean_t |s_t - s_{t-m}|``: the MAE scaled by the in-sample MAE of the
  naive (``m = 1``) or seasonal-naive (``m`` = the season) forecast on the training
  series (Hyndman & Koehler, 2006), so ``mase < 1`` beats that forecast's in-sample error.

Panels (:func:`panel_metrics`): every point of every series and horizon step, each error
scaled by its own series' MASE scale, reported aggregated (all points pooled: ``mase`` is
then the mean of the scaled errors), per horizon step and per series.

Classification, for true labels ``y`` and predictions ``p`` over ``classes``:
``accuracy``; per class ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``,
``f1 = 2 P R / (P + R)`` (0 where undefined, as scikit-learn's ``zero_division=0``);
``macro_f1`` their unweighted mean; the confusion matrix ``C[i, j]`` = samples of class ``i``
predicted as class ``j``.

Text: ``bits_per_char = mean(-log2 p(next char))`` and ``perplexity = 2 ** bits_per_char``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "classification_report",
    "confusion_matrix",
    "forecast_metrics",
    "mae",
    "mape",
    "mase",
    "mase_scale",
    "panel_metrics",
    "rmse",
    "smape",
]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"expected actual and forecast of one shape, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise ValueError("expected at least one value to score, got none")
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error.

    >>> mae([1.0, 2.0, 3.0], [2.0, 2.0, 1.0])
    1.0
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error.

    >>> rmse([0.0, 0.0], [3.0, 4.0]) == math.sqrt(12.5)
    True
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error in percent; ``nan`` if an actual value is 0.

    >>> mape([2.0, 4.0], [1.0, 5.0])
    37.5
    """
    t, p = _pair(y_true, y_pred)
    if np.any(t == 0):
        return math.nan
    return float(100.0 * np.mean(np.abs(t - p) / np.abs(t)))


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric mean absolute percentage error in percent (0..200); ``0/0`` counts 0.

    >>> smape([1.0, 0.0, 2.0], [3.0, 0.0, 2.0])
    33.33333333333333
    """
    t, p = _pair(y_true, y_pred)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(2.0 * np.abs(t - p), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * np.mean(ratio))


def mase_scale(train: ArrayLike, period: int = 1) -> float:
    """In-sample MAE of the (seasonal) naive forecast: ``mean_t |s_t - s_{t-period}|``.

    >>> mase_scale([1.0, 3.0, 2.0, 2.0])
    1.0
    >>> mase_scale([1.0, 5.0, 2.0, 6.0], period=2)
    1.0
    """
    s = np.asarray(train, dtype=np.float64).reshape(-1)
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
        raise ValueError(f"expected a period >= 1, got {period!r}")
    if s.size < period + 1:
        raise ValueError(f"expected a training series of at least {period + 1} values for "
                         f"period {period}, got {s.size}")
    return float(np.mean(np.abs(s[period:] - s[:-period])))


def mase(y_true: ArrayLike, y_pred: ArrayLike, scale: float) -> float:
    """MAE divided by ``scale`` (:func:`mase_scale` of the training series); ``nan`` when
    the scale is 0 (a constant training series).

    >>> mase([1.0, 2.0], [2.0, 3.0], scale=0.5)
    2.0
    """
    if not scale > 0:
        return math.nan
    return mae(y_true, y_pred) / float(scale)


def forecast_metrics(y_true: ArrayLike, y_pred: ArrayLike, scale: float) -> dict[str, float]:
    """``{"mae", "rmse", "mape", "smape", "mase"}`` of a forecast."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mase": mase(y_true, y_pred, scale),
    }


def _pooled(actual: NDArray[np.float64], pred: NDArray[np.float64],
            scale: NDArray[np.float64]) -> dict[str, float]:
    """MAE, RMSE, sMAPE and MASE of points pooled; ``scale``: each point's MASE scale."""
    err = np.abs(actual - pred)
    scaled = np.divide(err, scale, out=np.full_like(err, math.nan), where=scale > 0)
    return {"mae": float(err.mean()), "rmse": float(np.sqrt((err**2).mean())),
            "smape": smape(actual, pred), "mase": float(scaled.mean())}


def panel_metrics(actual: ArrayLike, forecast: ArrayLike, series: ArrayLike,
                  scales: ArrayLike, ids: Sequence[Any] | None = None) -> dict[str, Any]:
    """MAE, RMSE, sMAPE and MASE of forecasts over many series: aggregated, per horizon
    step and per series.

    Args:
        actual, forecast: ``(n, horizon)``: row ``k`` is one forecast of series
            ``series[k]`` (e.g. one backtest origin).
        series: ``(n,)`` series numbers into ``scales``/``ids``.
        scales: ``(n_series,)`` MASE scale of each series (:func:`mase_scale` of its
            training rows; a series whose scale is 0 gets ``mase = nan``).
        ids: names of the series in ``per_series`` (default: their numbers).

    Returns:
        ``{"aggregate": {...}, "per_step": [{...} for each step], "per_series": {id: {...}}}``
        (only series that have rows appear).

    >>> m = panel_metrics([[1.0, 2.0], [10.0, 10.0]], [[1.0, 3.0], [12.0, 10.0]],
    ...                   series=[0, 1], scales=[1.0, 2.0], ids=["a", "b"])
    >>> m["aggregate"]["mae"], m["aggregate"]["mase"], m["per_step"][0]["mae"]
    (0.75, 0.5, 1.0)
    >>> m["per_series"]["b"]["mase"]
    0.5
    """
    t, p = _pair(actual, forecast)
    if t.ndim != 2:
        raise ValueError(f"expected actual and forecast of shape (n, horizon), got {t.shape}")
    idx = np.asarray(series, dtype=np.int64).reshape(-1)
    sc = np.asarray(scales, dtype=np.float64).reshape(-1)
    if idx.shape != (t.shape[0],) or (idx.size and (idx.min() < 0 or idx.max() >= sc.size)):
        raise ValueError(f"expected {t.shape[0]} series numbers in [0, {sc.size}), got "
                         f"shape {idx.shape}")
    names = list(range(sc.size)) if ids is None else list(ids)
    point_scale = np.broadcast_to(sc[idx][:, None], t.shape)  # (n, horizon)
    return {
        "aggregate": _pooled(t, p, point_scale),
        "per_step": [_pooled(t[:, h], p[:, h], point_scale[:, h]) for h in range(t.shape[1])],
        "per_series": {str(names[i]): _pooled(t[idx == i], p[idx == i], point_scale[idx == i])
                       for i in np.unique(idx).tolist()},
    }


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """``C[i, j]`` = number of samples of class id ``i`` predicted as ``j``.

    >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
    [[1, 1], [0, 1]]
    """
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"expected labels and predictions of one length, got {t.shape}, "
                         f"{p.shape}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def classification_report(
    y_true: ArrayLike, y_pred: ArrayLike, classes: Sequence[Any]
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true`` and ``y_pred`` are class ids into ``classes``.

    >>> r = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
    >>> r["accuracy"], r["per_class"]["b"]["precision"], r["confusion_matrix"]
    (0.75, 0.6666666666666666, [[1, 1], [0, 2]])
    """
    n = len(classes)
    cm = confusion_matrix(y_true, y_pred, n)
    total = int(cm.sum())
    if total == 0:
        raise ValueError("expected at least one sample to score, got none")
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)
    true_count = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_count, out=np.zeros(n), where=pred_count > 0)
    recall = np.divide(tp, true_count, out=np.zeros(n), where=true_count > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    per_class = {
        str(c): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(true_count[i]),
        }
        for i, c in enumerate(classes)
    }
    present = true_count > 0
    return {
        "accuracy": float(tp.sum() / total),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "labels": [str(c) for c in classes],
    }
