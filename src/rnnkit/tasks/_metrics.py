"""Held-out metrics of the tasks, in plain numpy.

Forecasting, for actual values ``y`` and forecasts ``f`` (any matching shapes, all points
pooled), and the training series ``s``:

* ``mae  = mean |y - f|``
* ``rmse = sqrt(mean (y - f)^2)``
* ``mape = 100 * mean |y - f| / |y|`` (percent; ``nan`` when some ``y == 0``)
* ``mase = mae / mean_t |s_t - s_{t-1}|``: the MAE scaled by the in-sample MAE of the
  one-step naive forecast on the training series (Hyndman & Koehler, 2006), so
  ``mase < 1`` beats that naive forecast's in-sample error.

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
    "rmse",
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


def mase_scale(train: ArrayLike) -> float:
    """In-sample MAE of the one-step naive forecast: ``mean_t |s_t - s_{t-1}|``.

    >>> mase_scale([1.0, 3.0, 2.0, 2.0])
    1.0
    """
    s = np.asarray(train, dtype=np.float64).reshape(-1)
    if s.size < 2:
        raise ValueError(f"expected a training series of at least 2 values, got {s.size}")
    return float(np.mean(np.abs(np.diff(s))))


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
    """``{"mae", "rmse", "mape", "mase"}`` of a forecast."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "mase": mase(y_true, y_pred, scale),
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
