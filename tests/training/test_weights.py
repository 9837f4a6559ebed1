"""Sample weights, class weights and output masks without Keras: the arithmetic, the errors,
and the weights files of a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.training import evaluate, fit, losses, metrics, train_on_batch
from rnnkit.training.weighting import class_sample_weights


def test_masked_loss_is_the_mean_over_valid_entries() -> None:
    y_true = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).unsqueeze(-1)  # (2, 3, 1)
    y_pred = torch.zeros(2, 3, 1)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss = losses.get("mse")(y_true, y_pred, None, mask)
    assert float(loss) == pytest.approx((1 + 4 + 16) / 3, rel=1e-6)
    sw = torch.tensor([1.0, 3.0])  # per sample, over the valid steps
    weighted = losses.get("mse")(y_true, y_pred, sw, mask)
    assert float(weighted) == pytest.approx((1 + 4 + 3 * 16) / 3, rel=1e-6)
    nothing = losses.get("mse")(y_true, y_pred, None, torch.zeros(2, 3, dtype=torch.bool))
    assert float(nothing) == 0.0


def test_masked_and_weighted_metric() -> None:
    acc = metrics.get("sparse_categorical_accuracy")
    y_true = torch.tensor([[0, 1, 1], [2, 2, 0]])
    y_pred = torch.nn.functional.one_hot(torch.tensor([[0, 0, 1], [2, 1, 1]]), 3).float()
    acc.update_state(y_true, y_pred, None, torch.tensor([[True, False, True], [True, True, False]]))
    assert acc.result() == pytest.approx(3 / 4)
    acc.reset_state()
    acc.update_state(y_true[:, 0], y_pred[:, 0], torch.tensor([0.0, 2.0]))
    assert acc.result() == pytest.approx(1.0)


def test_class_weights_from_sparse_and_one_hot_labels() -> None:
    weights = {0: 0.5, 2: 3.0}
    sparse = class_sample_weights(torch.tensor([0, 1, 2, 2]), weights)
    assert sparse.tolist() == [0.5, 1.0, 3.0, 3.0]
    one_hot = class_sample_weights(torch.eye(3)[[2, 0, 1]], weights)
    assert one_hot.tolist() == [3.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="expected one label per sample"):
        class_sample_weights(torch.zeros(2, 3, 1), weights)


def test_sample_weight_zero_rows_do_not_train() -> None:
    torch.manual_seed(0)
    module = nn.Linear(2, 1)
    x = np.ones((4, 2), np.float32)
    y = np.ones((4, 1), np.float32)
    before = [p.detach().clone() for p in module.parameters()]
    fit(module, x, y, loss="mse", optimizer="sgd", verbose=0, sample_weight=np.zeros(4))
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    logs = evaluate(module, x, 2 * y, loss="mse", verbose=0, sample_weight=np.array([0, 0, 0, 2]))
    plain = evaluate(module, x, 2 * y, loss="mse", verbose=0)
    assert logs["loss"] == pytest.approx(plain["loss"] * 2 / 4, rel=1e-6)


def test_weight_errors_are_clear() -> None:
    module = nn.Linear(2, 1)
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    kw: dict = {"loss": "mse", "optimizer": "sgd", "verbose": 0}
    with pytest.raises(ValueError, match=r"expected one weight per sample \(4\), got 3"):
        fit(module, x, y, sample_weight=np.ones(3), **kw)
    with pytest.raises(ValueError, match="expected finite weights >= 0"):
        fit(module, x, y, sample_weight=-np.ones(4), **kw)
    with pytest.raises(ValueError, match="expected class_weight or sample_weight, got both"):
        fit(module, x, y, sample_weight=np.ones(4), class_weight={0: 1.0}, **kw)
    with pytest.raises(TypeError, match="expected integer class indices"):
        train_on_batch(module, x, y, loss="mse", optimizer="sgd", class_weight={"a": 1.0})
    with pytest.raises(ValueError, match="got a scalar"):
        fit(module, x, y, loss=nn.MSELoss(), optimizer="sgd", sample_weight=np.ones(4), verbose=0)


def test_save_and_load_weights(tmp_path: Path) -> None:
    model = rk.Sequential([rk.Input((5, 2)), rk.layers.GRU(3), rk.layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype(np.float32)
    model.save_weights(tmp_path / "w.safetensors")
    other = rk.Sequential([rk.Input((5, 2)), rk.layers.GRU(3), rk.layers.Dense(1)])
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    np.testing.assert_array_equal(other(x).detach().numpy(), model.predict(x))
    wrong = rk.Sequential([rk.Input((5, 2)), rk.layers.GRU(4), rk.layers.Dense(1)])
    with pytest.raises(ValueError, match="expected .* of shape"):
        wrong.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="expected a weights file ending in .safetensors or"):
        model.save_weights(tmp_path / "w.bin")
