"""The classifier's validation part: whole groups, blocks of overlapping windows, stratified."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnnkit.data import make_windows
from rnnkit.tasks import SequenceClassifier
from rnnkit.tasks._recipe import MIN_DELTA
from rnnkit.tasks._validation import (
    best_epoch,
    check_groups,
    group_folds,
    overlap_blocks,
    validation_split,
)

SMALL: dict[str, Any] = {"units": (4,), "filters": (4,), "kernel_size": 3, "epochs": 1,
                         "batch_size": 8, "verbose": 0, "baseline": False, "validation": 0.2}


def test_grouped_validation_keeps_each_group_on_one_side() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 30)  # 10 subjects, each with every class
    ids = rng.integers(0, 3, size=300)
    tr, va = validation_split(ids, 0.2, np.random.default_rng(1), groups)
    assert set(groups[tr]).isdisjoint(groups[va])
    assert sorted([*tr, *va]) == list(range(300))
    assert len(va) == 60 and set(ids[va]) == {0, 1, 2}
    # one class per group (recordings): the classes still share the validation part
    ids = np.repeat(np.arange(4), 60)
    groups = np.repeat(np.arange(40), 6)
    tr, va = validation_split(ids, 0.2, np.random.default_rng(0), groups)
    assert set(groups[tr]).isdisjoint(groups[va])
    assert np.bincount(ids[va], minlength=4).tolist() == [12, 12, 12, 12]


def test_group_folds_are_stratified_with_one_sample_per_group() -> None:
    ids = np.array([0] * 30 + [1] * 10)
    folds = group_folds(ids, np.arange(40), 5, np.random.default_rng(0))
    for f in range(5):
        assert np.bincount(ids[folds == f]).tolist() == [6, 2]


def test_overlapping_windows_form_blocks_and_other_data_does_not() -> None:
    rng = np.random.default_rng(0)
    recordings = [rng.normal(size=(60, 2)) for _ in range(3)]
    windows = [make_windows(r, 20, stride=5, target=None) for r in recordings]  # (9, 20, 2)
    X = np.concatenate(windows)
    blocks = overlap_blocks(X, np.full(len(X), 20))
    assert blocks is not None
    assert blocks.tolist() == np.repeat(np.arange(3), len(windows[0])).tolist()
    assert overlap_blocks(rng.normal(size=(30, 20, 2)), np.full(30, 20)) is None
    images = np.zeros((10, 8, 8))  # blank first and last rows: constant, never an overlap
    images[:, 2:6] = rng.normal(size=(10, 4, 8))
    assert overlap_blocks(images, np.full(10, 8)) is None


def test_fit_records_how_the_validation_part_was_drawn() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6, 2))
    y = np.array(["a", "b"] * 20)
    groups = np.repeat(np.arange(8), 5)
    assert SequenceClassifier(**SMALL).fit(X, y).recipe_["validation_split"] == "stratified"
    task = SequenceClassifier(**SMALL).fit(X, y, groups=groups)
    assert task.recipe_["validation_split"] == "groups"
    series = rng.normal(size=(200, 2))
    W = make_windows(series, 10, stride=2, target=None)  # (96, 10, 2)
    labels = np.where(np.arange(len(W)) < len(W) // 2, "up", "down")
    task = SequenceClassifier(**SMALL).fit(W, labels)
    assert task.recipe_["validation_split"] == "blocks of overlapping windows"
    task = SequenceClassifier(**{**SMALL, "validation": 0.0}).fit(X, y, groups=groups)
    assert task.recipe_["validation_split"] == "none"


def test_bad_groups_are_refused_in_one_line() -> None:
    X = np.zeros((12, 4, 1))
    y = np.array([0, 1] * 6)
    with pytest.raises(ValueError, match=r"expected one group per sample \(12\), got groups "
                                         r"of shape \(11,\)"):
        SequenceClassifier(**SMALL).fit(X, y, groups=np.arange(11))
    with pytest.raises(ValueError, match="expected at least 2 groups"):
        SequenceClassifier(**SMALL).fit(X, y, groups=np.zeros(12))
    with pytest.raises(ValueError, match="expected finite groups, got nan at index 2"):
        check_groups(np.array([0.0, 1.0, np.nan]), 3)
    with pytest.raises(TypeError, match="object array"):
        check_groups(np.array([None, 1, 2], dtype=object), 3)


def test_tiny_sets_are_cross_validated_then_trained_on_every_sequence(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fold trains all its epochs (no early stopping); the final network trains for the
    epoch of the lowest median over the folds of the validation loss."""
    curves: list[list[float]] = []
    real_fit = SequenceClassifier._fit_network

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        model, result = real_fit(self, *args, **kwargs)
        if "val_loss" in result.history:
            curves.append(result.history["val_loss"])
        return model, result

    monkeypatch.setattr(SequenceClassifier, "_fit_network", spy)
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 20)
    X = rng.normal(size=(40, 6, 2)) + (y == "a")[:, None, None]
    task = SequenceClassifier(**{**SMALL, "epochs": 6, "validation": "auto",
                                 "learning_rate": 1e-2}).fit(X, y)
    recipe = task.recipe_
    assert recipe["validation_split"] == "5-fold cross-validation, stratified"
    assert len(recipe["fold_best_epochs"]) == 5
    assert all(1 <= e <= 6 for e in recipe["fold_best_epochs"])
    assert 1 <= recipe["epochs"] <= 6
    assert len(task.history_["loss"]) == recipe["epochs"]  # the final training, all 40
    assert [len(c) for c in curves] == [6] * 5
    assert recipe["epochs"] == best_epoch(np.median(curves, axis=0).tolist(), MIN_DELTA)
    assert "val_loss" not in task.history_
    assert task.score(X, y) > 0.5
