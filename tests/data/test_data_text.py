"""Character vocabulary, next-character pairs and the word tokenizer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rnnkit.data import UNK_CHAR, CharVocab, WordTokenizer, next_char_pairs


def test_char_vocab_is_deterministic_and_round_trips() -> None:
    text = "To be, or not to be: that is the question.\nWhéther 'tis nobler 😀"
    a = CharVocab.from_text(text)
    b = CharVocab.from_text("".join(reversed(text)))
    assert a == b and a.chars == tuple(sorted(set(text)))
    ids = a.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert a.decode(ids) == text
    assert a.encode("").shape == (0,) and a.decode([]) == ""
    assert CharVocab.from_text(["ab", "ba"]) == CharVocab("ab")


def test_char_vocab_unknown_policy() -> None:
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=re.escape(
            "expected characters of the vocabulary, got 'z' (U+007A) at position 2")):
        v.encode("abz")
    u = CharVocab.from_text("abc", unknown="unk")
    assert u.unk_index == 0 and len(u) == 4 and v.unk_index is None and len(v) == 3
    assert u.encode("azc").tolist() == [1, 0, 3]
    assert u.decode(u.encode("azc")) == "a" + UNK_CHAR + "c"
    with pytest.raises(ValueError, match=re.escape("expected ids in [0, 4), got 4")):
        u.decode([4])
    with pytest.raises(ValueError, match="expected unknown='error' or 'unk'"):
        CharVocab("ab", unknown="ignore")  # type: ignore[arg-type]


def test_char_vocab_json() -> None:
    v = CharVocab.from_text("héllo wörld", unknown="unk")
    text = v.to_json()
    d = json.loads(text)
    assert d["chars"] == sorted(set("héllo wörld")) and d["unknown"] == "unk"
    assert CharVocab.from_json(text) == v
    with pytest.raises(ValueError, match="expected 'chars' distinct and in code-point order"):
        CharVocab.from_dict({**d, "chars": ["b", "a"]})
    with pytest.raises(ValueError, match="expected single characters, got 'ab'"):
        CharVocab.from_dict({**d, "chars": ["ab"]})
    with pytest.raises(ValueError, match="expected format_version 1"):
        CharVocab.from_dict({**d, "format_version": 2})


def test_next_char_pairs() -> None:
    v = CharVocab.from_text("hello world")
    ids = v.encode("hello world")
    x, y = next_char_pairs(ids, 4)
    assert x.shape == (2, 4) and y.shape == (2, 4)
    assert [v.decode(r) for r in x] == ["hell", "o wo"]
    assert [v.decode(r) for r in y] == ["ello", " wor"]
    x, y = next_char_pairs(ids, 4, stride=1, target="last")
    assert x.shape == (7, 4) and y.shape == (7,)
    assert v.decode(x[0]) == "hell" and v.decode(y) == "o world"
    assert np.shares_memory(x, ids) and not x.flags.writeable
    with pytest.raises(ValueError, match="expected at least seq_length \\+ 1 = 12 ids, got 11"):
        next_char_pairs(ids, 11)
    with pytest.raises(ValueError, match="expected a 1-D array of integer ids"):
        next_char_pairs(np.zeros(20), 3)


def test_word_tokenizer_basics() -> None:
    texts = ["A great, GREAT movie!", "The plot was not great.", "Don't watch it -- awful."]
    tok = WordTokenizer().fit(texts)
    assert tok.vocabulary[:3] == ["<pad>", "<oov>", "great"]
    assert tok.word_counts["great"] == 3
    assert tok.tokenize("Don't watch it -- awful.") == ["don't", "watch", "it", "awful"]
    seqs = tok.texts_to_sequences(["great unknownword movie"])
    assert seqs == [[2, 1, tok.word_index["movie"]]]
    x = tok.encode(texts, maxlen=5, padding="post", truncating="post")
    assert x.shape == (3, 5) and x.dtype == np.int64 and x[0, -1] == 0
    assert tok.decode(x[0]) == "a great great movie"
    assert tok.decode(x[1]) == "the plot was not great"
    assert tok.encode(texts, maxlen=2)[1].tolist() == [tok.word_index["not"], 2]
    split = WordTokenizer(punctuation="split", lower=False)
    assert split.tokenize("Great, GREAT!") == ["Great", ",", "GREAT", "!"]


def test_word_tokenizer_max_vocab_and_ties_are_deterministic() -> None:
    texts = ["b a c", "c a b d", "a"]
    tok = WordTokenizer(max_vocab=4).fit(texts)
    assert tok.vocab_size == 4 and tok.vocabulary == ["<pad>", "<oov>", "a", "b"]
    assert WordTokenizer(max_vocab=4).fit(reversed(texts)).vocabulary == tok.vocabulary
    assert tok.encode(["d c b a"]).tolist() == [[1, 1, 3, 2]]
    assert int(tok.encode(["d c b a"]).max()) < tok.vocab_size


def test_word_tokenizer_json_round_trip() -> None:
    tok = WordTokenizer(max_vocab=50, punctuation="split").fit(["Ça va? Très bien!"])
    text = tok.to_json()
    back = WordTokenizer.from_json(text)
    assert back.vocabulary == tok.vocabulary and back.punctuation == "split"
    assert back.encode(["très bien ?"]).tolist() == tok.encode(["très bien ?"]).tolist()
    d = json.loads(text)
    with pytest.raises(ValueError, match="expected distinct 'words'"):
        WordTokenizer.from_dict({**d, "words": ["a", "a"]})
    with pytest.raises(ValueError, match="expected at most max_vocab - 2 = 1 words"):
        WordTokenizer.from_dict({**d, "max_vocab": 3})


def test_word_tokenizer_errors() -> None:
    with pytest.raises(ValueError, match="WordTokenizer is not fitted"):
        WordTokenizer().encode(["x"])
    with pytest.raises(TypeError, match="expected a list of texts, got a single str"):
        WordTokenizer().fit("just one text")
    with pytest.raises(TypeError, match="expected str texts, got int at index 1"):
        WordTokenizer().fit(["a", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="expected max_vocab to be an integer >= 2, got 1"):
        WordTokenizer(max_vocab=1)
    with pytest.raises(ValueError, match="expected punctuation='strip' or 'split'"):
        WordTokenizer(punctuation="keep")  # type: ignore[arg-type]
