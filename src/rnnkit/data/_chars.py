"""Character vocabulary and next-character training pairs.

:class:`CharVocab` maps each distinct character to an id, in Unicode code-point order (so
the same text always gives the same ids). Unknown characters raise by default; with
``unknown="unk"`` id 0 is reserved for them (it decodes to ``"\\ufffd"``, the Unicode
replacement character) and the characters take ids ``1..``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from ._checks import check_format_version, check_int, parse_json

__all__ = ["UNK_CHAR", "CharVocab", "next_char_pairs"]

UNK_CHAR = "\ufffd"
_FORMAT_VERSION = 1
Unknown = Literal["error", "unk"]


def _codes(text: str) -> NDArray[np.uint32]:
    """Code points of ``text`` as a uint32 array (vectorised, no Python loop)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharVocab:
    """Character-level vocabulary with a deterministic order and an explicit unknown policy.

    Args:
        chars: the characters (any iterable of single characters; duplicates are merged).
        unknown: ``"error"`` (default): encoding an unseen character raises ``ValueError``;
            ``"unk"``: id 0 is reserved for unseen characters.

    >>> v = CharVocab.from_text("hello")
    >>> v.chars, len(v)
    (('e', 'h', 'l', 'o'), 4)
    >>> v.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> v.decode([1, 3, 2, 0])
    'hole'
    """

    def __init__(self, chars: Iterable[str], unknown: Unknown = "error") -> None:
        if unknown not in ("error", "unk"):
            raise ValueError(f"expected unknown='error' or 'unk', got {unknown!r}")
        if isinstance(chars, str):
            items = list(chars)
        else:
            items = []
            for c in chars:
                if not isinstance(c, str) or len(c) != 1:
                    raise ValueError(f"expected single characters, got {c!r}")
                items.append(c)
        self.unknown: Unknown = unknown
        self.chars: tuple[str, ...] = tuple(sorted(set(items)))
        self._code_table = _codes("".join(self.chars)).astype(np.int64)  # sorted, (n_chars,)
        self._offset = 1 if unknown == "unk" else 0
        decode = self._code_table if unknown == "error" else np.concatenate(
            [[ord(UNK_CHAR)], self._code_table]
        )
        self._decode_table = decode.astype("<u4")

    @classmethod
    def from_text(cls, text: str | Iterable[str], unknown: Unknown = "error") -> CharVocab:
        """Build the vocabulary of every character in ``text`` (a string or strings).

        >>> CharVocab.from_text(["ab", "ca"], unknown="unk").encode("abz").tolist()
        [1, 2, 0]
        """
        if isinstance(text, str):
            return cls(set(text), unknown=unknown)
        seen: set[str] = set()
        for t in text:
            if not isinstance(t, str):
                raise TypeError(f"expected strings, got {type(t).__name__}")
            seen.update(t)
        return cls(seen, unknown=unknown)

    @property
    def unk_index(self) -> int | None:
        """Id of unknown characters (0) when ``unknown="unk"``, else ``None``."""
        return 0 if self.unknown == "unk" else None

    def __len__(self) -> int:
        """Number of ids (characters plus the reserved unknown id, if any)."""
        return len(self.chars) + self._offset

    @property
    def size(self) -> int:
        """Same as ``len(vocab)``: the ``input_dim`` of an embedding / one-hot width."""
        return len(self)

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)}, unknown={self.unknown!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CharVocab)
            and other.chars == self.chars
            and other.unknown == self.unknown
        )

    __hash__ = None  # type: ignore[assignment]

    def encode(self, text: str) -> NDArray[np.int64]:
        """Ids of the characters of ``text``, shape ``(len(text),)``, int64.

        >>> CharVocab.from_text("ab").encode("ba").tolist()
        [1, 0]
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        cps = _codes(text).astype(np.int64)
        pos = np.searchsorted(self._code_table, cps)  # (len,)
        pos_c = np.minimum(pos, max(len(self._code_table) - 1, 0))
        found = (
            self._code_table[pos_c] == cps if len(self._code_table) else np.zeros(len(cps), bool)
        )
        ids = pos + self._offset
        if not found.all():
            if self.unknown == "error":
                i = int(np.argmin(found))
                raise ValueError(
                    f"expected characters of the vocabulary, got {text[i]!r} "
                    f"(U+{ord(text[i]):04X}) at position {i}; build the vocabulary from this "
                    "text, or use unknown='unk' to map unseen characters to id 0"
                )
            ids[~found] = 0
        return ids.astype(np.int64)

    def decode(self, ids: ArrayLike) -> str:
        """The string of a 1-D sequence of ids (inverse of :meth:`encode`).

        >>> v = CharVocab.from_text("ab", unknown="unk")
        >>> v.decode(v.encode("a?b")) == "a" + UNK_CHAR + "b"
        True
        """
        arr = np.asarray(ids)
        if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(
                f"expected a 1-D array of integer ids, got shape {arr.shape} dtype {arr.dtype}"
            )
        if arr.size == 0:
            return ""
        if arr.min() < 0 or arr.max() >= len(self):
            bad = int(arr[(arr < 0) | (arr >= len(self))][0])
            raise ValueError(f"expected ids in [0, {len(self)}), got {bad}")
        return str(self._decode_table[arr].tobytes().decode("utf-32-le", "surrogatepass"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (characters in id order and the unknown policy).

        >>> CharVocab.from_text("ba").to_dict()["chars"]
        ['a', 'b']
        """
        return {
            "class": "CharVocab",
            "format_version": _FORMAT_VERSION,
            "chars": list(self.chars),
            "unknown": self.unknown,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string.

        >>> CharVocab.from_json(CharVocab.from_text("xy").to_json()).chars
        ('x', 'y')
        """
        return json.dumps(self.to_dict(), ensure_ascii=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharVocab:
        """Rebuild a vocabulary from :meth:`to_dict` output (validated).

        >>> CharVocab.from_dict({"class": "CharVocab", "format_version": 1,
        ...                      "chars": ["a"], "unknown": "unk"}).encode("ab").tolist()
        [1, 0]
        """
        if not isinstance(d, dict) or d.get("class") != "CharVocab":
            raise ValueError(f"expected a dict with class 'CharVocab', got {d!r:.80}")
        check_format_version(d, _FORMAT_VERSION)
        chars = d.get("chars")
        if not isinstance(chars, list):
            raise ValueError(f"expected 'chars' to be a list of characters, got {chars!r:.80}")
        vocab = cls(chars, unknown=d.get("unknown", "error"))
        if list(vocab.chars) != chars:
            raise ValueError("expected 'chars' distinct and in code-point order, as saved")
        return vocab

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        """Rebuild a vocabulary from :meth:`to_json` output.

        >>> len(CharVocab.from_json(CharVocab.from_text("abc", unknown="unk").to_json()))
        4
        """
        return cls.from_dict(parse_json(text, "a CharVocab"))


def next_char_pairs(
    ids: ArrayLike,
    seq_length: int,
    *,
    stride: int | None = None,
    target: Literal["sequence", "last"] = "sequence",
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Training pairs for next-character prediction from a 1-D id sequence.

    Window ``i`` starts at ``i * stride`` (default ``stride = seq_length``: every character
    is a target once). With ``target="sequence"`` the targets are the inputs shifted by one
    step (for ``return_sequences=True``); with ``"last"`` the target is the single character
    after the window.

    Returns:
        ``inputs (n, seq_length)`` and ``targets (n, seq_length)`` or ``(n,)``: read-only
        views of ``ids``.

    >>> x, y = next_char_pairs(np.arange(7), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    >>> x, y = next_char_pairs(np.arange(7), 3, stride=2, target="last")
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [2, 3, 4]], [3, 5])
    """
    seq_length = check_int(seq_length, "seq_length", 1)
    stride = seq_length if stride is None else check_int(stride, "stride", 1)
    if target not in ("sequence", "last"):
        raise ValueError(f"expected target='sequence' or 'last', got {target!r}")
    arr = np.asarray(ids)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"expected a 1-D array of integer ids (vocab.encode(text)), got shape {arr.shape} "
            f"dtype {arr.dtype}"
        )
    span = seq_length + 1
    if len(arr) < span:
        raise ValueError(
            f"expected at least seq_length + 1 = {span} ids, got {len(arr)}; "
            "use a shorter seq_length or more text"
        )
    windows = sliding_window_view(arr, span)[::stride]  # (n, seq_length + 1)
    x = windows[:, :-1]  # (n, seq_length)
    y = windows[:, 1:] if target == "sequence" else windows[:, -1]  # (n, seq_length) | (n,)
    return x, y
