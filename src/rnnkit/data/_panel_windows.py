"""Windows over a :class:`~rnnkit.data.Panel` as index arrays, and the splits that use them.

A window is a pair ``(series i, start s)``: its inputs are rows ``s .. s + window - 1`` of
series ``i`` and its targets the ``horizon`` rows after them. :func:`window_index` lists
the windows of every series as two int64 arrays (16 bytes a window, whatever the window
length); :func:`gather` copies the rows of one batch of windows. Every row of a window
lies in its own series: a start is never below ``0`` (unless padded, below) and a window
never ends after its series' ``end``.

Short series (fewer than ``window + horizon`` rows) are an error that names them, or, with
``pad_short=True``, get one window that starts before the series (``s < 0``): the missing
input rows are zeros with ``mask = False`` (masked left padding).

Splits, per series of length ``L``: :func:`split_points` keeps the last ``test`` rows (a
count, or a fraction of ``L``) for testing and the ``validation`` rows before them for
validation; :func:`rolling_origins` lists backtest forecast origins over every series.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._checks import check_int
from ._panel import Panel

__all__ = ["Origins", "PanelSplit", "WindowBatch", "WindowIndex", "gather", "last_windows",
           "rolling_origins", "split_points", "window_index"]

IntArray = NDArray[np.int64]


class WindowIndex(NamedTuple):
    """Windows as index arrays: ``series`` and ``start`` int64 ``(n,)`` (``start`` counts
    rows from the series' first row; negative only for masked left padding).

    >>> WindowIndex(np.array([0, 1]), np.array([0, 2])).series.tolist()
    [0, 1]
    """

    series: IntArray
    start: IntArray


class WindowBatch(NamedTuple):
    """The rows of a batch of ``n`` windows (copies; see :func:`gather`).

    ``target``: ``(n, window)`` past target values; ``past``: ``(n, window, P)``;
    ``future``: ``(n, window + horizon, F)`` (inputs then horizon rows); ``static``:
    ``(n, S)``; ``static_codes``: ``(n, C)``; ``y``: ``(n, horizon)`` targets; ``mask``:
    ``(n, window)`` ``False`` on left padding; ``series``: ``(n,)`` series numbers.

    >>> WindowBatch._fields[:3]
    ('target', 'past', 'future')
    """

    target: NDArray[np.float64]
    past: NDArray[np.float64]
    future: NDArray[np.float64]
    static: NDArray[np.float64]
    static_codes: IntArray
    y: NDArray[np.float64]
    mask: NDArray[np.bool_]
    series: IntArray


def _per_series(value: Any, panel: Panel, name: str, default: IntArray) -> IntArray:
    if value is None:
        return default
    arr = np.broadcast_to(np.asarray(value), (panel.n_series,))
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"expected {name} as integers (one or one per series), got {arr.dtype}")
    return arr.astype(np.int64)


def _short_error(panel: Panel, short: IntArray, ends: IntArray, need: int,
                 pad_short: bool) -> ValueError:
    named = ", ".join(f"{panel.ids[i]!r} ({int(ends[i])} rows)" for i in short[:5].tolist())
    more = f" and {short.size - 5} more" if short.size > 5 else ""
    fix = ("they need at least horizon + 1 rows even with pad_short=True" if pad_short else
           "pass pad_short=True to keep them with masked left padding, use a smaller window, "
           "or drop them")
    return ValueError(f"expected every series to hold window + horizon = {need} rows, got "
                      f"{short.size} shorter series: {named}{more}; {fix}")


def window_index(
    panel: Panel,
    window: int,
    horizon: int = 1,
    *,
    stride: int = 1,
    end: Any = None,
    targets_from: Any = None,
    pad_short: bool = False,
) -> WindowIndex:
    """Every window of every series, as index arrays (no rows are copied).

    Args:
        panel: the series.
        window, horizon: input steps and target steps per window.
        stride: steps between window starts; the last window of each series always ends
            at ``end`` (starts are ``end - window - horizon - k * stride``).
        end: exclusive last row for targets, one int or one per series (default: the
            series' length): e.g. the end of the training rows.
        targets_from: first row a target may fall on (one int or one per series), e.g.
            the start of the validation rows; inputs may lie before it.
        pad_short: keep a series shorter than ``window + horizon`` rows (up to ``end``)
            with one window padded on the left (``start < 0``); default: error naming it.

    Returns:
        :class:`WindowIndex`, series after series, starts increasing.

    >>> p = Panel.from_arrays({"a": np.arange(5.0), "b": np.arange(4.0)})
    >>> idx = window_index(p, window=2, horizon=1)
    >>> idx.series.tolist(), idx.start.tolist()
    ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1])
    >>> window_index(p, window=4, horizon=1, pad_short=True).start.tolist()
    [0, -1]
    """
    window = check_int(window, "window", 1)
    horizon = check_int(horizon, "horizon", 1)
    stride = check_int(stride, "stride", 1)
    lengths = panel.lengths
    ends = _per_series(end, panel, "end", lengths)
    if ((ends > lengths) | (ends < 0)).any():
        i = int(np.flatnonzero((ends > lengths) | (ends < 0))[0])
        raise ValueError(f"expected end within series {panel.ids[i]!r} (0..{int(lengths[i])} "
                         f"rows), got {int(ends[i])}")
    first = _per_series(targets_from, panel, "targets_from", np.zeros_like(lengths))
    need = window + horizon
    short = np.flatnonzero(ends < (horizon + 1 if pad_short else need))
    if short.size:
        raise _short_error(panel, short, ends, need, pad_short)
    hi = ends - need  # (n_series,) last start
    lo = np.maximum(np.minimum(first - window, hi), 0)
    lo = np.where(hi < 0, hi, lo)  # padded series: its one window
    counts = np.where(hi >= lo, (hi - lo) // stride + 1, 0)  # (n_series,)
    series = np.repeat(np.arange(panel.n_series, dtype=np.int64), counts)  # (n,)
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts,
                                                                      counts)
    start = np.repeat(hi, counts) - (np.repeat(counts, counts) - 1 - within) * stride  # (n,)
    return WindowIndex(series, start)


def last_windows(panel: Panel, window: int, *, pad_short: bool = False) -> WindowIndex:
    """The last ``window`` rows of every series: the inputs of a forecast of what follows
    (gather them with ``horizon=0``). A series shorter than ``window`` is an error naming
    it, or is padded on the left with ``pad_short=True``. The window of a backtest origin
    ``(series, cut)`` is ``WindowIndex(series, cut - window)``.

    >>> p = Panel.from_arrays({"a": np.arange(5.0), "b": np.arange(2.0)})
    >>> last_windows(p, 3, pad_short=True).start.tolist()
    [2, -1]
    >>> gather(p, last_windows(p, 3, pad_short=True), 3, horizon=0).target.tolist()
    [[2.0, 3.0, 4.0], [0.0, 0.0, 1.0]]
    """
    window = check_int(window, "window", 1)
    lengths = panel.lengths
    short = np.flatnonzero(lengths < window)
    if short.size and not pad_short:
        named = ", ".join(f"{panel.ids[i]!r} ({int(lengths[i])} rows)"
                          for i in short[:5].tolist())
        raise ValueError(f"expected every series to hold window = {window} rows, got "
                         f"{short.size} shorter series: {named}; pass pad_short=True to pad "
                         "them on the left (masked)")
    return WindowIndex(np.arange(panel.n_series, dtype=np.int64), lengths - window)


def gather(panel: Panel, index: WindowIndex, window: int, horizon: int = 1) -> WindowBatch:
    """Copy the rows of the windows ``index`` (a batch): see :class:`WindowBatch`.

    Left padding (``start < 0``) reads as zeros with ``mask = False``. ``horizon=0``
    gathers inputs only (``y`` is ``(n, 0)``), e.g. for :func:`last_windows`.

    >>> p = Panel.from_arrays({"a": np.arange(5.0), "b": np.arange(10.0, 14.0)})
    >>> b = gather(p, WindowIndex(np.array([1, 1]), np.array([0, -1])), window=2)
    >>> b.target.tolist(), b.y.tolist(), b.mask.tolist()
    ([[10.0, 11.0], [0.0, 10.0]], [[12.0], [11.0]], [[True, True], [False, True]])
    """
    series = np.asarray(index.series, dtype=np.int64)
    start = np.asarray(index.start, dtype=np.int64)
    steps = np.arange(window + horizon, dtype=np.int64)
    local = start[:, None] + steps[None, :]  # (n, window + horizon)
    valid = local >= 0
    if (local >= panel.lengths[series][:, None]).any():
        raise ValueError("expected windows inside their series, got one past a series' end")
    rows = np.where(valid, panel.offsets[series][:, None] + local, 0)  # (n, window + horizon)
    target = np.where(valid, panel.target[rows], 0.0)  # (n, window + horizon)
    past = np.where(valid[:, :window, None], panel.past[rows[:, :window]], 0.0)  # (n, w, P)
    future = np.where(valid[:, :, None], panel.future[rows], 0.0)  # (n, w + h, F)
    return WindowBatch(
        target=target[:, :window], past=past, future=future, static=panel.static[series],
        static_codes=panel.static_codes[series], y=target[:, window:],
        mask=valid[:, :window], series=series,
    )


class PanelSplit(NamedTuple):
    """Per-series split points, int64 ``(n_series,)``: training rows ``[0, train_end)``,
    validation rows ``[train_end, val_end)``, test rows ``[val_end, length)``.

    >>> PanelSplit(np.array([6]), np.array([8]), np.array([10])).val_end.tolist()
    [8]
    """

    train_end: IntArray
    val_end: IntArray
    length: IntArray


def _rows(value: float | int, lengths: IntArray, name: str) -> IntArray:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"expected {name} as a row count >= 0 or a fraction in [0, 1), "
                         f"got {value!r}")
    if isinstance(value, numbers.Integral):
        return np.full(lengths.shape, int(value), dtype=np.int64)
    if not value < 1:
        raise ValueError(f"expected {name} as a row count (int) or a fraction below 1, got "
                         f"{value!r}")
    return np.floor(lengths * float(value)).astype(np.int64)


def split_points(panel: Panel, test: float | int = 0, validation: float | int = 0,
                 *, min_train: int = 2) -> PanelSplit:
    """Split every series in time order: the last ``test`` rows for testing, the
    ``validation`` rows before them for validation, the rest (at least ``min_train``
    rows) for training. ``test``/``validation``: a row count (int, the same for every
    series) or a fraction of each series' length (float); ``0``: none.

    >>> p = Panel.from_arrays({"a": np.arange(10.0), "b": np.arange(5.0)})
    >>> s = split_points(p, test=2, validation=0.2)
    >>> s.train_end.tolist(), s.val_end.tolist()
    ([6, 2], [8, 3])
    """
    lengths = panel.lengths
    n_test = _rows(test, lengths, "test")
    n_val = _rows(validation, lengths, "validation")
    train_end = lengths - n_test - n_val
    bad = np.flatnonzero(train_end < min_train)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"expected at least {min_train} training rows in every series, got "
            f"{int(train_end[i])} in series {panel.ids[i]!r} ({int(lengths[i])} rows, "
            f"test={int(n_test[i])}, validation={int(n_val[i])}; {bad.size} series); use a "
            "smaller test/validation part"
        )
    return PanelSplit(train_end, train_end + n_val, lengths)


class Origins(NamedTuple):
    """Backtest forecast origins, int64 ``(n,)`` each: forecast ``series`` from its first
    ``cut`` rows for rows ``cut .. cut + horizon - 1``; ``fold`` 0 is the earliest.

    >>> Origins(np.array([0]), np.array([8]), np.array([0])).cut.tolist()
    [8]
    """

    series: IntArray
    cut: IntArray
    fold: IntArray


def rolling_origins(panel: Panel, horizon: int, folds: int = 1, *, stride: int | None = None,
                    min_train: int = 2) -> Origins:
    """Rolling-origin backtest over every series: fold ``k`` of ``folds`` forecasts each
    series from ``cut = length - horizon - (folds - 1 - k) * stride`` observed rows
    (``stride`` defaults to ``horizon``: the folds' test blocks tile the series' end).

    >>> p = Panel.from_arrays({"a": np.arange(10.0), "b": np.arange(8.0)})
    >>> o = rolling_origins(p, horizon=2, folds=2)
    >>> o.series.tolist(), o.cut.tolist(), o.fold.tolist()
    ([0, 0, 1, 1], [6, 8, 4, 6], [0, 1, 0, 1])
    """
    horizon = check_int(horizon, "horizon", 1)
    folds = check_int(folds, "folds", 1)
    stride = horizon if stride is None else check_int(stride, "stride", 1)
    back = (folds - 1 - np.arange(folds, dtype=np.int64)) * stride  # (folds,)
    cut = panel.lengths[:, None] - horizon - back[None, :]  # (n_series, folds)
    bad = np.flatnonzero(cut[:, 0] < min_train)
    if bad.size:
        i = int(bad[0])
        need = min_train + horizon + (folds - 1) * stride
        raise ValueError(
            f"expected series of at least {need} rows for {folds} fold(s) of horizon "
            f"{horizon} (stride {stride}) after {min_train} training rows, got series "
            f"{panel.ids[i]!r} with {int(panel.lengths[i])} rows ({bad.size} series); use "
            "fewer folds or a shorter horizon"
        )
    n = panel.n_series
    series = np.repeat(np.arange(n, dtype=np.int64), folds)
    return Origins(series, cut.reshape(-1), np.tile(np.arange(folds, dtype=np.int64), n))

