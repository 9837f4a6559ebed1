"""CSV time series read with bounded memory: pyarrow's CSV reader, numeric columns parsed
straight into float32, timestamps parsed in Arrow (no Python string per row).

The column types are fixed from the header and the first block: a column that block shows
as numbers (or empty) is read as float32 for the whole file, so a later non-number is an error
naming the column and row, not a silent change of type; the time column is read as text and
parsed with the format of its first value (pandas' guess), falling back to pandas for mixed
formats. Duplicate header names are refused (pandas would rename them ``y``, ``y.1``). Only
regular files are read.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.tseries.api import guess_datetime_format
from pyarrow import csv as pacsv

from .. import _bounded
from ..errors import DataFileError
from ._readers import validate_series

__all__ = ["read_csv", "read_csv_frame"]

PathLike = str | os.PathLike[str]
_BLOCK = 1 << 20


def _fail(path: PathLike) -> _bounded.Fail:
    def fail(reason: str) -> DataFileError:
        return DataFileError(reason, path=os.fsdecode(path))

    return fail


def _column_types(f: IO[bytes], sep: str, text: frozenset[str], required: frozenset[str],
                  fail: _bounded.Fail) -> dict[str, pa.DataType]:
    """float32 for every column the first block shows as numeric, text otherwise (and for
    the columns named in ``text``); the columns in ``required`` must be in the header."""
    try:
        reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(block_size=_BLOCK),
                                parse_options=pacsv.ParseOptions(delimiter=sep))
        schema = reader.schema
        reader.close()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeError, ValueError) as e:
        raise fail(f"expected a CSV table, got {str(e).splitlines()[0]}") from None
    names = schema.names
    dups = sorted(n for n, k in Counter(names).items() if k > 1)
    if dups:
        raise fail(f"expected unique column names, got duplicates {dups}; rename them in the "
                   "header")
    missing = sorted(required - set(names))
    if missing:
        raise fail(f"expected columns {missing} in the header, got {names}")
    types: dict[str, pa.DataType] = {}
    for field in schema:
        t = field.type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)
        if field.name in text or pa.types.is_timestamp(t) or pa.types.is_date(t):
            types[field.name] = pa.string()
        elif numeric:
            types[field.name] = pa.float32()
        elif not pa.types.is_boolean(t):
            types[field.name] = pa.string()
    return types


def _read_table(path: PathLike, sep: str, text: frozenset[str],
                required: frozenset[str]) -> pa.Table:
    fail = _fail(path)
    with _bounded.open_regular(path, fail) as f:
        types = _column_types(f, sep, text, required, fail)
        f.seek(0)
        try:
            return pacsv.read_csv(
                f, read_options=pacsv.ReadOptions(block_size=_BLOCK),
                parse_options=pacsv.ParseOptions(delimiter=sep),
                convert_options=pacsv.ConvertOptions(column_types=types),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeError, ValueError) as e:
            raise fail(f"expected numbers in every numeric column, got "
                       f"{str(e).splitlines()[0]}; fix that value or drop the column") from None


def _times(column: pa.ChunkedArray) -> pd.DatetimeIndex | pd.Series:
    """The time column parsed in Arrow with the format of its first value (pandas' guess)."""
    first = next((v for v in column.to_pylist()[:1000] if v is not None), None)
    fmt = guess_datetime_format(first) if isinstance(first, str) else None
    if fmt is not None:
        try:
            parsed = pc.strptime(column, format=fmt, unit="ns", error_is_null=True)
            if parsed.null_count == column.null_count:
                return pd.DatetimeIndex(parsed.to_numpy(zero_copy_only=False))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return column.to_pandas()  # pandas parses (and reports) what Arrow cannot


def _frame(table: pa.Table, time_column: str | None) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name == time_column:
            data[name] = _times(column)
        elif pa.types.is_floating(column.type):
            data[name] = column.to_numpy()  # float32, NaN for empty fields
        else:
            data[name] = column.to_pandas()
    return pd.DataFrame(data, copy=False)


def read_csv_frame(
    path: PathLike,
    *,
    time_column: str | None = None,
    text_columns: Sequence[str] = (),
    sep: str = ",",
) -> pd.DataFrame:
    """The CSV table as a DataFrame, read with bounded memory and not validated as a series.

    Numeric columns are float32; ``time_column`` is parsed as timestamps; the columns named in
    ``text_columns`` (e.g. a series id such as ``1001``) stay strings. Raises
    :class:`rnnkit.errors.DataFileError` naming the file for duplicate header names, a named
    column missing from the header, a header without rows and a non-number in a numeric
    column (``FileNotFoundError`` if missing).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("id,date,y\\n7,2022-11-25,6\\n8,2022-11-25,9.5\\n")
    >>> df = read_csv_frame(p, time_column="date", text_columns=["id"])
    >>> df["id"].tolist(), str(df["y"].dtype), str(df["date"].dtype)
    (['7', '8'], 'float32', 'datetime64[ns]')
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"expected path to be a str or os.PathLike, got {type(path).__name__}")
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"expected sep to be one character, got {sep!r}")
    if isinstance(text_columns, str) or not all(isinstance(c, str) for c in text_columns):
        raise TypeError(f"expected text_columns as a sequence of str, got {text_columns!r}")
    required = frozenset(text_columns)
    text = required | ({time_column} if time_column is not None else set())
    table = _read_table(path, sep, text, required)
    if table.num_rows == 0:
        raise DataFileError("expected rows of values, got only a header", path=os.fsdecode(path))
    return _frame(table, time_column)


def read_csv(
    path: PathLike,
    *,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    freq: str | None = "infer",
    sort: bool = False,
    window: int | None = None,
    horizon: int = 1,
    sep: str = ",",
) -> pd.DataFrame:
    """Read a CSV time series and validate it with :func:`validate_series`.

    Numeric columns are float32 (parsed by pyarrow without a Python object per value: peak
    memory ~2x the file for numeric tables). Raises :class:`rnnkit.errors.DataFileError`
    naming the file (``FileNotFoundError`` if missing): duplicate header names, a value that
    is not a number in a numeric column, and every check of :func:`validate_series`.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("date,temp,humidity\\n2022-11-25,6,92\\n2022-11-26,9.5,85\\n")
    >>> df = read_csv(p, time_column="date")
    >>> df.to_numpy().tolist(), str(df["temp"].dtype), df.index.freqstr
    ([[6.0, 92.0], [9.5, 85.0]], 'float32', 'D')
    >>> _ = p.write_text("date,y,y\\n2022-11-25,6,92\\n")
    >>> read_csv(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnkit.errors.DataFileError: data file '...t.csv': expected unique column names, got \
duplicates ['y']; rename them in the header
    """
    df = read_csv_frame(path, time_column=time_column, sep=sep)
    try:
        return validate_series(df, time_column=time_column, columns=columns, freq=freq,
                               sort=sort, window=window, horizon=horizon)
    except ValueError as err:
        raise DataFileError(str(err), path=os.fsdecode(path)) from None

