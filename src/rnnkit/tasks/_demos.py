"""The seeds' applications on the bundled data, one function per demo.

Each demo loads a bundled dataset (:mod:`rnnkit.datasets`), builds the task with the
settings documented below, trains it, scores it on the held-out part beside the baselines
and writes a run folder (see :mod:`rnnkit.tasks._runs`). ``quick=True`` runs the same code
on a slice of the data for one epoch with a tiny network (seconds; for CI), so the results
of quick runs mean nothing.

=============  =========  ==================================================================
demo           seed       what
=============  =========  ==================================================================
activity       000        accelerometer windows (200, 3) -> 7 exercises; the classifier's
                         defaults (training: overlapping windows, wrist augmentation;
                         validation: whole subjects)
energy         003        half-hourly electricity load, 33-step window, next step, known-future
                         working day and calendar; LSTM
temperature    001        Seattle daily max temperature with weather covariates; LSTM
digits         003        8x8 digits read row by row (8 steps of 8 pixels); defaults
shakespeare    003        character-level GRU on eight plays; bits per character, sample
prices         003        MSFT daily close, 33-day window; CNN-LSTM
accommodation  (13)       8 quarterly series, one global model (the Forecaster's defaults)
                         against one model per series and every baseline
sentiment      002        movie-review snippets, positive/negative; embedding + LSTM
=============  =========  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import datasets
from ._base import clone
from ._classifier import SequenceClassifier
from ._forecaster import Forecaster
from ._generator import TextGenerator
from ._runs import Run, run_classification, run_forecast, run_text

__all__ = ["DEMOS", "Demo", "demo_data", "run_demo"]

Verbose = int | str


@dataclass(frozen=True)
class Demo:
    """A demo: its name, what it shows, the seed it comes from and its target."""

    name: str
    title: str
    seed: str
    target: str
    runner: Callable[[Path, bool, Verbose], Run]
    check: Callable[[dict[str, Any]], bool]


def _mirror_right_wrist(X: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Mirror the x axis of right-wrist windows (``side == 1``): the watch's x axis points
    the other way on the right arm (the class means of ``ax`` flip sign with the side), so
    after this both arms share one frame."""
    out = np.array(X, dtype=np.float32, copy=True)
    out[side == 1, :, 0] *= -1.0
    return out


def _named(y: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    return np.asarray(classes)[y]


def demo_data(name: str, quick: bool = False) -> Any:
    """The prepared data of a demo (also the ``dataset = "..."`` sources of ``rnnkit train``):

    * ``activity``, ``digits``, ``sentiment``: ``(X_train, y_train, X_test, y_test)`` with
      labels as class names;
    * ``energy`` (half-hourly load), ``electricity`` (daily), ``temperature``, ``prices``:
      a DataFrame with a DatetimeIndex;
    * ``shakespeare``: the text.

    ``quick`` keeps a small slice.
    """
    if name == "activity":
        ds = datasets.load_activity()
        X = _mirror_right_wrist(ds.X, ds.extras["side"])
        y = _named(ds.y, ds.classes)
        parts = X[~ds.is_test], y[~ds.is_test], X[ds.is_test], y[ds.is_test]
    elif name == "digits":
        ds = datasets.load_digits()
        y = _named(ds.y, ds.classes)
        parts = ds.X[~ds.is_test], y[~ds.is_test], ds.X[ds.is_test], y[ds.is_test]
    elif name == "sentiment":
        ds = datasets.load_sentiment()
        y = _named(ds.y, ds.classes)
        parts = ds.X_train, y[~ds.is_test], ds.X_test, y[ds.is_test]
    elif name == "energy":
        frame = datasets.load_electricity("30min")
        return frame.iloc[-1200:] if quick else frame
    elif name == "electricity":
        return datasets.load_electricity("D")
    elif name == "temperature":
        frame = datasets.load_temperature()
        return frame.iloc[-500:] if quick else frame
    elif name == "prices":
        frame = datasets.load_prices()[["open", "high", "low", "close"]]
        return frame.iloc[-600:] if quick else frame
    elif name == "shakespeare":
        text = datasets.load_shakespeare()
        return text[:20000] if quick else text
    else:
        raise ValueError(f"expected a demo dataset in {sorted(DATA_NAMES)}, got {name!r}")
    if quick:
        xtr, ytr, xte, yte = parts
        rng = np.random.default_rng(0)
        i = rng.permutation(len(ytr))[:96]
        j = rng.permutation(len(yte))[:64]
        take = (lambda d, k: [d[t] for t in k.tolist()]) if isinstance(xtr, list) else \
            (lambda d, k: d[k])
        return take(xtr, i), ytr[i], take(xte, j), yte[j]
    return parts


DATA_NAMES = ("activity", "digits", "sentiment", "energy", "electricity", "temperature",
              "prices", "shakespeare")


# -- the demos --------------------------------------------------------------------------------
def _classify(name: str, task: SequenceClassifier, out: Path, quick: bool, data: str) -> Run:
    xtr, ytr, xte, yte = demo_data(name, quick)
    return run_classification(task, xtr, ytr, xte, yte, out=out, data=data,
                              config={"command": f"demo {name}", "quick": quick})


def _rotations(angles: np.ndarray) -> np.ndarray:
    """Rotation matrices ``Rz @ Ry @ Rx`` for angles ``(n, 3)`` (radians) -> ``(n, 3, 3)``."""
    c, s = np.cos(angles), np.sin(angles)  # (n, 3) each
    one, zero = np.ones(len(angles)), np.zeros(len(angles))
    rx = np.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], 1)
    ry = np.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], 1)
    rz = np.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], 1)
    r = [m.reshape(-1, 3, 3) for m in (rx, ry, rz)]  # (n, 3, 3) each
    return r[2] @ r[1] @ r[0]


def wrist_augmented(X: np.ndarray, random_state: int | np.random.Generator = 1,
                    max_degrees: float = 20.0, scale: float = 0.1,
                    noise: float = 0.02) -> np.ndarray:
    """Training augmentation for accelerometer windows ``(n, T, 3)``: each window is
    rotated by a random ``Rz Ry Rx`` (each angle uniform in +-``max_degrees``: the watch
    sits differently on each wrist), each axis scaled by ``N(1, scale)`` and Gaussian noise
    ``N(0, noise)`` (in g) added: ``x'_t = R (s * x_t) + e_t``. Returns a new array.

    ``random_state`` may be a seed or a ``numpy.random.Generator``, so the function
    itself fits ``SequenceClassifier(augment=wrist_augmented)`` (a fresh copy per epoch).
    """
    rng = np.random.default_rng(random_state)
    n = len(X)
    s = rng.normal(1.0, scale, size=(n, 1, 3))  # (n, 1, 3)
    z = X * s + rng.normal(0.0, noise, size=X.shape)  # (n, T, 3)
    r = _rotations(np.deg2rad(max_degrees) * rng.uniform(-1.0, 1.0, size=(n, 3)))
    return np.einsum("ntc,ndc->ntd", z, r).astype(np.float32)  # (n, T, 3)


class WristAugment(dict[str, Any]):
    """:func:`wrist_augmented` with fixed settings as ``augment(X, rng)`` for
    :class:`SequenceClassifier` (a fresh copy every epoch). It is a dict of its settings,
    so run folders record it in ``config.json``."""

    def __init__(self, max_degrees: float = 20.0, scale: float = 0.1,
                 noise: float = 0.02) -> None:
        super().__init__(function="wrist_augmented", max_degrees=max_degrees, scale=scale,
                         noise=noise)

    def __call__(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return wrist_augmented(X, rng, self["max_degrees"], self["scale"], self["noise"])


ACTIVITY_STRIDE = 25


def _activity(out: Path, quick: bool, verbose: Verbose) -> Run:
    # the defaults, and the watch's random placement on the wrist as augmentation (as the
    # digits demo shifts its images): chosen on the validation subjects
    task = SequenceClassifier(augment=WristAugment(), max_time=540.0, verbose=verbose)
    xtr, ytr, xte, yte = demo_data("activity", quick)
    data = (f"load_activity(): watch accelerometer, test subjects 9 and 10 (non-overlapping "
            f"windows); training subjects' windows every {ACTIVITY_STRIDE} steps, rotated, "
            f"scaled and jittered afresh every epoch; validation by whole subjects")
    ds = datasets.load_activity(stride=None if quick else ACTIVITY_STRIDE)
    assert ds.groups is not None  # load_activity() always gives the subjects
    subjects = ds.groups[~ds.is_test]
    if quick:
        task.set_params(units=(8,), filters=(8,), epochs=1, max_time=None)
        subjects = subjects[np.random.default_rng(0).permutation(len(subjects))[:96]]
    else:  # overlapping windows of the training subjects only; the test part is unchanged
        xtr = _mirror_right_wrist(ds.X, ds.extras["side"])[~ds.is_test]
        ytr = _named(ds.y, ds.classes)[~ds.is_test]
    return run_classification(task, xtr, ytr, xte, yte, out=out, data=data, groups=subjects,
                              config={"command": "demo activity", "quick": quick,
                                      "train_stride": ACTIVITY_STRIDE})


def shifted_copies(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training augmentation for images: the originals plus copies shifted by one pixel
    up, down, left and right (zeros fill the freed row/column): 5x the samples, in five
    blocks (image ``i`` of ``X`` is row ``i + k * len(X)`` of block ``k``)."""
    xs, ys = [X], [y]
    h, w = X.shape[1], X.shape[2]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        moved = np.zeros_like(X)
        moved[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
            X[:, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
        xs.append(moved)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _digits(out: Path, quick: bool, verbose: Verbose) -> Run:
    task = SequenceClassifier(max_time=540.0, verbose=verbose)  # the defaults
    if quick:
        task.set_params(units=(8,), filters=(8,), epochs=1, max_time=None)
    xtr, ytr, xte, yte = demo_data("digits", quick)
    images = np.tile(np.arange(len(ytr)), 5)  # an image and its shifts: one group
    xtr, ytr = shifted_copies(xtr, ytr)  # the training part only
    return run_classification(task, xtr, ytr, xte, yte, out=out, groups=images,
                              data="load_digits(): 8x8 digits, rows as steps; training "
                                   "images augmented with one-pixel shifts (validation by "
                                   "whole images: an image and its shifts on one side)",
                              config={"command": "demo digits", "quick": quick})


def _sentiment(out: Path, quick: bool, verbose: Verbose) -> Run:
    task = SequenceClassifier(
        "lstm", (64,), embedding_dim=64, max_vocab=20000, maxlen=60, dropout=0.3,
        epochs=10, batch_size=32, learning_rate=1e-3, patience=2, validation=0.1,
        verbose=verbose,
    )
    if quick:
        task.set_params(units=(8,), embedding_dim=8, epochs=1)
    return _classify("sentiment", task, out, quick,
                     "load_sentiment(): movie-review snippets (Hutto & Gilbert 2014)")


#: Bank holidays of England and Wales in 2000 (the energy data: 5 June to 27 August 2000).
_BANK_HOLIDAYS_2000 = ("2000-01-03", "2000-04-21", "2000-04-24", "2000-05-01", "2000-05-29",
                       "2000-08-28", "2000-12-25", "2000-12-26")


def _energy(out: Path, quick: bool, verbose: Verbose) -> Run:
    """Known-future covariates: whether the day is a working day (Monday to Friday and not
    a bank holiday) and the hour and day of the week (``calendar``)."""
    task = Forecaster(
        "lstm", window=33, horizon=1, units=(32,), seasonal_period=48, epochs=100,
        batch_size=32, learning_rate=1e-3, patience=10, validation=0.15, verbose=verbose,
        target="load_mw", future_covariates=["working_day"], calendar=True,
    )
    if quick:
        task.set_params(units=(4,), epochs=1)
    series = demo_data("energy", quick)
    day = series.index.normalize()
    holiday = day.isin(pd.DatetimeIndex(_BANK_HOLIDAYS_2000))
    series = series.assign(working_day=((day.day_of_week < 5) & ~holiday).astype(np.float32))
    return run_forecast(task, series, out=out, test=0.2,
                        data="load_electricity('30min'): half-hourly load (MW); known-future "
                             "working day (England and Wales) and calendar covariates",
                        config={"command": "demo energy", "quick": quick})


def _temperature(out: Path, quick: bool, verbose: Verbose) -> Run:
    task = Forecaster(
        "lstm", window=14, horizon=1, target="temp_max", units=(32,), seasonal_period=365,
        past_covariates=["temp_min", "precipitation", "wind"],
        epochs=100, batch_size=32, learning_rate=1e-3, patience=10, validation=0.15,
        verbose=verbose,
    )
    if quick:
        task.set_params(units=(4,), epochs=1, seasonal_period=7)
    series = demo_data("temperature", quick)
    return run_forecast(task, series, out=out, test=0.2,
                        data="load_temperature(): Seattle daily weather, target temp_max",
                        config={"command": "demo temperature", "quick": quick})


def _prices(out: Path, quick: bool, verbose: Verbose) -> Run:
    task = Forecaster(
        "cnn-lstm", window=33, horizon=1, target="close", units=(32,), filters=32,
        past_covariates=["open", "high", "low"],
        kernel_size=5, residual=True, seasonal_period=5, epochs=50, batch_size=32,
        learning_rate=1e-3, patience=5, validation=0.15, verbose=verbose,
    )
    if quick:
        task.set_params(units=(4,), filters=4, epochs=1)
    series = demo_data("prices", quick)
    return run_forecast(task, series, out=out, test=0.1,
                        data="load_prices(): MSFT daily open/high/low/close",
                        config={"command": "demo prices", "quick": quick})


def _accommodation(out: Path, quick: bool, verbose: Verbose) -> Run:
    """One global model over the 8 states against one model per state (same settings)."""
    task = Forecaster(target="takings", id_column="state", time_column="quarter", horizon=4,
                      verbose=verbose)
    if quick:
        task.set_params(units=(4,), epochs=1)
    table = datasets.load_aus_accommodation()[["state", "quarter", "takings"]]
    run = run_forecast(task, table, out=out, test=8,
                       data="load_aus_accommodation(): quarterly takings of 8 states",
                       config={"command": "demo accommodation", "quick": quick})
    run.metrics["per_series_models"] = _per_series_models(task, table, test=8)
    return run


def _per_series_models(task: Forecaster, table: Any, test: int) -> dict[str, float]:
    """MAE and MASE of one clone of ``task`` per series, trained on that series' rows
    before its last ``test`` and backtested on them (every series has as many origins, so
    the means of the series' figures are the pooled ones)."""
    figures: dict[str, list[float]] = {"mae": [], "mase": []}
    for _, rows in table.groupby(task.id_column, sort=False):
        model = clone(task).fit(rows.iloc[:-test])
        m = model.backtest(rows, test=test, statistical=False).metrics
        for key, values in figures.items():
            values.append(float(m[key]))
    return {key: float(np.mean(values)) for key, values in figures.items()}


def _shakespeare(out: Path, quick: bool, verbose: Verbose) -> Run:
    task = TextGenerator(
        "gru", (384,), embedding_dim=64, seq_length=100, dropout=0.25, recurrent_dropout=0.25,
        epochs=60, batch_size=32, learning_rate=3e-3, patience=4, validation=0.05,
        max_time=570.0, verbose=verbose,
    )
    length = 500
    if quick:
        task.set_params(units=(16,), embedding_dim=8, seq_length=50, epochs=1, max_time=None)
        length = 80
    text = demo_data("shakespeare", quick)
    return run_text(task, text, out=out, test=0.1, seed_text="ROMEO:", sample_length=length,
                    temperature=0.8, data="load_shakespeare(): eight plays",
                    config={"command": "demo shakespeare", "quick": quick})


def _beats_baselines(m: dict[str, Any]) -> bool:
    b = m["baselines"]
    return bool(m["mae"] < b["naive"]["mae"] and m["mae"] < b["seasonal_naive"]["mae"])


DEMOS: dict[str, Demo] = {
    d.name: d
    for d in (
        Demo("activity", "activity recognition from a smartwatch accelerometer, the "
             "classifier's defaults (Conv1D front end, LSTM)",
             "000", "accuracy >= 0.90", _activity, lambda m: m["accuracy"] >= 0.90),
        Demo("energy", "electricity load forecasting, 33-step window, known-future "
             "working-day and calendar covariates, LSTM", "003",
             "MAE below the naive and seasonal-naive forecasts", _energy, _beats_baselines),
        Demo("temperature", "daily maximum temperature forecasting with covariates, LSTM",
             "001", "MAE below the naive and seasonal-naive forecasts", _temperature,
             _beats_baselines),
        Demo("digits", "8x8 digits read row by row, the classifier's defaults", "003",
             "accuracy >= 0.97",
             _digits, lambda m: m["accuracy"] >= 0.97),
        Demo("shakespeare", "character-level GRU text generation", "003",
             "<= 2.4 bits per character within 10 minutes of training", _shakespeare,
             lambda m: m["bits_per_char"] <= 2.4 and (m["train_seconds"] or 0) <= 600),
        Demo("prices", "share-price forecasting, CNN-LSTM", "003",
             "MAE below the naive and seasonal-naive forecasts", _prices, _beats_baselines),
        Demo("accommodation", "8 quarterly series: one global model against one model per "
             "series and the baselines", "13", "MASE below the seasonal-naive forecast's",
             _accommodation,
             lambda m: m["mase"] < m["baselines"]["seasonal_naive"]["mase"]),
        Demo("sentiment", "sentiment classification of review snippets, LSTM", "002",
             "accuracy >= majority class + 0.10", _sentiment,
             lambda m: m["accuracy"] >= m["baselines"]["majority"]["accuracy"] + 0.10),
    )
}


def run_demo(name: str = "activity", *, out: str | Path, quick: bool = False,
             verbose: Verbose = 0) -> Run:
    """Run demo ``name`` into the folder ``out``; ``metrics.json`` records the target the
    README lists for it and whether this run met it (``target``; not printed: the output
    shows the result beside its baselines)."""
    if name not in DEMOS:
        raise ValueError(f"expected a demo name in {list(DEMOS)}, got {name!r}")
    demo = DEMOS[name]
    run = demo.runner(Path(out), quick, verbose)
    run.metrics["demo"] = name
    run.metrics["target"] = {"description": demo.target, "met": bool(demo.check(run.metrics)),
                             "quick": quick}
    from ._base import to_json

    (run.folder / "metrics.json").write_text(to_json(run.metrics) + "\n", encoding="utf-8")
    return run
