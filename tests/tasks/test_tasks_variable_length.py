"""SequenceClassifier on sequences of different lengths, and its default recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rnnkit.tasks import SequenceClassifier, TrainingConfig, load_task
from rnnkit.tasks._recipe import (
    BalancedCrossEntropy,
    LengthBuckets,
    balanced_weights,
    resolve_recipe,
)
from rnnkit.tasks._validation import stratified_validation

SMALL: dict[str, Any] = {"units": (6,), "filters": (6, 6), "kernel_size": 3, "epochs": 2,
                         "batch_size": 8, "learning_rate": 5e-3, "verbose": 0,
                         "validation": 0.2}  # no cross-validation (tested on its own)


def _ragged(n: int = 40, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        label = i % 2
        steps = int(rng.integers(3, 15))
        xs.append(rng.normal(2.0 * label - 1.0, 0.5, size=(steps, 2)))
        ys.append(["low", "high"][label])
    return xs, np.array(ys)


def test_list_padded_with_lengths_and_nan_padded_give_the_same_model(tmp_path: Path) -> None:
    xs, y = _ragged()
    longest = max(len(x) for x in xs)
    lengths = np.array([len(x) for x in xs])
    padded = np.full((len(xs), longest + 3, 2), 7.0)  # padding values are never read
    nan_padded = np.full((len(xs), longest + 3, 2), np.nan)
    for i, x in enumerate(xs):
        padded[i, : len(x)] = x
        nan_padded[i, : len(x)] = x
    a = SequenceClassifier(**SMALL).fit(xs, y)
    b = SequenceClassifier(**SMALL).fit(padded, y, lengths=lengths)
    c = SequenceClassifier(**SMALL).fit(nan_padded, y)
    pa = a.predict_proba(xs)
    np.testing.assert_allclose(b.predict_proba(xs), pa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.predict_proba(nan_padded), pa, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.predict_proba(padded, lengths=lengths), pa, rtol=1e-5,
                               atol=1e-6)
    # the scaler saw the real steps only: padding never became values
    real = np.concatenate(xs)
    np.testing.assert_allclose(a.scaler_.mean, real.mean(axis=0), rtol=1e-6)
    # a sequence's prediction does not depend on its neighbours' lengths (its own padding)
    alone = [a.predict_proba([x])[0] for x in xs[:4]]
    np.testing.assert_allclose(np.array(alone), pa[:4], rtol=1e-5, atol=1e-6)
    m = a.evaluate(xs, y)
    assert {"log_loss", "beats_baselines"} <= set(m)
    assert "chance" in m["baselines"] and "log_loss" in m["baselines"]["non_recurrent"]
    a.save(tmp_path / "run")
    again = load_task(tmp_path / "run", SequenceClassifier)
    np.testing.assert_allclose(again.predict_proba(xs), pa, rtol=1e-6)
    assert again.recipe_ == a.recipe_


def test_refused_sequences_are_counted_and_named() -> None:
    xs, y = _ragged(12)
    xs[3] = xs[3][:0]
    xs[7] = xs[7][:0]
    with pytest.raises(ValueError, match=r"got empty 2 sequence\(s\), index 3, 7"):
        SequenceClassifier(**SMALL).fit(xs, y)
    xs, y = _ragged(12)
    xs[5] = xs[5].copy()
    xs[5][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"step 1 of sequence 5: 1 sequence\(s\), index 5"):
        SequenceClassifier(**SMALL).fit(xs, y)
    with pytest.raises(ValueError, match="expected lengths only with numeric sequences"):
        SequenceClassifier(**SMALL).fit(["a b", "b c"] * 3, [0, 1] * 3, lengths=[2] * 6)
    with pytest.raises(ValueError, match="class_weight"):
        SequenceClassifier(class_weight="inverse", **SMALL).fit(*_ragged(12))


def test_recipe_scales_with_the_data() -> None:
    auto = TrainingConfig(epochs="auto", batch_size="auto", validation="auto", patience="auto")
    small, large = resolve_recipe(auto, 40, 4), resolve_recipe(auto, 10_000, 10)
    assert small.batch_size == 8 and large.batch_size == 64
    assert small.epochs > large.epochs >= 30 and small.patience >= 10
    fixed = resolve_recipe(TrainingConfig(epochs=7, batch_size=3, validation=0.5, patience=2),
                           40, 4)
    assert (fixed.epochs, fixed.batch_size, fixed.validation, fixed.patience) == (7, 3, 0.5, 2)
    with pytest.raises(TypeError, match="epochs"):
        TrainingConfig(epochs="auto").check()  # only the classifier resolves "auto"
    ids = np.array([0] * 90 + [1] * 10)
    tr, va = stratified_validation(ids, 0.2, np.random.default_rng(0))
    assert np.bincount(ids[va]).tolist() == [18, 2] and len(set(tr) | set(va)) == 100
    tiny = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    _, va = stratified_validation(tiny, 0.2, np.random.default_rng(0))
    assert np.bincount(tiny[va]).tolist() == [2, 2, 2]  # every class judged


def test_balanced_loss_weights_rare_classes() -> None:
    ids = np.array([0] * 9 + [1])
    w = balanced_weights(ids, 2)
    np.testing.assert_allclose(w * np.bincount(ids), [5.0, 5.0])  # each class counts equally
    loss = BalancedCrossEntropy(w)
    proba = torch.full((10, 2), 0.5)
    plain = -np.log(0.5)
    assert float(loss(torch.from_numpy(ids), proba)) == pytest.approx(plain * w @ [9, 1] / 10)


def test_length_buckets_reorder_every_epoch_in_full_batches() -> None:
    lengths = np.array([1, 9, 2, 8, 3, 7, 4, 6, 5, 5, 1])
    values = torch.arange(11, dtype=torch.float32)
    labels = torch.arange(11)
    hook = LengthBuckets([values, labels], lengths, batch_size=2, seed=0)
    hook.on_epoch_begin(0)
    first = hook.targets[1].clone()
    assert sorted(first.tolist()) == list(range(11))
    torch.testing.assert_close(hook.targets[0], first.to(torch.float32))
    pairs = first[:10].reshape(5, 2)
    assert all(abs(int(lengths[a]) - int(lengths[b])) <= 1 for a, b in pairs.tolist())
    hook.on_epoch_begin(1)
    assert not torch.equal(hook.targets[1], first)  # a new order each epoch
    hook.on_epoch_begin(0)
    assert torch.equal(hook.targets[1], first)  # ... that depends on the seed and epoch only


def test_baseline_learns_below_chance_and_the_headline_says_when_it_wins() -> None:
    xs, y = _ragged(48, seed=1)
    c = SequenceClassifier(**{**SMALL, "epochs": 15}).fit(xs, y)
    m = c.evaluate(xs, y)
    chance = m["baselines"]["chance"]["log_loss"]
    assert m["baselines"]["non_recurrent"]["log_loss"] < chance
    lines = SequenceClassifier.headline({**m, "accuracy": 0.1, "beats_baselines": False})
    assert lines[-1].startswith("note ") and "does not beat" in lines[-1]
    assert not any(line.startswith("note") for line in SequenceClassifier.headline(
        {**m, "beats_baselines": True}))


def test_long_sequences_are_pooled_and_padding_still_never_read() -> None:
    """Training sequences of 40+ steps are max-pooled after each convolution while 32 or
    more steps remain (70 -> 35 -> 18); short ones are not (test above). A sequence's
    prediction is the same alone as padded beside longer ones."""
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(int(n), 2)) for n in rng.integers(20, 71, size=24)]
    y = np.array(["a", "b"] * 12)
    c = SequenceClassifier(**{**SMALL, "filters": (4, 4, 4)}).fit(xs, y)
    pools = [layer for layer in c.model_.layers if type(layer).__name__ == "MaskedMaxPooling1D"]
    assert len(pools) == 4  # two convolutions pooled (values and mask each), the third not
    both = c.predict_proba(xs)
    alone = np.concatenate([c.predict_proba([x]) for x in xs])
    np.testing.assert_allclose(alone, both, rtol=1e-5, atol=1e-6)
