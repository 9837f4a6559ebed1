"""Variable-length input: the .ts reader, padding with lengths/NaN, masked scaling, buckets."""

from __future__ import annotations

import lzma
import os
import re
from pathlib import Path

import numpy as np
import pytest

import rnnkit.datasets
from rnnkit.data import (
    MinMaxScaler,
    StandardScaler,
    _bundle,
    length_buckets,
    parse_ts,
    read_ts,
    to_padded,
)
from rnnkit.errors import DataFileError

HEAD = "# a comment\n@problemName toy\n@univariate false\n@dimensions 2\n" \
       "@classLabel true walk run\n@data\n"


def test_ts_reader_variable_lengths_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "toy.ts"
    path.write_text(HEAD + "1,2,3:4,5,6:walk\n\n7,?:8,9:run\n", encoding="utf-8")
    data = read_ts(path)
    assert [x.shape for x in data.X] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(data.X[0], [[1, 4], [2, 5], [3, 6]])
    assert np.isnan(data.X[1][1, 0]) and data.X[1][1, 1] == 9
    assert data.y.tolist() == ["walk", "run"] and data.classes == ("walk", "run")
    assert data.header["problemname"] == "toy"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2:3,4\n", "expected 2 channel(s) (as @dimensions or the first case says), got 1 "
                      "at line 7"),
        ("1,2:3:walk\n", "expected the channels of one case to have one length, got lengths "
                         "[2, 1] at line 7"),
        ("1,x:3,4:walk\n", "expected numbers (or '?') separated by ',', got 'x' in channel 0 "
                           "at line 7"),
        ("1,2:3,4:jump\n", "expected a class label among ['walk', 'run'] (@classLabel), got "
                           "'jump' at line 7"),
        ("1,2:3,4:\n", "expected a class label after the last ':', got none at line 7"),
        ("1,,2:3,4,5:walk\n", "expected plain values separated by ',' in channel 0, got an "
                              "empty value at line 7"),
        ("(0,1),(1,2):(0,3),(1,4):walk\n", "got time-stamped (t,v) values at line 7"),
        ("1,inf:3,4:walk\n", "expected finite numbers (or '?' for missing), got 'inf'"),
        ("1,2,3\n", "expected channels separated by ':' and a class label last, got a line "
                    "without ':' at line 7"),
    ],
)
def test_ts_reader_refuses_malformed_lines_with_their_number(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_ts(HEAD + "1,2:3,4:walk\n" * 0 + body, "toy.ts")


def test_ts_reader_refuses_bad_headers_and_binary(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected an '@data' line"):
        parse_ts("@problemName x\n")
    with pytest.raises(ValueError, match="expected at least one case after @data"):
        parse_ts("@classLabel true a\n@data\n")
    with pytest.raises(ValueError, match="expected a header line starting with '@'"):
        parse_ts("1,2:a\n")
    with pytest.raises(ValueError, match=r"expected '@classLabel true <labels>'"):
        parse_ts("@classLabel false\n@data\n1:a\n")
    with pytest.raises(ValueError, match="regression .ts files are not supported"):
        parse_ts("@targetLabel true\n@data\n1:0.5\n")
    with pytest.raises(ValueError, match="rnnkit reads plain values only"):
        parse_ts("@timeStamps true\n@data\n")
    binary = tmp_path / "x.ts"
    binary.write_bytes(b"PK\x03\x04\xff\xfe")
    with pytest.raises(DataFileError, match=r"x.ts': expected UTF-8 text, got undecodable "
                       "bytes at line 1"):
        read_ts(binary)


def test_ts_reader_parses_in_c_and_refuses_what_float_refuses(tmp_path: Path) -> None:
    head = "@classLabel true a\n@data\n"
    data = parse_ts(head + " 1 , ? ,+3:.5,5.,1e3:a\n")
    np.testing.assert_array_equal(data.X[0], [[1, 0.5], [np.nan, 5], [3, 1000]])
    for bad, what in [("1,nan", "finite numbers"), ("1,1e999", "'1e999'"), ("1,inf", "'inf'"),
                      ("0x10,1", "'0x10'"), ("1,,2", "empty value"), ("1,2,", "empty value"),
                      ("1,2 3", "'2 3'"), ("1,?1", "'?1'"), ("(1,2)", "time-stamped")]:
        with pytest.raises(ValueError, match=re.escape(what) if "'" in what else what):
            parse_ts(head + bad + ":a\n")
    with pytest.raises(ValueError, match="at most 256 characters"):
        parse_ts("@classLabel true\n@data\n1:" + "a" * 257 + "\n")
    fifo = tmp_path / "f.ts"
    os.mkfifo(fifo)
    with pytest.raises(DataFileError, match="got a FIFO"):
        read_ts(fifo)  # refused at once, never blocks


def test_basic_motions_is_the_official_split_of_the_ts_files() -> None:
    ds = rnnkit.datasets.load_basic_motions()
    assert ds.X.shape == (80, 100, 6) and ds.X.dtype == np.float32
    assert np.bincount(ds.y[~ds.is_test]).tolist() == [10, 10, 10, 10]
    text = lzma.decompress(_bundle.read_bundled("basic_motions_train.ts.xz")).decode()
    first = text.split("@data")[1].strip().splitlines()[0]
    label = first.rsplit(":", 1)[1]
    assert ds.classes[ds.y[0]] == label
    np.testing.assert_allclose(ds.X[0, :, 0], [float(v) for v in first.split(":")[0]
                                              .split(",")], rtol=1e-6)


def test_to_padded_forms_agree() -> None:
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 3)) for n in (5, 2, 7)]
    ragged = to_padded(seqs)
    assert ragged.values.shape == (3, 7, 3) and ragged.lengths.tolist() == [5, 2, 7]
    assert ragged.values.dtype == np.float32
    garbage = rng.normal(size=(3, 9, 3))
    for i, s in enumerate(seqs):
        garbage[i, : len(s)] = s
    with_lengths = to_padded(garbage, lengths=[5, 2, 7])
    nan_padded = np.full((3, 9, 3), np.nan)
    for i, s in enumerate(seqs):
        nan_padded[i, : len(s)] = s
    from_nan = to_padded(nan_padded)
    for p in (with_lengths, from_nan):
        assert p.lengths.tolist() == [5, 2, 7]
        np.testing.assert_array_equal(p.values[:, :7], ragged.values)
        assert not p.values[:, 7:].any()  # padding is zeros, whatever it held
        np.testing.assert_array_equal(p.mask[:, :7], ragged.mask)
    full = to_padded(np.ones((2, 4, 1), dtype=np.int64))
    assert full.lengths.tolist() == [4, 4] and len(full) == 2


def test_to_padded_refuses_and_names_the_sequences() -> None:
    x = np.ones((12, 4, 2))
    x[[3, 8], 1, 0] = np.nan  # a NaN inside two sequences, not trailing padding
    with pytest.raises(ValueError, match=re.escape(
            "got [nan, 1.0] at step 1 of sequence 3: 2 sequence(s), index 3, 8")):
        to_padded(x)
    x = np.full((12, 4, 2), np.nan)
    x[:, 0] = 1.0
    x[[0, 5, 11]] = np.nan
    with pytest.raises(ValueError, match=re.escape("got empty 3 sequence(s), index 0, 5, 11")):
        to_padded(x)
    many = np.full((30, 3, 1), np.nan)
    with pytest.raises(ValueError, match=re.escape("index 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, "
                                                   "... (20 more)")):
        to_padded(many)
    with pytest.raises(ValueError, match=re.escape("expected lengths in [1, 4] (the array's "
                                                   "timesteps), got 5 for 1 sequence(s), "
                                                   "index 1")):
        to_padded(np.ones((2, 4, 1)), lengths=[4, 5])
    with pytest.raises(ValueError, match="expected lengths as 2 integers"):
        to_padded(np.ones((2, 4, 1)), lengths=[4.0, 2.0])
    with pytest.raises(ValueError, match="expected every sequence to have 2 feature"):
        to_padded([np.ones((2, 2)), np.ones((2, 3)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="for one feature use x"):
        to_padded([np.ones(3)])
    with pytest.raises(ValueError, match="expected lengths only with a padded array"):
        to_padded([np.ones((2, 1))], lengths=[2])
    with pytest.raises(ValueError, match="for a single feature use X"):
        to_padded(np.ones((2, 4)))


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_scalers_fit_on_real_steps_and_keep_padding_zero(scaler: type) -> None:
    rng = np.random.default_rng(1)
    seqs = [rng.normal(5.0, 2.0, size=(n, 2)) for n in (6, 1, 3)]
    p = to_padded(seqs)
    real = np.concatenate(seqs)
    masked = scaler().fit(p.values, mask=p.mask)
    plain = scaler().fit(real)
    for key in masked._params:
        np.testing.assert_allclose(getattr(masked, key), getattr(plain, key), rtol=1e-5)
    out = masked.transform(p.values, mask=p.mask)
    assert not out[~p.mask].any()  # padding stays zero: a Masking layer still sees it
    np.testing.assert_allclose(out[p.mask], plain.transform(real), rtol=1e-4, atol=1e-5)
    nan_padded = np.where(p.mask[..., None], p.values, np.nan)
    np.testing.assert_array_equal(masked.transform(nan_padded, mask=p.mask), out)
    with pytest.raises(ValueError, match="expected a boolean mask"):
        masked.transform(p.values, mask=p.mask[:, :2])


def test_length_buckets_cover_every_sample_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 500, size=1000)
    batches = length_buckets(lengths, batch_size=32, rng=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 32
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.1 * np.ptp(lengths)  # random batches would span nearly everything
    again = length_buckets(lengths, batch_size=32, rng=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    with pytest.raises(ValueError, match="expected lengths as a 1-D integer array"):
        length_buckets(np.ones(3), 2)
