"""How :class:`SequenceClassifier` trains (a base class of it): the parameter checks, the
network spec, the validation part or the cross-validation of tiny sets, the network and the
non-recurrent baseline.

With the recipe's validation (``validation="auto"``), a training set of at least
:data:`CV_BELOW` sequences keeps a validation part (whole groups when there are groups, see
:mod:`._validation`) for early stopping and the learning-rate plateaus; a smaller one is
cross-validated: one network per fold is trained and judged on its fold, and the epoch of the
lowest median over the folds of the validation loss then trains the network on every sequence,
so that no tiny set judges (or loses) a fifth of itself on one random draw. The baseline trains
on the validation split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import torch
from numpy.typing import NDArray

from ..data import Padded
from ..training import Callback
from ._base import Network, Task
from ._baselines import majority_class
from ._checks import check_choice, check_float, check_int, check_units
from ._classifier_input import Augment, ClassifierInputs, EpochAugment, Prepared
from ._classifier_net import NetSpec, build_baseline, build_network
from ._forecaster import RNN_CELLS
from ._recipe import (
    MIN_DELTA,
    BalancedCrossEntropy,
    LengthBuckets,
    balanced_weights,
    plateau_schedule,
    resolve_recipe,
)
from ._training import AUTO, TrainingConfig, TrainingResult, train_model
from ._validation import (
    CV_BELOW,
    CV_FOLDS,
    best_epoch,
    check_groups,
    group_folds,
    overlap_blocks,
    split_blocks,
    validation_split,
)

__all__ = ["CLASS_WEIGHTS", "ClassifierFitting"]

CLASS_WEIGHTS = ("balanced", "none")


class ClassifierFitting(ClassifierInputs, Task):
    """``fit`` and what it needs; :class:`SequenceClassifier` adds prediction, scoring and
    the run protocol."""

    cell: str
    units: int | Sequence[int]
    filters: Sequence[int]
    kernel_size: int
    pooling: bool
    pool_size: int
    layers: Sequence[dict[str, Any]] | None
    dense: Sequence[int]
    dropout: float
    bidirectional: bool
    embedding_dim: int
    class_weight: str
    augment: Augment | None
    baseline: bool
    recipe_: dict[str, Any]
    model_: Network

    # -- inputs -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_choice("cell", self.cell, tuple(RNN_CELLS))
        if self.layers is None:
            check_units(self.units)
        for d in self.dense:
            check_int("dense item", d, 1)
        for f in self.filters:
            check_int("filters item", f, 1)
        check_int("kernel_size", self.kernel_size, 1)
        check_int("pool_size", self.pool_size, 1)
        check_float("dropout", self.dropout, 0.0, 1.0)
        check_int("embedding_dim", self.embedding_dim, 1)
        check_choice("class_weight", self.class_weight, CLASS_WEIGHTS)
        if self.max_vocab is not None:
            check_int("max_vocab", self.max_vocab, 2)
        if self.maxlen is not None:
            check_int("maxlen", self.maxlen, 1)
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"expected augment to be a callable augment(X, rng) or None, got "
                            f"{type(self.augment).__name__}")

    # -- model --------------------------------------------------------------------------------
    def _spec(self) -> NetSpec:
        text = self.mode_ == "text"
        vocab = self.tokenizer_.vocab_size if text else getattr(self, "vocab_size_", 0)
        return NetSpec(
            cell=self.cell, units=check_units(self.units) if self.layers is None else (),
            filters=tuple(int(f) for f in self.filters), kernel_size=int(self.kernel_size),
            pooling=bool(self.pooling), pool_size=int(self.pool_size),
            dense=tuple(int(d) for d in self.dense),
            dropout=float(self.dropout), bidirectional=bool(self.bidirectional),
            layers=self.layers, input_shape=tuple(self.input_shape_),
            n_classes=len(self.classes_), vocab=int(vocab), embedding_dim=int(self.embedding_dim))

    @property
    def baseline_name_(self) -> str:
        """What the non-recurrent baseline is."""
        if getattr(self, "mode_", "features") == "features":
            return "logistic regression on the flattened sequence (Flatten -> Dense softmax)"
        return "mean of word embeddings (Embedding -> GlobalAveragePooling1D -> Dense softmax)"

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, lengths: Any = None, groups: Any = None) -> Self:
        """Train on sequences ``X`` (with ``lengths`` for a padded array) and labels ``y``
        (any dtype). ``groups`` (one label per sequence: subject, recording...) keeps each
        group whole on one side of the validation part (scikit-learn's GroupKFold
        convention); without it, consecutive overlapping windows are kept together
        (:mod:`._validation`). Returns ``self``."""
        self._check_params()
        labels = self._check_labels(X, y)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"expected at least 2 classes, got {self.classes_.tolist()}")
        ids = self._encode_labels(labels)
        data = self._prepare(X, lengths, fitting=True)
        config = resolve_recipe(self.training_config(), len(ids), len(self.classes_))
        config.check()
        self.recipe_ = {k: getattr(config, k) for k in ("epochs", "batch_size", "validation",
                                                       "patience")}
        groups = self._groups(data, ids, groups, config)
        rng = np.random.default_rng(config.random_state)
        tr, va = validation_split(ids, float(config.validation), rng, groups)
        if self._cross_validates(len(ids)):
            self.model_ = self._fit_cross_validated(data, ids, groups, config, rng)
        else:
            self.model_, result = self._fit_network(data, ids, tr, va, config)
            self._keep_result([result])
        self.majority_ = majority_class(ids[tr])
        self.class_prior_ = np.bincount(ids[tr], minlength=len(self.classes_)) / len(tr)
        self._fit_baseline(data, ids, tr, va, config)
        return self

    def _loss(self, ids: NDArray[np.int64]) -> BalancedCrossEntropy:
        k = len(self.classes_)
        return BalancedCrossEntropy(balanced_weights(ids, k) if self.class_weight == "balanced"
                                    else np.ones(k))

    def _fit_network(self, data: Prepared, ids: NDArray[np.int64], tr: NDArray[np.intp],
                     va: NDArray[np.intp], config: TrainingConfig, name: str = "model",
                     schedule: bool = True) -> tuple[Network, TrainingResult]:
        """A fresh network trained on ``tr``, early-stopped on ``va`` (when not empty)."""
        val = (data.take(va), ids[va]) if len(va) else None
        config.seed()
        model = build_network(self._spec(), self.mode_)
        x_fit, y_fit, hooks = self._training_data(data, ids, tr, config)
        plateau = self._schedule(config, val) if schedule else []
        result = train_model(model, self._loss(ids[tr]), x_fit, y_fit, val, config,
                             metrics=["accuracy"], name=name, callbacks=[*hooks, *plateau],
                             shuffle=self.mode_ != "features", min_delta=MIN_DELTA)
        return model, result

    def _keep_result(self, results: Sequence[TrainingResult]) -> None:
        """``history_`` of the last training; seconds and time-budget stops of all."""
        self.history_ = results[-1].history
        self.train_seconds_ = sum(r.seconds for r in results)
        self.stopped_by_time_ = any(r.stopped_by_time for r in results)

    def _cross_validates(self, n: int) -> bool:
        """Tiny training sets with the recipe's validation (not a fixed fraction) use
        cross-validation (:data:`CV_BELOW`)."""
        return self.training_config().validation == AUTO and n < CV_BELOW

    def _fit_cross_validated(self, data: Prepared, ids: NDArray[np.int64], groups: Any,
                             config: TrainingConfig, rng: np.random.Generator) -> Network:
        """k-fold cross-validation (stratified, whole groups) trains one network per fold
        for every epoch of the recipe; the epoch of the lowest median over the folds of the
        validation loss then trains the network on every sequence (the curve of all folds,
        as xgboost's ``cv`` picks its round, but the median: a fold of a few sequences whose
        loss spikes on one confident error moves a mean, not the median). Each of the
        k + 1 trainings gets 1 / (k + 1) of ``max_time``. The learning rate stays constant
        (no plateau to watch in the final training)."""
        n = len(ids)
        k = min(CV_FOLDS, n // 2, len(np.unique(groups)) if groups is not None else n)
        folds = group_folds(ids, np.arange(n) if groups is None else groups, k, rng)
        budget = None if config.max_time is None else float(config.max_time) / (k + 1)
        fold_config = dataclasses.replace(config, max_time=budget)
        curves, results = [], []
        for f in range(k):
            _, result = self._fit_network(data, ids, np.flatnonzero(folds != f),
                                          np.flatnonzero(folds == f),
                                          dataclasses.replace(fold_config, patience=None),
                                          name=f"fold{f}", schedule=False)
            curves.append(result.history["val_loss"])
            results.append(result)
        common = min(len(c) for c in curves)  # a fold cut by the time budget ran fewer
        middle = np.median([c[:common] for c in curves], axis=0)  # (epochs,)
        epochs = best_epoch(middle.tolist(), MIN_DELTA)
        best = [best_epoch(c, MIN_DELTA) for c in curves]
        final = dataclasses.replace(fold_config, epochs=epochs, validation=0.0)
        model, result = self._fit_network(data, ids, np.arange(n), np.arange(0), final)
        self._keep_result([*results, result])
        self.recipe_.update(epochs=epochs, fold_best_epochs=best, validation_split=
                            f"{k}-fold cross-validation, {self.recipe_['validation_split']}")
        return model

    def _fit_baseline(self, data: Prepared, ids: NDArray[np.int64], tr: NDArray[np.intp],
                      va: NDArray[np.intp], config: TrainingConfig) -> None:
        """The non-recurrent baseline, trained like the network on the same split (a linear
        model tolerates, and needs, larger steps: ten times the rate)."""
        self.baseline_model_: Network | None = None
        self.baseline_history_: dict[str, list[float]] = {}
        if not self.baseline:
            return
        base_config = dataclasses.replace(config, learning_rate=config.learning_rate * 10)
        base = build_baseline(self._spec(), self.mode_)
        val = (data.take(va), ids[va]) if len(va) else None
        x_fit, y_fit, hooks = self._training_data(data, ids, tr, config)
        result = train_model(base, self._loss(ids[tr]), x_fit, y_fit, val, base_config,
                             name="baseline", callbacks=[*hooks, *self._schedule(config, val)],
                             shuffle=self.mode_ != "features", min_delta=MIN_DELTA)
        self.baseline_model_ = base
        self.baseline_history_ = result.history

    def _groups(self, data: Prepared, ids: NDArray[np.int64], groups: Any,
                config: TrainingConfig) -> NDArray[Any] | None:
        """The groups the validation part keeps whole: the caller's, else blocks of
        overlapping windows, else none; ``recipe_`` records which."""
        how = "stratified"
        if groups is not None:
            groups, how = check_groups(groups, len(ids)), "groups"
        elif data.raw is not None:
            blocks = overlap_blocks(data.raw.values, data.raw.lengths)
            if blocks is not None:
                groups, how = split_blocks(blocks, 20), "blocks of overlapping windows"
        self.recipe_["validation_split"] = how if float(config.validation) > 0 else "none"
        return groups

    @staticmethod
    def _schedule(config: TrainingConfig, val: Any) -> list[Callback]:
        if val is None or config.patience is None:
            return []
        return [plateau_schedule(int(config.patience))]

    def _training_data(self, data: Prepared, ids: NDArray[np.int64], tr: NDArray[np.intp],
                       config: TrainingConfig) -> tuple[Any, Any, list[Callback]]:
        """What the training loop reads (inputs, labels) and the hooks that rewrite it every
        epoch: for numeric sequences the augmentation (if any) and then the length buckets
        (the loop runs with ``shuffle=False``)."""
        if self.mode_ != "features":
            if self.augment is not None:
                raise ValueError(f"expected numeric sequences with augment, got {self.mode_}")
            return data.take(tr)[0], ids[tr], []
        values, mask = (torch.from_numpy(np.ascontiguousarray(a)) for a in data.take(tr))
        hooks: list[Callback] = []
        if self.augment is not None and data.raw is not None:
            raw = Padded(data.raw.values[tr], data.raw.lengths[tr])
            augment = EpochAugment(self.augment, raw, self.scaler_, config.random_state)
            values = augment.data  # rewritten before every epoch
            hooks.append(augment)
        assert data.lengths is not None
        buckets = LengthBuckets([values, mask, torch.from_numpy(ids[tr])], data.lengths[tr],
                                int(config.batch_size), config.random_state)
        return buckets.targets[:2], buckets.targets[2], [*hooks, buckets]
