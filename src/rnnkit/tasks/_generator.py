"""TextGenerator: a character-level recurrent language model (seed 003's Shakespeare GRU).

Training: the text's characters get ids (:class:`rnnkit.data.CharVocab`); the last
``validation`` fraction of the text is held out for early stopping; the rest is cut into
sequences of ``seq_length`` characters whose targets are the next characters
(:func:`rnnkit.data.next_char_pairs`). The network is
``Embedding -> GRU/LSTM(return_sequences) ... -> Dense(vocab)`` (logits), trained with
sparse categorical cross-entropy.

Generation streams one character at a time. The recurrent layers are run through
``initial_state`` / ``return_state``: :class:`StatefulRunner` wraps each layer's cell (the
same weights) in an ``RNN(return_sequences=True, return_state=True)`` and feeds the states
of one call into the next, so the seed is read once and every new character costs one step;
the prefix is never re-run. Sampling: ``p = softmax(logits / temperature)`` restricted to
the ``top_k`` most likely characters; ``temperature=0`` takes the most likely one. A seeded
``numpy.random.Generator`` makes generation reproducible.

Held-out score: ``bits_per_char = mean(-log2 p(c_{t+1} | c_1..c_t))`` over a text, read as
one stream with the states carried across chunks; ``perplexity = 2 ** bits_per_char``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from ..data import CharVocab, next_char_pairs, read_text
from ..layers import RNN, Activation, Dense, Dropout, Embedding, Input
from ..model import Sequential
from ..training import losses
from ._base import InspectBatch, Network, PredictRequest, Task, build_layer, fmt
from ._checks import check_choice, check_float, check_int, check_units
from ._forecaster import RNN_CELLS
from ._report import plot_text_sample
from ._schedule import CosineBudget
from ._training import TrainingConfig

UNKNOWN = ("error", "skip", "unk")
SCHEDULES = ("cosine", "constant")

__all__ = ["StatefulRunner", "TextGenerator", "sample_from_logits"]


class StatefulRunner:
    """Runs a Sequential language model chunk by chunk, carrying the recurrent states.

    Supported layers: ``Embedding``, recurrent layers (``LSTM``, ``GRU``, ``SimpleRNN``,
    ``IndRNN``; not ``go_backwards``), ``Dense``, ``Dropout`` (identity: eval mode) and
    ``Activation``. Each recurrent layer's cell is wrapped (shared weights) in
    ``RNN(cell, return_sequences=True, return_state=True)`` and called with
    ``initial_state`` = the states returned by the previous call.
    """

    def __init__(self, model: Network) -> None:
        self.steps: list[tuple[str, nn.Module]] = []
        for layer in model.layers:
            if isinstance(layer, RNN):
                if layer.go_backwards:
                    raise ValueError(f"expected forward recurrent layers for streaming, got "
                                     f"{layer.name} with go_backwards=True")
                twin = RNN(layer.cell, return_sequences=True, return_state=True,
                           engine=layer.engine)
                self.steps.append(("rnn", twin))
            elif isinstance(layer, (Embedding, Dense, Activation)):
                self.steps.append(("plain", layer))
            elif isinstance(layer, Dropout):
                continue
            else:
                raise ValueError(
                    f"expected Embedding, recurrent, Dense, Dropout or Activation layers for "
                    f"streaming, got {type(layer).__name__}"
                )
        self.model = model
        self.states: list[tuple[Tensor, ...] | None] = [None] * len(self.steps)

    def reset(self) -> None:
        """Forget the carried states (the next chunk starts from zeros)."""
        self.states = [None] * len(self.steps)

    @torch.no_grad()
    def feed(self, ids: NDArray[np.int64] | Sequence[int]) -> Tensor:
        """Read ids ``(batch, time)`` (or ``(time,)``) and return the logits
        ``(batch, time, vocab)``; the final states are kept for the next call."""
        arr = np.asarray(ids, dtype=np.int64)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ValueError(f"expected ids of shape (batch, time) with time >= 1, got "
                             f"{arr.shape}")
        self.model.eval()
        x: Tensor = torch.from_numpy(arr)
        for i, (kind, layer) in enumerate(self.steps):
            if kind == "rnn":
                out = layer(x, initial_state=self.states[i])
                x, states = out[0], tuple(out[1:])
                self.states[i] = states
            else:
                x = layer(x)
        return x


def sample_from_logits(
    logits: NDArray[np.float64], rng: np.random.Generator, temperature: float = 1.0,
    top_k: int | None = None,
) -> int:
    """One id from ``softmax(logits / temperature)`` over the ``top_k`` largest logits.

    ``temperature == 0`` returns the argmax (greedy).

    >>> sample_from_logits(np.array([0.0, 5.0, 1.0]), np.random.default_rng(0), 0.0)
    1
    """
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None and top_k < z.size:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(z.size, p=p))


class TextGenerator(Task):
    """Character-level text generation with a GRU (or LSTM/RNN) language model.

    Args:
        cell: ``"gru"`` (seed 003), ``"lstm"``, ``"rnn"`` or ``"indrnn"``.
        units: units per recurrent layer (one int or a list: stacked layers).
        layers: instead of ``cell``/``units``, the layers between the embedding and the
            output head as specs (recurrent layers need ``return_sequences: true``).
        embedding_dim: size of the character embedding.
        seq_length: characters per training sequence (backpropagation through time).
        dropout: dropout before the output head.
        recurrent_dropout: the recurrent layers' dropout of their recurrent state (one mask
            per sequence; the fused kernels run it at about the cost of none). With
            ``dropout`` it is what keeps a small text from being learnt by heart: on 270 kB
            it lowered the held-out bits/char from 2.64 to 2.56 (``bench/TEXT.md``).
        schedule: ``"cosine"``: the learning rate falls from ``learning_rate`` to a tenth of
            it along a cosine over the time budget (or the epochs, whichever ends first;
            :class:`CosineBudget`); ``"constant"``: it stays.
        **training: :class:`TrainingConfig`'s arguments. By default training runs on a time
            budget (``max_time=300`` seconds; ``epochs=1000`` is only a ceiling), stopping
            early when the held-out loss has not improved for ``patience=3`` epochs, with
            the best weights restored: ``batch_size=32`` (the fused kernels process as many
            characters per second as with 128, and it makes four times the updates),
            ``learning_rate=3e-3`` (with ``schedule="cosine"``), ``clipnorm=1.0``,
            ``validation=0.1`` (the last fraction of the text), ``checkpoint_dir``,
            ``random_state=0``, ``verbose=0``.

    The vocabulary reserves id 0 for characters it has not seen (``"\ufffd"``), so a
    held-out text may hold characters the training text lacks (scored as that symbol, counted
    in ``n_unknown``); a seed with such characters is refused unless ``unknown="skip"``
    (leave them out) or ``"unk"`` (read them as the unknown symbol) is passed.

    Learned attributes: ``model_``, ``vocab_``, ``history_``.

    >>> g = TextGenerator(units=8, seq_length=10, epochs=1).fit("to be or not to be " * 20)
    >>> len(g.generate("to ", 5, random_state=0))
    5
    """

    task_name = "generator"
    model_: Sequential
    tuple_params = ("units",)
    training_defaults = TrainingConfig(epochs=1000, batch_size=32, learning_rate=3e-3,
                                       validation=0.1, patience=3, max_time=300.0)

    def __init__(
        self,
        cell: str = "gru",
        units: int | Sequence[int] = (256,),
        *,
        layers: Sequence[dict[str, Any]] | None = None,
        embedding_dim: int = 64,
        seq_length: int = 100,
        dropout: float = 0.25,
        recurrent_dropout: float = 0.25,
        schedule: str = "cosine",
        **training: Any,
    ) -> None:
        self.cell = cell
        self.units = units
        self.layers = layers
        self.embedding_dim = embedding_dim
        self.seq_length = seq_length
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.schedule = schedule
        self._store_training(training)

    def _check_params(self) -> None:
        self.training_config().check()
        check_choice("cell", self.cell, tuple(RNN_CELLS))
        if self.layers is None:
            check_units(self.units)
        check_int("embedding_dim", self.embedding_dim, 1)
        check_int("seq_length", self.seq_length, 1)
        check_float("dropout", self.dropout, 0.0, 1.0)
        check_float("recurrent_dropout", self.recurrent_dropout, 0.0, 1.0)
        check_choice("schedule", self.schedule, SCHEDULES)

    def _build(self) -> Sequential:
        vocab = len(self.vocab_)
        if self.layers is not None:
            hidden = [build_layer(spec) for spec in self.layers]
        else:
            rnn = RNN_CELLS[self.cell.lower()]
            hidden = [rnn(u, return_sequences=True,
                          recurrent_dropout=float(self.recurrent_dropout))
                      for u in check_units(self.units)]
            if self.dropout:
                hidden.append(Dropout(float(self.dropout)))
        return Sequential(
            [Input((self.seq_length,), dtype="int64"), Embedding(vocab, int(self.embedding_dim)),
             *hidden, Dense(vocab)],
            name="char_model",
        )

    def fit(self, text: str, y: None = None) -> TextGenerator:
        """Train on one string (the last ``validation`` fraction is held out for early
        stopping). Returns ``self``."""
        self._check_params()
        if not isinstance(text, str):
            raise TypeError(f"expected the training text as a str, got {type(text).__name__}")
        config = self.training_config()
        n_val = int(math.floor(float(config.validation) * len(text)))
        if len(text) - n_val < self.seq_length + 1:
            raise ValueError(f"expected at least seq_length + 1 = {self.seq_length + 1} training "
                             f"characters, got {len(text) - n_val}")
        self.vocab_ = CharVocab.from_text(text, unknown="unk")
        ids = self.vocab_.encode(text)
        x_tr, y_tr = next_char_pairs(ids[: len(ids) - n_val], self.seq_length)
        val = None
        if n_val > self.seq_length:
            x_va, y_va = next_char_pairs(ids[len(ids) - n_val :], self.seq_length)
            val = (np.array(x_va), np.array(y_va))
        config.seed()
        model = self._build()
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        hooks = [CosineBudget(config.learning_rate, config.max_time)] \
            if self.schedule == "cosine" else []
        self._train(model, loss, np.array(x_tr), np.array(y_tr), val, callbacks=hooks)
        self.model_ = model
        return self

    # -- generation ---------------------------------------------------------------------------
    def _encode(self, text: str, what: str, unknown: str = "error") -> NDArray[np.int64]:
        """Ids of ``text``; characters the vocabulary lacks are refused (``"error"``), left
        out (``"skip"``) or read as the unknown symbol (``"unk"``)."""
        if not isinstance(text, str):
            raise TypeError(f"expected the {what} as a str, got {type(text).__name__}")
        unknown = check_choice("unknown", unknown, UNKNOWN)
        known = set(self.vocab_.chars)
        bad = [i for i, c in enumerate(text) if c not in known]
        if not bad:
            return self.vocab_.encode(text)
        if unknown == "skip":
            return self.vocab_.encode("".join(c for c in text if c in known))
        if unknown == "error" or self.vocab_.unk_index is None:
            c = text[bad[0]]
            options = "unknown='skip' (CLI: --unknown skip) to leave them out" + (
                "" if self.vocab_.unk_index is None else
                " or unknown='unk' (--unknown unk) to read them as the unknown symbol")
            raise ValueError(f"expected the {what}'s characters in the training text's "
                             f"vocabulary, got {c!r} (U+{ord(c):04X}) at position {bad[0]} "
                             f"({len(bad)} unknown character(s)); pass {options}")
        return self.vocab_.encode(text)

    def stream(
        self,
        seed: str,
        length: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        random_state: int | None = None,
        unknown: str = "error",
    ) -> Iterator[str]:
        """Yield ``length`` generated characters one at a time after ``seed``.

        The seed is read once; each new character is fed back as a single step with the
        recurrent states carried (see :class:`StatefulRunner`). ``unknown``: what to do with
        seed characters the vocabulary lacks (``"error"``, ``"skip"``, ``"unk"``).
        """
        self._require_fitted()
        length = check_int("length", length, 0)
        check_float("temperature", temperature, 0.0, math.inf)
        if top_k is not None:
            top_k = check_int("top_k", top_k, 1)
        ids = self._encode(seed, "seed", unknown)
        if ids.size == 0:
            raise ValueError("expected a non-empty seed text, got ''")
        rng = np.random.default_rng(random_state)
        runner = StatefulRunner(self.model_)
        unk = self.vocab_.unk_index  # never generated: it stands for no real character
        logits = runner.feed(ids)[0, -1].double().numpy()
        for _ in range(length):
            if unk is not None:
                logits[unk] = -np.inf
            nxt = sample_from_logits(logits, rng, temperature, top_k)
            yield self.vocab_.decode([nxt])
            logits = runner.feed([nxt])[0, -1].double().numpy()

    def generate(
        self,
        seed: str,
        length: int = 500,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        random_state: int | None = None,
        unknown: str = "error",
    ) -> str:
        """The ``length`` characters generated after ``seed`` (the seed not included)."""
        return "".join(self.stream(seed, length, temperature=temperature, top_k=top_k,
                                   random_state=random_state, unknown=unknown))

    def next_char_probabilities(self, text: str) -> NDArray[np.float64]:
        """``p(c_{t+1} | c_1..c_t)`` for every position of ``text``: ``(len(text), vocab)``,
        from one full-sequence call of the model (no streaming)."""
        self._require_fitted()
        ids = self._encode(text, "text")
        self.model_.eval()
        with torch.no_grad():
            logits = self.model_(torch.from_numpy(ids[None, :]))[0]  # (len, vocab)
        return torch.softmax(logits.double(), dim=-1).numpy()

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, text: str, *, chunk: int = 1000) -> dict[str, Any]:
        """Held-out ``bits_per_char`` and ``perplexity`` of ``text`` (read as one stream,
        states carried across chunks of ``chunk`` characters), beside the unigram baseline
        (character frequencies of the training vocabulary's text are not stored, so the
        baseline uses the held-out text's own frequencies: a lower bound for any model that
        ignores context)."""
        self._require_fitted()
        ids = self._encode(text, "held-out text", "unk")
        if ids.size < 2:
            raise ValueError(f"expected at least 2 characters to score, got {ids.size}")
        chunk = check_int("chunk", chunk, 1)
        runner = StatefulRunner(self.model_)
        nll = 0.0
        inputs, targets = ids[:-1], ids[1:]
        for start in range(0, len(inputs), chunk):
            logits = runner.feed(inputs[start : start + chunk])[0].double()  # (c, vocab)
            tgt = torch.from_numpy(targets[start : start + chunk])
            nll += float(torch.nn.functional.cross_entropy(logits, tgt, reduction="sum"))
        n = len(targets)
        bpc = nll / n / math.log(2.0)
        counts = np.bincount(targets, minlength=len(self.vocab_)).astype(np.float64)
        p = counts[counts > 0] / n
        unigram = float(-(p * np.log2(p)).sum())
        return {
            "bits_per_char": bpc,
            "perplexity": 2.0 ** bpc,
            "n_chars": int(n),
            "n_unknown": int(np.sum(targets == 0)) if self.vocab_.unk_index == 0 else 0,
            "baselines": {"unigram": {"bits_per_char": unigram, "perplexity": 2.0 ** unigram}},
        }

    # -- the run protocol (held-out data: the text) ------------------------------------------
    def heldout_metrics(self, heldout: str) -> dict[str, Any]:
        return self.evaluate(heldout)

    def heldout_arrays(self, heldout: str) -> dict[str, np.ndarray]:
        return {"text": np.array(heldout)}

    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> str:
        return str(arrays["text"])

    def write_plots(self, folder: Path, heldout: str, metrics: Mapping[str, Any]
                    ) -> list[Path]:
        """``sample.txt`` and ``sample.png`` of the sample in ``metrics`` (if any)."""
        sample = metrics.get("sample_settings")
        if not isinstance(sample, Mapping):
            return []
        seed, text = str(sample["seed"]), str(metrics["sample"])
        path = folder / "sample.txt"
        path.write_text(text + "\n", encoding="utf-8")
        png = plot_text_sample(seed, text[len(seed):], folder / "sample.png",
                               title=f"Sample, temperature {sample['temperature']}")
        return [path, png]

    def inspect_batch(self, heldout: str, samples: int) -> InspectBatch:
        """Held-out sequences with the cross-entropy of their last character (how far back
        its gradient reaches)."""
        ids = self._encode(heldout, "held-out text")
        xs, ys = next_char_pairs(ids, self.seq_length)
        n = max(1, int(samples))
        x, y = np.array(xs[:n]), np.array(ys[:n])

        def last_token_cross_entropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
            logp = torch.log_softmax(y_pred[:, -1], dim=-1)  # (batch, vocab)
            return -logp.gather(1, y_true[:, -1].long().unsqueeze(-1)).squeeze(-1)

        return InspectBatch(x, y, last_token_cross_entropy)

    def predict_file(self, request: PredictRequest) -> str:
        """The seed text of ``request.file`` followed by ``request.length`` generated
        characters (seeded: the same every time)."""
        seed = read_text(request.file)
        return seed + self.generate(seed, request.length, random_state=0) + "\n"

    @classmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        uni = metrics.get("baselines", {}).get("unigram", {})
        return [f"held-out       bits_per_char={fmt(metrics.get('bits_per_char'))}  "
                f"perplexity={fmt(metrics.get('perplexity'))}",
                f"unigram        bits_per_char={fmt(uni.get('bits_per_char'))}"]

    # -- state --------------------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        return {
            "vocab": self.vocab_.to_dict(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.vocab_ = CharVocab.from_dict(state["vocab"])
