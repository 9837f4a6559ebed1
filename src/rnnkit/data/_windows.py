"""Sliding windows over a time series, as zero-copy views.

A series of ``T`` rows and ``F`` features is cut into ``n`` windows of ``window`` steps:

    X[i, s, :] = series[i * stride + s * sampling_rate, features]         s = 0 .. window-1

and, when a target is asked for, each window gets the ``horizon`` values that follow it
(``gap`` steps skipped first), on the same ``sampling_rate`` grid:

    y[i, j, :] = series[i * stride + (window - 1 + gap + 1 + j) * sampling_rate, target]
                                                                    j = 0 .. horizon-1

The number of windows is ``n = (T - span) // stride + 1`` with
``span = (window - 1 + gap + horizon) * sampling_rate + 1`` (``horizon`` and ``gap`` count
only when there is a target). ``X`` and ``y`` are read-only strided views of the input, so a
10-million-step series does not use ``window`` times its memory; copy a batch with
``np.array(X[a:b])`` (or index it, ``X[idx]``) before writing to it or handing it to
``torch.from_numpy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike, NDArray

from ._checks import as_2d, check_int, resolve_columns, select_columns
from ._checks import check_finite as _check_finite

__all__ = ["make_windows", "n_windows"]

ColumnSpec = str | int | Sequence[str] | Sequence[int]


def n_windows(
    length: int,
    window: int,
    horizon: int = 1,
    stride: int = 1,
    *,
    sampling_rate: int = 1,
    gap: int = 0,
    labelled: bool = True,
) -> int:
    """Number of windows :func:`make_windows` cuts from ``length`` rows (0 if too short).

    ``span = (window - 1 + gap + horizon) * sampling_rate + 1`` rows are needed per window
    (``gap``/``horizon`` only when ``labelled``); the count is ``(length - span) // stride + 1``.

    >>> n_windows(5, 3)              # 5 rows, window 3, next-step target
    2
    >>> n_windows(5, 3, labelled=False)
    3
    """
    length = check_int(length, "length", 0)
    span = _span(window, horizon, sampling_rate, gap, labelled)
    stride = check_int(stride, "stride", 1)
    return 0 if length < span else (length - span) // stride + 1


def _span(window: int, horizon: int, sampling_rate: int, gap: int, labelled: bool) -> int:
    window = check_int(window, "window", 1)
    sampling_rate = check_int(sampling_rate, "sampling_rate", 1)
    if labelled:
        horizon = check_int(horizon, "horizon", 1)
        gap = check_int(gap, "gap", 0)
        return (window - 1 + gap + horizon) * sampling_rate + 1
    return (window - 1) * sampling_rate + 1


def _strided(values: NDArray[Any], first: int, n: int, stride: int, steps: int,
             rate: int) -> NDArray[Any]:
    """View ``out[i, s, :] = values[first + i * stride + s * rate, :]`` of shape (n, steps, F)."""
    span = (steps - 1) * rate + 1
    src = values[first:]
    view = sliding_window_view(src, span, axis=0)  # (len - span + 1, F, span)
    view = view[: (n - 1) * stride + 1 : stride, :, ::rate]  # (n, F, steps)
    return view.transpose(0, 2, 1)  # (n, steps, F)


@overload
def make_windows(
    series: Any,
    window: int,
    horizon: int = ...,
    stride: int = ...,
    target: ColumnSpec = ...,
    *,
    features: ColumnSpec | None = ...,
    sampling_rate: int = ...,
    gap: int = ...,
    dtype: DTypeLike | None = ...,
    check_finite: bool = ...,
) -> tuple[NDArray[Any], NDArray[Any]]: ...


@overload
def make_windows(
    series: Any,
    window: int,
    horizon: int = ...,
    stride: int = ...,
    *,
    target: None,
    features: ColumnSpec | None = ...,
    sampling_rate: int = ...,
    gap: int = ...,
    dtype: DTypeLike | None = ...,
    check_finite: bool = ...,
) -> NDArray[Any]: ...


def make_windows(
    series: Any,
    window: int,
    horizon: int = 1,
    stride: int = 1,
    target: ColumnSpec | None = "all",
    *,
    features: ColumnSpec | None = None,
    sampling_rate: int = 1,
    gap: int = 0,
    dtype: DTypeLike | None = None,
    check_finite: bool = True,
) -> tuple[NDArray[Any], NDArray[Any]] | NDArray[Any]:
    """Cut a series into overlapping input windows and the values that follow them.

    Args:
        series: ``(T,)`` or ``(T, F)`` array, ``pandas.Series`` or ``DataFrame`` (numeric
            columns; the index is ignored, so sort and validate it first, e.g. with
            :func:`rnnkit.data.validate_series`).
        window: steps per input window (``>= 1``).
        horizon: future steps per target (``>= 1``); ignored when ``target=None``.
        stride: rows between the starts of consecutive windows (``>= 1``).
        target: which columns to predict: ``"all"`` (default), a column name (DataFrame)
            or index, or a list of them. ``None`` returns the input windows only, one for
            every possible start (no rows are kept back for a label).
        features: input columns (same forms as ``target``); default: all columns.
        sampling_rate: period between the rows used inside a window, and between targets.
        gap: extra steps skipped between a window's last row and its first target.
        dtype: cast the series once before windowing (e.g. ``"float32"``); default: keep.
        check_finite: raise on NaN/Inf (naming row and column). Scans in blocks.

    Returns:
        ``X`` of shape ``(n, window, F_in)`` when ``target=None``; otherwise ``(X, y)`` with
        ``y`` of shape ``(n, horizon, k)``, where the ``horizon`` axis is dropped when
        ``horizon == 1`` and the ``k`` axis is dropped when ``target`` is a single name/index
        or the series is 1-D. Both are read-only views (no copy of the windows is made).

    Raises:
        ValueError: when the series is shorter than one window plus its target
            (``(window - 1 + gap + horizon) * sampling_rate + 1`` rows), on NaN/Inf, on
            non-numeric columns, and on unknown columns.

    Examples:
        The seed's temperature/humidity table, sequence length 3:

        >>> import numpy as np
        >>> table = np.array([[6, 92], [9, 85], [7, 88], [8, 91], [6, 89]])
        >>> X = make_windows(table, 3, target=None)
        >>> X.shape
        (3, 3, 2)
        >>> X[2].tolist()
        [[7, 88], [8, 91], [6, 89]]

        Next-day temperature (column 0) from 3 days of both features:

        >>> X, y = make_windows(table, 3, target=0)
        >>> X.shape, y.tolist()
        ((2, 3, 2), [8, 6])

        Univariate series, two steps ahead at once:

        >>> X, y = make_windows(np.arange(8.0), window=3, horizon=2, stride=2)
        >>> X[:, :, 0].tolist(), y.tolist()
        ([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]], [[3.0, 4.0], [5.0, 6.0]])
    """
    values, columns, was_1d = as_2d(series)
    labelled = target is not None
    span = _span(window, horizon, sampling_rate, gap, labelled)
    stride = check_int(stride, "stride", 1)
    length, n_feat = values.shape
    if length < span:
        need = (
            f"window={window} + gap={gap} + horizon={horizon}"
            if labelled
            else f"window={window}"
        )
        rate = f" at sampling_rate={sampling_rate}" if sampling_rate != 1 else ""
        raise ValueError(
            f"expected a series of at least {span} rows for {need}{rate}, got {length} rows; "
            "use a smaller window/horizon or a longer series"
        )
    if n_feat == 0:
        raise ValueError(f"expected at least one feature column, got shape {values.shape}")
    if dtype is not None:
        values = values.astype(dtype, copy=False)
    if check_finite:
        _check_finite(values, columns)
    n = (length - span) // stride + 1

    feat_idx = (
        list(range(n_feat))
        if features is None
        else resolve_columns(features, columns, n_feat, "features")[0]
    )
    x = _strided(select_columns(values, feat_idx), 0, n, stride, window, sampling_rate)
    if not labelled:
        return x  # (n, window, F_in)

    tgt_idx, scalar = resolve_columns(target, columns, n_feat, "target")
    tsrc = select_columns(values, tgt_idx)  # (T, k)
    first = (window + gap) * sampling_rate
    y = _strided(tsrc, first, n, stride, horizon, sampling_rate)  # (n, horizon, k)
    if scalar or was_1d:
        y = y[:, :, 0]  # (n, horizon)
        if horizon == 1:
            y = y[:, 0]  # (n,)
    elif horizon == 1:
        y = y[:, 0, :]  # (n, k)
    return x, y
