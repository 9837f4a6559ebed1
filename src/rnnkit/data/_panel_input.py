"""Build a :class:`~rnnkit.data.Panel` from a long table, an (id, time) frame or a dict.

Every problem is one ``ValueError`` line that names the series and the timestamp: a
missing id, ids of mixed types, an unparsable or missing timestamp, a duplicate timestamp
within a series, a series of one row, a non-numeric or missing (NaN/Inf) value in the
target or a covariate, a static covariate that changes within a series, columns that are
neither target, id, time, a declared covariate nor ignored, irregular timestamps, series of
different frequencies. Nothing is dropped, merged, filled or clamped; the rows of each
series are put in time order (a long table may list series interleaved).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._calendar import calendar_features, default_calendar, first_irregular, infer_frequency
from ._panel import Panel
from ._panel_long import ID, TIME, check_ids, check_times, long_frame

__all__ = ["make_panel"]



@dataclass(frozen=True)
class _Columns:
    """Which column plays which part (checked against the data by :func:`_check_columns`)."""

    target: str
    past: tuple[str, ...]
    future: tuple[str, ...]
    static: tuple[str, ...]
    ignore: tuple[str, ...]


def _names(value: Sequence[str] | str | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected {what} to be column names (str), got {list(value)!r}")
    return tuple(value)


def _at(ids: Sequence[Hashable], times: pd.Index, code: int, row: int) -> str:
    return f"series {ids[code]!r} at {times[row]}"


def _order(codes: NDArray[np.intp], times: pd.Index, ids: Sequence[Hashable]) -> NDArray[np.intp]:
    """Row order: series by series, time increasing; a duplicate timestamp is an error."""
    key = times.asi8 if isinstance(times, pd.DatetimeIndex) else times.to_numpy()
    order = np.lexsort((key, codes))
    same = (np.diff(codes[order]) == 0) & (np.diff(key[order]) == 0)
    if same.any():
        j = int(np.flatnonzero(same)[0])
        a, b = sorted((int(order[j]), int(order[j + 1])))
        raise ValueError(
            f"expected unique timestamps within each series, got "
            f"{_at(ids, times, int(codes[a]), a)} twice (input rows {a} and {b}; "
            f"{int(same.sum())} duplicate(s)); aggregate them first, e.g. "
            "df.groupby([id, time]).mean()"
        )
    return order


def _check_lengths(ids: Sequence[Hashable], counts: NDArray[np.int64], first: pd.Index) -> None:
    short = np.flatnonzero(counts < 2)
    if short.size:
        named = ", ".join(f"{ids[i]!r} ({first[k]})" for k, i in enumerate(short[:5].tolist()))
        raise ValueError(
            f"expected at least 2 rows per series, got {short.size} series of one row: "
            f"{named}{' ...' if short.size > 5 else ''}; drop them or give them more history"
        )


def _numeric(frame: pd.DataFrame, names: Sequence[str], what: str, ids: Sequence[Hashable],
             codes: NDArray[np.intp], times: pd.Index) -> NDArray[np.float64]:
    """Columns ``names`` as float64 ``(N, k)``; text or missing values name series and time."""
    out = np.empty((len(frame), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        col = frame[name]
        if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            text = np.flatnonzero(np.isnan(values) & col.notna().to_numpy())
            if text.size:
                r = int(text[0])
                raise ValueError(f"expected numbers in {what} {name!r}, got {col.iloc[r]!r} in "
                                 f"{_at(ids, times, int(codes[r]), r)}; encode or drop it")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            r = int(bad[0])
            raise ValueError(
                f"expected finite values in {what} {name!r}, got {values[r]} in "
                f"{_at(ids, times, int(codes[r]), r)} ({bad.size} missing or infinite); fill "
                "them first (e.g. df.groupby(id_column).ffill()) or leave the column out"
            )
        out[:, j] = values
    return out


def _check_columns(frame: pd.DataFrame, cols: _Columns, id_column: str | None,
                   time_column: str | None) -> None:
    present = [str(c) for c in frame.columns if c not in (ID, TIME)]
    roles = {"target": (cols.target,), "past_covariates": cols.past,
             "future_covariates": cols.future, "static_covariates": cols.static,
             "ignore": cols.ignore}
    seen: dict[str, str] = {}
    for role, names in roles.items():
        for name in names:
            if name in (id_column, time_column):
                raise ValueError(f"expected {role} to name value columns, got the "
                                 f"{'id' if name == id_column else 'time'} column {name!r}")
            if name not in present:
                raise ValueError(f"expected {role} column {name!r} in the data, got columns "
                                 f"{present}")
            if name in seen:
                raise ValueError(f"expected each column in one role, got {name!r} as "
                                 f"{seen[name]} and {role}")
            seen[name] = role
    undeclared = [c for c in present if c not in seen]
    if undeclared:
        raise ValueError(
            f"expected every column to be the target, id, time or a declared covariate, got "
            f"undeclared column(s) {undeclared}; declare them (past_covariates=, "
            "future_covariates=, static_covariates=) or drop them with ignore=[...]"
        )


def _statics(frame: pd.DataFrame, names: Sequence[str], ids: Sequence[Hashable],
             offsets: NDArray[np.int64], times: pd.Index) -> tuple[Any, ...]:
    """Static covariates: one value per series (numeric ``(n, S)``, categorical codes
    ``(n, C)``); a value that changes within a series is an error naming it."""
    lengths = np.diff(offsets)
    numeric: dict[str, NDArray[np.float64]] = {}
    codes: dict[str, NDArray[np.int64]] = {}
    categories: dict[str, tuple[Any, ...]] = {}
    for name in names:
        col = frame[name].reset_index(drop=True)
        if col.isna().any():
            r = int(np.flatnonzero(col.isna().to_numpy())[0])
            code = int(np.searchsorted(offsets, r, side="right") - 1)
            raise ValueError(f"expected a value of static covariate {name!r} in every row, got "
                             f"a missing one in {_at(ids, times, code, r)}")
        first = col.iloc[offsets[:-1]].to_numpy()  # (n,)
        changed = np.flatnonzero(col.to_numpy() != np.repeat(first, lengths))
        if changed.size:
            r = int(changed[0])
            code = int(np.searchsorted(offsets, r, side="right") - 1)
            raise ValueError(
                f"expected static covariate {name!r} to be constant within each series, got "
                f"{col.tolist()[r]!r} in {_at(ids, times, code, r)} after "
                f"{first.tolist()[code]!r}; "
                "declare it as a past or future covariate instead"
            )
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            numeric[name] = first.astype(np.float64)
        else:
            found, uniques = pd.factorize(first)
            codes[name] = found.astype(np.int64)
            categories[name] = tuple(uniques.tolist())
    n = len(ids)
    num = np.column_stack(list(numeric.values())) if numeric else np.empty((n, 0))
    cat = np.column_stack(list(codes.values())) if codes else np.empty((n, 0), np.int64)
    return num, tuple(numeric), cat, tuple(codes), categories


def _frequency_of(t: pd.DatetimeIndex, key: Hashable, fixed: Any) -> Any:
    """The frequency of one series (``fixed`` if given, checked); errors name the series."""
    try:
        offset = infer_frequency(t) if fixed is None else fixed
    except ValueError as err:
        raise ValueError(f"series {key!r}: {err}, or pass freq=None") from None
    bad = first_irregular(t, offset)
    if bad is not None:
        raise ValueError(f"expected timestamps every {offset.freqstr!r}, got series {key!r} at "
                         f"{t[bad[0]]} after {t[bad[0] - 1]}, or pass freq=None")
    return offset


def _frequency(times: pd.Index, offsets: NDArray[np.int64], ids: Sequence[Hashable],
               freq: str | None) -> Any:
    """The shared frequency of every series (``None`` when ``freq=None`` or not datetimes).

    The first series' frequency is checked against every row at once; a series that does
    not follow it is then examined on its own, to name its problem."""
    if not isinstance(times, pd.DatetimeIndex):
        if freq not in (None, "infer"):
            raise ValueError(f"expected timestamps for freq={freq!r}, got integer time steps")
        return None
    if freq is None:
        return None
    fixed = None if freq == "infer" else pd.tseries.frequencies.to_offset(freq)
    found = _frequency_of(times[offsets[0]:offsets[1]], ids[0], fixed)
    nxt = times[:-1] + found  # (N - 1,): each row's successor on the grid
    within = np.ones(len(times) - 1, dtype=bool)
    within[offsets[1:-1] - 1] = False  # the step from one series into the next
    bad = np.flatnonzero(within & (nxt.values != times.values[1:]))
    if bad.size:
        i = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        key = ids[i]
        offset = _frequency_of(times[offsets[i]:offsets[i + 1]], key, fixed)
        raise ValueError(f"expected every series at one frequency, got {found.freqstr!r} "
                         f"for series {ids[0]!r} and {offset.freqstr!r} for series {key!r}")
    return found


def make_panel(
    data: Any,
    target: str,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    past_covariates: Sequence[str] = (),
    future_covariates: Sequence[str] = (),
    static_covariates: Sequence[str] = (),
    ignore: Sequence[str] = (),
    freq: str | None = "infer",
    calendar: bool | Sequence[str] = False,
) -> Panel:
    """Validate many series and store them as a :class:`Panel`.

    Args:
        data: one of
            * a long DataFrame: one row per (series, time), the series in ``id_column``,
              the timestamps in ``time_column`` (or a ``DatetimeIndex``; with neither, the
              row order within each series is its time);
            * a DataFrame with an ``(id, time)`` MultiIndex;
            * a dict ``{id: Series or DataFrame}`` indexed by time;
            * a single DataFrame or Series (one series, id ``0``).
        target: the column to forecast.
        past_covariates: columns known up to the forecast origin only.
        future_covariates: columns known over the horizon too (a working day, a forecast).
        static_covariates: columns constant within each series (numbers, or anything else
            as categories).
        ignore: columns to drop. Any other column is an error that names it.
        freq: ``"infer"`` (each series must be regular: fixed steps, month starts/ends,
            quarters, business days; all at one frequency), a pandas frequency, or ``None``
            (any increasing timestamps).
        calendar: add ``sin``/``cos`` calendar features as future covariates: ``True`` for
            those that vary at the frequency (:func:`rnnkit.data.default_calendar`), or
            names from ``"hour"``, ``"dayofweek"``, ``"month"``.

    Returns:
        :class:`Panel`; series may differ in length and start.

    >>> long = pd.DataFrame({"store": ["a", "a", "a", "b", "b"],
    ...                      "month": ["2024-01-01", "2024-02-01", "2024-03-01",
    ...                                "2024-02-01", "2024-03-01"],
    ...                      "sales": [1.0, 2.0, 3.0, 10.0, 11.0]})
    >>> p = make_panel(long, "sales", id_column="store", time_column="month")
    >>> p.ids, p.lengths.tolist(), p.freq.freqstr
    (('a', 'b'), [3, 2], 'MS')
    >>> make_panel(long.assign(extra=0), "sales", id_column="store", time_column="month")
    Traceback (most recent call last):
    ValueError: expected every column to be the target, id, time or a declared covariate, \
got undeclared column(s) ['extra']; declare them (past_covariates=, future_covariates=, \
static_covariates=) or drop them with ignore=[...]
    """
    if not isinstance(target, str):
        raise TypeError(f"expected target to be a column name (str), got {target!r}")
    cols = _Columns(target, _names(past_covariates, "past_covariates"),
                    _names(future_covariates, "future_covariates"),
                    _names(static_covariates, "static_covariates"), _names(ignore, "ignore"))
    frame = long_frame(data, target, id_column, time_column)
    _check_columns(frame, cols, id_column, time_column)
    if len(frame) == 0:
        raise ValueError("expected at least one row, got an empty table")
    codes, ids = check_ids(frame[ID].to_numpy(dtype=object))
    times = check_times(frame[TIME].to_numpy() if TIME in frame.columns else None, codes)
    order = _order(codes, times, ids)
    frame, codes, times = frame.iloc[order].reset_index(drop=True), codes[order], times[order]
    counts = np.bincount(codes, minlength=len(ids)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    _check_lengths(ids, counts, times[offsets[:-1]])
    offset = _frequency(times, offsets, ids, freq)
    values = _numeric(frame, [target, *cols.past, *cols.future], "column", ids, codes, times)
    static, s_names, s_codes, c_names, categories = _statics(frame, cols.static, ids, offsets,
                                                             times)
    future, f_names, cal = values[:, 1 + len(cols.past):], cols.future, _calendar(calendar,
                                                                               times, offset)
    if cal:
        extra = calendar_features(pd.DatetimeIndex(times), cal)  # (N, 2 * len(cal))
        clash = [c for c in extra.columns if c in frame.columns]
        if clash:
            raise ValueError(f"expected calendar columns not in the data, got {clash}")
        future = np.column_stack([future, extra.to_numpy()])
        f_names = (*f_names, *(str(c) for c in extra.columns))
    return Panel(
        ids=ids, offsets=offsets, time=times, target=np.ascontiguousarray(values[:, 0]),
        past=np.ascontiguousarray(values[:, 1:1 + len(cols.past)]),
        future=np.ascontiguousarray(future), static=static, static_codes=s_codes,
        target_name=target, past_names=cols.past, future_names=f_names, static_names=s_names,
        categorical_names=c_names, categories=categories, freq=offset, calendar=cal,
    )


def _calendar(calendar: bool | Sequence[str], times: pd.Index, offset: Any) -> tuple[str, ...]:
    if calendar is False or (not isinstance(calendar, bool) and len(calendar) == 0):
        return ()
    if not isinstance(times, pd.DatetimeIndex) or offset is None:
        raise ValueError("expected timestamps at a regular frequency for calendar features, "
                         "got " + ("integer time steps" if offset is None and not isinstance(
                             times, pd.DatetimeIndex) else "freq=None"))
    return default_calendar(offset) if calendar is True else _names(calendar, "calendar")
