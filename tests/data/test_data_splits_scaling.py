"""Chronological splits (no window crosses a boundary) and scalers (train-only, JSON)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import (
    MinMaxScaler,
    StandardScaler,
    chronological_split,
    scaler_from_dict,
    scaler_from_json,
    windowed_split,
)


def test_chronological_split_sizes_and_order() -> None:
    parts = chronological_split(np.arange(100), val=0.15, test=0.2)
    assert [len(p) for p in parts] == [65, 15, 20]
    assert parts.train[-1] + 1 == parts.val[0] and parts.val[-1] + 1 == parts.test[0]
    df = pd.DataFrame({"x": range(10)}, index=pd.date_range("2020-01-01", periods=10))
    tr, va, te = chronological_split(df, val=0.2, test=0.0)
    assert len(tr) == 8 and len(va) == 2 and len(te) == 0
    assert tr.index.max() < va.index.min()


@pytest.mark.parametrize(
    ("val", "test", "error", "message"),
    [
        (1.0, 0.0, ValueError, "expected val to be a fraction in [0, 1), got 1.0"),
        (0.6, 0.5, ValueError, "expected val + test < 1 leaving training rows"),
        (-0.1, 0.1, ValueError, "expected val to be a fraction in [0, 1), got -0.1"),
        ("0.1", 0.1, TypeError, "expected val to be a fraction in [0, 1), got '0.1'"),
    ],
)
def test_chronological_split_errors(val, test, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        chronological_split(np.arange(10), val=val, test=test)


def test_windowed_split_no_window_crosses_a_boundary() -> None:
    # Each value is its own row number, so window contents reveal the rows they came from.
    rows = np.arange(200, dtype=np.float64)
    series = np.stack([rows, rows], axis=1)
    ws = windowed_split(series, window=7, horizon=3, stride=2, val=0.2, test=0.25, dtype=None)
    bounds = {"train": (0, 110), "val": (110, 150), "test": (150, 200)}
    for name, (lo, hi) in bounds.items():
        X, y = getattr(ws, name)
        assert len(X) > 0
        assert X.min() >= lo and X.max() < hi, name
        assert y.min() >= lo and y.max() < hi, name
        # every window's target follows its inputs directly
        np.testing.assert_array_equal(y[:, 0, 0], X[:, -1, 0] + 1)


def test_windowed_split_scaler_sees_only_training_rows() -> None:
    train_like = np.linspace(0.0, 1.0, 80)
    leak = np.full(20, 1e6)  # huge values in validation/test must not move the statistics
    series = np.concatenate([train_like, leak])
    for scaler in (StandardScaler(), MinMaxScaler()):
        ws = windowed_split(series, window=4, val=0.1, test=0.1, scaler=scaler)
        ref = type(scaler)().fit(train_like)
        assert ws.scaler is scaler
        np.testing.assert_allclose(scaler.to_dict()[scaler._params[0]],
                                   ref.to_dict()[ref._params[0]])
        assert ws.train[0].dtype == np.float32
        if isinstance(scaler, MinMaxScaler):
            assert 0.0 <= ws.train[0].min() and ws.train[0].max() <= 1.0 + 1e-6
        assert ws.test[0].max() > 1000  # test rows scaled with training statistics


def test_windowed_split_empty_part_and_too_short_part() -> None:
    ws = windowed_split(np.arange(50.0), window=5, val=0.2, test=0.0)
    assert ws.test[0].shape == (0, 5, 1) and ws.test[1].shape == (0,)
    with pytest.raises(ValueError, match=re.escape(
        "expected the test part (5 rows) to hold at least one window of window=5 + gap=0 + "
        "horizon=1 steps")):
        windowed_split(np.arange(50.0), window=5, val=0.2, test=0.1)


def test_windowed_split_on_dataframe_with_named_target() -> None:
    df = pd.DataFrame({"t": np.arange(100.0), "h": np.arange(100.0) * 2})
    ws = windowed_split(df, window=10, target="t", scaler=StandardScaler())
    X, y = ws.val
    assert X.shape[1:] == (10, 2) and y.ndim == 1
    back = ws.scaler.select("t").inverse_transform(y)
    np.testing.assert_allclose(back, np.arange(70 + 10, 85), rtol=1e-5)


def test_standard_scaler_per_feature_and_inverse() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -3.0, 100.0], [2.0, 0.1, 30.0], size=(500, 3))
    s = StandardScaler().fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(z), x, rtol=1e-12)
    # 3-D windows: the last axis is the feature axis
    w = x.reshape(50, 10, 3)
    np.testing.assert_allclose(s.transform(w).reshape(500, 3), z)
    # float32 in, float32 out
    assert s.transform(x.astype(np.float32)).dtype == np.float32
    assert s.transform(np.ones((2, 3), dtype=np.int64)).dtype == np.float64


def test_minmax_scaler_range_and_constant_feature() -> None:
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    s = MinMaxScaler(feature_range=(-1, 1)).fit(x)
    np.testing.assert_allclose(s.transform(x), [[-1, -1], [0, -1], [1, -1]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x)
    st = StandardScaler().fit(x)
    np.testing.assert_allclose(st.transform(x)[:, 1], 0.0)  # constant -> 0, not NaN


def test_scaler_dataframe_round_trip_and_names() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0, 60.0]},
                      index=pd.date_range("2021-01-01", periods=3))
    s = StandardScaler().fit(df)
    out = s.transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["a", "b"]
    assert out.index.equals(df.index)
    with pytest.raises(ValueError, match=re.escape("expected columns ['a', 'b'] (as fitted)")):
        s.transform(df[["b", "a"]])
    assert s.select(["b"]).feature_names == ["b"]


def test_scaler_json_round_trip_is_exact() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 4)) * [1e-8, 1.0, 1e8, 3.0]
    for s in (StandardScaler().fit(x), MinMaxScaler((0.1, 0.9)).fit(x)):
        text = s.to_json()
        json.loads(text)
        for restored in (type(s).from_json(text), scaler_from_json(text),
                         scaler_from_dict(json.loads(text))):
            assert type(restored) is type(s)
            np.testing.assert_array_equal(restored.transform(x), s.transform(x))
            assert restored.to_dict() == s.to_dict()


def test_scaler_errors() -> None:
    with pytest.raises(ValueError, match="StandardScaler is not fitted"):
        StandardScaler().transform(np.ones(3))
    s = StandardScaler().fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match=re.escape(
            "expected an array whose last axis holds the 2 fitted features, got shape (4, 3)")):
        s.transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="got nan at row 1, column 0"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="expected feature_range with lo < hi"):
        MinMaxScaler(feature_range=(1, 0))
    d = s.to_dict()
    with pytest.raises(ValueError, match="expected 'mean': a list of 2 numbers"):
        StandardScaler.from_dict({**d, "mean": [0.0]})
    with pytest.raises(ValueError, match="expected class 'MinMaxScaler'"):
        MinMaxScaler.from_dict(d)
    with pytest.raises(ValueError, match="expected 'class' to be one of"):
        scaler_from_dict({**d, "class": "RobustScaler"})
    with pytest.raises(ValueError, match="expected positive 'std' values"):
        StandardScaler.from_dict({**d, "std": [1.0, 0.0]})
