"""The classifier's default training recipe: settings that scale with the data.

One recipe serves 40 to 10,000 training sequences without per-dataset flags. Every
``"auto"`` training argument of :class:`rnnkit.tasks.SequenceClassifier` is resolved here
from the number of training sequences ``n`` and classes ``k``:

* ``validation``: 20 % of the sequences (at most 2,000): whole groups when ``fit`` is given
  ``groups`` or the sequences are overlapping windows, else a stratified part with at least
  2 per class, so that the early-stopping loss is judged on every class
  (:mod:`._validation`); below 200 sequences, 5-fold cross-validation instead: one network
  trained per fold for every epoch, then the epoch of the lowest median over the folds of
  the validation loss on every sequence (:mod:`._classifier_fit`);
* ``batch_size``: ``n / 16`` rounded to a power of two, between 8 and 64 (small sets still get
  several gradient steps per epoch);
* ``epochs``: enough epochs for about 1,500 gradient steps, between 30 and 300;
* ``patience``: a tenth of the epochs, at least 10 (a fall of the validation loss below
  ``MIN_DELTA`` is no progress), with the best weights restored and the learning rate
  halved after a third of the patience without improvement
  (``ReduceLROnPlateau``).

Classes are weighted ``n / (k * count)`` ("balanced", as scikit-learn) in the loss, so a rare
class counts as much as a common one. Batches are drawn bucketed by length
(:class:`LengthBuckets`): sequences of similar length train together, and the recurrent layer
stops at the longest real step of each batch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..data import length_buckets
from ..training import Callback, ReduceLROnPlateau
from ..training.losses import Loss, sparse_categorical_crossentropy
from ._training import AUTO, TrainingConfig

__all__ = ["MIN_DELTA", "BalancedCrossEntropy", "LengthBuckets", "balanced_weights",
           "resolve_recipe"]

TARGET_STEPS = 1500
#: the least fall of the validation loss that counts as progress (early stopping)
MIN_DELTA = 1e-3


def _power_of_two(value: float) -> int:
    return 2 ** round(math.log2(max(value, 1.0)))


def resolve_recipe(config: TrainingConfig, n: int, k: int) -> TrainingConfig:
    """``config`` with every ``"auto"`` field replaced by the recipe's value for ``n``
    training sequences of ``k`` classes (the other fields are kept as given).

    >>> c = resolve_recipe(TrainingConfig(epochs="auto", batch_size="auto",
    ...                                   validation="auto", patience="auto"), 40, 4)
    >>> c.batch_size, c.epochs, c.patience, c.validation
    (8, 300, 30, 0.2)
    """
    batch = config.batch_size
    if batch == AUTO:
        batch = int(min(64, max(8, _power_of_two(n / 16))))
    epochs = config.epochs
    if epochs == AUTO:
        steps = math.ceil(max(1, n * 0.8) / int(batch))
        epochs = int(min(300, max(30, math.ceil(TARGET_STEPS / steps))))
    patience = config.patience
    if patience == AUTO:
        patience = max(10, int(epochs) // 10)
    validation = 0.2 if config.validation == AUTO else config.validation
    return dataclasses.replace(config, batch_size=batch, epochs=epochs, patience=patience,
                               validation=validation)


def balanced_weights(ids: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """``n / (k * count)`` per class (scikit-learn's "balanced"); 0 for an absent class.

    >>> balanced_weights(np.array([0, 0, 0, 1]), 2).tolist()
    [0.6666666666666666, 2.0]
    """
    counts = np.bincount(ids, minlength=k).astype(np.float64)
    return np.where(counts > 0, len(ids) / (k * np.maximum(counts, 1)), 0.0)


class BalancedCrossEntropy(Loss):
    """Sparse categorical cross-entropy with a weight per class (Keras's ``class_weight``:
    the mean over the batch of ``weight[y_i] * loss_i``).

    >>> loss = BalancedCrossEntropy([1.0, 3.0])
    >>> round(float(loss(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))), 4)
    2.0794
    """

    def __init__(self, weights: Any) -> None:
        super().__init__("balanced_crossentropy")
        self.weights = torch.as_tensor(np.asarray(weights, dtype=np.float64))

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        per_sample = sparse_categorical_crossentropy(y_true, y_pred)  # (batch,)
        w = self.weights.to(per_sample.dtype)[y_true.long().reshape(-1)]  # (batch,)
        return per_sample * w


def plateau_schedule(patience: int) -> ReduceLROnPlateau:
    """Halve the learning rate after a third of ``patience`` epochs without improvement."""
    return ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, patience // 3),
                             min_lr=1e-5)


class LengthBuckets(Callback):
    """Before every epoch, reorder the training tensors (shared with the training loop,
    which then runs with ``shuffle=False``) into batches of similar lengths, in random
    order (:func:`rnnkit.data.length_buckets`). The order depends only on ``seed`` and the
    epoch, so a resumed run sees the same batches.

    ``sources`` are the tensors in their own order (an augmentation hook may rewrite the
    first before this runs); ``targets`` are the tensors the loop reads.
    """

    def __init__(self, sources: list[Tensor], lengths: NDArray[np.int64], batch_size: int,
                 seed: int | None) -> None:
        super().__init__()
        self.sources = sources
        self.targets = [s.clone() for s in sources]
        self.lengths, self.batch_size = lengths, batch_size
        self.seed = int(np.random.default_rng().integers(2**32)) if seed is None else seed

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        rng = np.random.default_rng([self.seed, epoch, 7])
        batches = length_buckets(self.lengths, self.batch_size, rng)
        # full batches first: the loop slices batch_size rows at a time from the start
        batches.sort(key=lambda b: len(b) < self.batch_size)
        order = torch.from_numpy(np.concatenate(batches).astype(np.int64))
        for src, dst in zip(self.sources, self.targets, strict=True):
            dst.copy_(src[order])
