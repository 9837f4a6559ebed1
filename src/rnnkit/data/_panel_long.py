"""The input forms of a panel, as one long table, and the series ids and times of its rows.

:func:`long_frame` turns a long DataFrame (``id_column``, ``time_column``), an ``(id, time)``
MultiIndex frame, a dict ``{id: Series or DataFrame}`` or a single series into one table
whose columns ``ID`` and ``TIME`` hold each row's series and time. :func:`check_ids` and
:func:`check_times` validate those columns (missing or mixed-type ids, missing or
unparsable timestamps), naming the row.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.tseries.api import guess_datetime_format

__all__ = ["ID", "TIME", "check_ids", "check_times", "long_frame"]

ID, TIME = "__rnnkit_id__", "__rnnkit_time__"  # the columns long_frame adds


def _from_dict(data: Mapping[Hashable, Any], target: str, time_column: str | None) -> pd.DataFrame:
    frames = []
    for key, value in data.items():
        if isinstance(value, pd.Series):
            value = value.to_frame(name=target)
        if not isinstance(value, pd.DataFrame):
            raise TypeError(f"expected series {key!r} to be a pandas Series or DataFrame, "
                            f"got {type(value).__name__}")
        if time_column is not None:
            if time_column not in value.columns:
                raise ValueError(f"expected time_column {time_column!r} in series {key!r}, "
                                 f"got columns {[str(c) for c in value.columns]}")
            part = value.reset_index(drop=True)
            part.insert(0, TIME, part.pop(time_column))
        else:  # the index is the time
            part = value.reset_index(drop=False)
            part = part.rename(columns={part.columns[0]: TIME})
        part.insert(0, ID, [key] * len(part))
        frames.append(part)
    if not frames:
        raise ValueError("expected at least one series, got an empty dict")
    return pd.concat(frames, ignore_index=True)


def long_frame(data: Any, target: str, id_column: str | None,
                time_column: str | None) -> pd.DataFrame:
    """The input as one table with columns ``ID``, ``TIME`` (or none) and the values."""
    if isinstance(data, Mapping):
        if id_column is not None:
            raise ValueError(f"expected no id_column with a dict of series (its keys are the "
                             f"ids), got id_column={id_column!r}")
        return _from_dict(data, target, time_column)
    if isinstance(data, pd.Series):
        data = data.to_frame(name=target)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, an (id, time) MultiIndex frame or a dict of "
                        f"series, got {type(data).__name__}")
    if isinstance(data.index, pd.MultiIndex):
        if data.index.nlevels != 2 or id_column is not None or time_column is not None:
            raise ValueError(f"expected a MultiIndex of 2 levels (id, time) and no id_column/"
                             f"time_column, got {data.index.nlevels} levels, id_column="
                             f"{id_column!r}, time_column={time_column!r}")
        frame = data.reset_index(drop=True)
        frame.insert(0, ID, data.index.get_level_values(0).to_numpy())
        frame.insert(1, TIME, data.index.get_level_values(1).to_numpy())
        return frame
    frame = data.reset_index(drop=True)
    for name, col in (("id_column", id_column), ("time_column", time_column)):
        if col is not None and col not in frame.columns:
            raise ValueError(f"expected {name} {col!r} among the columns, got "
                             f"{[str(c) for c in frame.columns]}")
    ids = frame.pop(id_column).to_numpy() if id_column is not None else np.zeros(len(frame), int)
    frame.insert(0, ID, ids)
    if time_column is not None:
        frame.insert(1, TIME, frame.pop(time_column).to_numpy())
    elif isinstance(data.index, pd.DatetimeIndex):
        frame.insert(1, TIME, data.index.to_numpy())
    return frame


def _id_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def check_ids(raw: NDArray[Any]) -> tuple[NDArray[np.intp], tuple[Hashable, ...]]:
    """Series number of every row ``(N,)`` and the ids (Python ``int`` or ``str``, one kind,
    in order of first appearance); missing ids or ids of mixed types are errors.

    >>> codes, ids = check_ids(np.array(["b", "a", "b"], dtype=object))
    >>> codes.tolist(), ids
    ([0, 1, 0], ('b', 'a'))
    >>> check_ids(np.array([1, "a"], dtype=object))
    Traceback (most recent call last):
    ValueError: expected series ids of one type, got int and str (row 0: 1, row 1: 'a'); \
convert the id column, e.g. df[id_column].astype(str)
    """
    found, uniques = pd.factorize(raw, use_na_sentinel=True)
    codes = found.astype(np.intp)
    if (codes < 0).any():
        missing = np.flatnonzero(codes < 0)
        raise ValueError(f"expected a series id in every row, got a missing id at row "
                         f"{int(missing[0])} ({missing.size} missing); drop or fill those rows")
    values = list(uniques)
    kinds = [_id_kind(v) for v in values]
    kind = kinds[0]
    other = next((k for k, v in enumerate(kinds) if v != kind), None)
    if other is not None:
        first = int(np.flatnonzero(codes == other)[0])
        raise ValueError(
            f"expected series ids of one type, got {kind} and {kinds[other]} (row 0: "
            f"{raw[0]!r}, row {first}: {raw[first]!r}); convert the id column, e.g. "
            "df[id_column].astype(str)"
        )
    if kind not in ("int", "str"):
        raise ValueError(f"expected int or str series ids, got {kind} ({raw[0]!r}); "
                         "convert the id column, e.g. df[id_column].astype(str)")
    return codes, tuple(int(v) if kind == "int" else str(v) for v in values)


def _time_format(raw: NDArray[Any]) -> str | None:
    """The format pandas would guess from the first value (a string), made explicit so
    that every row is parsed with it (fast); ``"mixed"`` when none can be guessed."""
    first = raw[0] if len(raw) else None
    if not isinstance(first, str):
        return None
    return guess_datetime_format(first) or "mixed"


def check_times(raw: NDArray[Any] | None, codes: NDArray[np.intp]) -> pd.Index:
    """Timestamps (or integer positions) of every input row; NaT is an error."""
    if raw is None:  # no time column: the row order within each series is time
        order = np.argsort(codes, kind="stable")
        pos = np.empty(len(codes), dtype=np.int64)
        counts = np.bincount(codes)
        pos[order] = np.arange(len(codes)) - np.repeat(np.cumsum(counts) - counts, counts)
        return pd.Index(pos)
    if pd.api.types.is_integer_dtype(np.asarray(raw).dtype):
        return pd.Index(np.asarray(raw, dtype=np.int64))
    fmt = _time_format(raw)
    try:
        times = pd.DatetimeIndex(pd.to_datetime(raw, format=fmt, errors="coerce"))
    except (ValueError, TypeError) as err:  # values no format applies to (numbers, objects)
        first_line = str(err).splitlines()[0]
        raise ValueError(f"expected timestamps in the time column, got {first_line}") from None
    unparsed = np.flatnonzero(times.isna() & ~pd.isna(raw))
    if unparsed.size:
        i = int(unparsed[0])
        raise ValueError(f"expected timestamps in the time column (format {fmt!r}), got "
                         f"{raw[i]!r} at row {i} ({unparsed.size} unparsable)")
    if times.hasnans:
        i = int(np.flatnonzero(times.isna())[0])
        raise ValueError(f"expected a timestamp in every row, got a missing one at row {i}")
    return times
