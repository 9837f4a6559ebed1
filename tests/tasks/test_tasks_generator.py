"""TextGenerator: seeded sampling, streaming with carried states, bits per character."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.layers import Dense, Input
from rnnkit.model import Sequential
from rnnkit.tasks import (
    CosineBudget,
    StatefulRunner,
    TextGenerator,
    load_task,
    sample_from_logits,
)
from rnnkit.training import Callback

TEXT = "ROMEO: what light through yonder window breaks?\nJULIET: ay me!\n" * 12


@pytest.fixture(scope="module")
def generator() -> TextGenerator:
    return TextGenerator("lstm", units=(12, 8), embedding_dim=6, seq_length=16, epochs=2,
                         batch_size=16, learning_rate=1e-2).fit(TEXT)


def test_generation_is_seeded_and_reproducible(generator: TextGenerator) -> None:
    a = generator.generate("ROMEO:", 80, temperature=0.8, random_state=3)
    b = generator.generate("ROMEO:", 80, temperature=0.8, random_state=3)
    assert a == b and len(a) == 80 and set(a) <= set(TEXT)
    c = generator.generate("ROMEO:", 80, temperature=1.5, random_state=4)
    assert c != a
    greedy = generator.generate("ROMEO:", 30, temperature=0.0)
    assert greedy == generator.generate("ROMEO:", 30, top_k=1, random_state=9)
    assert "".join(generator.stream("JU", 25, random_state=1)) == \
        generator.generate("JU", 25, random_state=1)


def test_streaming_equals_full_sequence_probabilities(generator: TextGenerator) -> None:
    text = "JULIET: ay me! what light"
    full = generator.next_char_probabilities(text)  # one call over the whole text
    runner = StatefulRunner(generator.model_)
    streamed = []
    for ch in text:  # one character per call, states carried
        logits = runner.feed(generator.vocab_.encode(ch))[0, -1]
        streamed.append(torch.softmax(logits.double(), dim=-1).numpy())
    np.testing.assert_allclose(np.array(streamed), full, atol=1e-6)
    runner.reset()
    chunked = torch.cat([runner.feed(generator.vocab_.encode(text[:7]))[0],
                         runner.feed(generator.vocab_.encode(text[7:]))[0]])
    np.testing.assert_allclose(torch.softmax(chunked.double(), -1).numpy(), full, atol=1e-6)


def test_bits_per_char_matches_the_probabilities(generator: TextGenerator) -> None:
    text = TEXT[:300]
    p = generator.next_char_probabilities(text)
    ids = generator.vocab_.encode(text)
    expected = -np.mean(np.log2(p[np.arange(len(ids) - 1), ids[1:]]))
    scores = generator.evaluate(text, chunk=37)
    assert scores["bits_per_char"] == pytest.approx(expected, rel=1e-5)
    assert scores["perplexity"] == pytest.approx(2 ** expected, rel=1e-5)
    assert scores["baselines"]["unigram"]["bits_per_char"] > 0
    with pytest.raises(ValueError, match="training text's vocabulary, got 'Z'"):
        generator.generate("Zebra~", 3)
    assert len(generator.generate("Zebra~", 3, unknown="skip", random_state=0)) == 3
    assert len(generator.generate("Zebra~", 3, unknown="unk", random_state=0)) == 3
    held = "ROMEO: ~~ soft"  # held out: unseen characters are scored as the unknown symbol
    unseen = generator.evaluate(held)
    expected_unknown = sum(c not in generator.vocab_.chars for c in held[1:])
    assert unseen["n_unknown"] == expected_unknown >= 2
    assert np.isfinite(unseen["bits_per_char"])


def test_sampling_helper() -> None:
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 3.0, 2.9, -5.0])
    assert sample_from_logits(logits, rng, 0.0) == 1
    draws = {sample_from_logits(logits, rng, 1.0, top_k=2) for _ in range(200)}
    assert draws == {1, 2}
    assert math.isclose(logits[1], 3.0)


def test_save_and_load(generator: TextGenerator, tmp_path: Path) -> None:
    generator.save(tmp_path / "g")
    g = load_task(tmp_path / "g")
    assert isinstance(g, TextGenerator) and g.vocab_ == generator.vocab_
    assert g.generate("ROMEO:", 40, random_state=5) == \
        generator.generate("ROMEO:", 40, random_state=5)


class _Rates(Callback):
    """The learning rate each batch ran with."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        assert self.optimizer is not None
        self.rates.append(float(self.optimizer.param_groups[0]["lr"]))


def _rates_under(schedule: CosineBudget, epochs: int) -> list[float]:
    model = Sequential([Input((3,)), Dense(1)])
    model.compile("adam", "mse")
    rates = _Rates()
    x, y = np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=epochs, callbacks=[schedule, rates], verbose=0)
    return rates.rates


def test_cosine_budget_decays_over_the_epochs_or_the_time_budget() -> None:
    steps = 3 * 2  # 3 epochs of 2 batches
    expected = [0.5 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / steps)))
                for k in range(steps)]
    assert _rates_under(CosineBudget(0.5, None), 3) == pytest.approx(expected)
    spent = _rates_under(CosineBudget(0.5, 1e-9), 2)  # the budget is used up at once
    assert spent == pytest.approx([0.05] * 4)
    with pytest.raises(ValueError, match="schedule"):
        TextGenerator(schedule="linear").fit(TEXT)
