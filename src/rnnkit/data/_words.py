"""Word-level tokenizer for short-text classification.

Ids: 0 is padding, 1 is the out-of-vocabulary (OOV) id, and words take ids 2.. in order of
decreasing frequency in the fitted texts (ties in alphabetical order, so the result does
not depend on the order of the texts). ``max_vocab`` caps the total number of ids
(padding and OOV included), i.e. the ``input_dim`` of an embedding layer.

Tokenising: optional lowercasing, then words are maximal runs of letters and digits, with
inner apostrophes kept (``"don't"``). Punctuation is dropped (``punctuation="strip"``) or
kept as one token per character (``"split"``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_format_version, check_int, parse_json
from ._sequences import Side, pad_sequences

__all__ = ["WordTokenizer"]

_FORMAT_VERSION = 1
_WORD = r"[^\W_]+(?:['\u2019][^\W_]+)*"
_PATTERNS = {
    "strip": re.compile(_WORD),
    "split": re.compile(_WORD + r"|[^\w\s]|_"),
}
Punctuation = Literal["strip", "split"]


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got a single str; wrap it: [text]")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"expected str texts, got {type(t).__name__} at index {i}")
    return out


class WordTokenizer:
    """Map short texts to padded id arrays (0 = padding, 1 = OOV, words from 2).

    Args:
        max_vocab: total number of ids kept, padding and OOV included (``>= 2``); the most
            frequent ``max_vocab - 2`` words get ids. ``None``: keep every word.
        lower: lowercase before tokenising.
        punctuation: ``"strip"`` drops punctuation, ``"split"`` keeps each mark as a token.
        oov_token: how the OOV id is shown by :meth:`decode` and in :attr:`vocabulary`.

    >>> tok = WordTokenizer().fit(["A good film.", "A bad, bad film!"])
    >>> tok.vocabulary
    ['<pad>', '<oov>', 'a', 'bad', 'film', 'good']
    >>> tok.encode(["good film", "an awful film"], maxlen=4).tolist()
    [[0, 0, 5, 4], [0, 1, 1, 4]]
    """

    def __init__(
        self,
        max_vocab: int | None = None,
        lower: bool = True,
        punctuation: Punctuation = "strip",
        oov_token: str = "<oov>",
    ) -> None:
        if max_vocab is not None:
            max_vocab = check_int(max_vocab, "max_vocab", 2)
        if not isinstance(punctuation, str) or punctuation not in _PATTERNS:
            raise ValueError(f"expected punctuation='strip' or 'split', got {punctuation!r}")
        if not isinstance(oov_token, str) or not oov_token:
            raise ValueError(f"expected a non-empty oov_token string, got {oov_token!r}")
        self.max_vocab = max_vocab
        self.lower = bool(lower)
        self.punctuation: Punctuation = punctuation
        self.oov_token = oov_token
        self.pad_token = "<pad>"
        self.word_counts: dict[str, int] = {}
        self.vocabulary: list[str] = [self.pad_token, oov_token]
        self._index: dict[str, int] = {}
        self.fitted = False

    @property
    def vocab_size(self) -> int:
        """Number of ids (``max id + 1``), padding and OOV included."""
        return len(self.vocabulary)

    @property
    def word_index(self) -> dict[str, int]:
        """``{word: id}`` for the kept words (ids >= 2)."""
        return dict(self._index)

    def tokenize(self, text: str) -> list[str]:
        """Split one text into tokens (after lowercasing, if enabled).

        >>> WordTokenizer(punctuation="split").tokenize("Don't stop -- now!")
        ["don't", 'stop', '-', '-', 'now', '!']
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        if self.lower:
            text = text.lower()
        return _PATTERNS[self.punctuation].findall(text)

    def fit(self, texts: Iterable[str]) -> WordTokenizer:
        """Count words in ``texts`` (training texts only) and assign ids by frequency.

        >>> WordTokenizer(max_vocab=3).fit(["b a b"]).vocabulary
        ['<pad>', '<oov>', 'b']
        """
        counts: Counter[str] = Counter()
        for t in _check_texts(texts):
            counts.update(self.tokenize(t))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if self.max_vocab is not None:
            ranked = ranked[: self.max_vocab - 2]
        self.word_counts = dict(counts)
        self._set_words([w for w, _ in ranked])
        return self

    def _set_words(self, words: list[str]) -> None:
        self.vocabulary = [self.pad_token, self.oov_token, *words]
        self._index = {w: i + 2 for i, w in enumerate(words)}
        self.fitted = True

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ValueError("WordTokenizer is not fitted: call fit(train_texts) first")

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Id lists of ``texts`` (no padding); unknown words map to 1.

        >>> WordTokenizer().fit(["x y"]).texts_to_sequences(["y z x"])
        [[3, 1, 2]]
        """
        self._require_fitted()
        index = self._index
        return [[index.get(w, 1) for w in self.tokenize(t)] for t in _check_texts(texts)]

    def encode(
        self,
        texts: Iterable[str],
        maxlen: int | None = None,
        padding: Side = "pre",
        truncating: Side = "pre",
    ) -> NDArray[np.int64]:
        """Padded ids ``(len(texts), maxlen)`` int64, via :func:`pad_sequences` (padding 0).

        >>> WordTokenizer().fit(["x y"]).encode(["x", "y x y"], padding="post").tolist()
        [[2, 0, 0], [3, 2, 3]]
        """
        seqs = self.texts_to_sequences(texts)
        return pad_sequences(seqs, maxlen=maxlen, dtype="int64", padding=padding,
                             truncating=truncating)

    def decode(self, ids: ArrayLike) -> str:
        """Words of a 1-D id sequence joined by spaces; padding ids are skipped.

        >>> tok = WordTokenizer().fit(["x y"])
        >>> tok.decode([0, 0, 3, 1, 2])
        'y <oov> x'
        """
        self._require_fitted()
        arr = np.asarray(ids)
        if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(
                f"expected a 1-D array of integer ids, got shape {arr.shape} dtype {arr.dtype}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            bad = int(arr[(arr < 0) | (arr >= self.vocab_size)][0])
            raise ValueError(f"expected ids in [0, {self.vocab_size}), got {bad}")
        return " ".join(self.vocabulary[i] for i in arr.tolist() if i != 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings and vocabulary (words in id order, from id 2).

        >>> WordTokenizer().fit(["b a"]).to_dict()["words"]
        ['a', 'b']
        """
        self._require_fitted()
        return {
            "class": "WordTokenizer",
            "format_version": _FORMAT_VERSION,
            "max_vocab": self.max_vocab,
            "lower": self.lower,
            "punctuation": self.punctuation,
            "oov_token": self.oov_token,
            "words": self.vocabulary[2:],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string.

        >>> WordTokenizer.from_json(WordTokenizer().fit(["hi"]).to_json()).vocabulary
        ['<pad>', '<oov>', 'hi']
        """
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        """Rebuild a fitted tokenizer from :meth:`to_dict` output (validated).

        >>> WordTokenizer.from_dict(WordTokenizer().fit(["hi"]).to_dict()).encode(["hi"]).tolist()
        [[2]]
        """
        if not isinstance(d, dict) or d.get("class") != "WordTokenizer":
            raise ValueError(f"expected a dict with class 'WordTokenizer', got {d!r:.80}")
        check_format_version(d, _FORMAT_VERSION)
        lower = d.get("lower", True)
        if not isinstance(lower, bool):
            raise ValueError(f"expected 'lower' to be true or false, got {lower!r:.80}")
        tok = cls(
            max_vocab=d.get("max_vocab"),
            lower=lower,
            punctuation=d.get("punctuation", "strip"),
            oov_token=d.get("oov_token", "<oov>"),
        )
        words = d.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError(f"expected 'words' to be a list of strings, got {words!r:.80}")
        if len(set(words)) != len(words):
            raise ValueError("expected distinct 'words'")
        if tok.pad_token in words:
            raise ValueError(
                f"expected 'words' without the padding token {tok.pad_token!r} (id 0), "
                f"got it at position {words.index(tok.pad_token)}"
            )
        if tok.max_vocab is not None and len(words) > tok.max_vocab - 2:
            raise ValueError(
                f"expected at most max_vocab - 2 = {tok.max_vocab - 2} words, got {len(words)}"
            )
        tok._set_words(words)
        return tok

    @classmethod
    def from_json(cls, text: str) -> WordTokenizer:
        """Rebuild a fitted tokenizer from :meth:`to_json` output.

        >>> WordTokenizer.from_json(WordTokenizer(max_vocab=10).fit(["a"]).to_json()).max_vocab
        10
        """
        return cls.from_dict(parse_json(text, "a WordTokenizer"))

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(vocab_size={self.vocab_size}, max_vocab={self.max_vocab}, "
            f"punctuation={self.punctuation!r})"
        )

