"""A validated panel: many time series of one target, with their covariates, stored flat.

Every series' rows are consecutive in flat arrays, series after series (in the order the
series first appear in the input), time increasing within a series:

    series i  =  rows offsets[i] : offsets[i + 1]          lengths[i] = offsets[i+1] - offsets[i]

so a window is just ``(series, start)`` (see :mod:`rnnkit.data._panel_windows`): no window
is ever materialised until a batch is gathered, and no window can reach into the next
series. Built by :func:`rnnkit.data.make_panel`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Panel"]


@dataclass(frozen=True, eq=False)
class Panel:
    """Many series of one target with past, future and static covariates (validated).

    Attributes (``N`` rows in all, ``n`` series, ``P``/``F`` past/future covariates,
    ``S`` numeric and ``C`` categorical static covariates):
        ids: the ``n`` series ids (``int`` or ``str``), in order of first appearance.
        offsets: int64 ``(n + 1,)``: series ``i`` is rows ``offsets[i]:offsets[i + 1]``.
        time: ``pd.Index`` ``(N,)``: timestamps (``DatetimeIndex``) or integer positions.
        target: float64 ``(N,)``.
        past: float64 ``(N, P)``: covariates known up to the forecast origin.
        future: float64 ``(N, F)``: covariates known over the horizon too (calendar
            features last, see ``calendar``).
        static: float64 ``(n, S)``: one value per series.
        static_codes: int64 ``(n, C)``: categorical static covariates as codes into
            ``categories[name]``.
        target_name, past_names, future_names, static_names, categorical_names: column names.
        categories: ``{categorical name: tuple of its values}``.
        freq: the shared frequency of the series (a pandas offset) or ``None``.
        calendar: calendar features (``"hour"``, ``"dayofweek"``, ``"month"``) whose
            ``_sin``/``_cos`` columns end ``future``; they are computed for future times,
            never asked of the user.

    >>> p = Panel.from_arrays({"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0]})
    >>> p.n_series, p.lengths.tolist(), p.values_of("b").tolist()
    (2, [3, 2], [5.0, 6.0])
    """

    ids: tuple[Hashable, ...]
    offsets: NDArray[np.int64]
    time: pd.Index
    target: NDArray[np.float64]
    past: NDArray[np.float64]
    future: NDArray[np.float64]
    static: NDArray[np.float64]
    static_codes: NDArray[np.int64]
    target_name: str = "y"
    past_names: tuple[str, ...] = ()
    future_names: tuple[str, ...] = ()
    static_names: tuple[str, ...] = ()
    categorical_names: tuple[str, ...] = ()
    categories: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    freq: Any = None
    calendar: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n, rows = len(self.ids), len(self.target)
        shapes = {
            "offsets": (self.offsets.shape, (n + 1,)),
            "time": ((len(self.time),), (rows,)),
            "past": (self.past.shape, (rows, len(self.past_names))),
            "future": (self.future.shape, (rows, len(self.future_names))),
            "static": (self.static.shape, (n, len(self.static_names))),
            "static_codes": (self.static_codes.shape, (n, len(self.categorical_names))),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"expected {name} of shape {want}, got {got}")
        if n and (self.offsets[0] != 0 or self.offsets[-1] != rows
                  or (np.diff(self.offsets) < 1).any()):
            raise ValueError(f"expected offsets from 0 to {rows}, increasing, got {self.offsets}")

    @classmethod
    def from_arrays(cls, series: Mapping[Hashable, Any], name: str = "y") -> Panel:
        """A panel of target values only, integer time ``0 .. len - 1`` per series.

        >>> Panel.from_arrays({"x": np.arange(3.0)}).time.tolist()
        [0, 1, 2]
        """
        values = [np.asarray(v, dtype=np.float64).reshape(-1) for v in series.values()]
        lengths = np.array([len(v) for v in values], dtype=np.int64)
        rows = int(lengths.sum())
        return cls(
            ids=tuple(series), offsets=np.concatenate([[0], np.cumsum(lengths)]),
            time=pd.Index(np.concatenate([np.arange(k) for k in lengths])),
            target=np.concatenate(values) if values else np.empty(0),
            past=np.empty((rows, 0)), future=np.empty((rows, 0)),
            static=np.empty((len(values), 0)), static_codes=np.empty((len(values), 0), np.int64),
            target_name=name,
        )

    # -- shape ----------------------------------------------------------------------------
    @property
    def n_series(self) -> int:
        """Number of series.

        >>> Panel.from_arrays({"a": [1.0, 2.0]}).n_series
        1
        """
        return len(self.ids)

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Rows per series, int64 ``(n,)``.

        >>> Panel.from_arrays({"a": [1.0, 2.0], "b": [3.0]}).lengths.tolist()
        [2, 1]
        """
        return np.diff(self.offsets)

    @property
    def series_of_row(self) -> NDArray[np.int64]:
        """Series number of every flat row, int64 ``(N,)``.

        >>> Panel.from_arrays({"a": [1.0, 2.0], "b": [3.0]}).series_of_row.tolist()
        [0, 0, 1]
        """
        return np.repeat(np.arange(self.n_series, dtype=np.int64), self.lengths)

    def position(self, series_id: Hashable) -> int:
        """Number ``i`` of the series called ``series_id`` (``ValueError`` if unknown).

        >>> Panel.from_arrays({"a": [1.0], "b": [2.0]}).position("b")
        1
        """
        try:
            return self.ids.index(series_id)
        except ValueError:
            shown = list(self.ids[:10])
            raise ValueError(f"expected a series id from {shown}"
                             f"{' ...' if self.n_series > 10 else ''}, got {series_id!r}") from None

    def rows(self, i: int) -> slice:
        """The flat rows of series number ``i``.

        >>> Panel.from_arrays({"a": [1.0, 2.0], "b": [3.0]}).rows(1)
        slice(2, 3, None)
        """
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def values_of(self, series_id: Hashable) -> NDArray[np.float64]:
        """Target values of one series (a view), float64 ``(length,)``.

        >>> Panel.from_arrays({"a": [1.0, 2.0]}).values_of("a").tolist()
        [1.0, 2.0]
        """
        return self.target[self.rows(self.position(series_id))]

    def times_of(self, series_id: Hashable) -> pd.Index:
        """Timestamps (or integer positions) of one series.

        >>> Panel.from_arrays({"a": [1.0, 2.0]}).times_of("a").tolist()
        [0, 1]
        """
        return self.time[self.rows(self.position(series_id))]

    def frame(self, series_id: Hashable) -> pd.DataFrame:
        """One series as a DataFrame indexed by time: target, past then future covariates.

        >>> Panel.from_arrays({"a": [1.0, 2.0]}).frame("a")["y"].tolist()
        [1.0, 2.0]
        """
        r = self.rows(self.position(series_id))
        data = np.column_stack([self.target[r], self.past[r], self.future[r]])  # (T, 1+P+F)
        names = [self.target_name, *self.past_names, *self.future_names]
        return pd.DataFrame(data, index=self.time[r], columns=names)

    def last_times(self) -> pd.Index:
        """The last timestamp (or position) of every series, ``(n,)``.

        >>> Panel.from_arrays({"a": [1.0, 2.0], "b": [3.0]}).last_times().tolist()
        [1, 0]
        """
        return self.time[self.offsets[1:] - 1]

    def with_values(self, target: NDArray[np.float64], past: NDArray[np.float64],
                    future: NDArray[np.float64], static: NDArray[np.float64]) -> Panel:
        """The same panel with new values (e.g. scaled), checked against the old shapes.

        >>> p = Panel.from_arrays({"a": [1.0, 2.0]})
        >>> p.with_values(p.target * 2, p.past, p.future, p.static).target.tolist()
        [2.0, 4.0]
        """
        return replace(self, target=target, past=past, future=future, static=static)

    def __repr__(self) -> str:
        lengths = self.lengths
        span = f"{int(lengths.min())}-{int(lengths.max())}" if self.n_series else "0"
        return (
            f"Panel(series={self.n_series}, rows={len(self.target)}, lengths={span}, "
            f"past={len(self.past_names)}, future={len(self.future_names)}, "
            f"static={len(self.static_names) + len(self.categorical_names)}, freq="
            f"{getattr(self.freq, 'freqstr', self.freq)})"
        )
