"""Bundled real datasets: shapes, splits, checksums, provenance records and size budget."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnnkit.datasets
from rnnkit.data import (
    CharVocab,
    WordTokenizer,
    _bundle,
    bundled_files,
    make_panel,
    make_windows,
    seasonal_period,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLED_DIR = REPO / "src" / "rnnkit" / "data" / "_bundled"


def test_activity_windows_and_subject_split() -> None:
    ds = rnnkit.datasets.load_activity()
    assert ds.X.shape == (1149, 200, 3) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.int64 and set(ds.y.tolist()) == set(range(7))
    assert ds.classes == ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
    assert ds.groups is not None and set(ds.groups.tolist()) == set(range(1, 11))
    rec = ds.extras["recording"]
    train_rec, test_rec = set(rec[~ds.is_test].tolist()), set(rec[ds.is_test].tolist())
    assert not train_rec & test_rec
    assert not set(ds.groups[~ds.is_test].tolist()) & set(ds.groups[ds.is_test].tolist())
    X_train, y_train = ds.train
    assert X_train.shape == (902, 200, 3) and y_train.shape == (902,)
    assert ds.X_test.shape == (247, 200, 3)
    assert 0.5 < float(np.linalg.norm(ds.X, axis=-1).mean()) < 2.0  # about 1 g on average
    other = rnnkit.datasets.load_activity(window=100, test_subjects=[1])
    assert other.X.shape[1:] == (100, 3) and len(other) > 2 * 1149 - 140
    with pytest.raises(ValueError, match="expected test_subjects from 1..10"):
        rnnkit.datasets.load_activity(test_subjects=[11])


def test_activity_stride_overlapping_windows_stay_in_their_recording() -> None:
    plain = rnnkit.datasets.load_activity()
    same = rnnkit.datasets.load_activity(stride=200)
    np.testing.assert_array_equal(same.X, plain.X)
    np.testing.assert_array_equal(same.y, plain.y)
    ds = rnnkit.datasets.load_activity(stride=50)
    assert ds.X.shape == (4397, 200, 3)
    rec = ds.extras["recording"]
    # every stride-200 window is one of the stride-50 windows of the same recording
    i = np.flatnonzero(rec == 0)
    np.testing.assert_array_equal(ds.X[i[0::4]], plain.X[plain.extras["recording"] == 0])
    # consecutive windows of one recording overlap by window - stride steps
    np.testing.assert_array_equal(ds.X[i[1], :150], ds.X[i[0], 50:])
    # recordings (and subjects) never share a window across the split
    assert not set(rec[ds.is_test].tolist()) & set(rec[~ds.is_test].tolist())
    assert not set(ds.groups[ds.is_test].tolist()) & set(ds.groups[~ds.is_test].tolist())
    assert set(ds.groups[ds.is_test].tolist()) == {9, 10}
    assert np.all(ds.y == ds.y[np.searchsorted(rec, rec)])  # one label per recording
    for bad, err in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="expected stride"):
            rnnkit.datasets.load_activity(stride=bad)  # type: ignore[arg-type]


def test_electricity_daily_and_half_hourly() -> None:
    daily = rnnkit.datasets.load_electricity()
    half = rnnkit.datasets.load_electricity("30min")
    assert daily.shape == (84, 1) and list(daily.columns) == ["load_gwh"]
    assert half.shape == (4032, 1) and half.index.freqstr == "30min"
    assert str(daily.index[0].date()) == "2000-06-05"
    assert str(daily.index[-1].date()) == "2000-08-27"
    np.testing.assert_allclose(daily["load_gwh"].iloc[0],
                               half["load_mw"].iloc[:48].sum() * 0.5 / 1000)
    X, y = make_windows(daily, window=33)  # seed 003: 33 days -> next day
    assert X.shape == (51, 33, 1) and y.shape == (51, 1)
    with pytest.raises(ValueError, match="expected freq='D' or '30min'"):
        rnnkit.datasets.load_electricity("H")


def test_temperature() -> None:
    df = rnnkit.datasets.load_temperature()
    assert df.shape == (1461, 4) and df.index.freqstr == "D"
    assert list(df.columns) == ["temp_max", "temp_min", "precipitation", "wind"]
    assert (df["temp_max"] >= df["temp_min"]).all()
    assert df.index.is_monotonic_increasing and not df.isna().any().any()
    w = rnnkit.datasets.load_temperature(with_weather=True)
    assert set(w["weather"]) == {"sun", "fog", "rain", "drizzle", "snow"}


def test_digits_rows_as_time_steps() -> None:
    ds = rnnkit.datasets.load_digits()
    assert ds.X.shape == (1797, 8, 8) and ds.X.dtype == np.float32
    assert float(ds.X.min()) == 0.0 and float(ds.X.max()) == 1.0
    assert np.bincount(ds.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert len(ds.y_train) == 1437 and len(ds.y_test) == 360


def test_shakespeare() -> None:
    text = rnnkit.datasets.load_shakespeare()
    assert isinstance(text, str) and len(text) == 1_036_496
    assert text.isascii() and "\r" not in text
    assert "To be, or not to be" in text and "Out, damned spot" in text
    vocab = CharVocab.from_text(text)
    assert len(vocab) == 76
    assert vocab.decode(vocab.encode(text[:1000])) == text[:1000]


def test_prices() -> None:
    df = rnnkit.datasets.load_prices()
    assert df.shape == (7983, 5) and list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert (df["high"] >= df["low"]).all() and df["volume"].dtype == np.int64
    assert str(df.index[0].date()) == "1986-03-13"


def test_sentiment_labels_and_split() -> None:
    ds = rnnkit.datasets.load_sentiment()
    assert len(ds.X) == 10568 and all(isinstance(t, str) and t for t in ds.X)
    assert int(ds.y.sum()) == 5242 and int((ds.y == 0).sum()) == 5326
    rating = ds.extras["rating"]
    assert ((rating > 0) == (ds.y == 1)).all() and not (rating == 0).any()
    assert (ds.extras["id"][ds.is_test] % 5 == 0).all()
    assert len(ds.X_train) == 8457 and len(ds.X_test) == 2111
    assert 0.45 < ds.y_test.mean() < 0.55  # both classes in the test set
    tok = WordTokenizer(max_vocab=5000).fit(ds.X_train)
    assert tok.encode(ds.X_test[:10], maxlen=40).shape == (10, 40)


def test_bundled_files_match_registry_and_budget() -> None:
    registry = bundled_files()
    on_disk = {p.name for p in BUNDLED_DIR.iterdir() if p.is_file()}
    assert on_disk == set(registry)
    total = 0
    for name, (digest, size) in registry.items():
        data = (BUNDLED_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest and len(data) == size
        total += size
    assert total <= 8 * 2**20, total


def test_datasets_md_records_every_checksum() -> None:
    doc = (REPO / "DATASETS.md").read_text()
    for name, (digest, size) in bundled_files().items():
        assert name in doc and digest in doc, name
        assert f"{size:,}" in doc, name
    total = sum(size for _, size in bundled_files().values())
    assert f"{total:,}" in doc


def test_checksum_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copy(BUNDLED_DIR / "digits.csv.gz", tmp_path / "digits.csv.gz")
    assert _bundle.read_bundled("digits.csv.gz", root=tmp_path)[:2] == b"\x1f\x8b"
    data = bytearray((tmp_path / "digits.csv.gz").read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "digits.csv.gz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape("the file is corrupted or was modified; "
                                                   "reinstall rnnkit")):
        _bundle.read_bundled("digits.csv.gz", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="is missing"):
        _bundle.read_bundled("temperature.csv.gz", root=tmp_path)
    with pytest.raises(ValueError, match="expected one of the bundled files"):
        _bundle.read_bundled("mnist.npz")


def test_loader_verifies_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    digest, size = _bundle.BUNDLED["temperature.csv.gz"]
    monkeypatch.setitem(_bundle.BUNDLED, "temperature.csv.gz", ("0" * 64, size))
    with pytest.raises(ValueError, match="to have SHA-256 0000"):
        rnnkit.datasets.load_temperature()


def test_dataset_repr_and_validation() -> None:
    ds = rnnkit.datasets.load_digits()
    assert repr(ds) == "Dataset(X=(1797, 8, 8), classes=10, train=1437, test=360)"
    with pytest.raises(ValueError, match="expected X, y and is_test of one length"):
        rnnkit.datasets.Dataset(np.zeros(3), np.zeros(2, dtype=np.int64), ("a",),
                                np.zeros(2, dtype=bool))
    assert isinstance(rnnkit.datasets.load_temperature(), pd.DataFrame)


def test_us_employment_is_a_panel_of_different_starts() -> None:
    df = rnnkit.datasets.load_us_employment()
    p = make_panel(df, "employed", id_column="series_id", time_column="month",
                   static_covariates=["title"])
    assert p.n_series == 148 and p.freq.freqstr == "MS" and seasonal_period(p.freq) == 12
    starts = p.time[p.offsets[:-1]]
    assert starts.min() == pd.Timestamp("1939-01-01") and starts.max() > pd.Timestamp("2000")
    assert p.lengths.min() == 225 and p.lengths.max() == 969
    assert str(p.times_of("CEU4245210001")[-1].date()) == "2017-12-01"  # discontinued
    assert len(p.categories["title"]) == 148 and (p.target > 0).all()


def test_aus_accommodation_quarterly_with_cpi() -> None:
    df = rnnkit.datasets.load_aus_accommodation()
    p = make_panel(df, "takings", id_column="state", time_column="quarter",
                   past_covariates=["occupancy"], future_covariates=["cpi"])
    assert p.n_series == 8 and (p.lengths == 74).all() and seasonal_period(p.freq) == 4
    cpi = df.pivot(index="quarter", columns="state", values="cpi")
    assert (cpi.nunique(axis=1) == 1).all()  # one CPI for the whole country


def test_victoria_demand_with_known_future_covariates() -> None:
    half = rnnkit.datasets.load_victoria_demand()
    assert half.shape == (17520, 3) and half.index.freqstr == "30min"
    assert set(np.unique(half["workday"])) == {0.0, 1.0}
    daily = rnnkit.datasets.load_victoria_demand("D")
    assert daily.shape == (365, 4) and daily.index.freqstr == "D"
    np.testing.assert_allclose(daily["demand_gwh"].sum(), half["demand_gw"].sum() * 0.5)
    weekend = daily.index.day_of_week >= 5
    assert (daily["workday"][weekend] == 0).all() and daily["workday"][~weekend].mean() > 0.9
    assert daily["demand_gwh"][daily["workday"] == 1].mean() > daily["demand_gwh"][
        daily["workday"] == 0].mean()
    with pytest.raises(ValueError, match="expected freq='30min' or 'D'"):
        rnnkit.datasets.load_victoria_demand("h")
