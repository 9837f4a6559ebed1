"""Readers: each bad input is a clear ValueError naming column/row and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import (
    make_windows,
    read_csv,
    read_csv_frame,
    read_npy,
    read_npz,
    validate_arrays,
    validate_series,
)

GOOD = """date,temp,humidity
2022-11-25,6,92
2022-11-26,9,85
2022-11-27,7,88
2022-11-28,8,91
2022-11-29,6,89
"""


def write(tmp_path: Path, text: str, name: str = "s.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_good_csv_gives_seed_windows(tmp_path: Path) -> None:
    df = read_csv(write(tmp_path, GOOD), time_column="date", window=3, horizon=1)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.freqstr == "D"
    assert list(df.columns) == ["temp", "humidity"]
    X = make_windows(df, 3, target=None)
    assert X.tolist()[0] == [[6, 92], [9, 85], [7, 88]]


def test_unsorted_timestamps(tmp_path: Path) -> None:
    text = GOOD.replace("2022-11-27,7,88\n2022-11-28,8,91", "2022-11-28,8,91\n2022-11-27,7,88")
    with pytest.raises(ValueError, match=re.escape(
            "expected timestamps in increasing order, got row 3 (2022-11-27 00:00:00) after "
            "row 2 (2022-11-28 00:00:00); sort first (df.sort_index()) or pass sort=True")):
        read_csv(write(tmp_path, text), time_column="date")
    df = read_csv(write(tmp_path, text), time_column="date", sort=True)
    assert df["temp"].tolist() == [6, 9, 7, 8, 6]


def test_duplicated_timestamps(tmp_path: Path) -> None:
    text = GOOD.replace("2022-11-27,7,88", "2022-11-26,7,88")
    with pytest.raises(ValueError, match=re.escape(
            "expected unique timestamps, got 2022-11-26 00:00:00 at rows 1 and 2 "
            "(1 duplicate(s)); aggregate them, e.g. df.groupby(level=0).mean()")):
        read_csv(write(tmp_path, text), time_column="date")


def test_irregular_timestamps(tmp_path: Path) -> None:
    text = GOOD.replace("2022-11-29", "2022-12-02")
    with pytest.raises(ValueError, match=re.escape(
            "expected regular timestamps every 'D', got 2022-12-02 00:00:00 at row 4 after "
            "2022-11-28 00:00:00 where 2022-11-29 00:00:00 was due (1 irregular step(s)); "
            "resample to a regular grid or pass the frequency explicitly, or pass freq=None")):
        read_csv(write(tmp_path, text), time_column="date")
    assert len(read_csv(write(tmp_path, text), time_column="date", freq=None)) == 5
    with pytest.raises(ValueError, match=re.escape(
            "expected timestamps at frequency 'D', got 2022-12-02 00:00:00 at row 4 where "
            "2022-11-29 00:00:00 was due")):
        read_csv(write(tmp_path, text), time_column="date", freq="D")
    half_hourly = pd.DataFrame({"x": range(4)},
                               index=pd.date_range("2020-01-01", periods=4, freq="30min"))
    assert validate_series(half_hourly).index.freqstr == "30min"
    assert validate_series(half_hourly, freq="30min").index.freqstr == "30min"


def test_nan_and_inf_are_named(tmp_path: Path) -> None:
    text = GOOD.replace("2022-11-27,7,88", "2022-11-27,7,")
    with pytest.raises(ValueError, match=re.escape(
            "expected finite values in column 'humidity', got nan at row 2 "
            "(2022-11-27 00:00:00) (1 non-finite value(s)); fill or drop them first")):
        read_csv(write(tmp_path, text), time_column="date")
    df = pd.DataFrame({"a": [1.0, np.inf]}, index=pd.date_range("2020-01-01", periods=2))
    with pytest.raises(ValueError, match="got inf at row 1"):
        validate_series(df)


def test_non_numeric_column_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("2022-11-28,8,91", "2022-11-28,eight,91")
    with pytest.raises(ValueError, match=re.escape(
            "expected numeric values in column 'temp', got 'eight' at row 3 "
            "(2022-11-28 00:00:00)")):
        read_csv(write(tmp_path, text), time_column="date")
    with pytest.raises(ValueError, match="pass it as time_column if it holds timestamps"):
        read_csv(write(tmp_path, GOOD))  # date column not declared
    df = read_csv(write(tmp_path, text), time_column="date", columns=["humidity"])
    assert list(df.columns) == ["humidity"]


def test_bad_time_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(
            "expected a time column 'time', got columns ['date', 'temp', 'humidity']")):
        read_csv(write(tmp_path, GOOD), time_column="time")
    text = GOOD.replace("2022-11-27", "someday")
    with pytest.raises(ValueError, match=re.escape(
            "expected timestamps in column 'date', got 'someday' at row 2")):
        read_csv(write(tmp_path, text), time_column="date")
    with pytest.raises(ValueError, match="expected columns from"):
        read_csv(write(tmp_path, GOOD), time_column="date", columns=["pressure"])


def test_series_too_short_for_window(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(
            "expected at least window + horizon = 34 rows for window=33, horizon=1, got 5 rows; "
            "use a smaller window or more data")):
        read_csv(write(tmp_path, GOOD), time_column="date", window=33)


def test_nullable_dtype_missing_value_is_named() -> None:
    df = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    with pytest.raises(ValueError, match="expected finite values in column 'n', got nan at row 1"):
        validate_series(df)


def test_plain_dataframe_without_time() -> None:
    df = pd.DataFrame({"a": [3.0, 1.0, 2.0], "b": [True, False, True]})
    out = validate_series(df)
    assert out["b"].tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(TypeError, match="expected a pandas DataFrame or Series, got ndarray"):
        validate_series(np.zeros(3))  # type: ignore[arg-type]


def test_npz_and_npy(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(6, 20, 3)).astype(np.float32)
    y = np.arange(6) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y)
    X2, y2 = read_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    np.save(tmp_path / "x.npy", X)
    np.testing.assert_array_equal(read_npy(tmp_path / "x.npy"), X)
    np.savez(tmp_path / "other.npz", inputs=X, labels=y)
    with pytest.raises(ValueError, match=re.escape("expected arrays ['X', 'y'] in the .npz")):
        read_npz(tmp_path / "other.npz")
    assert read_npz(tmp_path / "other.npz", x_key="inputs", y_key="labels")[0].shape == X.shape
    with pytest.raises(ValueError, match=r"a single \.npy array\? use read_npy"):
        read_npz(tmp_path / "x.npy")
    with pytest.raises(ValueError, match="got an .npz archive; use read_npz"):
        read_npy(tmp_path / "d.npz")


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    obj = np.array([{"evil": 1}, None], dtype=object)
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(ValueError, match=r"got a pickled \(object\) array; rnnkit never"):
        read_npy(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", X=obj, y=np.zeros(2))
    with pytest.raises(ValueError, match="got a pickled \\(object\\) array"):
        read_npz(tmp_path / "obj.npz")


def test_damaged_array_files_name_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 1)))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:60])  # inside the header
    with pytest.raises(ValueError, match=r"cut\.npy'.*expected a \.npy header"):
        read_npy(tmp_path / "cut.npy")
    # a tiny file whose header declares 8 TiB of data
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1, 1), }"
    header = header.ljust(117) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin-1")
    (tmp_path / "huge.npy").write_bytes(raw + b"\0" * 64)
    with pytest.raises(ValueError, match=r"huge\.npy"):
        read_npy(tmp_path / "huge.npy")
    with pytest.raises(TypeError, match="expected path to be a str or os.PathLike, got int"):
        read_npy(3)  # type: ignore[arg-type]  # never a file descriptor


def test_validate_arrays_errors() -> None:
    with pytest.raises(ValueError, match=re.escape(
            "expected X of shape (samples, timesteps, features), got shape (4, 10); "
            "for a single feature use X[..., None]")):
        validate_arrays(np.zeros((4, 10)))
    X = np.zeros((4, 10, 2))
    X[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="got nan at sample 2, step 5, feature 1"):
        validate_arrays(X)
    with pytest.raises(ValueError, match=re.escape(
            "expected one label per sample (4), got y of shape (3,)")):
        validate_arrays(np.zeros((4, 10, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="expected X with a real numeric dtype"):
        validate_arrays(np.array([[["a"]]]))
    with pytest.raises(ValueError, match="expected finite labels"):
        validate_arrays(np.zeros((2, 1, 1)), np.array([0.0, np.nan]))


def test_read_csv_frame_keeps_text_columns_as_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "id,date,y\n0017,2022-11-25,6\n0018,2022-11-25,9.5\n")
    df = read_csv_frame(path, time_column="date", text_columns=["id"])
    assert df["id"].tolist() == ["0017", "0018"]  # not 17.0: ids stay text
    assert df["y"].dtype == np.float32 and df["date"].dtype == "datetime64[ns]"
    assert read_csv_frame(path)["id"].dtype == np.float32  # numeric without text_columns
    with pytest.raises(ValueError, match=r"expected columns \['series'\] in the header"):
        read_csv_frame(path, text_columns=["series"])
    with pytest.raises(ValueError, match="unique column names"):
        read_csv_frame(write(tmp_path, "id,y,y\n1,2,3\n", "d.csv"), text_columns=["id"])
