"""Small argument checks shared by the data modules (private).

Every check raises ``TypeError`` or ``ValueError`` with a message of the form
"expected X, got Y", so that a user sees what to change.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "as_2d",
    "check_finite",
    "check_int",
    "check_fraction",
    "check_format_version",
    "parse_json",
    "resolve_columns",
    "select_columns",
]

_CHUNK_ROWS = 1 << 18  # rows per block when scanning long arrays (bounds temporary memory)


def check_int(value: Any, name: str, minimum: int = 0) -> int:
    """Return ``value`` as ``int`` if it is an integer ``>= minimum``, else raise.

    >>> check_int(3, "window", 1)
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"expected {name} to be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"expected {name} to be an integer >= {minimum}, got {value}")
    return int(value)


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a float in ``[0, 1)``, else raise.

    >>> check_fraction(0.2, "test")
    0.2
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected {name} to be a fraction in [0, 1), got {value!r}")
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"expected {name} to be a fraction in [0, 1), got {value}")
    return v


def parse_json(text: Any, what: str) -> Any:
    """``json.loads(text)``, with invalid or too deeply nested JSON as a ``ValueError``.

    >>> parse_json('{"a": 1}', "a vocabulary")
    {'a': 1}
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"expected {what} as a JSON string, got {type(text).__name__}")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(
            f"expected {what} as JSON, got JSON nested too deeply to parse"
        ) from None
    except ValueError as err:  # json.JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"expected {what} as JSON, got invalid JSON: {err}") from None


def check_format_version(d: dict[str, Any], expected: int) -> None:
    """Raise unless ``d["format_version"]`` is the int ``expected`` (``True`` is no int here).

    >>> check_format_version({"format_version": 1}, 1)
    """
    got = d.get("format_version")
    if type(got) is not int or got != expected:
        raise ValueError(f"expected format_version {expected}, got {got!r}")


def _column_label(columns: Sequence[str] | None, j: int) -> str:
    return f"column {columns[j]!r}" if columns is not None else f"column {j}"


def as_2d(
    series: Any, name: str = "series"
) -> tuple[NDArray[Any], list[str] | None, bool]:
    """Convert a series to a 2-D numeric array ``(time, features)`` without copying arrays.

    Returns ``(values, column_names_or_None, was_1d)``. Accepts numpy arrays of ndim 1 or
    2, ``pandas.Series`` and ``pandas.DataFrame`` (whose columns must all be numeric or bool;
    the index is ignored).

    >>> v, cols, was_1d = as_2d(np.arange(4.0))
    >>> v.shape, cols, was_1d
    ((4, 1), None, True)
    """
    if isinstance(series, pd.DataFrame):
        columns = [str(c) for c in series.columns]
        for j, c in enumerate(series.columns):
            dt = series[c].dtype
            if pd.api.types.is_complex_dtype(dt):
                raise ValueError(
                    f"expected real-valued columns in {name}, got {_column_label(columns, j)} "
                    f"of dtype {dt}"
                )
            if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
                example = series[c].iloc[0] if len(series) else None
                raise ValueError(
                    f"expected numeric columns in {name}, got {_column_label(columns, j)} of "
                    f"dtype {dt} (e.g. {example!r}); drop it (df.drop(columns=[{c!r}])), "
                    "encode it as numbers, or pass it as the time column/index"
                )
        values = series.to_numpy()
        if values.dtype == object:  # nullable extension dtypes (Int64, Float64 with pd.NA)
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if values.dtype == np.bool_:
            values = values.astype(np.float32)
        return values, columns, False
    if isinstance(series, pd.Series):
        dt = series.dtype
        if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
            raise ValueError(f"expected a numeric {name}, got a pandas Series of dtype {dt}")
        if pd.api.types.is_complex_dtype(dt):
            raise ValueError(f"expected a real-valued {name}, got a pandas Series of dtype {dt}")
        values = series.to_numpy()
        if values.dtype == object or values.dtype == np.bool_:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.reshape(-1, 1), [str(series.name)] if series.name is not None else None, True
    if isinstance(series, (list, tuple)):
        series = np.asarray(series)
    if not isinstance(series, np.ndarray):
        raise TypeError(
            f"expected {name} to be a numpy array, pandas Series or DataFrame, "
            f"got {type(series).__name__}"
        )
    if series.dtype == np.bool_:
        series = series.astype(np.float32)
    if not (np.issubdtype(series.dtype, np.number)):
        raise ValueError(f"expected a numeric {name}, got an array of dtype {series.dtype}")
    if np.iscomplexobj(series):
        raise ValueError(f"expected a real-valued {name}, got dtype {series.dtype}")
    if series.ndim == 1:
        return series.reshape(-1, 1), None, True
    if series.ndim == 2:
        return series, None, False
    raise ValueError(
        f"expected {name} of shape (time,) or (time, features), got shape {series.shape}"
    )


def check_finite(values: NDArray[Any], columns: Sequence[str] | None, name: str = "series") -> None:
    """Raise ``ValueError`` naming the first NaN/Inf (row and column) in a 2-D array.

    Scans in blocks so that temporary memory stays small for very long series.

    >>> check_finite(np.zeros((3, 2)), None)
    """
    if not np.issubdtype(values.dtype, np.floating):
        return
    for start in range(0, values.shape[0], _CHUNK_ROWS):
        block = values[start : start + _CHUNK_ROWS]
        ok = np.isfinite(block)
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            bad = block[r, c]
            raise ValueError(
                f"expected finite values in {name}, got {bad} at row {start + int(r)}, "
                f"{_column_label(columns, int(c))}; fill or drop missing values first "
                "(e.g. df.interpolate() or df.dropna())"
            )


def resolve_columns(
    spec: Any, columns: Sequence[str] | None, n_features: int, what: str
) -> tuple[list[int], bool]:
    """Turn a column spec into column indices.

    ``spec`` is ``"all"`` (every column), a column name or index (scalar: the result is
    marked scalar so the feature axis may be dropped), or a sequence of names/indices.
    Returns ``(indices, is_scalar)``.

    >>> resolve_columns("b", ["a", "b"], 2, "target")
    ([1], True)
    >>> resolve_columns([1, 0], None, 2, "target")
    ([1, 0], False)
    """
    if isinstance(spec, str) and spec == "all" and (columns is None or "all" not in columns):
        return list(range(n_features)), False
    scalar = isinstance(spec, (str, numbers.Integral)) and not isinstance(spec, bool)
    items = [spec] if scalar else spec
    if isinstance(items, np.ndarray):
        items = items.tolist()
    if not isinstance(items, (list, tuple)) or len(items) == 0:
        raise TypeError(
            f"expected {what} to be 'all', a column name/index or a non-empty list of them, "
            f"got {spec!r}"
        )
    out: list[int] = []
    for item in items:
        if isinstance(item, str):
            if columns is None:
                raise ValueError(
                    f"expected integer column indices for {what} on an array, got name {item!r}; "
                    "names work only with a pandas DataFrame"
                )
            if item not in columns:
                raise ValueError(
                    f"expected {what} column names from {list(columns)}, got {item!r}"
                )
            out.append(list(columns).index(item))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            j = int(item)
            if not -n_features <= j < n_features:
                raise ValueError(
                    f"expected {what} column indices in [0, {n_features}), got {j}"
                )
            out.append(j % n_features)
        else:
            raise TypeError(f"expected {what} column names or indices, got {item!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"expected distinct {what} columns, got {spec!r}")
    return out, scalar


def select_columns(values: NDArray[Any], idx: list[int]) -> NDArray[Any]:
    """Select columns, as a view when ``idx`` is a contiguous increasing range.

    >>> a = np.zeros((5, 4))
    >>> np.shares_memory(select_columns(a, [1, 2]), a)
    True
    """
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return values[:, idx[0] : idx[0] + len(idx)]
    return values[:, idx]
