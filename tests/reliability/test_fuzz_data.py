"""Issue 7.6: hostile input to rnnkit.data gives only the documented errors.

Hypothesis drives the readers (``read_csv``, ``validate_series``, ``read_npy``, ``read_npz``),
``make_windows``, ``pad_sequences``, ``CharVocab`` and ``WordTokenizer`` with random and
hostile input (empty, NaN/Inf, wrong rank, wrong dtype, huge values, unicode incl. lone
surrogates, too short, garbage bytes). Every call must return a correct result (no row
silently dropped) or raise ``ValueError`` / ``TypeError`` (``OSError`` only for a missing
file), within a time limit.

Bugs found in rnnkit.data are pinned by ``xfail(strict=True)`` tests at the end (each turns
into a failure once fixed, so that its entry in ``KNOWN_BUGS`` is removed); the fuzz tests
tolerate exactly those (function, exception) pairs meanwhile. The tests at the end are the
regression tests of the bugs found (and fixed) so far.
"""

from __future__ import annotations

import contextlib
import gc
import json
import signal
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnkit.data import (
    CharVocab,
    WordTokenizer,
    make_windows,
    n_windows,
    pad_sequences,
    read_csv,
    read_npy,
    read_npz,
    validate_series,
)
from rnnkit.errors import DataFileError

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
TIME_LIMIT_S = 10

#: (function, exception type name) pairs of known rnnkit.data bugs, each pinned by an
#: ``xfail(strict=True)`` test at the end; empty: the bugs found so far are fixed and their
#: tests at the end are regression tests.
KNOWN_BUGS: set[tuple[str, str]] = set()
OK_ERRORS = (ValueError, TypeError)


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; None when it raised a documented error. Anything else fails."""
    try:
        # warnings (e.g. numpy's overflow casting a huge padding value to float16) are no
        # errors here
        with time_limit(TIME_LIMIT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except OK_ERRORS:
        return None
    except Hang:
        raise AssertionError(f"{name} hung on {args!r:.200} {kwargs!r:.200}") from None
    except Exception as e:
        if (name, type(e).__name__) in KNOWN_BUGS:
            return None
        raise AssertionError(
            f"{name} raised {type(e).__name__}: {e} (expected ValueError/TypeError) on "
            f"{args!r:.300} {kwargs!r:.300}"
        ) from e


# --------------------------------------------------------------------------- strategies
hostile_ints = st.one_of(
    st.integers(-3, 12), st.just(2**62), st.just(2**70), st.booleans(), st.floats(-3, 10),
    st.none(), st.just(np.int64(3)), st.text(max_size=2),
)
dtypes = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex64,
     "U3", "M8[s]", "m8[s]"]
)


def arrays(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy[np.ndarray]:
    return dtypes.flatmap(
        lambda dt: hnp.arrays(
            dt, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=6)
        )
    )


unicode_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=3),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


# --------------------------------------------------------------------------- windows
def _check_windows(series: np.ndarray, x: np.ndarray, y: np.ndarray, window: int,
                   horizon: int, stride: int, rate: int, gap: int) -> None:
    values = series.reshape(len(series), -1)
    n = n_windows(len(values), window, horizon, stride, sampling_rate=rate, gap=gap)
    span = (window - 1 + gap + horizon) * rate + 1
    assert x.shape[0] == n == y.shape[0] and n >= 1
    assert (n - 1) * stride + span <= len(values) < n * stride + span  # none dropped
    for i in (0, n - 1):
        want = values[i * stride : i * stride + (window - 1) * rate + 1 : rate]
        assert np.array_equal(x[i].reshape(window, -1), want, equal_nan=False)
        first = i * stride + (window + gap) * rate
        want_y = values[first : first + (horizon - 1) * rate + 1 : rate]
        assert np.array_equal(y[i].reshape(horizon, -1), want_y)


@FUZZ
@given(arrays(), hostile_ints, hostile_ints, hostile_ints, hostile_ints, hostile_ints,
       st.one_of(st.just("all"), st.none(), hostile_ints, st.lists(st.integers(-3, 3),
                                                                  max_size=3)))
def test_make_windows_on_hostile_arrays(a: np.ndarray, window: Any, horizon: Any, stride: Any,
                                        rate: Any, gap: Any, target: Any) -> None:
    kwargs = {} if rate is None else {"sampling_rate": rate}
    if gap is not None:
        kwargs["gap"] = gap
    call("make_windows", make_windows, a, window, horizon, stride, target, **kwargs)
    call("n_windows", n_windows, len(a) if a.ndim else 3, window, horizon, stride)


@FUZZ
@given(st.integers(1, 40), st.integers(1, 3), st.integers(1, 6), st.integers(1, 3),
       st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.booleans())
def test_make_windows_keeps_every_window(rows: int, feats: int, window: int, horizon: int,
                                         stride: int, rate: int, gap: int, frame: bool) -> None:
    series = np.arange(rows * feats, dtype=np.float64).reshape(rows, feats)
    data: Any = pd.DataFrame(series, columns=[f"c{j}" for j in range(feats)]) if frame else series
    out = call("make_windows", make_windows, data, window, horizon, stride,
               sampling_rate=rate, gap=gap)
    span = (window - 1 + gap + horizon) * rate + 1
    if out is None:
        assert rows < span  # refused only when too short
        return
    _check_windows(series, out[0], out[1], window, horizon, stride, rate, gap)


# --------------------------------------------------------------------------- padding
@FUZZ
@given(
    st.lists(
        st.one_of(
            st.lists(st.one_of(st.integers(-2**70, 2**70), st.floats(), st.text(max_size=2),
                               st.none(), st.lists(st.integers(-9, 9), max_size=2)),
                     max_size=4),
            st.integers(), st.text(max_size=3), st.none(),
        ),
        max_size=4,
    ),
    st.one_of(st.none(), hostile_ints),
    st.sampled_from(["int32", "float32", "int64", "uint8", "bool", "U3", "foo", np.float16]),
    st.sampled_from(["pre", "post", "mid", None]),
    st.sampled_from(["pre", "post", 3]),
    st.one_of(st.floats(), st.text(max_size=2), st.none(), st.integers(-2**70, 2**70)),
)
def test_pad_sequences_on_hostile_input(seqs: Any, maxlen: Any, dtype: Any, padding: Any,
                                        truncating: Any, value: Any) -> None:
    call("pad_sequences", pad_sequences, seqs, maxlen, dtype, padding, truncating, value)


@FUZZ
@given(st.lists(st.lists(st.integers(-1000, 1000), max_size=6), max_size=6),
       st.one_of(st.none(), st.integers(0, 8)), st.sampled_from(["pre", "post"]),
       st.sampled_from(["pre", "post"]))
def test_pad_sequences_keeps_every_sequence(seqs: list[list[int]], maxlen: int | None,
                                            padding: str, truncating: str) -> None:
    out = call("pad_sequences", pad_sequences, seqs, maxlen, "int64", padding, truncating, -7)
    assert out is not None
    length = max((len(s) for s in seqs), default=0) if maxlen is None else maxlen
    assert out.shape == (len(seqs), length)
    for row, s in zip(out, seqs, strict=True):
        kept = s[-length:] if truncating == "pre" else s[:length]
        if length == 0:
            kept = []
        pad = [-7] * (length - len(kept))
        assert row.tolist() == (pad + kept if padding == "pre" else kept + pad)


# --------------------------------------------------------------------------- text
@FUZZ
@given(unicode_text, unicode_text, st.sampled_from(["error", "unk", "x", None]),
       st.one_of(st.lists(st.integers(-2**70, 2**70), max_size=4), arrays(), json_values),
       st.dictionaries(
           st.sampled_from(["class", "format_version", "chars", "unknown"]),
           st.one_of(json_values, st.just("CharVocab"), st.just(1),
                     st.lists(st.text(max_size=2), max_size=4)),
       ))
def test_char_vocab_on_hostile_input(text: str, other: str, unknown: Any, ids: Any,
                                     d: dict[str, Any]) -> None:
    vocab = call("CharVocab.from_text", CharVocab.from_text, text, unknown=unknown)
    if vocab is not None:
        assert unknown in ("error", "unk")
        assert vocab.decode(vocab.encode(text)) == text  # nothing lost, unicode included
        assert CharVocab.from_json(vocab.to_json()) == vocab
        encoded = call("CharVocab.encode", vocab.encode, other)
        if encoded is not None:
            assert len(encoded) == len(other)
        elif unknown == "unk":
            raise AssertionError("unknown='unk' must encode any text")
        call("CharVocab.decode", vocab.decode, ids)
    call("CharVocab.from_dict", CharVocab.from_dict, d)
    call("CharVocab.from_json", CharVocab.from_json, json.dumps(d))
    call("CharVocab", CharVocab, ids, unknown)


@FUZZ
@given(st.lists(st.one_of(unicode_text, st.none(), st.integers()), max_size=5),
       st.one_of(st.none(), hostile_ints), st.sampled_from(["strip", "split", "x"]),
       st.one_of(st.lists(st.integers(-2**70, 2**70), max_size=4), arrays(), json_values),
       st.one_of(st.none(), hostile_ints),
       st.dictionaries(
           st.sampled_from(["class", "format_version", "words", "max_vocab", "lower",
                            "punctuation", "oov_token"]),
           st.one_of(json_values, st.just("WordTokenizer"), st.just(1),
                     st.lists(st.text(max_size=2), max_size=4)),
       ))
def test_word_tokenizer_on_hostile_input(texts: list[Any], max_vocab: Any, punctuation: Any,
                                         ids: Any, maxlen: Any, d: dict[str, Any]) -> None:
    tok = call("WordTokenizer", WordTokenizer, max_vocab=max_vocab, punctuation=punctuation)
    if tok is not None and call("WordTokenizer.fit", tok.fit, texts) is not None:
        encoded = call("WordTokenizer.encode", tok.encode, texts, maxlen=maxlen)
        if encoded is not None:
            assert encoded.shape[0] == len(texts)  # one row per text
        call("WordTokenizer.decode", tok.decode, ids)
        again = WordTokenizer.from_json(tok.to_json())
        assert again.vocabulary == tok.vocabulary
    call("WordTokenizer.from_dict", WordTokenizer.from_dict, d)
    call("WordTokenizer.from_json", WordTokenizer.from_json, json.dumps(d))


def test_deeply_nested_json_vocab_is_refused() -> None:
    for cls in ("CharVocab", "WordTokenizer"):
        fn = CharVocab.from_json if cls == "CharVocab" else WordTokenizer.from_json
        call(f"{cls}.from_json", fn, "[" * 50 + "]" * 50)


# --------------------------------------------------------------------------- tables
COLUMN_KINDS = {
    "float": st.floats(),
    "int": st.integers(-2**63, 2**63 - 1),
    "bool": st.booleans(),
    "str": st.text(max_size=3),
    "mixed": st.one_of(st.floats(), st.text(max_size=2), st.none(), st.integers(-2**70, 2**70)),
    "huge": st.sampled_from([1e308, -1e308, 2**64, 5e-324]),
    "dates": st.sampled_from(["2020-01-01", "x", "2021-13-01"]),
}


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, str | None]:
    n = draw(st.integers(0, 8))
    cols: dict[str, list[Any]] = {}
    for i, kind in enumerate(draw(st.lists(st.sampled_from(sorted(COLUMN_KINDS)),
                                           max_size=3))):
        name = draw(st.text(max_size=3)) + str(i)
        cols[name] = draw(st.lists(COLUMN_KINDS[kind], min_size=n, max_size=n))
    df = pd.DataFrame(cols, index=range(n))
    timekind = draw(st.sampled_from([None, "regular", "strings", "shuffled", "dups", "gaps"]))
    if timekind is None:
        return df, None
    base = [pd.Timestamp("2020-01-01") + pd.Timedelta(days=k) for k in range(n)]
    if timekind == "strings":
        times = draw(st.lists(st.text(max_size=10), min_size=n, max_size=n))
    elif timekind == "shuffled":
        times = [str(t.date()) for t in draw(st.permutations(base))]
    elif timekind == "dups":
        times = ["2020-01-01"] * n
    elif timekind == "gaps":
        days = sorted(draw(st.lists(st.integers(0, 30), min_size=n, max_size=n, unique=True)))
        times = [str((pd.Timestamp("2020-01-01") + pd.Timedelta(days=k)).date()) for k in days]
    else:
        times = [str(t.date()) for t in base]
    df["time"] = times
    return df, "time"


def _check_table(out: pd.DataFrame, df: pd.DataFrame, time_column: str | None) -> None:
    values = df.drop(columns=[time_column]) if time_column else df
    assert len(out) == len(df)  # no row dropped
    assert list(out.columns) == list(values.columns)
    got = out.to_numpy(dtype=np.float64)
    assert np.isfinite(got).all()
    want = values.to_numpy(dtype=np.float64)
    if time_column is not None:  # sort=True may have reordered the rows
        order = np.argsort(pd.to_datetime(df[time_column]).to_numpy(), kind="stable")
        want = want[order]
    assert np.array_equal(got, want)


@FUZZ
@given(frames(), st.sampled_from([None, "infer", "D", "h", "garbage", 3]), st.booleans(),
       st.one_of(st.none(), hostile_ints), hostile_ints)
def test_validate_series_and_read_csv_on_hostile_tables(
    tmp_path_factory: pytest.TempPathFactory, frame: tuple[pd.DataFrame, str | None],
    freq: Any, sort: bool, window: Any, horizon: Any,
) -> None:
    df, time_column = frame
    kwargs: dict[str, Any] = {"time_column": time_column, "freq": freq, "sort": sort,
                              "horizon": horizon}
    if window is not None:
        kwargs["window"] = window
    out = call("validate_series", validate_series, df, **kwargs)
    if out is not None:
        _check_table(out, df, time_column)
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    df.to_csv(path, index=False)
    out = call("read_csv", read_csv, path, **kwargs)
    if out is not None:
        assert len(out) == len(df)  # no row dropped


@FUZZ
@given(st.integers(1, 12), st.integers(1, 3), st.booleans(), st.booleans(), st.randoms())
def test_valid_tables_keep_every_row_and_value(
    tmp_path_factory: pytest.TempPathFactory, n: int, k: int, timed: bool, shuffled: bool,
    rnd: Any,
) -> None:
    values = np.array([[rnd.uniform(-1e30, 1e30) for _ in range(k)] for _ in range(n)])
    df = pd.DataFrame(values, columns=[f"c\u00e9{j}" for j in range(k)])
    time_column = None
    if timed:
        days = [str((pd.Timestamp("2021-03-01") + pd.Timedelta(days=i)).date()) for i in range(n)]
        if shuffled:
            rnd.shuffle(days)
        df.insert(0, "date", days)
        time_column = "date"
    out = call("validate_series", validate_series, df, time_column=time_column, sort=True)
    assert out is not None
    _check_table(out, df, time_column)
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    df.to_csv(path, index=False, float_format="%.17g")
    out = call("read_csv", read_csv, path, time_column=time_column, sort=True)
    assert out is not None  # read_csv parses numbers into float32
    _check_table(out, df.astype({c: np.float32 for c in df.columns if c != "date"}),
                 time_column)


@FUZZ
@given(st.binary(max_size=64) | unicode_text.map(lambda s: s.encode("utf-8", "surrogatepass"))
       | st.binary(max_size=64).map(lambda b: b"\x93NUMPY\x01\x00" + b)
       | st.binary(max_size=64).map(lambda b: b"PK\x03\x04" + b))
def test_readers_on_garbage_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    folder = tmp_path_factory.mktemp("raw")
    for name, fn in (("read_csv", read_csv), ("read_npy", read_npy), ("read_npz", read_npz)):
        path = folder / f"f.{name[5:]}"
        path.write_bytes(raw)
        call(name, fn, path)


@FUZZ
@given(arrays(max_dims=4), arrays(max_dims=2))
def test_array_readers_on_hostile_arrays(tmp_path_factory: pytest.TempPathFactory,
                                         x: np.ndarray, y: np.ndarray) -> None:
    folder = tmp_path_factory.mktemp("npy")
    np.save(folder / "x.npy", x)
    np.savez(folder / "d.npz", X=x, y=y)
    out = call("read_npy", read_npy, folder / "x.npy")
    if out is not None:
        assert out.dtype == x.dtype and np.array_equal(out, x, equal_nan=True)
        assert x.ndim == 3 and x.shape[0] > 0
    pair = call("read_npz", read_npz, folder / "d.npz")
    if pair is not None:
        assert np.array_equal(pair[0], x, equal_nan=True) and np.array_equal(pair[1], y)
        assert len(pair[1]) == len(x)
    with zipfile.ZipFile(folder / "d.npz") as z:
        assert set(z.namelist()) == {"X.npy", "y.npy"}


def test_missing_files_raise_os_errors(tmp_path: Path) -> None:
    for fn in (read_csv, read_npy, read_npz):
        with pytest.raises(FileNotFoundError):
            fn(tmp_path / "missing")


# --------------------------------------------------------------------------- regressions
def test_bug_header_only_csv(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(DataFileError, match=r"h\.csv'.*expected rows of values, got only a header"):
        read_csv(tmp_path / "h.csv")
    with pytest.raises(ValueError, match=r"column 'a', got only missing values"):
        validate_series(pd.DataFrame({"a": [None, None]}))


def test_bug_duplicate_column_names() -> None:
    with pytest.raises(ValueError, match=r"expected unique column names, got duplicates \['a'\]"):
        validate_series(pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "a", "b"]))


def test_bug_empty_npy_file(tmp_path: Path) -> None:
    (tmp_path / "e.npy").write_bytes(b"")
    for fn in (read_npy, read_npz):
        with pytest.raises(DataFileError, match=r"e\.npy'.*expected (a \.npy h|an \.npz)"):
            fn(tmp_path / "e.npy")


def test_bug_truncated_npz_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 3, 1)), y=np.zeros(2))
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"d\.npz'.*expected a zip archive"):
        read_npz(tmp_path / "d.npz")
    damaged = bytearray(data)
    damaged[100] ^= 0xFF  # inside the X.npy member: the archive opens, reading X fails
    (tmp_path / "d.npz").write_bytes(bytes(damaged))
    with pytest.raises(DataFileError, match=r"d\.npz'.*expected"):
        read_npz(tmp_path / "d.npz")


def test_bug_truncated_npz_leaks_the_file_handle(tmp_path: Path) -> None:
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fn in (read_npy, read_npz):
            with pytest.raises(DataFileError, match=r"d\.npz'.*expected"):
                fn(tmp_path / "d.npz")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_bug_pad_value_out_of_dtype_range() -> None:
    with pytest.raises(ValueError, match=r"expected a padding value .* \[0, 255\]\), got -917"):
        pad_sequences([[1]], dtype="uint8", value=-917)
    with pytest.raises(ValueError, match=r"padding value .*, got 1.5"):
        pad_sequences([[1]], dtype="int32", value=1.5)
    with pytest.raises(ValueError, match=r"expected values in \[0, 255\] .*got 300 in sequence 1"):
        pad_sequences([[1], [300]], dtype="uint8")  # numpy alone would store 44
    with pytest.raises(ValueError, match=r"got 1180591620717411303424 in sequence 0"):
        pad_sequences([[2**70]], dtype="int64")
    with pytest.raises(ValueError, match=r"expected whole numbers .*got 0.5 in sequence 0"):
        pad_sequences([[0.5]], dtype="bool")
    assert pad_sequences([[2**63 - 1]], dtype="int64", value=-(2**63)).tolist() == [[2**63 - 1]]
    assert pad_sequences([[255.0], []], dtype="uint8", value=255).tolist() == [[255], [255]]


def test_bug_pad_huge_maxlen() -> None:
    with pytest.raises(ValueError, match=r"expected an output that fits in memory.*got shape "
                                         r"\(1, 1099511627776\)"):
        pad_sequences([[1, 2]], maxlen=2**40)


def test_bug_vocab_json_recursion() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for fn in (CharVocab.from_json, WordTokenizer.from_json):
        with pytest.raises(ValueError, match="got JSON nested too deeply"):
            fn(deep)
        with pytest.raises(ValueError, match="got invalid JSON"):
            fn("{")


def test_bug_complex_column_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"expected real numbers in column 'a', got dtype complex"):
        validate_series(pd.DataFrame({"a": [1 + 2j, 2.0]}))
    with pytest.raises(ValueError, match=r"expected real-valued columns .*column 'a'"):
        make_windows(pd.DataFrame({"a": [1 + 2j, 2.0, 3.0]}), 1)


def test_bug_from_dict_types_are_strict() -> None:
    tok = WordTokenizer().fit(["a b"]).to_dict()
    with pytest.raises(ValueError, match="expected 'lower' to be true or false, got 'no'"):
        WordTokenizer.from_dict({**tok, "lower": "no"})
    with pytest.raises(ValueError, match="expected 'words' without the padding token '<pad>'"):
        WordTokenizer.from_dict({**tok, "words": ["a", "<pad>"]})
    vocab = CharVocab.from_text("ab").to_dict()
    for d, cls in ((tok, WordTokenizer), (vocab, CharVocab)):
        with pytest.raises(ValueError, match="expected format_version 1, got True"):
            cls.from_dict({**d, "format_version": True})  # type: ignore[attr-defined]


def test_bug_unguessable_timestamps_parse_without_a_warning() -> None:
    df = pd.DataFrame({"t": ["1-Mar-21 10:00 PM", "2-Mar-21 10:00 PM"], "v": [1.0, 2.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = validate_series(df, time_column="t")
        assert out.index.freqstr == "D" and out["v"].tolist() == [1.0, 2.0]
        # the same values pandas accepts by itself: a mismatch is still refused
        with pytest.raises(ValueError, match=r"expected timestamps in column 't', got 'x' at row"):
            validate_series(df.assign(t=["2021-03-01", "x"]), time_column="t")
