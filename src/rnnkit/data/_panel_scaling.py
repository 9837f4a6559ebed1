"""Per-series scaling of a :class:`~rnnkit.data.Panel`, fitted on each series' own
training rows.

For series ``i`` and column ``c`` (the target, then the past and the future covariates):

    z[t, c] = (x[t, c] - mean[i, c]) / std[i, c]       over rows t < end[i] of series i

with the population standard deviation (``ddof=0``; a constant column gets ``std = 1``).
Calendar features (already in ``[-1, 1]``) are left as they are (``mean 0, std 1``).
Numeric static covariates are standardised across series (one mean and std per column).
No statistic of a row at or after ``end[i]`` (validation, test) enters the fit.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._checks import check_format_version, parse_json
from ._panel import Panel

__all__ = ["PanelScaler"]

_FORMAT_VERSION = 1


def _segment_stats(values: NDArray[np.float64], offsets: NDArray[np.int64],
                   ends: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and std ``(n, K)`` of rows ``offsets[i] .. offsets[i] + ends[i] - 1`` per series."""
    local = np.arange(len(values)) - np.repeat(offsets[:-1], np.diff(offsets))  # (N,)
    keep = local < np.repeat(ends, np.diff(offsets))
    x = values[keep]  # (rows kept, K)
    starts = np.concatenate([[0], np.cumsum(ends)[:-1]])
    mean = np.add.reduceat(x, starts, axis=0) / ends[:, None]  # (n, K)
    sq = np.add.reduceat((x - np.repeat(mean, ends, axis=0)) ** 2, starts, axis=0)
    std = np.sqrt(sq / ends[:, None])
    return mean, np.where(std > 0, std, 1.0)


class PanelScaler:
    """Standardise every series with the statistics of its own training rows.

    Attributes (after :meth:`fit`): ``ids`` (the series), ``columns`` (target, past,
    future names), ``mean`` and ``std`` float64 ``(n_series, 1 + P + F)``,
    ``static_mean``/``static_std`` float64 ``(S,)``.

    >>> p = Panel.from_arrays({"a": [1.0, 3.0, 100.0], "b": [10.0, 30.0, 0.0]})
    >>> s = PanelScaler().fit(p, end=2)                # rows 0, 1 of each series
    >>> s.transform(p).target.tolist()
    [-1.0, 1.0, 98.0, -1.0, 1.0, -2.0]
    """

    def __init__(self) -> None:
        self.ids: tuple[Hashable, ...] = ()
        self.columns: tuple[str, ...] = ()
        self.mean: NDArray[np.float64] = np.empty((0, 0))
        self.std: NDArray[np.float64] = np.empty((0, 0))
        self.static_mean: NDArray[np.float64] = np.empty(0)
        self.static_std: NDArray[np.float64] = np.empty(0)

    def fit(self, panel: Panel, end: Any = None) -> PanelScaler:
        """Fit on rows ``[0, end)`` of every series (``end``: one int or one per series;
        default: all rows).

        >>> PanelScaler().fit(Panel.from_arrays({"a": [1.0, 3.0]})).mean.tolist()
        [[2.0]]
        """
        lengths = panel.lengths
        ends = lengths if end is None else np.broadcast_to(np.asarray(end, np.int64),
                                                           lengths.shape)
        if ((ends < 1) | (ends > lengths)).any():
            i = int(np.flatnonzero((ends < 1) | (ends > lengths))[0])
            raise ValueError(f"expected 1..{int(lengths[i])} training rows for series "
                             f"{panel.ids[i]!r}, got {int(ends[i])}")
        data = np.column_stack([panel.target, panel.past, panel.future])  # (N, 1 + P + F)
        mean, std = _segment_stats(data, panel.offsets, ends.astype(np.int64))
        n_cal = 2 * len(panel.calendar)
        if n_cal:
            mean[:, -n_cal:], std[:, -n_cal:] = 0.0, 1.0
        self.ids = panel.ids
        self.columns = (panel.target_name, *panel.past_names, *panel.future_names)
        self.mean, self.std = mean, std
        s_std = panel.static.std(axis=0) if panel.n_series else np.empty(0)
        self.static_mean = panel.static.mean(axis=0) if panel.n_series else np.empty(0)
        self.static_std = np.where(s_std > 0, s_std, 1.0)
        return self

    def _check(self, panel: Panel) -> None:
        if not self.columns:
            raise ValueError("PanelScaler is not fitted: call fit(panel, end) first")
        names = (panel.target_name, *panel.past_names, *panel.future_names)
        if panel.ids != self.ids or names != self.columns:
            raise ValueError(f"expected the series and columns fitted ({len(self.ids)} series, "
                             f"{list(self.columns)}), got {panel.n_series} series, {list(names)}")

    def transform(self, panel: Panel) -> Panel:
        """The panel in scaled units (a new panel; the input is not changed).

        >>> p = Panel.from_arrays({"a": [1.0, 3.0]})
        >>> PanelScaler().fit(p).transform(p).target.tolist()
        [-1.0, 1.0]
        """
        self._check(panel)
        lengths = panel.lengths
        mean = np.repeat(self.mean, lengths, axis=0)  # (N, 1 + P + F)
        std = np.repeat(self.std, lengths, axis=0)
        k = 1 + len(panel.past_names)
        target = (panel.target - mean[:, 0]) / std[:, 0]
        past = (panel.past - mean[:, 1:k]) / std[:, 1:k]
        future = (panel.future - mean[:, k:]) / std[:, k:]
        static = (panel.static - self.static_mean) / self.static_std
        return panel.with_values(target, past, future, static)

    def inverse_target(self, values: Any, series: Any) -> NDArray[np.float64]:
        """Target values in original units: ``values * std + mean`` of each row's series.

        ``values``: ``(n, ...)`` (e.g. ``(n, horizon)`` forecasts or ``(n, horizon, q)``
        quantiles); ``series``: ``(n,)`` series numbers.

        >>> p = Panel.from_arrays({"a": [1.0, 3.0], "b": [10.0, 20.0]})
        >>> s = PanelScaler().fit(p)
        >>> s.inverse_target(np.array([[0.0], [1.0]]), np.array([0, 1])).tolist()
        [[2.0], [20.0]]
        """
        v = np.asarray(values, dtype=np.float64)
        idx = np.asarray(series, dtype=np.int64)
        shape = (len(idx),) + (1,) * (v.ndim - 1)
        return v * self.std[idx, 0].reshape(shape) + self.mean[idx, 0].reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (exact float round trip; ids must be int or str).

        >>> sorted(PanelScaler().fit(Panel.from_arrays({"a": [1.0, 2.0]})).to_dict())[:3]
        ['class', 'columns', 'format_version']
        """
        if not self.columns:
            raise ValueError("PanelScaler is not fitted: call fit(panel, end) first")
        return {
            "class": "PanelScaler", "format_version": _FORMAT_VERSION,
            "ids": list(self.ids), "columns": list(self.columns),
            "mean": self.mean.tolist(), "std": self.std.tolist(),
            "static_mean": self.static_mean.tolist(), "static_std": self.static_std.tolist(),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string.

        >>> s = PanelScaler().fit(Panel.from_arrays({"a": [1.0, 2.0]}))
        >>> PanelScaler.from_json(s.to_json()).std.tolist()
        [[0.5]]
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PanelScaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output (validated).

        >>> s = PanelScaler().fit(Panel.from_arrays({"a": [1.0, 2.0]}))
        >>> PanelScaler.from_dict(s.to_dict()).ids
        ('a',)
        """
        if not isinstance(d, dict) or d.get("class") != "PanelScaler":
            raise ValueError(f"expected a PanelScaler dict, got {str(d)[:80]!r}")
        check_format_version(d, _FORMAT_VERSION)
        ids, columns = d.get("ids"), d.get("columns")
        if not isinstance(ids, list) or not all(
                isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids):
            raise ValueError(f"expected 'ids': a list of int or str, got {str(ids)[:80]}")
        if not isinstance(columns, list) or not columns or not all(
                isinstance(c, str) for c in columns):
            raise ValueError(f"expected 'columns': a list of names, got {columns!r}")
        obj = cls()
        obj.ids, obj.columns = tuple(ids), tuple(columns)
        shapes = {"mean": (len(ids), len(columns)), "std": (len(ids), len(columns))}
        for key in ("mean", "std", "static_mean", "static_std"):
            try:
                arr = np.asarray(d.get(key), dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"expected numbers in {key!r}") from None
            want = shapes.get(key, arr.shape if arr.ndim == 1 else (-1,))
            if arr.shape != want or not np.isfinite(arr).all():
                raise ValueError(f"expected {key!r} finite of shape {want}, got {arr.shape}")
            setattr(obj, key, arr)
        if (obj.std <= 0).any() or (obj.static_std <= 0).any():
            raise ValueError("expected positive 'std' values")
        return obj

    @classmethod
    def from_json(cls, text: str) -> PanelScaler:
        """Rebuild from :meth:`to_json` output.

        >>> PanelScaler.from_json(PanelScaler().fit(Panel.from_arrays({"a": [1.0, 3.0]}))
        ...                       .to_json()).mean.tolist()
        [[2.0]]
        """
        return cls.from_dict(parse_json(text, "a PanelScaler"))
