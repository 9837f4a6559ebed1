"""SequenceClassifier: one label per sequence, with the baselines reported beside it.

Inputs, chosen by what ``fit`` receives:

* numeric sequences ``X (samples, timesteps, features)``: scaled per feature (a
  :class:`rnnkit.data.StandardScaler` fitted on the training samples only);
* texts (a list of strings): a :class:`rnnkit.data.WordTokenizer` fitted on the training
  texts maps them to ids, padded to ``maxlen``; an ``Embedding(mask_zero=True)`` reads them;
* token ids ``X (samples, timesteps)`` (integers, 0 = padding): an ``Embedding`` reads them.

Labels may be of any dtype (ints, strings, bools); ``classes_`` holds them sorted and the
network predicts their positions (softmax output, sparse categorical cross-entropy).

Baselines: the majority class of the training labels, and a non-recurrent network trained
the same way: multinomial logistic regression on the flattened scaled sequence
(``Flatten -> Dense(softmax)``), or for text/tokens the mean of the word embeddings
(``Embedding -> GlobalAveragePooling1D -> Dense(softmax)``, fastText-style), with ten
times the learning rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..data import StandardScaler, WordTokenizer, scaler_from_dict, validate_arrays
from ..layers import (
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Input,
)
from ..model import Sequential
from ..training import Callback
from ._base import InspectBatch, PredictRequest, Task, _load_extra, _predict, build_layer, fmt
from ._baselines import majority_class
from ._checks import check_choice, check_float, check_int, check_units
from ._files import csv_text, read_sequences
from ._forecaster import RNN_CELLS
from ._metrics import classification_report
from ._report import plot_confusion_matrix
from ._training import TrainingConfig, train_model

__all__ = ["SequenceClassifier"]

_MODES = ("features", "text", "tokens")
_LOSS = "sparse_categorical_crossentropy"


def _is_text(X: Any) -> bool:
    if isinstance(X, str):
        raise TypeError("expected a list of texts, got a single str; wrap it: [text]")
    if isinstance(X, np.ndarray):
        return X.dtype.kind == "U" and X.ndim == 1
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(t, str) for t in X)


def _labels_to_json(classes: NDArray[Any]) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in classes]


Augment = Callable[[NDArray[np.float32], np.random.Generator], Any]


class _EpochAugment(Callback):
    """Before every epoch, overwrite the training tensor ``data`` (shared with the training
    loop) with ``augment(raw, rng)``, scaled like the inputs. ``rng`` depends only on
    ``seed`` and the epoch, so a resumed run sees the same data as an uninterrupted one."""

    def __init__(self, augment: Augment, raw: NDArray[np.float32],
                 scaler: StandardScaler | None, seed: int | None) -> None:
        super().__init__()
        self.augment, self.raw, self.scaler = augment, raw, scaler
        self.seed = int(np.random.default_rng().integers(2**32)) if seed is None else seed
        self.data = torch.from_numpy(self._transform(raw))  # (n, T, F), trained on

    def _transform(self, x: Any) -> NDArray[np.float32]:
        if self.scaler is not None:
            x = self.scaler.transform(x)
        return np.array(x, dtype=np.float32)  # a copy

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        out = np.asarray(self.augment(self.raw.copy(), np.random.default_rng([self.seed, epoch])))
        if out.shape != self.raw.shape:
            raise ValueError(f"expected augment(X, rng) to return shape {self.raw.shape}, got "
                             f"{out.shape}")
        if not np.isfinite(out).all():
            raise ValueError("expected augment(X, rng) to return finite values, got NaN/Inf")
        self.data.copy_(torch.from_numpy(self._transform(out)))


class SequenceClassifier(Task):
    """Classify whole sequences with stacked LSTM/GRU/RNN layers and a softmax head.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"indrnn"``.
        units: units per recurrent layer (the seeds' activity model: ``(32, 32)``); all but
            the last return sequences.
        layers: instead of ``cell``/``units``/``dense``, the hidden layers as specs
            (``[{"class": "LSTM", "units": 32, "return_sequences": true}, ...]``); the
            input (and the embedding for text) and the softmax head are added.
        dense: units of ReLU ``Dense`` layers between the recurrent layers and the head.
        dropout: dropout rate before the head (0: none).
        bidirectional: wrap each recurrent layer in ``Bidirectional``.
        embedding_dim: embedding size for text / token ids.
        max_vocab: vocabulary size for text (padding and out-of-vocabulary ids included).
        maxlen: padded length for text (default: the longest training text).
        scale: standardise numeric features (statistics of the training samples).
        augment: for numeric sequences, training-time augmentation: a function
            ``augment(X, rng)`` that gets a copy of the training part ``(n, T, F)`` (as
            given, unscaled) and a ``numpy.random.Generator`` seeded from ``random_state``
            and the epoch, and returns an array of the same shape. It is called at the
            start of every epoch, and the network (and the baseline) train on that epoch's
            result, so every epoch sees a fresh random copy. The validation part and the
            scaler's statistics stay unaugmented. A callable is not saved: ``task.json``
            stores ``null`` (set it again before refitting a loaded task).
        baseline: also train the non-recurrent baseline during ``fit``.
        **training: :class:`TrainingConfig`'s arguments (``epochs=30``, ``batch_size=32``,
            ``learning_rate=1e-3``, ``clipnorm=1.0``, ``validation=0.1`` (a seeded random
            fraction of the training samples), ``patience=5``, ``max_time``,
            ``checkpoint_dir``, ``random_state=0``, ``verbose=0``).

    Learned attributes: ``model_``, ``classes_``, ``mode_``, ``scaler_``, ``tokenizer_``,
    ``input_shape_``, ``majority_``, ``baseline_model_``, ``history_``.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 5, 2)); y = np.array(["a", "b"] * 20)
    >>> SequenceClassifier(units=4, epochs=1).fit(X, y).predict(X[:3]).shape
    (3,)
    """

    task_name = "classifier"
    tuple_params = ("units", "dense")
    training_defaults = TrainingConfig(epochs=30, batch_size=32, learning_rate=1e-3,
                                       validation=0.1, patience=5)

    def __init__(
        self,
        cell: str = "lstm",
        units: int | Sequence[int] = (32, 32),
        *,
        layers: Sequence[dict[str, Any]] | None = None,
        dense: Sequence[int] = (),
        dropout: float = 0.0,
        bidirectional: bool = False,
        embedding_dim: int = 64,
        max_vocab: int | None = 20000,
        maxlen: int | None = None,
        scale: bool = True,
        augment: Augment | None = None,
        baseline: bool = True,
        **training: Any,
    ) -> None:
        self.cell = cell
        self.units = units
        self.layers = layers
        self.dense = dense
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.embedding_dim = embedding_dim
        self.max_vocab = max_vocab
        self.maxlen = maxlen
        self.scale = scale
        self.augment = augment
        self.baseline = baseline
        self._store_training(training)

    # -- inputs -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self.training_config().check()
        check_choice("cell", self.cell, tuple(RNN_CELLS))
        if self.layers is None:
            check_units(self.units)
        for d in self.dense:
            check_int("dense item", d, 1)
        check_float("dropout", self.dropout, 0.0, 1.0)
        check_int("embedding_dim", self.embedding_dim, 1)
        if self.max_vocab is not None:
            check_int("max_vocab", self.max_vocab, 2)
        if self.maxlen is not None:
            check_int("maxlen", self.maxlen, 1)
        if self.augment is not None and not callable(self.augment):
            raise TypeError(f"expected augment to be a callable augment(X, rng) or None, got "
                            f"{type(self.augment).__name__}")

    def _prepare(self, X: Any, fitting: bool) -> NDArray[Any]:
        """Model inputs: scaled float32 ``(n, T, F)`` or int64 ids ``(n, T)``."""
        if fitting:
            self.scaler_: StandardScaler | None = None
            if _is_text(X):
                self.mode_ = "text"
            else:
                arr = np.asarray(X)
                self.mode_ = "tokens" if arr.ndim == 2 and arr.dtype.kind in "iu" else "features"
        if self.mode_ == "text":
            if not _is_text(X):
                raise ValueError("expected a list of texts (the classifier was fitted on text), "
                                 f"got {type(X).__name__}")
            texts = [str(t) for t in X]
            if fitting:
                self.tokenizer_ = WordTokenizer(max_vocab=self.max_vocab).fit(texts)
                lengths = [len(s) for s in self.tokenizer_.texts_to_sequences(texts)]
                self.input_shape_ = [int(self.maxlen or max(max(lengths), 1))]
            return self.tokenizer_.encode(texts, maxlen=self.input_shape_[0])  # (n, maxlen)
        if self.mode_ == "tokens":
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
        x, _ = validate_arrays(X)
        if fitting:
            self.input_shape_ = [int(x.shape[1]), int(x.shape[2])]
            self.scaler_ = StandardScaler().fit(x) if self.scale else None
        elif list(x.shape[1:]) != self.input_shape_:
            raise ValueError(f"expected sequences of shape (samples, {self.input_shape_[0]}, "
                             f"{self.input_shape_[1]}) as fitted, got {x.shape}")
        if self.scaler_ is not None:
            x = self.scaler_.transform(x)
        return np.asarray(x, dtype=np.float32)

    def _encode_labels(self, y: Any) -> NDArray[np.int64]:
        labels = np.asarray(y)
        if labels.ndim != 1:
            raise ValueError(f"expected labels y of shape (samples,), got {labels.shape}")
        pos = np.searchsorted(self.classes_, labels)
        pos = np.minimum(pos, len(self.classes_) - 1)
        bad = self.classes_[pos] != labels
        if np.any(bad):
            unknown = labels[np.flatnonzero(bad)[0]]
            raise ValueError(f"expected labels among the fitted classes {self.classes_.tolist()},"
                             f" got {unknown!r}")
        return pos.astype(np.int64)

    # -- model --------------------------------------------------------------------------------
    def _input_layers(self) -> list[Any]:
        if self.mode_ == "features":
            return [Input(tuple(self.input_shape_))]
        vocab = self.tokenizer_.vocab_size if self.mode_ == "text" else self.vocab_size_
        return [Input(tuple(self.input_shape_), dtype="int64"),
                Embedding(vocab, int(self.embedding_dim), mask_zero=True)]

    def _build(self) -> Sequential:
        hidden: list[Any]
        if self.layers is not None:
            hidden = [build_layer(spec) for spec in self.layers]
        else:
            units = check_units(self.units)
            rnn = RNN_CELLS[self.cell.lower()]
            hidden = []
            for i, u in enumerate(units):
                layer = rnn(u, return_sequences=i < len(units) - 1)
                hidden.append(Bidirectional(layer) if self.bidirectional else layer)
            hidden += [Dense(int(d), activation="relu") for d in self.dense]
            if self.dropout:
                hidden.append(Dropout(float(self.dropout)))
        head = Dense(len(self.classes_), activation="softmax")
        return Sequential([*self._input_layers(), *hidden, head], name="classifier")

    def _build_baseline(self) -> Sequential:
        head = Dense(len(self.classes_), activation="softmax")
        if self.mode_ == "features":
            return Sequential([*self._input_layers(), Flatten(), head], name="baseline")
        return Sequential([*self._input_layers(), GlobalAveragePooling1D(), head],
                          name="baseline")

    @property
    def baseline_name_(self) -> str:
        """What the non-recurrent baseline is."""
        if getattr(self, "mode_", "features") == "features":
            return "logistic regression on the flattened sequence (Flatten -> Dense softmax)"
        return "mean of word embeddings (Embedding -> GlobalAveragePooling1D -> Dense softmax)"

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> SequenceClassifier:
        """Train on sequences ``X`` and labels ``y`` (any dtype). Returns ``self``."""
        self._check_params()
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError(f"expected one label per sample ({len(X)}), got y of shape "
                             f"{labels.shape}")
        if labels.dtype.kind == "O":
            raise TypeError("expected labels of one plain dtype (numbers, strings or bools), "
                            "got an object array")
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise ValueError("expected finite labels, got NaN/Inf")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"expected at least 2 classes, got {self.classes_.tolist()}")
        ids = self._encode_labels(labels)
        x = self._prepare(X, fitting=True)
        config = self.training_config()
        rng = np.random.default_rng(config.random_state)
        order = rng.permutation(len(ids))
        n_val = int(np.floor(float(config.validation) * len(ids)))
        tr, va = order[n_val:], order[:n_val]
        val = (x[va], ids[va]) if n_val else None
        hooks: tuple[Callback, ...] = ()
        x_tr: Any = x[tr]
        if self.augment is not None:
            if self.mode_ != "features":
                raise ValueError(f"expected numeric sequences with augment, got {self.mode_}")
            raw = np.asarray(validate_arrays(X)[0], dtype=np.float32)[tr]
            hook = _EpochAugment(self.augment, raw, self.scaler_, config.random_state)
            hooks, x_tr = (hook,), hook.data
        config.seed()
        model = self._build()
        self._train(model, _LOSS, x_tr, ids[tr], val, metrics=["accuracy"], callbacks=hooks)
        self.model_ = model
        self.majority_ = majority_class(ids[tr])
        self.baseline_model_: Sequential | None = None
        if self.baseline:
            # a linear model tolerates (and needs) larger steps: ten times the rate
            base_config = dataclasses.replace(config, learning_rate=config.learning_rate * 10)
            base = self._build_baseline()
            train_model(base, _LOSS, x_tr, ids[tr], val, base_config, name="baseline",
                        callbacks=hooks)
            self.baseline_model_ = base
        return self

    # -- prediction ---------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Class probabilities ``(samples, n_classes)``, columns in ``classes_`` order."""
        self._require_fitted()
        return _predict(self.model_, self._prepare(X, fitting=False))

    def predict(self, X: Any) -> NDArray[Any]:
        """Predicted labels ``(samples,)`` (elements of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)`` (scikit-learn's classifier score)."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def evaluate(self, X: Any, y: Any) -> dict[str, Any]:
        """Held-out metrics: ``accuracy``, ``macro_f1``, ``per_class`` (precision, recall,
        f1, support), ``confusion_matrix`` (rows: true class, columns: predicted) and
        ``baselines`` (``majority`` and ``non_recurrent``: accuracy and macro_f1)."""
        self._require_fitted()
        x = self._prepare(X, fitting=False)
        true = self._encode_labels(y)
        pred = np.argmax(_predict(self.model_, x), axis=1)
        out = classification_report(true, pred, self.classes_.tolist())
        maj = classification_report(true, np.full_like(true, self.majority_),
                                    self.classes_.tolist())
        baselines: dict[str, Any] = {
            "majority": {"accuracy": maj["accuracy"], "macro_f1": maj["macro_f1"],
                         "class": str(self.classes_[self.majority_])},
        }
        if self.baseline_model_ is not None:
            bpred = np.argmax(_predict(self.baseline_model_, x), axis=1)
            rep = classification_report(true, bpred, self.classes_.tolist())
            baselines["non_recurrent"] = {"accuracy": rep["accuracy"],
                                          "macro_f1": rep["macro_f1"],
                                          "model": self.baseline_name_}
        out["baselines"] = baselines
        out["n_samples"] = int(len(true))
        return out

    # -- the run protocol (held-out data: sequences and labels) ------------------------------
    def heldout_metrics(self, heldout: tuple[Any, Any]) -> dict[str, Any]:
        X, y = heldout
        return self.evaluate(X, y)

    def heldout_arrays(self, heldout: tuple[Any, Any]) -> dict[str, np.ndarray]:
        X, y = heldout
        x_arr = np.array([str(t) for t in X]) if self.mode_ == "text" else np.asarray(X)
        return {"X": x_arr, "y": np.asarray(y)}

    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
        X = arrays["X"]
        return ([str(t) for t in X] if self.mode_ == "text" else X), arrays["y"]

    def write_plots(self, folder: Path, heldout: tuple[Any, Any],
                    metrics: Mapping[str, Any]) -> list[Path]:
        path = plot_confusion_matrix(metrics["confusion_matrix"], metrics["labels"],
                                     folder / "confusion_matrix.png",
                                     title=f"Confusion matrix (held-out), accuracy "
                                           f"{metrics['accuracy']:.3f}")
        return [path]

    def inspect_batch(self, heldout: tuple[Any, Any], samples: int) -> InspectBatch:
        """The first held-out sequences, with the cross-entropy of their class."""
        X, y = heldout
        n = max(1, int(samples))
        x = self._prepare(X[:n], fitting=False)
        ids = self._encode_labels(y[:n])

        def cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
            p = y_pred.gather(1, y_true.long().reshape(-1, 1)).squeeze(1)
            return -torch.log(p.clamp_min(1e-12))

        return InspectBatch(x, ids, cross_entropy)

    def predict_file(self, request: PredictRequest) -> str:
        """CSV of the predicted label and the class probabilities of each sequence in
        ``request.file`` (texts: one per line of a .txt; else X of an .npz or an .npy)."""
        self._require_fitted()
        proba = self.predict_proba(read_sequences(request.file, self.mode_ == "text"))
        labels = self.classes_[np.argmax(proba, axis=1)]
        header = ["index", "label", *[f"p_{c}" for c in self.classes_.tolist()]]
        rows = [[i, str(lab), *[f"{p:.6g}" for p in proba[i]]] for i, lab in enumerate(labels)]
        return csv_text(header, rows)

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        lines = [f"held-out       accuracy={fmt(metrics.get('accuracy'))}  "
                 f"macro_f1={fmt(metrics.get('macro_f1'))}"]
        for name, b in metrics.get("baselines", {}).items():
            lines.append(f"{name:<15}accuracy={fmt(b.get('accuracy'))}  "
                         f"macro_f1={fmt(b.get('macro_f1'))}")
        return lines

    # -- state --------------------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        return {
            "classes": _labels_to_json(self.classes_),
            "classes_dtype": self.classes_.dtype.str,
            "mode": self.mode_,
            "input_shape": self.input_shape_,
            "scaler": None if self.scaler_ is None else self.scaler_.to_dict(),
            "tokenizer": self.tokenizer_.to_dict() if self.mode_ == "text" else None,
            "vocab_size": getattr(self, "vocab_size_", None),
            "majority": self.majority_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        dtype = np.dtype(state.get("classes_dtype", None) or None)
        self.classes_ = np.asarray(state["classes"], dtype=dtype)
        self.mode_ = check_choice("mode", state["mode"], _MODES)
        self.input_shape_ = [int(v) for v in state["input_shape"]]
        scaler = None if state.get("scaler") is None else scaler_from_dict(state["scaler"])
        if scaler is not None and not isinstance(scaler, StandardScaler):
            raise ValueError(f"expected a StandardScaler in the task state, got {scaler!r}")
        self.scaler_ = scaler
        if state.get("tokenizer") is not None:
            self.tokenizer_ = WordTokenizer.from_dict(state["tokenizer"])
        if state.get("vocab_size") is not None:
            self.vocab_size_ = int(state["vocab_size"])
        self.majority_ = int(state["majority"])
        self.baseline_model_ = None

    def _extra_models(self) -> dict[str, Sequential]:
        base = getattr(self, "baseline_model_", None)
        return {} if base is None else {"baseline": base}

    def _load_extra_models(self, root: Path) -> None:
        self.baseline_model_ = _load_extra(root, "baseline")
        if self.baseline_model_ is not None:
            self.baseline_model_.eval()
