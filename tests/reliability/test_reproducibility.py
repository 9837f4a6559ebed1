"""Issue 7.7: the same seed gives the same weights on CPU bit for bit; another seed differs.

(Across processes, with a different PYTHONHASHSEED each, this is also checked by the SIGKILL
test in test_resume.py: its resumed and uninterrupted runs are separate processes.)
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import rnnkit as rk
from rnnkit import layers

from ._common import regression, same_tensors, snapshot


def _train(seed: int, layer: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    x, y = regression(n=32)
    rk.set_seed(seed)
    cls = getattr(layers, layer)
    model = rk.Sequential(
        [
            rk.Input((6, 3)),
            cls(5, dropout=0.3, recurrent_dropout=0.3, return_sequences=True),
            layers.Dropout(0.2),
            cls(4, dropout=0.2),
            layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    return snapshot(model), history.history


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "SimpleRNN"])
def test_same_seed_same_weights_other_seed_differs(layer: str) -> None:
    w1, h1 = _train(7, layer)
    w2, h2 = _train(7, layer)
    w3, h3 = _train(8, layer)
    assert same_tensors(w1, w2) and h1 == h2
    assert not any(torch.equal(w1[k], w3[k]) for k in w1) and h1 != h3
