"""Chronological train/validation/test splits that no window crosses.

The series is cut into three contiguous parts in time order,

    rows [0, n_train) | [n_train, n_train + n_val) | [n_train + n_val, T)

with ``n_val = floor(val * T)``, ``n_test = floor(test * T)`` and the rest for training.
:func:`windowed_split` then windows each part on its own, so every window (inputs *and*
targets) lies inside one part, and fits an optional scaler on the training part only.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import DTypeLike, NDArray

from ._checks import as_2d, check_fraction
from ._scaling import MinMaxScaler, StandardScaler
from ._windows import ColumnSpec, make_windows, n_windows

__all__ = ["SeriesSplit", "WindowSplit", "chronological_split", "windowed_split"]


class SeriesSplit(NamedTuple):
    """Three contiguous, time-ordered parts of a series (same type as the input).

    >>> SeriesSplit(*chronological_split(np.arange(4), val=0.25, test=0.25)).test.tolist()
    [3]
    """

    train: Any
    val: Any
    test: Any


class WindowSplit(NamedTuple):
    """Windows of each part: ``train``, ``val`` and ``test`` are ``(X, y)`` pairs.

    ``scaler`` is the scaler fitted on the training rows (``None`` when none was given);
    use ``scaler.select(target).inverse_transform(prediction)`` to get original units back.

    >>> (X_train, y_train), val, test, scaler = windowed_split(np.arange(20.0), 2, val=0.2,
    ...                                                        test=0.2)
    >>> X_train.shape, y_train[:3].tolist(), val[1].tolist(), scaler is None
    ((10, 2, 1), [2.0, 3.0, 4.0], [14.0, 15.0], True)
    """

    train: tuple[NDArray[Any], NDArray[Any]]
    val: tuple[NDArray[Any], NDArray[Any]]
    test: tuple[NDArray[Any], NDArray[Any]]
    scaler: StandardScaler | MinMaxScaler | None


def _sizes(length: int, val: float, test: float) -> tuple[int, int, int]:
    n_val = math.floor(val * length)
    n_test = math.floor(test * length)
    n_train = length - n_val - n_test
    if n_train < 1:
        raise ValueError(
            f"expected val + test < 1 leaving training rows, got val={val}, test={test} "
            f"for {length} rows"
        )
    return n_train, n_val, n_test


def chronological_split(series: Any, val: float = 0.15, test: float = 0.15) -> SeriesSplit:
    """Split a series into train/validation/test parts in time order (no shuffling).

    Args:
        series: ``(T, ...)`` array, ``pandas.Series`` or ``DataFrame`` (rows = time).
        val, test: fractions of the rows for validation and test, each in ``[0, 1)``;
            sizes are ``floor(fraction * T)``, training gets the rest.

    Returns:
        :class:`SeriesSplit` of views (arrays) or ``iloc`` slices (pandas).

    >>> parts = chronological_split(np.arange(10), val=0.2, test=0.2)
    >>> [p.tolist() for p in parts]
    [[0, 1, 2, 3, 4, 5], [6, 7], [8, 9]]
    """
    val = check_fraction(val, "val")
    test = check_fraction(test, "test")
    if isinstance(series, (pd.DataFrame, pd.Series)):
        length = len(series)
        n_train, n_val, _ = _sizes(length, val, test)
        return SeriesSplit(
            series.iloc[:n_train],
            series.iloc[n_train : n_train + n_val],
            series.iloc[n_train + n_val :],
        )
    arr = np.asarray(series)
    if arr.ndim == 0:
        raise ValueError(f"expected a series with a time axis, got a scalar {series!r}")
    n_train, n_val, _ = _sizes(arr.shape[0], val, test)
    return SeriesSplit(arr[:n_train], arr[n_train : n_train + n_val], arr[n_train + n_val :])


def windowed_split(
    series: Any,
    window: int,
    horizon: int = 1,
    stride: int = 1,
    target: ColumnSpec = "all",
    *,
    val: float = 0.15,
    test: float = 0.15,
    features: ColumnSpec | None = None,
    sampling_rate: int = 1,
    gap: int = 0,
    scaler: StandardScaler | MinMaxScaler | None = None,
    dtype: DTypeLike | None = "float32",
) -> WindowSplit:
    """Split chronologically, scale with statistics of the training part, then window.

    Each part is windowed separately with :func:`make_windows` (same arguments), so no
    window or target crosses a boundary; the ``scaler`` (if any) is fitted on the training
    rows only and applied to all three parts. A part asked for (fraction > 0) that is too
    short for one window raises ``ValueError``; a part of fraction 0 gives empty arrays.

    Returns:
        :class:`WindowSplit` with ``(X, y)`` per part; shapes as in :func:`make_windows`.

    >>> s = np.arange(20.0)
    >>> ws = windowed_split(s, window=3, val=0.25, test=0.25, scaler=MinMaxScaler())
    >>> [len(ws.train[0]), len(ws.val[0]), len(ws.test[0])]
    [7, 2, 2]
    >>> ws.scaler.data_max.tolist()           # fitted on the 10 training rows only
    [9.0]
    """
    val = check_fraction(val, "val")
    test = check_fraction(test, "test")
    as_2d(series)  # validates type and dtype before splitting
    parts = chronological_split(series, val=val, test=test)
    if scaler is not None:
        if not isinstance(scaler, (StandardScaler, MinMaxScaler)):
            raise TypeError(
                f"expected scaler to be a StandardScaler or MinMaxScaler, got {scaler!r}"
            )
        scaler.fit(parts.train)
        parts = SeriesSplit(*(scaler.transform(p) for p in parts))
    out: list[tuple[NDArray[Any], NDArray[Any]]] = []
    for name, part, frac in zip(("train", "val", "test"), parts, (1.0, val, test), strict=True):
        length = len(part)
        if frac == 0.0 and length == 0:  # part not asked for: empty, shaped like train's
            x_tr, y_tr = out[0]
            out.append((x_tr[:0], y_tr[:0]))
            continue
        if n_windows(length, window, horizon, stride, sampling_rate=sampling_rate, gap=gap) == 0:
            raise ValueError(
                f"expected the {name} part ({length} rows) to hold at least one window of "
                f"window={window} + gap={gap} + horizon={horizon} steps; use a larger "
                f"{name} fraction, a smaller window, or a longer series"
            )
        out.append(
            make_windows(part, window, horizon, stride, target, features=features,
                         sampling_rate=sampling_rate, gap=gap, dtype=dtype)
        )
    return WindowSplit(out[0], out[1], out[2], scaler)
