"""SequenceClassifier: labels of any dtype, text and token inputs, baselines, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnnkit.tasks import SequenceClassifier, load_task

FAST: dict[str, Any] = {"epochs": 3, "batch_size": 16, "learning_rate": 5e-3, "verbose": 0}


def _data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.array(["down", "flat", "up"])[np.arange(n) % 3]
    slope = np.select([y == "down", y == "up"], [-1.0, 1.0], 0.0)
    t = np.linspace(0, 1, 6)
    X = slope[:, None, None] * t[None, :, None] + 0.1 * rng.normal(size=(n, 6, 2))
    return X, y


def test_string_labels_metrics_and_baselines(tmp_path: Path) -> None:
    X, y = _data()
    c = SequenceClassifier("gru", units=(8,), **FAST).fit(X, y)
    pred = c.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= {"down", "flat", "up"}
    proba = c.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    r = c.evaluate(X, y)
    assert r["labels"] == ["down", "flat", "up"]
    assert r["accuracy"] == pytest.approx(c.score(X, y))
    assert np.asarray(r["confusion_matrix"]).sum() == 60
    assert set(r["per_class"]["up"]) == {"precision", "recall", "f1", "support"}
    assert r["baselines"]["majority"]["accuracy"] == pytest.approx(1 / 3)
    assert 0.0 <= r["baselines"]["non_recurrent"]["accuracy"] <= 1.0
    with pytest.raises(ValueError, match="fitted classes"):
        c.evaluate(X[:2], np.array(["up", "sideways"]))
    c.save(tmp_path / "run")
    d = load_task(tmp_path / "run")
    assert isinstance(d, SequenceClassifier)
    np.testing.assert_allclose(d.predict_proba(X), proba, rtol=1e-5)
    assert d.evaluate(X, y)["baselines"]["non_recurrent"] == r["baselines"]["non_recurrent"]


def test_integer_and_bool_labels_keep_their_dtype(tmp_path: Path) -> None:
    X, y = _data(30)
    labels = (y == "up")
    c = SequenceClassifier(units=(4,), baseline=False, **FAST).fit(X, labels)
    assert c.predict(X).dtype == np.bool_
    c.save(tmp_path / "b")
    b = load_task(tmp_path / "b")
    assert isinstance(b, SequenceClassifier) and b.classes_.tolist() == [False, True]
    ints = np.where(y == "up", 7, 3)
    assert SequenceClassifier(units=(4,), baseline=False, **FAST).fit(X, ints).classes_.tolist() \
        == [3, 7]


def test_text_and_token_inputs(tmp_path: Path) -> None:
    texts = ["a great film", "awful and dull", "great fun", "dull plot", "a fun ride",
             "awful acting"] * 5
    labels = np.array(["pos", "neg", "pos", "neg", "pos", "neg"] * 5)
    c = SequenceClassifier(units=(8,), embedding_dim=8, **FAST).fit(texts, labels)
    assert c.mode_ == "text" and c.input_shape_ == [3]
    assert c.predict(["great film", "dull"]).shape == (2,)
    c.save(tmp_path / "t")
    d = load_task(tmp_path / "t")
    assert isinstance(d, SequenceClassifier)
    np.testing.assert_allclose(d.predict_proba(texts[:4]), c.predict_proba(texts[:4]), rtol=1e-5)
    ids = np.random.default_rng(0).integers(0, 9, size=(30, 5))
    t = SequenceClassifier(units=(4,), embedding_dim=4, **FAST).fit(ids, labels)
    assert t.mode_ == "tokens" and t.vocab_size_ == int(ids.max()) + 1
    with pytest.raises(ValueError, match="token ids <"):
        t.predict(ids + 100)


def test_bad_inputs() -> None:
    X, y = _data(12)
    with pytest.raises(ValueError, match="one label per sample"):
        SequenceClassifier(**FAST).fit(X, y[:5])
    with pytest.raises(ValueError, match="at least 2 classes"):
        SequenceClassifier(**FAST).fit(X, np.array(["a"] * 12))
    with pytest.raises(ValueError, match="samples, timesteps, features"):
        SequenceClassifier(**FAST).fit(X[:, :, 0].astype(np.float32), y)
    c = SequenceClassifier(units=(4,), baseline=False, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="as fitted"):
        c.predict(np.zeros((2, 9, 2)))
