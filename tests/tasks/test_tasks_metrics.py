"""Metrics and baselines on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.tasks import (
    classification_report,
    confusion_matrix,
    forecast_metrics,
    mae,
    majority_class,
    mape,
    mase,
    mase_scale,
    naive_forecast,
    rmse,
    seasonal_naive_forecast,
)


def test_point_metrics_by_hand() -> None:
    y, f = [2.0, 4.0, 8.0], [3.0, 4.0, 5.0]
    assert mae(y, f) == pytest.approx((1 + 0 + 3) / 3)
    assert rmse(y, f) == pytest.approx(math.sqrt((1 + 0 + 9) / 3))
    assert mape(y, f) == pytest.approx(100 * (1 / 2 + 0 + 3 / 8) / 3)
    assert math.isnan(mape([0.0, 1.0], [1.0, 1.0]))


def test_mase_by_hand() -> None:
    train = [10.0, 12.0, 11.0, 15.0]  # |diffs| = 2, 1, 4 -> scale 7/3
    assert mase_scale(train) == pytest.approx(7 / 3)
    assert mase([16.0, 18.0], [15.0, 15.0], mase_scale(train)) == pytest.approx(2.0 / (7 / 3))
    assert math.isnan(mase([1.0], [2.0], 0.0))
    m = forecast_metrics([1.0, 3.0], [2.0, 2.0], scale=0.5)
    assert m == {"mae": 1.0, "rmse": 1.0, "mape": pytest.approx(100 * (1 + 1 / 3) / 2),
                 "smape": pytest.approx(100 * (2 / 3 + 2 / 5) / 2), "mase": 2.0}


def test_naive_and_seasonal_naive_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert naive_forecast(y, [2, 4], 3).tolist() == [[3, 3, 3], [5, 5, 5]]
    # period 3, origin 4 (value 5): steps 5, 6, 7, 8 come from steps 2, 3, 4, 5
    assert seasonal_naive_forecast(y, [4], 4, period=3).tolist() == [[3.0, 4.0, 5.0, 3.0]]
    # period 1 is the naive forecast
    assert seasonal_naive_forecast(y, [2, 5], 2, period=1).tolist() == \
        naive_forecast(y, [2, 5], 2).tolist()
    with pytest.raises(ValueError, match="period=3"):
        seasonal_naive_forecast(y, [1], 1, period=3)


def test_classification_report_by_hand() -> None:
    true = [0, 0, 0, 1, 1, 2]
    pred = [0, 1, 0, 1, 2, 2]
    r = classification_report(true, pred, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                   "f1": pytest.approx(0.8), "support": 3}
    assert r["per_class"]["b"]["precision"] == 0.5
    assert r["per_class"]["c"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert confusion_matrix([1, 1], [0, 1], 2).tolist() == [[0, 0], [1, 1]]
    assert majority_class([3, 1, 3, 1, 2]) == 1


def test_metrics_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        mae([1.0, 2.0], [1.0])
