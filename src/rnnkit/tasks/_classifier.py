"""SequenceClassifier: one label per sequence, with the baselines reported beside it.

Inputs, chosen by what ``fit`` receives:

* numeric sequences, of equal or different lengths: an array ``(samples, timesteps,
  features)``, a list of arrays ``(length_i, features)``, a padded array with
  ``lengths=``, or a NaN-padded array (:func:`rnnkit.data.to_padded`). They are scaled per
  feature by a :class:`rnnkit.data.StandardScaler` fitted on the real steps of the training
  sequences, padded with zeros after each sequence, and the network receives the mask beside
  them, so padding is never read as values;
* texts (a list of strings): a :class:`rnnkit.data.WordTokenizer` fitted on the training
  texts maps them to ids, padded to ``maxlen``; an ``Embedding(mask_zero=True)`` reads them;
* token ids ``X (samples, timesteps)`` (integers, 0 = padding): an ``Embedding`` reads them.

Labels may be of any dtype (ints, strings, bools); ``classes_`` holds them sorted and the
network predicts their positions (softmax output, cross-entropy weighted per class).

The defaults are one recipe for 40 to 10,000 training sequences (:mod:`._recipe`): an
honest validation part (whole groups or blocks of overlapping windows, else stratified;
cross-validation below 200 sequences, :mod:`._classifier_fit`), epochs, batch size and
patience that scale with the data, the best weights restored, the learning rate halved on
plateaus, classes weighted "balanced", batches bucketed by length; the network is a
convolutional front end before an LSTM with a pooled convolutional branch beside it
(:mod:`._classifier_net`).

Baselines: the majority class of the training labels, and a non-recurrent network trained
with the same recipe: multinomial logistic regression on the flattened scaled sequence, or
for text/tokens the mean of the word embeddings (fastText-style), with ten times the
learning rate. The held-out log loss of each is reported beside the chance level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from ..data import StandardScaler, WordTokenizer, scaler_from_dict, to_padded
from ._base import (
    InspectBatch,
    Network,
    PredictRequest,
    _load_extra,
    _predict,
    fmt,
)
from ._checks import check_choice
from ._classifier_fit import ClassifierFitting
from ._classifier_input import MODES, Augment, Prepared
from ._files import csv_text, read_sequences
from ._metrics import classification_report
from ._report import plot_confusion_matrix
from ._training import AUTO, TrainingConfig

__all__ = ["SequenceClassifier"]


def _loss_text(figures: Mapping[str, Any]) -> str:
    loss = figures.get("log_loss")
    return "" if loss is None else f"  log_loss={fmt(loss)}"


def _labels_to_json(classes: NDArray[Any]) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in classes]


def _log_loss(true: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    p = proba[np.arange(len(true)), true]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))


class SequenceClassifier(ClassifierFitting):
    """Classify whole sequences: a convolutional front end, LSTM/GRU/RNN layers and a
    softmax head, trained with a recipe that scales with the data.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"indrnn"``.
        units: units per recurrent layer; all but the last return sequences.
        filters: numeric sequences: filters of the ReLU ``Conv1D`` layers (``'same'``
            padding) before the recurrent layers; ``()`` for none (the recurrent layers
            read the scaled inputs).
        kernel_size: width of those convolutions.
        pool_size: after each of those convolutions, a max pooling over this many real
            steps while the longest training sequence, pooled so far, has at least 32
            steps (long sequences: the recurrent layer reads up to
            ``pool_size ** len(filters)`` times fewer steps; 1: none).
        pooling: numeric sequences with ``filters``: concatenate the convolutional features
            averaged over the real steps to the last recurrent output (LSTM-FCN style).
        layers: instead of the above, the hidden layers as specs (``[{"class": "LSTM",
            "units": 32}, ...]``) run in a ``Sequential`` that receives the mask; the input
            (and the embedding for text) and the softmax head are added.
        dense: units of ReLU ``Dense`` layers before the head.
        dropout: dropout rate before the head (0: none).
        bidirectional: wrap each recurrent layer in ``Bidirectional``.
        embedding_dim: embedding size for text / token ids.
        max_vocab: vocabulary size for text (padding and out-of-vocabulary ids included).
        maxlen: padded length for text (default: the longest training text).
        scale: standardise numeric features (statistics of the training sequences' real
            steps).
        class_weight: ``"balanced"`` weights each class ``n / (k * count)`` in the loss
            (a rare class counts as much as a common one); ``"none"``: equal weights.
        augment: for numeric sequences, training-time augmentation: a function
            ``augment(X, rng)`` that gets a copy of the training part ``(n, T, F)`` (as
            given, unscaled; zeros after each sequence's length) and a
            ``numpy.random.Generator`` seeded from ``random_state`` and the epoch, and returns
            an array of the same shape. It is called at the start of every epoch, and the
            network (and the baseline) train on that epoch's result. The validation part and
            the scaler's statistics stay unaugmented. A callable is not saved: ``task.json``
            stores ``null`` (set it again before refitting a loaded task).
        baseline: also train the non-recurrent baseline during ``fit``.
        **training: :class:`TrainingConfig`'s arguments. ``epochs``, ``batch_size``,
            ``validation`` and ``patience`` default to ``"auto"``: chosen from the number
            of training sequences (see :mod:`rnnkit.tasks._recipe`); a number fixes them.
            ``learning_rate=1e-3``, ``clipnorm=1.0``, ``max_time``, ``checkpoint_dir``,
            ``random_state=0``, ``verbose=0``.

    ``fit(X, y, lengths=None, groups=None)``, ``predict(X, lengths=None)``: ``X`` in any of
    the numeric forms above; sequences of any length are read (the masked network runs to
    each one's last step; the baseline resamples each to the longest training length).
    ``groups`` (subject, recording...) keeps each group whole on one side of the validation
    part or the folds.

    Learned attributes: ``model_``, ``classes_``, ``mode_``, ``scaler_``, ``tokenizer_``,
    ``input_shape_``, ``majority_``, ``baseline_model_``, ``history_``, ``recipe_`` (the
    resolved training arguments and how validation was drawn), ``baseline_history_``.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 5, 2)); y = np.array(["a", "b"] * 20)
    >>> SequenceClassifier(units=4, filters=(4,), epochs=1).fit(X, y).predict(X[:3]).shape
    (3,)
    """

    task_name = "classifier"
    tuple_params = ("units", "dense", "filters")
    training_defaults = TrainingConfig(epochs=AUTO, batch_size=AUTO, learning_rate=1e-3,
                                       validation=AUTO, patience=AUTO)

    def __init__(
        self,
        cell: str = "lstm",
        units: int | Sequence[int] = (64,),
        *,
        filters: Sequence[int] = (64, 64),
        kernel_size: int = 5,
        pool_size: int = 2,
        pooling: bool = True,
        layers: Sequence[dict[str, Any]] | None = None,
        dense: Sequence[int] = (),
        dropout: float = 0.3,
        bidirectional: bool = False,
        embedding_dim: int = 64,
        max_vocab: int | None = 20000,
        maxlen: int | None = None,
        scale: bool = True,
        class_weight: str = "balanced",
        augment: Augment | None = None,
        baseline: bool = True,
        **training: Any,
    ) -> None:
        self.cell = cell
        self.units = units
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.pooling = pooling
        self.layers = layers
        self.dense = dense
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.embedding_dim = embedding_dim
        self.max_vocab = max_vocab
        self.maxlen = maxlen
        self.scale = scale
        self.class_weight = class_weight
        self.augment = augment
        self.baseline = baseline
        self._store_training(training)

    # -- prediction ---------------------------------------------------------------------------
    def _proba(self, model: Network, data: Prepared) -> NDArray[np.float64]:
        """Probabilities in the given order; numeric sequences are predicted sorted by
        length (batches of similar lengths stop at their longest real step)."""
        if data.lengths is None:
            return _predict(model, data.network_input())
        order = np.argsort(data.lengths, kind="stable")
        proba = np.empty((len(order), len(self.classes_)))
        proba[order] = _predict(model, data.take(order))
        return proba

    def predict_proba(self, X: Any, lengths: Any = None) -> NDArray[np.float64]:
        """Class probabilities ``(samples, n_classes)``, columns in ``classes_`` order."""
        self._require_fitted()
        return self._proba(self.model_, self._prepare(X, lengths))

    def predict(self, X: Any, lengths: Any = None) -> NDArray[Any]:
        """Predicted labels ``(samples,)`` (elements of ``classes_``)."""
        proba = self.predict_proba(X, lengths)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any, lengths: Any = None) -> float:
        """Accuracy on ``(X, y)`` (scikit-learn's classifier score)."""
        return float(np.mean(self.predict(X, lengths) == np.asarray(y)))

    def evaluate(self, X: Any, y: Any, lengths: Any = None) -> dict[str, Any]:
        """Held-out metrics: ``accuracy``, ``macro_f1``, ``log_loss``, ``per_class``
        (precision, recall, f1, support), ``confusion_matrix`` (rows: true class, columns:
        predicted) and ``baselines``: ``majority`` (accuracy, macro_f1), ``chance`` (the
        log loss of predicting the training class frequencies) and ``non_recurrent``
        (accuracy, macro_f1, log_loss); ``beats_baselines`` says whether the network's
        accuracy is above every baseline's."""
        self._require_fitted()
        data = self._prepare(X, lengths)
        true = self._encode_labels(y)
        names = self.classes_.tolist()
        proba = self._proba(self.model_, data)
        out = classification_report(true, np.argmax(proba, axis=1), names)
        out["log_loss"] = _log_loss(true, proba)
        maj = classification_report(true, np.full_like(true, self.majority_), names)
        baselines: dict[str, Any] = {
            "majority": {"accuracy": maj["accuracy"], "macro_f1": maj["macro_f1"],
                         "class": str(self.classes_[self.majority_])},
        }
        prior = getattr(self, "class_prior_", None)
        if prior is not None:
            baselines["chance"] = {"log_loss": _log_loss(true, np.tile(prior, (len(true), 1)))}
        if self.baseline_model_ is not None:
            bproba = self._proba(self.baseline_model_, data)
            rep = classification_report(true, np.argmax(bproba, axis=1), names)
            baselines["non_recurrent"] = {"accuracy": rep["accuracy"],
                                          "macro_f1": rep["macro_f1"],
                                          "log_loss": _log_loss(true, bproba),
                                          "model": self.baseline_name_}
        out["baselines"] = baselines
        out["beats_baselines"] = all(out["accuracy"] > b["accuracy"]
                                     for b in baselines.values() if "accuracy" in b)
        out["n_samples"] = int(len(true))
        return out

    # -- the run protocol (held-out data: sequences and labels) ------------------------------
    def heldout_metrics(self, heldout: tuple[Any, Any]) -> dict[str, Any]:
        X, y = heldout
        return self.evaluate(X, y)

    def heldout_arrays(self, heldout: tuple[Any, Any]) -> dict[str, np.ndarray]:
        """Texts as a str array; numeric sequences zero-padded with their ``lengths``."""
        X, y = heldout
        if self.mode_ == "text":
            return {"X": np.array([str(t) for t in X]), "y": np.asarray(y)}
        if self.mode_ == "tokens":
            return {"X": np.asarray(X), "y": np.asarray(y)}
        padded = to_padded(X, dtype=np.float64)
        return {"X": padded.values, "lengths": padded.lengths, "y": np.asarray(y)}

    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
        X = arrays["X"]
        if self.mode_ == "text":
            return [str(t) for t in X], arrays["y"]
        if "lengths" in arrays:
            return [X[i, :n] for i, n in enumerate(arrays["lengths"].tolist())], arrays["y"]
        return X, arrays["y"]

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
        data = self._prepare(X[:n])
        ids = self._encode_labels(y[:n])

        def cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
            p = y_pred.gather(1, y_true.long().reshape(-1, 1)).squeeze(1)
            return -torch.log(p.clamp_min(1e-12))

        return InspectBatch(data.network_input(), ids, cross_entropy)

    def predict_file(self, request: PredictRequest) -> str:
        """CSV of the predicted label and the class probabilities of each sequence in
        ``request.file`` (texts: one per line of a .txt; else X (and lengths) of an .npz,
        an .npy, or a .ts file)."""
        self._require_fitted()
        proba = self.predict_proba(read_sequences(request.file, self.mode_ == "text"))
        labels = self.classes_[np.argmax(proba, axis=1)]
        header = ["index", "label", *[f"p_{c}" for c in self.classes_.tolist()]]
        rows = [[i, str(lab), *[f"{p:.6g}" for p in proba[i]]] for i, lab in enumerate(labels)]
        return csv_text(header, rows)

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        """The held-out accuracy, macro F1 and log loss beside each baseline's, and one line
        when the network does not beat them."""
        lines = [f"held-out       accuracy={fmt(metrics.get('accuracy'))}  "
                 f"macro_f1={fmt(metrics.get('macro_f1'))}" + _loss_text(metrics)]
        best = ("", -1.0)
        for name, b in metrics.get("baselines", {}).items():
            if "accuracy" not in b:
                lines.append(f"{name:<15}" + _loss_text(b).strip())
                continue
            lines.append(f"{name:<15}accuracy={fmt(b.get('accuracy'))}  "
                         f"macro_f1={fmt(b.get('macro_f1'))}" + _loss_text(b))
            best = max(best, (name, float(b["accuracy"])), key=lambda t: t[1])
        if metrics.get("beats_baselines") is False:
            lines.append(f"note           the recurrent network does not beat the {best[0]} "
                         f"baseline ({fmt(metrics.get('accuracy'))} vs {fmt(best[1])})")
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
            "class_prior": getattr(self, "class_prior_", None),
            "recipe": getattr(self, "recipe_", None),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        dtype = np.dtype(state.get("classes_dtype", None) or None)
        self.classes_ = np.asarray(state["classes"], dtype=dtype)
        self.mode_ = check_choice("mode", state["mode"], MODES)
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
        if state.get("class_prior") is not None:
            self.class_prior_ = np.asarray(state["class_prior"], dtype=np.float64)
        if state.get("recipe") is not None:
            self.recipe_ = dict(state["recipe"])
        self.baseline_model_ = None

    def _extra_models(self) -> dict[str, Network]:
        base = getattr(self, "baseline_model_", None)
        return {} if base is None else {"baseline": base}

    def _load_extra_models(self, root: Path) -> None:
        self.baseline_model_ = _load_extra(root, "baseline")
        if self.baseline_model_ is not None:
            self.baseline_model_.eval()
