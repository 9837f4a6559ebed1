"""Streamer: one step per call gives the model's output on the sequence so far."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit import layers


def _model(kind: str, **kw: object) -> rk.Sequential:
    torch.manual_seed(0)
    rnn = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[kind]
    model = rk.Sequential(
        [
            rk.Input((None, 3)),
            rnn(8, return_sequences=True, **kw),
            layers.Dropout(0.2),
            rnn(6, **kw),
            layers.Dense(4, activation="tanh"),
        ]
    )
    model.eval()
    return model


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("lstm", {}),
        ("gru", {}),
        ("gru", {"reset_after": False}),
        ("simple_rnn", {"activation": "relu"}),
    ],
)
def test_steps_give_the_model_on_the_prefix(kind: str, kw: dict) -> None:
    model = _model(kind, **kw)
    xs = np.random.default_rng(0).standard_normal((1, 12, 3)).astype(np.float32)
    stream = rk.Streamer(model)
    with torch.no_grad():
        for t in range(12):
            got = stream.step(xs[0, t])
            want = model(torch.from_numpy(xs[:, : t + 1])).numpy()[0]
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    stream.reset()
    np.testing.assert_allclose(stream.step(xs[:, 0]), model.predict(xs[:, :1]), atol=2e-5)
    assert [s.shape for s in stream.states[0]] == [(8,)] * (2 if kind == "lstm" else 1)


def test_refuses_what_it_cannot_stream() -> None:
    model = rk.Sequential([rk.Input((None, 3)), layers.LSTM(4, go_backwards=True)])
    with pytest.raises(ValueError, match="reading forwards"):
        rk.Streamer(model).step(np.zeros(3, np.float32))
    stream = rk.Streamer(_model("lstm"))
    with pytest.raises(ValueError, match=r"expected one step of shape \(3,\) or \(1, 3\)"):
        stream.step(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="expected a Sequential model"):
        rk.Streamer(object())  # type: ignore[arg-type]
