"""SequenceClassifier: labels of any dtype, text and token inputs, baselines, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnnkit.tasks import SequenceClassifier, load_task
from rnnkit.tasks._validation import stratified_validation

FAST: dict[str, Any] = {"epochs": 3, "batch_size": 16, "learning_rate": 5e-3, "verbose": 0,
                        "filters": (4,), "validation": 0.2}  # no cross-validation


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
    with pytest.raises(ValueError, match="feature"):
        c.predict(np.zeros((2, 6, 3)))


def test_sequences_longer_than_in_training_are_read_whole(tmp_path: Path) -> None:
    """A masked network reads any length: a 9-step sequence after 6-step training gets the
    same probabilities alone as beside shorter ones, and so does the baseline (resampled)."""
    X, y = _data(30)
    c = SequenceClassifier(units=(4,), epochs=2, batch_size=8, validation=0.2,
                           filters=(4,), random_state=0).fit(X, y)
    long = np.random.default_rng(1).normal(size=(9, 2))
    mixed = [X[0], long, X[1][:4]]
    alone = c.predict_proba([long])
    np.testing.assert_allclose(c.predict_proba(mixed)[1], alone[0], rtol=1e-5, atol=1e-6)
    r = c.evaluate(mixed, y[:3])
    assert r["n_samples"] == 3 and "non_recurrent" in r["baselines"]
    loaded = load_task(c.save(tmp_path / "run"))
    np.testing.assert_allclose(loaded.predict_proba([long]), alone, rtol=1e-5, atol=1e-6)


def test_augment_fresh_copy_every_epoch(tmp_path: Path) -> None:
    X, y = _data()
    calls: list[tuple[np.ndarray, float]] = []

    def jitter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draw = float(rng.normal())
        calls.append((x.copy(), draw))
        x += 0.01 * draw  # in place is fine: augment gets a copy
        return x

    c = SequenceClassifier(units=(4,), augment=jitter, baseline=False, **FAST).fit(X, y)
    assert len(calls) == FAST["epochs"]  # once per epoch, each time from the original part
    ids = np.unique(y, return_inverse=True)[1]
    tr, va = stratified_validation(ids, 0.2, np.random.default_rng(0))
    assert len(va) == 12 and np.bincount(ids[va]).tolist() == [4, 4, 4]
    for x, _ in calls:  # the unscaled training part, not the previous epoch's copy
        np.testing.assert_allclose(x, X[tr].astype(np.float32), rtol=1e-6)
        assert x.shape == (48, 6, 2)
    draws = [d for _, d in calls]
    assert len(set(draws)) == len(draws)  # a fresh generator state per epoch ...
    calls.clear()
    SequenceClassifier(units=(4,), augment=jitter, baseline=False, **FAST).fit(X, y)
    assert [d for _, d in calls] == draws  # ... seeded from random_state and the epoch
    assert c.get_params()["augment"] is jitter
    assert c.set_params(augment=None).augment is None
    c.set_params(augment=jitter).save(tmp_path / "m")  # a callable is stored as null
    assert load_task(tmp_path / "m").get_params()["augment"] is None
    assert c.augment is jitter


def test_augment_checks() -> None:
    X, y = _data(30)
    with pytest.raises(TypeError, match="augment"):
        SequenceClassifier(units=(4,), augment="rotate", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        SequenceClassifier(units=(4,), augment=lambda x, rng: x[:, :3],
                           **FAST).fit(X, y)
    with pytest.raises(ValueError, match="numeric sequences"):
        SequenceClassifier(units=(4,), augment=lambda x, rng: x,
                           **FAST).fit(["a b", "b c", "c a"] * 4, [0, 1, 1] * 4)


def test_wrist_augment_is_a_json_record_and_an_augment() -> None:
    import json

    from rnnkit.tasks._demos import WristAugment

    X = np.random.default_rng(0).normal(size=(5, 7, 3)).astype(np.float32)
    aug = WristAugment(max_degrees=10.0)
    assert json.loads(json.dumps(aug))["max_degrees"] == 10.0  # recorded in config.json
    a, b = aug(X, np.random.default_rng(1)), aug(X, np.random.default_rng(1))
    assert a.shape == X.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, X)
    same = WristAugment(max_degrees=0.0, scale=0.0, noise=0.0)(X, np.random.default_rng(2))
    np.testing.assert_allclose(same, X, atol=1e-6)


def test_run_folder_records_a_plain_augment_function(tmp_path: Path) -> None:
    import json

    from rnnkit.tasks._runs import run_classification

    def flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[:, :, ::-1] if rng.random() < 0.5 else x

    X, y = _data()
    task = SequenceClassifier(units=(4,), augment=flip, baseline=False, **FAST)
    run_classification(task, X[:50], y[:50], X[50:], y[50:], out=tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "flip" in json.dumps(config)  # recorded by name, not an error
    assert load_task(tmp_path / "run").augment is None
