"""What a :class:`~rnnkit.tasks.Forecaster` reads: any input as a :class:`~rnnkit.data.Panel`.

One series (an array, a ``Series``, a ``DataFrame`` without ``id_column``) is a panel of
one series (id ``0``); a long ``DataFrame`` with ``id_column``, an ``(id, time)``
MultiIndex frame, a dict of series and a ``Panel`` are panels of many. Column roles are
Darts' names: ``past_covariates``, ``future_covariates``, ``static_covariates``; any
other column is an error naming it (``ignore`` drops columns). Validation (duplicate or
missing timestamps, one-row series, NaN, mixed id types) is :func:`rnnkit.data.make_panel`'s.

``calendar=True`` adds the calendar features that vary at the data's frequency
(:func:`rnnkit.data.default_calendar`), the month only when the data span two years or
more; a tuple of names adds those.

The frequency: ``freq`` when given (every series must follow it); else the one step every
series shares when all are regular (:func:`rnnkit.data.infer_frequency`), else ``None``
(irregular timestamps are allowed; no season is inferred and the timestamps of the
horizon are unknown).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data import Panel, infer_frequency, make_panel

__all__ = ["ColumnRoles", "panel_from_arrays", "panel_head", "panel_tail", "panel_to_arrays",
           "to_panel"]


@dataclass(frozen=True)
class ColumnRoles:
    """Which column is what, as the forecaster was told (``target`` may be ``None`` or a
    position for a single table; see :meth:`resolve_target`)."""

    target: str | int | None = None
    id_column: str | None = None
    time_column: str | None = None
    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    calendar: bool | tuple[str, ...] = False
    freq: str | None = None

    def value_columns(self, columns: Sequence[str]) -> list[str]:
        """The columns of a table that hold values (not id or time)."""
        return [c for c in columns if c not in (self.id_column, self.time_column)]

    def resolve_target(self, columns: Sequence[str]) -> str:
        """The target's name among a table's value ``columns``."""
        values = self.value_columns(columns)
        if self.target is None:
            rest = [c for c in values if c not in (*self.past, *self.future, *self.static,
                                                   *self.ignore)]
            if len(rest) != 1:
                raise ValueError(f"expected target= naming the column to forecast, got a "
                                 f"table with columns {values}")
            return rest[0]
        if isinstance(self.target, (int, np.integer)) and not isinstance(self.target, bool):
            if not 0 <= int(self.target) < len(values):
                raise ValueError(f"expected a target position in [0, {len(values)}), got "
                                 f"{self.target}")
            return values[int(self.target)]
        if isinstance(self.target, str) and self.target in values:
            return self.target
        raise ValueError(f"expected target to be one of the columns {values}, got "
                         f"{self.target!r}")


def _single_frame(data: Any) -> pd.DataFrame | None:
    """One series as a DataFrame with string columns; ``None`` for panel inputs."""
    if isinstance(data, (Mapping, Panel)):
        return None
    if isinstance(data, pd.Series):
        return data.to_frame(name=str(data.name) if data.name is not None else "y")
    if isinstance(data, pd.DataFrame):
        frame = data.copy(deep=False)
    else:
        arr = np.asarray(data)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"expected numeric values, got an array of dtype {arr.dtype}")
        if arr.ndim == 1:
            frame = pd.DataFrame({"y": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
        else:
            raise ValueError(f"expected a series of shape (T,) or (T, features), got shape "
                             f"{arr.shape}")
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != frame.shape[1]:
        raise ValueError(f"expected distinct column names, got {list(frame.columns)}")
    return frame


def _dict_target(data: Mapping[Hashable, Any], roles: ColumnRoles) -> str:
    first = next(iter(data.values()), None)
    if isinstance(first, pd.Series):
        return str(first.name) if roles.target is None and first.name is not None else \
            str(roles.target or "y")
    if isinstance(first, pd.DataFrame):
        return roles.resolve_target([str(c) for c in first.columns])
    raise TypeError(f"expected the dict's series as pandas Series or DataFrames, got "
                    f"{type(first).__name__}")


def common_freq(panel: Panel) -> Any:
    """The step every series shares when all are regular datetimes, else ``None``."""
    if panel.freq is not None or not isinstance(panel.time, pd.DatetimeIndex):
        return panel.freq
    found = None
    for i in range(panel.n_series):
        try:
            step = infer_frequency(pd.DatetimeIndex(panel.time[panel.rows(i)]))
        except ValueError:
            return None
        if found is not None and step != found:
            return None
        found = step
    return found


def to_panel(data: Any, roles: ColumnRoles) -> Panel:
    """Any forecaster input as a validated :class:`Panel` (see the module docs)."""
    if isinstance(data, Panel):
        return data
    frame = _single_frame(data)
    if frame is None:
        target = _dict_target(data, roles)
        source: Any = data
    else:
        if isinstance(frame.index, pd.MultiIndex):
            frame.index = frame.index.set_names([None, None])
        target = roles.resolve_target(list(frame.columns))
        source = frame
    freq = "infer" if roles.calendar and roles.freq is None else roles.freq

    def build(calendar: bool | tuple[str, ...]) -> Panel:
        return make_panel(
            source, target, id_column=roles.id_column, time_column=roles.time_column,
            past_covariates=roles.past, future_covariates=roles.future,
            static_covariates=roles.static, ignore=roles.ignore, freq=freq, calendar=calendar,
        )

    panel = build(roles.calendar)
    if roles.calendar is True and "month" in panel.calendar and _span_days(panel) < 730:
        # one year of months cannot teach an effect of the month: the test months would
        # be values never seen in training
        panel = build(tuple(c for c in panel.calendar if c != "month"))
    return replace(panel, freq=common_freq(panel))


def _span_days(panel: Panel) -> float:
    times = panel.time
    return float((times.max() - times.min()) / pd.Timedelta(days=1))


def panel_head(panel: Panel, ends: NDArray[np.int64]) -> Panel:
    """The first ``ends[i]`` rows of every series ``i`` (a new panel, copies)."""
    ends = np.asarray(ends, dtype=np.int64)
    local = np.arange(len(panel.target)) - np.repeat(panel.offsets[:-1], panel.lengths)
    keep = local < np.repeat(ends, panel.lengths)  # (N,)
    return replace(
        panel, offsets=np.concatenate([[0], np.cumsum(ends)]).astype(np.int64),
        time=panel.time[keep], target=panel.target[keep], past=panel.past[keep],
        future=panel.future[keep],
    )


def panel_tail(panel: Panel, rows: int) -> Panel:
    """The last ``rows`` rows of every series (all of a shorter one; a new panel)."""
    local = np.arange(len(panel.target)) - np.repeat(panel.offsets[:-1], panel.lengths)
    keep = local >= np.repeat(panel.lengths - rows, panel.lengths)  # (N,)
    kept = np.minimum(panel.lengths, rows)
    return replace(
        panel, offsets=np.concatenate([[0], np.cumsum(kept)]).astype(np.int64),
        time=panel.time[keep], target=panel.target[keep], past=panel.past[keep],
        future=panel.future[keep],
    )


def panel_to_arrays(panel: Panel) -> dict[str, np.ndarray]:
    """A panel as plain arrays for an ``.npz`` (no object arrays; see
    :func:`panel_from_arrays`)."""
    meta = {
        "ids": list(panel.ids), "target_name": panel.target_name,
        "past_names": list(panel.past_names), "future_names": list(panel.future_names),
        "static_names": list(panel.static_names),
        "categorical_names": list(panel.categorical_names),
        "categories": {k: list(v) for k, v in panel.categories.items()},
        "freq": None if panel.freq is None else panel.freq.freqstr,
        "calendar": list(panel.calendar),
        "datetime": isinstance(panel.time, pd.DatetimeIndex),
    }
    time = panel.time.as_unit("ns").asi8 if isinstance(panel.time, pd.DatetimeIndex) else \
        np.asarray(panel.time, dtype=np.int64)
    return {
        "panel_meta": np.array(json.dumps(meta, default=str)), "offsets": panel.offsets,
        "time": time, "target": panel.target, "past": panel.past, "future": panel.future,
        "static": panel.static, "static_codes": panel.static_codes,
    }


def panel_from_arrays(arrays: Mapping[str, np.ndarray]) -> Panel:
    """The panel :func:`panel_to_arrays` wrote."""
    meta = json.loads(str(arrays["panel_meta"]))
    time = np.asarray(arrays["time"], dtype=np.int64)
    index = pd.DatetimeIndex(pd.to_datetime(time, unit="ns")) if meta["datetime"] else \
        pd.Index(time)
    return Panel(
        ids=tuple(meta["ids"]), offsets=np.asarray(arrays["offsets"], dtype=np.int64),
        time=index, target=arrays["target"], past=arrays["past"], future=arrays["future"],
        static=arrays["static"], static_codes=np.asarray(arrays["static_codes"], np.int64),
        target_name=meta["target_name"], past_names=tuple(meta["past_names"]),
        future_names=tuple(meta["future_names"]), static_names=tuple(meta["static_names"]),
        categorical_names=tuple(meta["categorical_names"]),
        categories={k: tuple(v) for k, v in meta["categories"].items()},
        freq=None if meta["freq"] is None else pd.tseries.frequencies.to_offset(meta["freq"]),
        calendar=tuple(meta["calendar"]),
    )
