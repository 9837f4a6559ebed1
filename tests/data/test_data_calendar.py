"""Frequencies of regular DatetimeIndexes (month lengths included), seasonal periods,
future timestamps and calendar features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import (
    calendar_features,
    future_times,
    infer_frequency,
    seasonal_period,
    validate_series,
)


@pytest.mark.parametrize("index, period", [
    (pd.date_range("2001-01-01", periods=30, freq="MS"), 12),
    (pd.date_range("2001-01-31", periods=30, freq="ME"), 12),
    (pd.date_range("2001-03-31", periods=9, freq="QE"), 4),
    (pd.date_range("2001-01-01", periods=9, freq="QS-JAN"), 4),
    (pd.bdate_range("2021-01-01", periods=40), 5),
    (pd.date_range("2021-01-01", periods=40, freq="D"), 7),
    (pd.date_range("2021-01-01", periods=40, freq="h"), 24),
    (pd.date_range("2021-01-01", periods=40, freq="30min"), 48),
    (pd.date_range("2021-01-03", periods=40, freq="W"), 52),
    (pd.date_range("2001-01-01", periods=9, freq="YS"), 1),
])
def test_seasonal_period_of_any_regular_index_without_freq(index, period) -> None:
    plain = pd.DatetimeIndex(index.to_numpy())  # freq dropped, as read from a file
    assert plain.freq is None
    assert seasonal_period(infer_frequency(plain)) == period
    assert seasonal_period(plain) == period
    assert validate_series(pd.DataFrame({"y": np.arange(len(plain))}, index=plain)
                           ).index.freq == infer_frequency(plain)


def test_two_monthly_timestamps_and_a_gap() -> None:
    two = pd.DatetimeIndex(["2020-01-01", "2020-02-01"])
    assert infer_frequency(two).freqstr == "MS"
    gap = pd.DatetimeIndex(["2020-01-01", "2020-02-01", "2020-03-01", "2020-05-01"])
    with pytest.raises(ValueError, match="expected regular timestamps every 'MS', got "
                       "2020-05-01 00:00:00 at row 3 after 2020-03-01 00:00:00 where "
                       "2020-04-01 00:00:00 was due"):
        infer_frequency(gap)
    holiday = pd.bdate_range("2021-01-04", periods=10).delete(4)
    with pytest.raises(ValueError, match="every 'B', got 2021-01-11 00:00:00 at row 4"):
        infer_frequency(holiday)


def test_future_times_follow_calendar_months() -> None:
    ends = pd.DatetimeIndex(["2020-11-30", "2020-12-31"])
    assert future_times(ends, 3).strftime("%m-%d").tolist() == ["01-31", "02-28", "03-31"]


def test_calendar_features_are_sin_cos_of_the_cycle() -> None:
    idx = pd.date_range("2024-01-01", periods=48, freq="30min")
    f = calendar_features(idx)
    assert list(f.columns) == ["hour_sin", "hour_cos", "dayofweek_sin", "dayofweek_cos"]
    hours = idx.hour + idx.minute / 60
    np.testing.assert_allclose(f["hour_sin"], np.sin(2 * np.pi * hours / 24))
    assert (f["dayofweek_cos"] == 1.0).all()  # 2024-01-01 is a Monday (day 0)
    with pytest.raises(ValueError, match="expected calendar features from"):
        calendar_features(idx, ["week"])
