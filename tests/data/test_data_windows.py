"""make_windows: the seed's example, shapes, views, errors and a property test."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import make_windows, n_windows

# Seed 001: temperature (X1) and humidity (X2) from 25/11/22 to 29/11/22.
SEED_TABLE = [[6, 92], [9, 85], [7, 88], [8, 91], [6, 89]]
SEED_X = [
    [[6, 92], [9, 85], [7, 88]],
    [[9, 85], [7, 88], [8, 91]],
    [[7, 88], [8, 91], [6, 89]],
]


def test_seed_001_sequence_length_3_gives_the_seeds_X_exactly() -> None:
    X = make_windows(np.array(SEED_TABLE), 3, target=None)
    assert X.shape == (3, 3, 2)
    assert X.tolist() == SEED_X


def test_seed_001_from_a_dataframe_with_dates() -> None:
    df = pd.DataFrame(
        SEED_TABLE,
        columns=["temperature", "humidity"],
        index=pd.to_datetime(["2022-11-25", "2022-11-26", "2022-11-27", "2022-11-28",
                              "2022-11-29"]),
    )
    X = make_windows(df, window=3, target=None)
    np.testing.assert_array_equal(X, np.array(SEED_X))
    # labelled: tomorrow's temperature from 3 days of both features
    X, y = make_windows(df, 3, target="temperature")
    assert X.tolist() == SEED_X[:2]
    assert y.tolist() == [8, 6]


def test_seed_001_today_to_tomorrow_table() -> None:
    # "Today's temperature -> tomorrow's temperature": 6->9, 9->7, 7->8 (8 has no label).
    X, y = make_windows(np.array([6, 9, 7, 8]), window=1)
    assert X[:, 0, 0].tolist() == [6, 9, 7]
    assert y.tolist() == [9, 7, 8]


def test_seed_003_energy_33_days_to_next_day() -> None:
    load = np.arange(100.0)
    X, y = make_windows(load, window=33)
    assert X.shape == (67, 33, 1) and y.shape == (67,)
    assert X[0, -1, 0] == 32.0 and y[0] == 33.0
    assert X[-1, -1, 0] == 98.0 and y[-1] == 99.0


def test_shapes_for_targets_and_horizons() -> None:
    s = np.arange(40.0).reshape(20, 2)
    X, y = make_windows(s, 4)
    assert X.shape == (16, 4, 2) and y.shape == (16, 2)
    X, y = make_windows(s, 4, horizon=3)
    assert y.shape == (14, 3, 2)
    X, y = make_windows(s, 4, horizon=3, target=1)
    assert y.shape == (14, 3)
    assert y[0].tolist() == [9.0, 11.0, 13.0]
    X, y = make_windows(s, 4, target=[1])
    assert y.shape == (16, 1)
    X, y = make_windows(s, 4, target=1, features=[0])
    assert X.shape == (16, 4, 1) and X[0, :, 0].tolist() == [0.0, 2.0, 4.0, 6.0]
    # univariate (T,) vs (T, 1): the feature axis of y is dropped only for 1-D input
    assert make_windows(np.arange(10.0), 3)[1].shape == (7,)
    assert make_windows(np.arange(10.0).reshape(-1, 1), 3)[1].shape == (7, 1)


def test_dataframe_column_names_and_order() -> None:
    df = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) * 10, "c": -np.arange(10.0)})
    X, y = make_windows(df, 2, target=["c", "a"], features=["b", "c"])
    assert X[0].tolist() == [[0.0, 0.0], [10.0, -1.0]]
    assert y[0].tolist() == [-2.0, 2.0]


def test_sampling_rate_stride_and_gap() -> None:
    s = np.arange(30)
    X, y = make_windows(s, 3, horizon=2, stride=4, sampling_rate=2, gap=1)
    # window rows 0,2,4; skip row 6 (gap); targets rows 8, 10
    assert X[0, :, 0].tolist() == [0, 2, 4]
    assert y[0].tolist() == [8, 10]
    assert X[1, :, 0].tolist() == [4, 6, 8]
    assert len(X) == n_windows(30, 3, 2, 4, sampling_rate=2, gap=1) == 5
    assert y[-1].tolist() == [24, 26]


def test_windows_are_read_only_views() -> None:
    s = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    X, y = make_windows(s, 50, horizon=5, target=[0, 1])
    assert np.shares_memory(X, s) and np.shares_memory(y, s)
    assert not X.flags.writeable
    with pytest.raises(ValueError):
        X[0, 0, 0] = 1.0
    assert X.dtype == np.float32
    # a batch copied out is writable and contiguous
    batch = np.array(X[:8])
    assert batch.flags.writeable and batch.flags.c_contiguous


def test_long_series_windowing_does_not_multiply_memory() -> None:
    series = np.zeros(10_000_000, dtype=np.float32)  # 40 MB
    tracemalloc.start()
    try:
        X, y = make_windows(series, window=100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert X.shape == (9_999_900, 100, 1)
    copy_bytes = X.shape[0] * 100 * 4  # ~4 GB if it were materialised
    assert peak < 4 * 2**20, peak  # a few MB: block-wise finiteness check only
    assert peak < copy_bytes / 1000


def test_dtype_cast_is_done_once() -> None:
    X, y = make_windows(np.arange(10), 3, dtype="float32")
    assert X.dtype == np.float32 and y.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 5}, "at least 6 rows for window=5 + gap=0 + horizon=1, got 5 rows"),
        ({"window": 3, "horizon": 3}, "at least 6 rows"),
        ({"window": 6, "target": None}, "at least 6 rows for window=6, got 5"),
        ({"window": 0}, "expected window to be an integer >= 1, got 0"),
        ({"window": 2, "stride": 0}, "expected stride to be an integer >= 1, got 0"),
        ({"window": 2, "target": 5}, "expected target column indices in [0, 2), got 5"),
        ({"window": 2, "target": "temp"}, "names work only with a pandas DataFrame"),
        ({"window": 2, "target": [0, 0]}, "expected distinct target columns"),
    ],
)
def test_errors_name_the_problem(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_windows(np.array(SEED_TABLE, dtype=float), **kwargs)


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="expected window to be an integer >= 1, got 2.5"):
        make_windows(np.arange(10.0), 2.5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="expected series to be a numpy array"):
        make_windows({"a": 1}, 2)
    with pytest.raises(TypeError, match="expected window to be an integer"):
        make_windows(np.arange(10.0), True)


def test_nan_and_non_numeric_columns_are_named() -> None:
    s = np.arange(20.0).reshape(10, 2)
    s[7, 1] = np.nan
    with pytest.raises(ValueError, match="got nan at row 7, column 1"):
        make_windows(s, 3)
    df = pd.DataFrame({"temp": np.arange(5.0), "city": list("abcde")})
    with pytest.raises(ValueError, match="got column 'city' of dtype"):
        make_windows(df, 2)
    df = pd.DataFrame({"temp": [1.0, np.inf, 3.0, 4.0]})
    with pytest.raises(ValueError, match="got inf at row 1, column 'temp'"):
        make_windows(df, 2)
    X, _ = make_windows(df, 2, check_finite=False)  # opt-out: values pass through
    assert np.isinf(X[0, 1, 0])
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        make_windows(np.zeros((2, 3, 4)), 1)


def test_nullable_pandas_dtypes_are_numeric_and_na_is_caught() -> None:
    df = pd.DataFrame({"a": pd.array([1, 2, 3, 4], dtype="Int64"),
                       "b": pd.array([0.5, 1.5, 2.5, 3.5], dtype="Float64")})
    X, y = make_windows(df, 2, target="a")
    assert X.dtype == np.float64 and y.tolist() == [3.0, 4.0]
    df.loc[2, "b"] = pd.NA
    with pytest.raises(ValueError, match="got nan at row 2, column 'b'"):
        make_windows(df, 2)


def _brute_force(series, window, horizon, stride, rate, gap, target, features):
    arr = np.asarray(series)
    was_1d = arr.ndim == 1
    arr = arr.reshape(len(arr), -1)
    feats = list(range(arr.shape[1])) if features is None else list(features)
    labelled = target is not None
    span = ((window - 1 + (gap + horizon if labelled else 0)) * rate) + 1
    xs, ys = [], []
    start = 0
    while start + span <= len(arr):
        xs.append([[arr[start + s * rate, f] for f in feats] for s in range(window)])
        if labelled:
            cols = [target] if np.isscalar(target) else list(target)
            last = start + (window - 1) * rate
            ys.append([[arr[last + (gap + 1 + j) * rate, c] for c in cols]
                       for j in range(horizon)])
        start += stride
    X = np.array(xs).reshape(len(xs), window, len(feats))
    if not labelled:
        return X, None
    cols = [target] if np.isscalar(target) else list(target)
    Y = np.array(ys).reshape(len(ys), horizon, len(cols))
    if np.isscalar(target) or was_1d:
        Y = Y[:, :, 0]
        if horizon == 1:
            Y = Y[:, 0]
    elif horizon == 1:
        Y = Y[:, 0, :]
    return X, Y


@st.composite
def window_cases(draw):
    n_feat = draw(st.integers(0, 3))  # 0 means a 1-D series
    window = draw(st.integers(1, 6))
    horizon = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 5))
    rate = draw(st.integers(1, 3))
    gap = draw(st.integers(0, 2))
    labelled = draw(st.booleans())
    span = (window - 1 + (gap + horizon if labelled else 0)) * rate + 1
    length = draw(st.integers(span, span + 40))
    width = max(n_feat, 1)
    if not labelled:
        target = None
    elif n_feat == 0:
        target = "all"
    else:
        target = draw(st.one_of(
            st.just("all"),
            st.integers(0, width - 1),
            st.lists(st.integers(0, width - 1), min_size=1, max_size=width, unique=True),
        ))
    features = None if n_feat == 0 else draw(st.one_of(
        st.none(), st.lists(st.integers(0, width - 1), min_size=1, max_size=width, unique=True)
    ))
    return n_feat, length, window, horizon, stride, rate, gap, target, features


@settings(max_examples=300, deadline=None)
@given(window_cases())
def test_property_matches_brute_force(case) -> None:
    n_feat, length, window, horizon, stride, rate, gap, target, features = case
    shape = (length,) if n_feat == 0 else (length, n_feat)
    series = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 1.5 - 7
    ref_target = target
    if target == "all":
        ref_target = 0 if n_feat == 0 else list(range(n_feat))
    if n_feat == 0 and target == "all":
        ref_target = [0]
    X_ref, y_ref = _brute_force(series, window, horizon, stride, rate, gap, ref_target,
                                features)
    out = make_windows(series, window, horizon, stride, target=target, features=features,
                       sampling_rate=rate, gap=gap)
    assert n_windows(length, window, horizon, stride, sampling_rate=rate, gap=gap,
                     labelled=target is not None) == len(X_ref)
    if target is None:
        np.testing.assert_array_equal(out, X_ref)
        return
    X, y = out
    np.testing.assert_array_equal(X, X_ref)
    assert y.shape == y_ref.shape
    np.testing.assert_array_equal(y, y_ref)
