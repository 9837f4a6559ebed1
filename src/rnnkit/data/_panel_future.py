"""Future covariates over the forecast horizon of every series of a panel.

The ``horizon`` timestamps after each series' last one follow the panel's frequency (or
are the next integer steps). Calendar features are computed for them; every other future
covariate must be given, at exactly those timestamps, in a table shaped like the training
data: a missing row or value is an error that names the series and the timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._calendar import calendar_features, future_times
from ._checks import check_int
from ._panel import Panel
from ._panel_long import ID, TIME, check_ids, check_times, long_frame

__all__ = ["future_covariates", "horizon_times"]


def horizon_times(panel: Panel, horizon: int) -> list[pd.Index]:
    """The ``horizon`` timestamps (or integer steps) after each series' last one.

    >>> p = Panel.from_arrays({"a": [1.0, 2.0]})
    >>> [t.tolist() for t in horizon_times(p, 2)]
    [[2, 3]]
    """
    horizon = check_int(horizon, "horizon", 1)
    last = panel.last_times()
    if not isinstance(panel.time, pd.DatetimeIndex):
        return [pd.Index(np.arange(1, horizon + 1, dtype=np.int64) + int(t)) for t in last]
    if panel.freq is None:
        raise ValueError("expected a panel at a regular frequency to know the timestamps of "
                         "the horizon, got freq=None; build it with freq='infer'")
    return [future_times(pd.DatetimeIndex([t]), horizon, panel.freq) for t in last]


def _given(panel: Panel, data: Any, names: list[str], id_column: str | None,
           time_column: str | None) -> pd.DataFrame:
    frame = long_frame(data, panel.target_name, id_column, time_column)
    known = {panel.target_name, *panel.past_names, *names}
    unknown = [str(c) for c in frame.columns if c not in (ID, TIME) and c not in known]
    missing = [c for c in names if c not in frame.columns]
    if unknown or missing or TIME not in frame.columns:
        raise ValueError(f"expected future covariate columns {names} with a time column, got "
                         f"columns {[str(c) for c in frame.columns if c not in (ID, TIME)]}")
    codes, keys = check_ids(frame[ID].to_numpy(dtype=object))
    ids = np.array(keys, dtype=object)[codes]  # (rows,)
    times = check_times(frame[TIME].to_numpy(), codes)
    return pd.DataFrame({c: frame[c].to_numpy() for c in names},
                        index=pd.MultiIndex.from_arrays([ids, times]))


def future_covariates(panel: Panel, horizon: int, data: Any = None, *,
                      id_column: str | None = None,
                      time_column: str | None = None) -> NDArray[np.float64]:
    """Future covariates ``(n_series, horizon, F)`` for the steps after every series.

    Args:
        panel: the series (its ``future_names`` are the columns, calendar ones last).
        horizon: steps to forecast.
        data: the user's future covariates, as :func:`rnnkit.data.make_panel` takes them
            (long table with ``id_column``/``time_column``, (id, time) frame, or dict),
            holding a row for every series at every horizon timestamp (other rows are
            ignored). Not needed when the only future covariates are calendar features.

    >>> from rnnkit.data import make_panel
    >>> long = pd.DataFrame({"id": ["a"] * 3, "day": pd.date_range("2024-01-01", periods=3),
    ...                      "load": [5.0, 6.0, 7.0], "workday": [1, 1, 0]})
    >>> p = make_panel(long, "load", id_column="id", time_column="day",
    ...                future_covariates=["workday"])
    >>> nxt = pd.DataFrame({"id": ["a"], "day": [pd.Timestamp("2024-01-04")], "workday": [1]})
    >>> future_covariates(p, 1, nxt, id_column="id", time_column="day").tolist()
    [[[1.0]]]
    >>> future_covariates(p, 2, nxt, id_column="id", time_column="day")
    Traceback (most recent call last):
    ValueError: expected future covariate 'workday' for series 'a' at 2024-01-05 00:00:00, \
got no row there; give every series a row at each of the 2 horizon timestamps
    """
    times = horizon_times(panel, horizon)
    n_cal = 2 * len(panel.calendar)
    names = list(panel.future_names[: len(panel.future_names) - n_cal])
    out = np.empty((panel.n_series, horizon, len(panel.future_names)), dtype=np.float64)
    if names and data is None:
        raise ValueError(f"expected values of the future covariates {names} over the "
                         f"horizon, got no data")
    given = _given(panel, data, names, id_column, time_column) if names else None
    for i, (key, t) in enumerate(zip(panel.ids, times, strict=True)):
        if given is not None:
            rows = given.reindex(pd.MultiIndex.from_arrays([[key] * horizon, t]))
            for j, name in enumerate(names):
                values = pd.to_numeric(rows[name], errors="coerce").to_numpy(np.float64)
                bad = np.flatnonzero(~np.isfinite(values))
                if bad.size:
                    k = int(bad[0])
                    got = "no row there" if rows[name].isna().iloc[k] and rows.iloc[k].isna(
                    ).all() else f"{rows[name].iloc[k]!r}"
                    raise ValueError(
                        f"expected future covariate {name!r} for series {key!r} at {t[k]}, got "
                        f"{got}; give every series a row at each of the {horizon} horizon "
                        "timestamps"
                    )
                out[i, :, j] = values
        if n_cal:
            out[i, :, len(names):] = calendar_features(pd.DatetimeIndex(t), panel.calendar)
    return out
