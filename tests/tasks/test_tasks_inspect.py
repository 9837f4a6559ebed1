"""Diagnostics: the step-by-step gate computation reproduces the layers' outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit import layers
from rnnkit.tasks import gate_activations, gradient_norms, run_gates


@pytest.mark.parametrize("make", [
    lambda: layers.LSTM(5, return_sequences=True),
    lambda: layers.GRU(5, return_sequences=True),
    lambda: layers.GRU(5, return_sequences=True, reset_after=False),
    lambda: layers.LSTM(5, return_sequences=True, go_backwards=True),
])
def test_gate_stepping_reproduces_the_layer(make: object) -> None:
    rk.set_seed(0)
    layer = make()  # type: ignore[operator]
    x = torch.randn(3, 7, 4)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[0, :2] = False
    with torch.no_grad():
        expected = layer(x, mask=mask)
    gates, outputs = run_gates(layer.cell, x, mask, layer.go_backwards)
    torch.testing.assert_close(outputs, expected, atol=1e-5, rtol=1e-5)
    assert all(len(v) == 7 for v in gates.values())
    assert all(0.0 <= val <= 1.0 for v in gates.values() for val in v if not np.isnan(val))


def test_gradient_norms_and_gate_activations_of_a_model() -> None:
    rk.set_seed(0)
    model = rk.Sequential([rk.Input((10, 3)), layers.LSTM(6, return_sequences=True),
                           layers.GRU(4), layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(5, 10, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1])

    def ce(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return -torch.log(y_pred.gather(1, y_true.long()[:, None]).squeeze(1))

    g = gradient_norms(model, x, y, ce)
    assert g["wrt"] == "inputs" and len(g["per_step"]) == 10
    assert all(v > 0 for v in g["per_step"])
    # per-sample gradients: the batch size does not change the per-step norms of a sample
    g1 = gradient_norms(model, x[:1], y[:1], ce)
    g2 = gradient_norms(model, np.repeat(x[:1], 3, 0), np.repeat(y[:1], 3), ce)
    np.testing.assert_allclose(g1["per_step"], g2["per_step"], rtol=1e-5)
    gates = gate_activations(model, x)
    assert len(gates) == 2
    lstm_key = next(k for k in gates if "LSTM" in k)
    assert set(gates[lstm_key]) == {"input", "forget", "output"}
    assert all(len(v) == 10 for v in gates[lstm_key].values())
