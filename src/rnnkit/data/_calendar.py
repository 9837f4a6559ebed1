"""Time-index helpers: the frequency of a regular ``DatetimeIndex``, its seasonal period,
the timestamps after it, and calendar features.

* :func:`infer_frequency` finds the step of a regular index, calendar steps included
  (month starts or ends, quarters, years, business days), so monthly data whose steps are
  28 to 31 days long is regular; an irregular index is an error naming the first bad step.
* :func:`seasonal_period`: steps per season for a frequency: sub-daily data gets the steps
  per day (hourly 24, half-hourly 48), daily 7, business days 5, weekly 52, monthly 12,
  quarterly 4; anything else 1 (no season).
* :func:`future_times`: the ``horizon`` timestamps after an index, on its frequency.
* :func:`calendar_features`: ``sin``/``cos`` of the hour of the day, the day of the week
  and the month of the year, known for any future timestamp (future covariates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CALENDAR_FEATURES", "calendar_features", "future_times", "infer_frequency",
           "seasonal_period"]

_DAY = pd.Timedelta(days=1)

#: name -> (cycle length, function of a DatetimeIndex giving the position in the cycle)
CALENDAR_FEATURES: dict[str, tuple[float, Any]] = {
    "hour": (24.0, lambda ix: ix.hour + ix.minute / 60.0 + ix.second / 3600.0),
    "dayofweek": (7.0, lambda ix: ix.day_of_week),
    "month": (12.0, lambda ix: ix.month - 1),
}


def _fixed_or_monthly(index: pd.DatetimeIndex) -> pd.DateOffset:
    """The candidate step of an index ``pd.infer_freq`` could not name (or 2 timestamps)."""
    steps = np.diff(index.values)  # (T - 1,) timedelta64 in the index's unit
    values, counts = np.unique(steps, return_counts=True)
    common = pd.Timedelta(values[np.argmax(counts)])
    days = common / _DAY
    for months, (lo, hi) in ((1, (28, 31)), (3, (89, 92)), (6, (181, 184)), (12, (365, 366))):
        if lo <= days <= hi:
            if index.is_month_end.all():
                return pd.offsets.MonthEnd(months)
            if (index.day == 1).all() and (index.normalize() == index).all():
                return pd.offsets.MonthBegin(months)
            return pd.DateOffset(months=months)
    weekdays = (index.day_of_week < 5).all()
    if common == _DAY and weekdays and (steps > np.timedelta64(1, "D")).any():
        return pd.offsets.BDay()
    days_whole, rest = divmod(common, _DAY)
    if rest == pd.Timedelta(0):
        return pd.tseries.frequencies.to_offset(f"{days_whole}D")
    return pd.tseries.frequencies.to_offset(common)


def first_irregular(index: pd.DatetimeIndex, offset: pd.DateOffset) -> tuple[int, int] | None:
    """Row of the first timestamp that is not the previous one plus ``offset``, and the
    number of such rows."""
    nxt = index[:-1] + offset
    bad = np.flatnonzero(nxt.values != index.values[1:])
    return (int(bad[0]) + 1, int(bad.size)) if bad.size else None


def infer_frequency(index: pd.DatetimeIndex) -> pd.DateOffset:
    """The step of a regular, increasing ``DatetimeIndex`` as a pandas offset.

    Calendar frequencies count as regular: month starts/ends (``MS``/``ME``, steps of 28 to
    31 days), quarters, years and business days (``B``: Friday to Monday is one step).

    Raises:
        ValueError: fewer than 2 timestamps, or a step that differs from the others (the
            message names both timestamps and the expected one).

    >>> infer_frequency(pd.DatetimeIndex(["2020-01-01", "2020-02-01", "2020-03-01"])).freqstr
    'MS'
    >>> infer_frequency(pd.date_range("2021-01-01", periods=5, freq="QE")).freqstr
    'QE-DEC'
    >>> infer_frequency(pd.DatetimeIndex(["2020-01-31", "2020-02-29", "2020-04-30"]))
    Traceback (most recent call last):
    ValueError: expected regular timestamps every 'ME', got 2020-04-30 00:00:00 at row 2 \
after 2020-02-29 00:00:00 where 2020-03-31 00:00:00 was due (1 irregular step(s)); resample \
to a regular grid or pass the frequency explicitly
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"expected a pandas DatetimeIndex, got {type(index).__name__}")
    if len(index) < 2:
        raise ValueError(f"expected at least 2 timestamps to infer a frequency, got {len(index)}")
    named = pd.DatetimeIndex(index, freq="infer").freq if len(index) >= 3 else None
    offset = named if named is not None else _fixed_or_monthly(index)
    mismatch = first_irregular(index, offset)
    if mismatch is not None:
        bad, count = mismatch
        raise ValueError(
            f"expected regular timestamps every {offset.freqstr!r}, got {index[bad]} at row "
            f"{bad} after {index[bad - 1]} where {index[bad - 1] + offset} was due ({count} "
            "irregular step(s)); resample to a regular grid or pass the frequency explicitly"
        )
    return offset


def _months(offset: pd.DateOffset) -> int | None:
    """Calendar months per step of a month/quarter/year offset (``None`` for others)."""
    if isinstance(offset, (pd.offsets.MonthBegin, pd.offsets.MonthEnd)):
        return int(offset.n)
    if isinstance(offset, (pd.offsets.QuarterBegin, pd.offsets.QuarterEnd)):
        return 3 * int(offset.n)
    if isinstance(offset, (pd.offsets.YearBegin, pd.offsets.YearEnd)):
        return 12 * int(offset.n)
    if type(offset) is pd.DateOffset and set(offset.kwds) == {"months"}:
        return int(offset.kwds["months"]) * int(offset.n)
    return None


def seasonal_period(freq: pd.DateOffset | str | pd.DatetimeIndex | None) -> int:
    """Steps per season for a frequency (an offset, a string like ``"MS"``, or a regular index).

    Sub-daily: steps per day (hourly 24, half-hourly 48); daily 7; business days 5; weekly
    52; monthly 12; quarterly 4; other frequencies, ``None`` and non-datetime indexes: 1.

    >>> [seasonal_period(f) for f in ["MS", "QS", "B", "D", "h", "30min", "W", "YS"]]
    [12, 4, 5, 7, 24, 48, 52, 1]
    >>> seasonal_period(pd.DatetimeIndex(["2001-03-31", "2001-06-30", "2001-09-30"]))
    4
    """
    if freq is None:
        return 1
    if isinstance(freq, pd.Index):
        if not isinstance(freq, pd.DatetimeIndex) or len(freq) < 2:
            return 1
        freq = freq.freq if freq.freq is not None else infer_frequency(freq)
    offset = pd.tseries.frequencies.to_offset(freq)
    months = _months(offset)
    if months is not None:
        return 12 // months if months < 12 and 12 % months == 0 else 1
    if isinstance(offset, pd.offsets.BusinessDay):
        return 5 if offset.n == 1 else 1
    if isinstance(offset, pd.offsets.Week):
        return 52 if offset.n == 1 else 1
    if isinstance(offset, (pd.offsets.Tick, pd.offsets.Day)):
        step = pd.Timedelta(offset)
        if step == _DAY:
            return 7
        if step == 7 * _DAY:
            return 52
        if step < _DAY and _DAY % step == pd.Timedelta(0):
            return int(_DAY // step)
    return 1


def future_times(index: pd.DatetimeIndex, horizon: int,
                 freq: pd.DateOffset | str | None = None) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after the last one of ``index``, every ``freq`` (default:
    the index's ``freq``, else :func:`infer_frequency`).

    >>> future_times(pd.DatetimeIndex(["2020-11-01", "2020-12-01"]), 2).strftime("%Y-%m-%d")
    Index(['2021-01-01', '2021-02-01'], dtype='str')
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        raise ValueError("expected a non-empty DatetimeIndex to extend")
    if freq is None:
        offset = index.freq if index.freq is not None else infer_frequency(index)
    else:
        offset = pd.tseries.frequencies.to_offset(freq)
    times = [index[-1] + offset]
    for _ in range(horizon - 1):
        times.append(times[-1] + offset)
    return pd.DatetimeIndex(times[:horizon], freq=None, name=index.name)


def default_calendar(freq: pd.DateOffset | str) -> tuple[str, ...]:
    """The calendar features that vary at ``freq``: sub-daily -> hour and day of week;
    daily and business days -> day of week and month; weekly to quarterly -> month.

    >>> default_calendar("h"), default_calendar("D"), default_calendar("QS")
    (('hour', 'dayofweek'), ('dayofweek', 'month'), ('month',))
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    months = _months(offset)
    if months is not None:
        return ("month",) if months < 12 else ()
    if isinstance(offset, pd.offsets.Week):
        return ("month",)
    if isinstance(offset, pd.offsets.BusinessDay):
        return ("dayofweek", "month")
    if isinstance(offset, (pd.offsets.Tick, pd.offsets.Day)):
        step = pd.Timedelta(offset)
        if step < _DAY:
            return ("hour", "dayofweek")
        if step == _DAY:
            return ("dayofweek", "month")
        return ("month",)
    return ("dayofweek", "month")


def calendar_features(index: pd.DatetimeIndex,
                      features: Sequence[str] | None = None) -> pd.DataFrame:
    """``sin``/``cos`` encodings of calendar positions, one pair of columns per feature.

    For a feature with cycle length ``P`` (hour 24, dayofweek 7, month 12) and position
    ``p`` in the cycle: ``NAME_sin = sin(2 pi p / P)``, ``NAME_cos = cos(2 pi p / P)``.

    Args:
        index: the timestamps (``T`` of them).
        features: names from ``"hour"``, ``"dayofweek"``, ``"month"``; default: those that
            vary at the index's frequency (:func:`default_calendar`).

    Returns:
        DataFrame ``(T, 2 * len(features))`` of float64 on ``index``.

    >>> f = calendar_features(pd.date_range("2024-01-01", periods=3, freq="MS"))
    >>> list(f.columns), f["month_cos"].round(3).tolist()
    (['month_sin', 'month_cos'], [1.0, 0.866, 0.5])
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"expected a pandas DatetimeIndex, got {type(index).__name__}")
    if features is None:
        freq = index.freq if index.freq is not None else infer_frequency(index)
        features = default_calendar(freq)
    unknown = [f for f in features if f not in CALENDAR_FEATURES]
    if unknown or isinstance(features, str):
        raise ValueError(
            f"expected calendar features from {sorted(CALENDAR_FEATURES)}, got {features!r}"
        )
    columns: dict[str, Any] = {}
    for name in features:
        period, position = CALENDAR_FEATURES[name]
        angle = 2.0 * np.pi * np.asarray(position(index), dtype=np.float64) / period  # (T,)
        columns[f"{name}_sin"] = np.sin(angle)
        columns[f"{name}_cos"] = np.cos(angle)
    return pd.DataFrame(columns, index=index, dtype=np.float64)
