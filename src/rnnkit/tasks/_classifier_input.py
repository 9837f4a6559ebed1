"""What the classifier's network reads, and how labels become class positions.

:class:`ClassifierInputs` (a base of :class:`SequenceClassifier`) turns what ``fit`` and
``predict`` receive into network inputs (:class:`Prepared`): numeric sequences (scaled on
their real steps, zero-padded, with their mask and lengths), texts (word ids) or token ids.
:class:`EpochAugment` rewrites the numeric training inputs with a fresh augmented copy
before every epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ..data import Padded, StandardScaler, WordTokenizer, to_padded
from ..training import Callback

__all__ = ["MODES", "Augment", "ClassifierInputs", "EpochAugment", "Prepared", "is_text",
           "is_tokens"]

MODES = ("features", "text", "tokens")


def is_text(X: Any) -> bool:
    if isinstance(X, str):
        raise TypeError("expected a list of texts, got a single str; wrap it: [text]")
    if isinstance(X, np.ndarray):
        return X.dtype.kind == "U" and X.ndim == 1
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(t, str) for t in X)


def is_tokens(X: Any) -> bool:
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "iu"


Augment = Callable[[NDArray[np.float32], np.random.Generator], Any]


class EpochAugment(Callback):
    """Before every epoch, overwrite the training tensor ``data`` (shared with the training
    loop) with ``augment(raw, rng)``, scaled like the inputs (padding stays zero).
    ``rng`` depends only on ``seed`` and the epoch, so a resumed run sees the same data."""

    def __init__(self, augment: Augment, raw: Padded, scaler: StandardScaler | None,
                 seed: int | None) -> None:
        super().__init__()
        self.augment, self.raw, self.scaler = augment, raw, scaler
        self.seed = int(np.random.default_rng().integers(2**32)) if seed is None else seed
        self.data = torch.from_numpy(self._transform(raw.values))  # (n, T, F), trained on

    def _transform(self, x: Any) -> NDArray[np.float32]:
        mask = self.raw.mask
        if self.scaler is not None:
            x = self.scaler.transform(x, mask=mask)
        return np.where(mask[..., None], x, 0.0).astype(np.float32)  # a copy

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        shape = self.raw.values.shape
        out = np.asarray(self.augment(self.raw.values.copy(),
                                      np.random.default_rng([self.seed, epoch])))
        if out.shape != shape:
            raise ValueError(f"expected augment(X, rng) to return shape {shape}, got "
                             f"{out.shape}")
        if not np.isfinite(out[self.raw.mask]).all():
            raise ValueError("expected augment(X, rng) to return finite values, got NaN/Inf")
        self.data.copy_(torch.from_numpy(self._transform(out)))


@dataclasses.dataclass
class Prepared:
    """Network inputs: ``[values, mask]`` (numeric) or ``[ids]`` (text, tokens), and the
    real length of each sequence (numeric) for bucketing."""

    inputs: list[NDArray[Any]]
    lengths: NDArray[np.int64] | None = None
    raw: Padded | None = None

    def take(self, idx: NDArray[np.intp]) -> list[NDArray[Any]]:
        return [a[idx] for a in self.inputs]

    def network_input(self) -> Any:
        return self.inputs if len(self.inputs) > 1 else self.inputs[0]


class ClassifierInputs:
    """Input preparation shared by :class:`SequenceClassifier`'s ``fit`` and ``predict``
    (the fitted state it sets: ``mode_``, ``input_shape_``, ``scaler_``, ``tokenizer_``,
    ``vocab_size_``)."""

    scale: bool
    max_vocab: int | None
    maxlen: int | None
    classes_: NDArray[Any]
    mode_: str
    input_shape_: list[int]
    scaler_: StandardScaler | None
    tokenizer_: WordTokenizer
    vocab_size_: int

    def _prepare(self, X: Any, lengths: Any = None, fitting: bool = False) -> Prepared:
        """Network inputs of ``X`` (see the module docstring for the forms)."""
        if fitting:
            self.scaler_: StandardScaler | None = None
            self.mode_ = "text" if is_text(X) else "tokens" if is_tokens(X) else "features"
        if self.mode_ != "features" and lengths is not None:
            raise ValueError(f"expected lengths only with numeric sequences, got them with "
                             f"{self.mode_}")
        if self.mode_ == "text":
            return Prepared([self._text_ids(X, fitting)])
        if self.mode_ == "tokens":
            return Prepared([self._token_ids(X, fitting)])
        return self._features(X, lengths, fitting)

    def _text_ids(self, X: Any, fitting: bool) -> NDArray[np.int64]:
        if not is_text(X):
            raise ValueError("expected a list of texts (the classifier was fitted on text), "
                             f"got {type(X).__name__}")
        texts = [str(t) for t in X]
        if fitting:
            self.tokenizer_ = WordTokenizer(max_vocab=self.max_vocab).fit(texts)
            lengths = [len(s) for s in self.tokenizer_.texts_to_sequences(texts)]
            self.input_shape_ = [int(self.maxlen or max(max(lengths), 1))]
        return self.tokenizer_.encode(texts, maxlen=self.input_shape_[0])  # (n, maxlen)

    def _token_ids(self, X: Any, fitting: bool) -> NDArray[np.int64]:
        ids = np.asarray(X)
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"expected token ids of shape (samples, timesteps), got "
                             f"shape {ids.shape} dtype {ids.dtype}")
        if ids.size and ids.min() < 0:
            raise ValueError(f"expected token ids >= 0, got {int(ids.min())}")
        if fitting:
            self.input_shape_ = [int(ids.shape[1])]
            self.vocab_size_ = int(ids.max()) + 1 if ids.size else 1
        elif ids.size and ids.max() >= self.vocab_size_:
            raise ValueError(f"expected token ids < {self.vocab_size_} (as fitted), got "
                             f"{int(ids.max())}")
        return ids.astype(np.int64)

    def _features(self, X: Any, lengths: Any, fitting: bool) -> Prepared:
        raw = to_padded(X, lengths)
        n, steps, width = len(raw), int(raw.lengths.max()), raw.values.shape[2]
        raw = Padded(raw.values[:, :steps], raw.lengths)  # (n, longest real, F)
        if fitting:
            self.input_shape_ = [int(steps), int(width)]
            self.scaler_ = StandardScaler().fit(raw.values, mask=raw.mask) if self.scale \
                else None
        if width != self.input_shape_[1]:
            raise ValueError(f"expected sequences of {self.input_shape_[1]} feature(s) as "
                             f"fitted, got {width}")
        longest = max(self.input_shape_[0], steps)  # longer than in training: read whole
        values = np.zeros((n, longest, width), dtype=np.float32)  # (n, T, F)
        mask = np.zeros((n, longest), dtype=bool)
        values[:, :steps] = raw.values if self.scaler_ is None else \
            self.scaler_.transform(raw.values, mask=raw.mask)
        mask[:, :steps] = raw.mask
        return Prepared([values, mask.astype(np.float32)], raw.lengths, raw)

    def _encode_labels(self, y: Any) -> NDArray[np.int64]:
        labels = np.asarray(y)
        if labels.ndim != 1:
            raise ValueError(f"expected labels y of shape (samples,), got {labels.shape}")
        pos = np.searchsorted(self.classes_, labels)
        pos = np.minimum(pos, len(self.classes_) - 1)
        bad = np.flatnonzero(self.classes_[pos] != labels)
        if bad.size:
            raise ValueError(f"expected labels among the fitted classes {self.classes_.tolist()},"
                             f" got {labels[bad[0]]!r} at index {int(bad[0])} ({bad.size} "
                             "unknown label(s))")
        return pos.astype(np.int64)

    def _check_labels(self, X: Any, y: Any) -> NDArray[Any]:
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError(f"expected one label per sample ({len(X)}), got y of shape "
                             f"{labels.shape}")
        if labels.dtype.kind == "O":
            raise TypeError("expected labels of one plain dtype (numbers, strings or bools), "
                            "got an object array")
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise ValueError("expected finite labels, got NaN/Inf")
        return labels
