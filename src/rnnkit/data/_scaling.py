"""Per-feature scalers fitted on the training part only, serialisable to JSON.

Both scalers are affine maps applied to the last axis (the features):

* :class:`StandardScaler`: ``z = (x - mean) / std`` with the population standard deviation
  (``ddof=0``); a constant feature gets ``std = 1``, so it maps to 0.
* :class:`MinMaxScaler`: ``z = lo + (x - min) * (hi - lo) / (max - min)`` for
  ``feature_range=(lo, hi)``; a constant feature gets ``max - min = 1``.

Fit on the training rows only (see :func:`rnnkit.data.windowed_split`), then transform
train, validation and test with the same parameters: no statistic of the held-out rows
leaks into training. ``to_dict``/``to_json`` save the fitted parameters exactly (floats
round-trip through JSON), so a scaler is stored with a model and restored with
:func:`scaler_from_dict` / :func:`scaler_from_json`.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._checks import check_finite, check_format_version, parse_json, resolve_columns

__all__ = ["MinMaxScaler", "StandardScaler", "scaler_from_dict", "scaler_from_json"]

_FORMAT_VERSION = 1
S = TypeVar("S", bound="_Scaler")


def _values(data: Any) -> tuple[NDArray[Any], list[str] | None]:
    """Numeric array of ``data`` (any shape) plus column names for a DataFrame."""
    if isinstance(data, pd.DataFrame):
        for c in data.columns:
            if not pd.api.types.is_numeric_dtype(data[c].dtype):
                raise ValueError(
                    f"expected numeric columns, got column {str(c)!r} of dtype {data[c].dtype}; "
                    "drop or encode it before scaling"
                )
        values = data.to_numpy()
        if values.dtype == object:  # nullable extension dtypes (pd.NA)
            values = data.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, [str(c) for c in data.columns]
    if isinstance(data, pd.Series):
        values = data.to_numpy()
        if values.dtype == object:
            values = data.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, None
    arr = np.asarray(data)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(
        arr
    ):
        raise ValueError(f"expected real numbers, got an array of dtype {arr.dtype}")
    return arr, None


def _step_mask(mask: Any, arr: NDArray[Any]) -> NDArray[np.bool_]:
    """``mask`` as bool ``(n, T)`` for ``arr`` of shape ``(n, T, F)``."""
    m = np.asarray(mask)
    if arr.ndim != 3 or m.shape != arr.shape[:2] or m.dtype.kind not in "bui":
        raise ValueError(f"expected a boolean mask (samples, timesteps) for data (samples, "
                         f"timesteps, features), got mask shape {m.shape} for data shape "
                         f"{arr.shape}")
    return m.astype(bool)


def _float(arr: NDArray[Any]) -> NDArray[Any]:
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


class _Scaler(abc.ABC):
    """Shared machinery: feature bookkeeping, shape handling and (de)serialisation."""

    _params: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.n_features: int | None = None
        self.feature_names: list[str] | None = None

    # -- subclass hooks -------------------------------------------------------------------
    @abc.abstractmethod
    def _fit_params(self, x: NDArray[np.float64]) -> None:  # x: (rows, F) float64
        """Implemented by each subclass."""

    @abc.abstractmethod
    def _affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(a, b)`` with ``z = (x - a) * b``."""

    def _extra_dict(self) -> dict[str, Any]:
        return {}

    # -- fitting --------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the parameters."""
        return self.n_features is not None

    def fit(self: S, data: Any, mask: Any = None) -> S:
        """Fit per-feature parameters on ``data`` (the training part only).

        ``data`` has shape ``(T,)`` (one feature), ``(T, F)``, ``(n, T, F)`` (rows of all
        leading axes are pooled) or is a DataFrame/Series. NaN/Inf raise ``ValueError``.
        For padded sequences pass ``mask`` (``(n, T)``, ``True`` on real steps): only the
        real steps are fitted on, whatever the padding holds.

        >>> StandardScaler().fit(np.array([[1.0, 10.0], [3.0, 30.0]])).mean.tolist()
        [2.0, 20.0]
        >>> padded = np.array([[[1.0], [3.0], [0.0]]])
        >>> StandardScaler().fit(padded, mask=[[True, True, False]]).mean.tolist()
        [2.0]
        """
        arr, names = _values(data)
        if mask is not None:
            arr = arr[_step_mask(mask, arr)]  # (real steps, F)
        if arr.ndim == 0 or arr.size == 0:
            raise ValueError(f"expected at least one value to fit on, got shape {arr.shape}")
        x = arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(-1, arr.shape[-1])
        check_finite(_float(x), names, name="the data to fit")
        self.n_features = x.shape[1]
        self.feature_names = names
        self._fit_params(x.astype(np.float64))
        return self

    def _require_fitted(self) -> int:
        if self.n_features is None:
            raise ValueError(
                f"{type(self).__name__} is not fitted: call fit(train) or from_dict(...) first"
            )
        return self.n_features

    # -- transforming ---------------------------------------------------------------------
    def _apply(self, data: Any, inverse: bool) -> Any:
        n_feat = self._require_fitted()
        arr, names = _values(data)
        if names is not None and self.feature_names is not None and names != self.feature_names:
            raise ValueError(
                f"expected columns {self.feature_names} (as fitted), got {names}; "
                "reorder the DataFrame or use select(...)"
            )
        if n_feat != 1 and (arr.ndim == 0 or arr.shape[-1] != n_feat):
            raise ValueError(
                f"expected an array whose last axis holds the {n_feat} fitted features, "
                f"got shape {arr.shape}; use select(columns) for a subset"
            )
        x = _float(arr)
        a, b = self._affine()
        a_t, b_t = a.astype(x.dtype), b.astype(x.dtype)
        if n_feat == 1:  # one feature: element-wise, any shape (e.g. (n,), (n, horizon))
            a_t, b_t = a_t.reshape(()), b_t.reshape(())
        out = x / b_t + a_t if inverse else (x - a_t) * b_t
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(out, index=data.index, columns=data.columns)
        if isinstance(data, pd.Series):
            return pd.Series(out, index=data.index, name=data.name)
        return out

    def transform(self, data: Any, mask: Any = None) -> Any:
        """Scale ``data`` (same shape and type back; ints become float64).

        The last axis must hold the fitted features, except for a one-feature scaler,
        which scales every element (so targets of shape ``(n,)`` or ``(n, horizon)`` work).
        With ``mask`` (``(n, T)`` for ``(n, T, F)`` padded sequences) the padding steps come
        back as zeros, never as scaled values.

        >>> s = MinMaxScaler().fit(np.array([0.0, 5.0, 10.0]))
        >>> s.transform(np.array([5.0, 20.0])).tolist()
        [0.5, 2.0]
        >>> s.transform(np.array([[[5.0], [np.nan]]]), mask=[[True, False]]).tolist()
        [[[0.5], [0.0]]]
        """
        if mask is None:
            return self._apply(data, inverse=False)
        arr, _ = _values(data)
        keep = _step_mask(mask, arr)
        filled = np.where(keep[..., None], arr, 0.0)  # (n, T, F): NaN padding gone
        return np.where(keep[..., None], self._apply(filled, inverse=False), 0.0)

    def inverse_transform(self, data: Any) -> Any:
        """Map scaled values back to the original units (inverse of :meth:`transform`).

        >>> s = StandardScaler().fit(np.array([1.0, 3.0]))
        >>> s.inverse_transform(s.transform(np.array([2.5]))).tolist()
        [2.5]
        """
        return self._apply(data, inverse=True)

    def fit_transform(self, data: Any, mask: Any = None) -> Any:
        """``fit(data, mask)`` then ``transform(data, mask)``; only for the training part.

        >>> StandardScaler().fit_transform(np.array([1.0, 3.0])).tolist()
        [-1.0, 1.0]
        """
        return self.fit(data, mask).transform(data, mask)

    def select(self: S, columns: str | int | Sequence[str] | Sequence[int]) -> S:
        """A scaler for a subset of the fitted features, e.g. to invert predicted targets.

        >>> s = StandardScaler().fit(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> s.select(1).inverse_transform(np.array([0.0, 1.0])).tolist()
        [20.0, 30.0]
        """
        n_feat = self._require_fitted()
        idx, _ = resolve_columns(columns, self.feature_names, n_feat, "columns")
        d = self.to_dict()
        for key in self._params:
            d[key] = [d[key][j] for j in idx]
        d["n_features"] = len(idx)
        if self.feature_names is not None:
            d["feature_names"] = [self.feature_names[j] for j in idx]
        return type(self).from_dict(d)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fitted parameters (exact float round trip).

        >>> sorted(StandardScaler().fit(np.array([1.0, 3.0])).to_dict())
        ['class', 'feature_names', 'format_version', 'mean', 'n_features', 'std']
        """
        n_feat = self._require_fitted()
        d: dict[str, Any] = {
            "class": type(self).__name__,
            "format_version": _FORMAT_VERSION,
            "n_features": n_feat,
            "feature_names": self.feature_names,
        }
        d.update(self._extra_dict())
        for key in self._params:
            d[key] = [float(v) for v in getattr(self, key)]
        return d

    def to_json(self) -> str:
        """The :meth:`to_dict` parameters as a JSON string.

        >>> s = StandardScaler().fit(np.array([1.0, 3.0]))
        >>> StandardScaler.from_json(s.to_json()).mean.tolist()
        [2.0]
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls: type[S], d: dict[str, Any]) -> S:
        """Rebuild a fitted scaler from :meth:`to_dict` output (validated).

        >>> s = MinMaxScaler.from_dict(MinMaxScaler().fit(np.array([2.0, 4.0])).to_dict())
        >>> s.transform(np.array([3.0])).tolist()
        [0.5]
        """
        if not isinstance(d, dict):
            raise TypeError(f"expected a dict, got {type(d).__name__}")
        if d.get("class") != cls.__name__:
            raise ValueError(f"expected class {cls.__name__!r}, got {d.get('class')!r}")
        check_format_version(d, _FORMAT_VERSION)
        n_feat = d.get("n_features")
        if isinstance(n_feat, bool) or not isinstance(n_feat, int) or n_feat < 1:
            raise ValueError(f"expected n_features to be a positive int, got {n_feat!r}")
        obj = cls._from_extra(d)
        names = d.get("feature_names")
        if names is not None and (
            not isinstance(names, list) or len(names) != n_feat
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(f"expected feature_names: {n_feat} strings or null, got {names!r}")
        for key in cls._params:
            vals = d.get(key)
            if not isinstance(vals, list) or len(vals) != n_feat:
                raise ValueError(f"expected {key!r}: a list of {n_feat} numbers, got {vals!r}")
            arr = np.asarray(vals, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise ValueError(f"expected finite numbers in {key!r}, got {vals!r}")
            setattr(obj, key, arr)
        obj.n_features = n_feat
        obj.feature_names = list(names) if names is not None else None
        obj._check_params()
        return obj

    @classmethod
    def from_json(cls: type[S], text: str) -> S:
        """Rebuild a fitted scaler from :meth:`to_json` output.

        >>> MinMaxScaler.from_json(MinMaxScaler().fit(np.array([2.0, 4.0])).to_json()).n_features
        1
        """
        return cls.from_dict(parse_json(text, f"a {cls.__name__}"))

    @classmethod
    def _from_extra(cls: type[S], d: dict[str, Any]) -> S:
        return cls()

    def _check_params(self) -> None:  # noqa: B027 - an optional hook
        pass

    def __repr__(self) -> str:
        state = f"n_features={self.n_features}" if self.fitted else "unfitted"
        return f"{type(self).__name__}({state})"


class StandardScaler(_Scaler):
    """Standardise each feature: ``z = (x - mean) / std`` (``std`` with ``ddof=0``).

    Attributes (after fit): ``mean``, ``std`` (float64, shape ``(F,)``), ``n_features``,
    ``feature_names`` (DataFrame columns or ``None``).

    >>> train = np.array([[1.0, 100.0], [2.0, 200.0], [3.0, 300.0]])
    >>> s = StandardScaler().fit(train)
    >>> s.transform(np.array([[2.0, 400.0]])).round(4).tolist()
    [[0.0, 2.4495]]
    """

    _params = ("mean", "std")

    def __init__(self) -> None:
        super().__init__()
        self.mean: NDArray[np.float64] = np.empty(0)
        self.std: NDArray[np.float64] = np.empty(0)

    def _fit_params(self, x: NDArray[np.float64]) -> None:
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)

    def _check_params(self) -> None:  # noqa: B027 - an optional hook
        if (self.std <= 0).any():
            raise ValueError(f"expected positive 'std' values, got {self.std.tolist()}")

    def _affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return self.mean, 1.0 / self.std


class MinMaxScaler(_Scaler):
    """Rescale each feature linearly so the training range maps to ``feature_range``.

    ``z = lo + (x - data_min) * (hi - lo) / (data_max - data_min)``; values outside the
    training range map outside ``feature_range`` (never clipped).

    >>> s = MinMaxScaler(feature_range=(-1.0, 1.0)).fit(np.array([[0.0], [4.0]]))
    >>> s.transform(np.array([[1.0], [4.0]])).tolist()
    [[-0.5], [1.0]]
    """

    _params = ("data_min", "data_max")

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise TypeError(
                f"expected feature_range to be two numbers (lo, hi), got {feature_range!r}"
            ) from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"expected feature_range with lo < hi, got {feature_range!r}")
        self.feature_range = (lo, hi)
        self.data_min: NDArray[np.float64] = np.empty(0)
        self.data_max: NDArray[np.float64] = np.empty(0)

    def _fit_params(self, x: NDArray[np.float64]) -> None:
        self.data_min = x.min(axis=0)
        self.data_max = x.max(axis=0)

    def _check_params(self) -> None:  # noqa: B027 - an optional hook
        if (self.data_max < self.data_min).any():
            raise ValueError("expected data_max >= data_min for every feature")

    def _affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = self.feature_range
        rng = self.data_max - self.data_min
        rng = np.where(rng > 0, rng, 1.0)
        b = (hi - lo) / rng
        return self.data_min - lo / b, b

    def _extra_dict(self) -> dict[str, Any]:
        return {"feature_range": list(self.feature_range)}

    @classmethod
    def _from_extra(cls, d: dict[str, Any]) -> MinMaxScaler:
        fr = d.get("feature_range")
        if not isinstance(fr, list) or len(fr) != 2:
            raise ValueError(f"expected 'feature_range': [lo, hi], got {fr!r}")
        return cls(feature_range=(fr[0], fr[1]))


_SCALERS: dict[str, type[_Scaler]] = {"StandardScaler": StandardScaler,
                                     "MinMaxScaler": MinMaxScaler}


def scaler_from_dict(d: dict[str, Any]) -> StandardScaler | MinMaxScaler:
    """Rebuild whichever scaler ``d`` describes (dispatch on its ``"class"`` key).

    >>> scaler_from_dict(StandardScaler().fit(np.array([1.0, 2.0])).to_dict())
    StandardScaler(n_features=1)
    """
    if not isinstance(d, dict):
        raise TypeError(f"expected a dict, got {type(d).__name__}")
    name = d.get("class")
    if name not in _SCALERS:
        raise ValueError(f"expected 'class' to be one of {sorted(_SCALERS)}, got {name!r}")
    return _SCALERS[name].from_dict(d)  # type: ignore[return-value]


def scaler_from_json(text: str) -> StandardScaler | MinMaxScaler:
    """Rebuild whichever scaler a JSON string from ``to_json`` describes.

    >>> scaler_from_json(MinMaxScaler().fit(np.array([1.0, 2.0])).to_json())
    MinMaxScaler(n_features=1)
    """
    return scaler_from_dict(parse_json(text, "a scaler"))
