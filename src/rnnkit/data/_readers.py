"""Readers that validate their input: CSV/DataFrame time series and ``.npy``/``.npz`` arrays.

Every problem is a ``ValueError`` that names the column and row and says how to fix it:
unsorted, duplicated or irregular timestamps, NaN/Inf, non-numeric columns, a series too
short for one window. Arrays are read by :mod:`._files` (headers checked before anything is
allocated): pickled (object) arrays are refused, never unpickled. Problems with a file are a
:class:`rnnkit.errors.DataFileError` (a ``ValueError``) naming it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.tseries.api import guess_datetime_format

from ..errors import DataFileError
from ._calendar import infer_frequency
from ._files import is_npz, load_npy, read_npz_arrays
from ._windows import n_windows

__all__ = ["read_npy", "read_npz", "validate_arrays", "validate_series"]

PathLike = str | os.PathLike[str]


def _where(index: pd.Index, i: int) -> str:
    if isinstance(index, pd.DatetimeIndex):
        return f"row {i} ({index[i]})"
    return f"row {i}"


def _time_format(raw: pd.Series) -> str | None:
    """The ``format`` that ``pd.to_datetime`` would use by itself, made explicit.

    pandas guesses the format from the first present value when it is a string; when no
    format can be guessed it parses each value on its own (and warns), which is what
    ``format="mixed"`` asks for without the warning. Accepted values are the same either way.
    """
    present = raw[raw.notna()]
    first = present.iloc[0] if len(present) else None
    if type(first) is not str:  # pandas guesses only from a str (no np.str_)
        return None
    return guess_datetime_format(first) or "mixed"


def _set_time_index(df: pd.DataFrame, time_column: str) -> pd.DataFrame:
    if time_column not in df.columns:
        raise ValueError(
            f"expected a time column {time_column!r}, got columns {[str(c) for c in df.columns]}"
        )
    _check_unique_columns(df[[time_column]])
    raw = df[time_column]
    times = pd.to_datetime(raw, errors="coerce", format=_time_format(raw))
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"expected timestamps in column {time_column!r}, got {raw.iloc[i]!r} at row {i} "
            f"({bad.size} unparsable value(s)); fix or drop those rows"
        )
    out = df.drop(columns=[time_column])
    out.index = pd.DatetimeIndex(times, name=time_column)
    return out


def _check_unique_columns(df: pd.DataFrame) -> None:
    if not df.columns.is_unique:
        dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(
            f"expected unique column names, got duplicates {dups}; rename them first, "
            "e.g. df.columns = [...]"
        )


def _check_numeric(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_bool_dtype(col.dtype):
            df = df.assign(**{str(c): col.astype(np.float64)})
            continue
        if pd.api.types.is_complex_dtype(col.dtype):
            raise ValueError(
                f"expected real numbers in column {str(c)!r}, got dtype {col.dtype}; "
                "split it first, e.g. into its .real and .imag parts"
            )
        if pd.api.types.is_numeric_dtype(col.dtype):
            continue
        numbers = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & col.notna().to_numpy())
        if not bad.size:  # every value converts (or is missing): show the first present one
            bad = np.flatnonzero(col.notna().to_numpy())
        if bad.size:
            i = int(bad[0])
            got = f"{col.iloc[i]!r} at {_where(df.index, i)}"
        else:
            got = "no values" if len(col) == 0 else "only missing values"
        raise ValueError(
            f"expected numeric values in column {str(c)!r}, got {got} (dtype {col.dtype}); "
            "drop the column (columns=[...]), encode it as numbers, or pass it as "
            "time_column if it holds timestamps"
        )
    return df


def _check_finite(df: pd.DataFrame) -> None:
    for c in df.columns:
        values = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(values)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            i = int(bad[0])
            raise ValueError(
                f"expected finite values in column {str(c)!r}, got {values[i]} at "
                f"{_where(df.index, i)} ({bad.size} non-finite value(s)); fill or drop them "
                "first, e.g. df.interpolate(), df.ffill() or df.dropna()"
            )


def _check_time(df: pd.DataFrame, freq: str | None, sort: bool) -> pd.DataFrame:
    idx = cast(pd.DatetimeIndex, df.index)
    if idx.hasnans:
        i = int(np.flatnonzero(idx.isna())[0])
        raise ValueError(f"expected timestamps in every row, got NaT at row {i}; drop that row")
    if not idx.is_monotonic_increasing:
        if sort:
            df = df.sort_index(kind="stable")
            idx = cast(pd.DatetimeIndex, df.index)
        else:
            back = np.flatnonzero(np.diff(idx.asi8) < 0)
            i = int(back[0]) + 1
            raise ValueError(
                f"expected timestamps in increasing order, got {_where(idx, i)} after "
                f"{_where(idx, i - 1)}; sort first (df.sort_index()) or pass sort=True"
            )
    dup = np.flatnonzero(np.diff(idx.asi8) == 0)
    if dup.size:
        i = int(dup[0]) + 1
        raise ValueError(
            f"expected unique timestamps, got {idx[i]} at rows {i - 1} and {i} "
            f"({dup.size} duplicate(s)); aggregate them, e.g. df.groupby(level=0).mean()"
        )
    if freq is None or len(idx) < 2:
        return df
    if freq == "infer":
        try:
            offset = infer_frequency(idx)
        except ValueError as err:
            raise ValueError(f"{err}, or pass freq=None to allow gaps") from None
    else:
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except ValueError:
            raise ValueError(
                f"expected freq to be a pandas frequency string such as 'D' or '30min', "
                f"'infer' or None, got {freq!r}"
            ) from None
        grid = pd.date_range(idx[0], periods=len(idx), freq=offset)
        odd = np.flatnonzero(grid.values != idx.values)
        if odd.size:
            i = int(odd[0])
            raise ValueError(
                f"expected timestamps at frequency {freq!r}, got {idx[i]} at row {i} where "
                f"{grid[i]} was due; resample, e.g. df.resample({freq!r}).mean().interpolate(), "
                "or pass freq=None to allow gaps"
            )
    df = df.copy(deep=False)
    df.index = pd.DatetimeIndex(df.index, freq=offset)
    return df


def validate_series(
    frame: pd.DataFrame | pd.Series,
    *,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    freq: str | None = "infer",
    sort: bool = False,
    window: int | None = None,
    horizon: int = 1,
) -> pd.DataFrame:
    """Check a time-series table and return it with a DatetimeIndex and numeric columns.

    Args:
        frame: DataFrame (or Series) with a time column or a ``DatetimeIndex`` (or neither:
            plain ordered rows, then the timestamp checks are skipped).
        time_column: column holding timestamps; it becomes the index.
        columns: keep only these value columns (default: all).
        freq: expected spacing: ``"infer"`` (the step of a regular index, found by
            :func:`rnnkit.data.infer_frequency`: fixed steps, month starts or ends, quarters,
            years, business days), a pandas frequency (``"D"``, ``"30min"``, ``"B"``), or
            ``None`` to allow irregular timestamps. The returned index carries the frequency.
        sort: sort unsorted timestamps instead of raising.
        window, horizon: if ``window`` is given, require at least one labelled window, i.e.
            ``window + horizon`` rows.

    Returns:
        A new DataFrame: DatetimeIndex (if any), numeric finite columns.

    Raises:
        ValueError: for unparsable/unsorted/duplicated/irregular timestamps, NaN/Inf,
            non-numeric columns, unknown columns or a too-short series, naming the column
            and row and the fix.

    >>> df = pd.DataFrame({"date": ["2022-11-25", "2022-11-26", "2022-11-27"],
    ...                    "temp": [6.0, 9.0, 7.0]})
    >>> out = validate_series(df, time_column="date")
    >>> out.index.freqstr, out["temp"].tolist()
    ('D', [6.0, 9.0, 7.0])
    >>> validate_series(df.iloc[[0, 2, 1]], time_column="date")
    Traceback (most recent call last):
    ValueError: expected timestamps in increasing order, got row 2 (2022-11-26 00:00:00) \
after row 1 (2022-11-27 00:00:00); sort first (df.sort_index()) or pass sort=True
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame or Series, got {type(frame).__name__}")
    if freq is not None and not isinstance(freq, str):
        raise TypeError(f"expected freq to be a string or None, got {freq!r}")
    df = frame.reset_index(drop=True) if time_column is not None else frame
    if time_column is not None:
        if isinstance(frame.index, pd.DatetimeIndex):
            raise ValueError(
                "expected either a time_column or a DatetimeIndex, got both; "
                "drop one (df.reset_index(drop=True))"
            )
        df = _set_time_index(df, time_column)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if isinstance(columns, str) or missing:
            raise ValueError(
                f"expected columns from {[str(c) for c in df.columns]}, got {columns!r}"
            )
        df = df[list(columns)]
    _check_unique_columns(df)
    if df.shape[1] == 0:
        raise ValueError("expected at least one value column, got none")
    df = _check_numeric(df)
    if isinstance(df.index, pd.DatetimeIndex):
        df = _check_time(df, freq, sort)
    _check_finite(df)
    if window is not None and n_windows(len(df), window, horizon) == 0:
        raise ValueError(
            f"expected at least window + horizon = {window + horizon} rows for window={window}, "
            f"horizon={horizon}, got {len(df)} rows; use a smaller window or more data"
        )
    return df


def validate_arrays(
    X: Any, y: Any = None
) -> tuple[NDArray[Any], NDArray[Any] | None]:
    """Check ``X`` of shape ``(samples, timesteps, features)`` and labels ``y`` (optional).

    ``X`` must be real, finite and 3-D; ``y`` numeric with ``len(y) == len(X)``.

    >>> X, y = validate_arrays(np.zeros((4, 10, 3)), np.array([0, 1, 0, 1]))
    >>> X.shape, y.shape
    ((4, 10, 3), (4,))
    >>> validate_arrays(np.zeros((4, 10)))
    Traceback (most recent call last):
    ValueError: expected X of shape (samples, timesteps, features), got shape (4, 10); \
for a single feature use X[..., None]
    """
    x = np.asarray(X)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
        raise ValueError(f"expected X with a real numeric dtype, got {x.dtype}")
    if x.ndim != 3:
        hint = "; for a single feature use X[..., None]" if x.ndim == 2 else ""
        raise ValueError(
            f"expected X of shape (samples, timesteps, features), got shape {x.shape}{hint}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"expected at least one sample, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        s, t, f = (int(v) for v in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(
            f"expected finite values in X, got {x[s, t, f]} at sample {s}, step {t}, "
            f"feature {f}; fill or drop missing values first"
        )
    if y is None:
        return x, None
    yy = np.asarray(y)
    if not (np.issubdtype(yy.dtype, np.number) or yy.dtype == np.bool_) or yy.ndim == 0:
        raise ValueError(f"expected numeric labels y, got dtype {yy.dtype} shape {yy.shape}")
    if yy.shape[0] != x.shape[0]:
        raise ValueError(
            f"expected one label per sample ({x.shape[0]}), got y of shape {yy.shape}"
        )
    if np.issubdtype(yy.dtype, np.floating) and not np.isfinite(yy).all():
        i = int(np.argwhere(~np.isfinite(yy))[0][0])
        raise ValueError(f"expected finite labels, got a non-finite value for sample {i}")
    return x, yy


def _validated(path: PathLike, X: Any, y: Any = None) -> tuple[NDArray[Any], Any]:
    """:func:`validate_arrays` on arrays read from ``path``: its errors name the file."""
    try:
        return validate_arrays(X, y)
    except ValueError as err:
        raise DataFileError(str(err), path=os.fsdecode(path)) from None


def read_npy(path: PathLike) -> NDArray[Any]:
    """Read ``X`` of shape ``(samples, timesteps, features)`` from a ``.npy`` file.

    The header is checked against the file's size before anything is allocated, and object
    (pickled) arrays are refused; validated by :func:`validate_arrays`. Raises
    :class:`rnnkit.errors.DataFileError` naming the file (``FileNotFoundError`` if missing).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(p, np.ones((2, 5, 3), dtype="float32"))
    >>> read_npy(p).shape
    (2, 5, 3)
    """
    if is_npz(path):
        raise DataFileError("expected a .npy array, got an .npz archive; use read_npz",
                            path=os.fsdecode(path))
    x, _ = _validated(path, load_npy(path))
    return x


def read_npz(
    path: PathLike, *, x_key: str = "X", y_key: str = "y"
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Read ``(X, y)`` from a ``.npz`` archive with keys ``X`` and ``y``.

    ``X``: ``(samples, timesteps, features)``; ``y``: ``(samples, ...)``. Member sizes and
    ``.npy`` headers are checked before anything is allocated, object (pickled) arrays are
    refused; validated by :func:`validate_arrays`. Raises :class:`rnnkit.errors.DataFileError`
    naming the file (``FileNotFoundError`` if missing).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
    >>> np.savez(p, X=np.zeros((3, 4, 2)), y=np.array([0, 1, 1]))
    >>> [a.shape for a in read_npz(p)]
    [(3, 4, 2), (3,)]
    """
    if not is_npz(path):
        raise DataFileError("expected an .npz archive (a zip of .npy arrays), got something "
                            "else (a single .npy array? use read_npy)", path=os.fsdecode(path))
    arrays = read_npz_arrays(path, [x_key, y_key])
    x, yy = _validated(path, arrays[x_key], arrays[y_key])
    return x, cast(NDArray[Any], yy)
