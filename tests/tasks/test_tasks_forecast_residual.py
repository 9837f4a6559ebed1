"""The forecaster's default recipe for seasonal data: two-season windows, seasonal
differences in, the change from the seasonal-naive forecast out, the seasonal MASE scale."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data import Panel
from rnnkit.tasks._forecast_residual import (
    resolve_residual,
    resolve_window,
    seasonal_base,
    seasonal_differences,
    seasonal_future_differences,
    seasonal_scale,
)


def test_auto_window_and_residual() -> None:
    assert resolve_window("auto", 4) == 8 and resolve_window("auto", 1) == 33
    assert resolve_window(5, 12) == 5
    auto = {"direct": True, "counts": False, "window": 8, "period": 4}
    assert resolve_residual("auto", **auto) == "seasonal"
    assert resolve_residual("auto", **{**auto, "period": 1}) is False  # no season
    assert resolve_residual("auto", **{**auto, "window": 3}) is False  # window < season
    assert resolve_residual("auto", **{**auto, "direct": False}) is False
    assert resolve_residual("auto", **{**auto, "counts": True}) is False
    assert resolve_residual(True, **auto) is True


def test_seasonal_differences_base_and_scale() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 6, 2) ** 2  # target is column 0
    d = seasonal_differences(x, 2, masked=False)
    t = x[0, :, 0]
    assert d[0, :, 0].tolist() == [0.0, 0.0, *(t[2:] - t[:-2]).tolist()]
    np.testing.assert_array_equal(d[0, :, 1], x[0, :, 1])  # other features unchanged
    padded = x.copy()
    padded[0, :2] = 0.0  # two padding rows: all zero, the indicator (last feature) 0
    padded[0, 2:, 1] = 1.0
    dm = seasonal_differences(padded, 2, masked=True)
    assert dm[0, :4, 0].tolist() == [0.0] * 4 and dm[0, 4, 0] == t[4] - t[2]
    # seasonal naive for 3 steps with m = 2: the values 2, 1 and 2 steps before the end + h
    assert seasonal_base(x, 2, 3)[0].tolist() == [t[4], t[5], t[4]]
    panel = Panel.from_arrays({"a": [1.0, 2.0, 4.0, 8.0, 9.0], "b": [5.0, 5.0, 5.0, 5.0, 5.0]})
    scale = seasonal_scale(panel, np.array([4, 5]), 2)
    assert scale.tolist() == pytest.approx([(3.0 + 6.0) / 2, 1.0])  # constant: 1


def test_future_covariates_are_read_as_changes_from_the_seasonal_naive_rows() -> None:
    """Step h of the horizon minus the window row m * ceil(h / m) before it: the row whose
    target the seasonal-naive forecast of step h repeats."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 4))  # (n, w, target + 1 past + 2 future)
    future = rng.normal(size=(3, 6, 2))  # (n, horizon, F)
    got = seasonal_future_differences(x, future, period=4, first=2)
    for h in range(1, 7):
        row = 8 - 1 + h - 4 * int(np.ceil(h / 4))  # the window row of step h's reference
        np.testing.assert_allclose(got[:, h - 1], future[:, h - 1] - x[:, row, 2:4])
    base = seasonal_base(x, 4, 6)  # the same rows give the seasonal-naive forecast
    np.testing.assert_allclose(base[:, 4], x[:, 4, 0])
