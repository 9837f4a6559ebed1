"""Issue 7.5: NaN/Inf stop training by default without touching good checkpoints; clipping
keeps exploding gradients finite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import rnnkit as rk
from rnnkit import layers
from rnnkit.training import (
    Callback,
    NonFiniteLossError,
    NonFiniteWeightsError,
    fit,
    list_checkpoints,
    read_checkpoint,
)

from ._common import TinyNet, regression, same_tensors, snapshot

T = 30


def _exploding(**clip: float) -> tuple[rk.Sequential, Any]:
    """A linear SimpleRNN whose recurrent matrix has all singular values 1.05 over 30 steps:
    gradients grow ~1.05^30 and plain SGD(0.05) overflows within the first epoch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, T, 2)).astype(np.float32)
    y = np.sin(x.sum((1, 2)))[:, None].astype(np.float32)
    rk.set_seed(0)
    model = rk.Sequential(
        [rk.Input((T, 2)), layers.SimpleRNN(8, activation="linear"), layers.Dense(1)]
    )
    with torch.no_grad():
        w = model.layers[0].cell.recurrent_kernel
        w.copy_(1.05 * torch.linalg.qr(w)[0])
    model.compile(rk.optimizers.SGD(learning_rate=0.05), "mse")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, **clip)
    return model, history


def test_exploding_gradients_raise_by_default_and_stay_finite_with_clipping() -> None:
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1/5, step \d/4") as info:
        _exploding()  # terminate_on_nan is on by default
    assert info.value.epoch == 0
    for clip in ({"clipnorm": 1.0}, {"global_clipnorm": 1.0}):
        model, history = _exploding(**clip)
        losses = history.history["loss"]
        assert np.isfinite(losses).all() and losses[-1] < losses[0] / 10, clip
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


class Poison(Callback):
    """Makes the module output NaN from ``epoch`` on (as bad data would)."""

    def __init__(self, epoch: int, ckpt: Path) -> None:
        super().__init__()
        self.epoch = epoch
        self.ckpt = ckpt
        self.files_before: dict[str, bytes] = {}
        self.weights_before: dict[str, Tensor] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.epoch:
            newest = list_checkpoints(self.ckpt)[-1]
            self.files_before = {p.name: p.read_bytes() for p in newest.iterdir()}
            self.weights_before = snapshot(self.module)
            self.module.poisoned = True


class PoisonableNet(TinyNet):
    poisoned = False

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        return out * float("nan") if self.poisoned else out


def test_nan_loss_names_epoch_and_step_and_keeps_the_good_checkpoint(tmp_path: Path) -> None:
    x, y = regression(n=24)
    torch.manual_seed(0)
    module = PoisonableNet()
    poison = Poison(2, tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss nan at epoch 3/5, step 1/3"):
        fit(module, x, y, loss="mse", optimizer="adam", epochs=5, batch_size=8, verbose=0,
            callbacks=[poison], checkpoint_dir=tmp_path)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch-0001", "epoch-0002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", "epoch-0002"]
    newest = list_checkpoints(tmp_path)[-1]
    assert {p.name: p.read_bytes() for p in newest.iterdir()} == poison.files_before
    ckpt = read_checkpoint(newest)
    assert same_tensors(ckpt.weights, poison.weights_before)
    assert same_tensors(snapshot(module), poison.weights_before)  # the bad step was not applied
    assert all(bool(torch.isfinite(t).all()) for t in ckpt.weights.values())


def test_non_finite_weights_are_never_checkpointed(tmp_path: Path) -> None:
    class Corrupt(Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if self.state is not None and self.state.epoch == 1 and batch == 2:
                with torch.no_grad():
                    self.module.head.weight[0, 0] = float("inf")

    x, y = regression(n=24)
    with pytest.raises(NonFiniteWeightsError, match=r"weight 'head.weight' after epoch 2"):
        fit(TinyNet(), x, y, loss="mse", optimizer="adam", epochs=4, batch_size=8, verbose=0,
            callbacks=[Corrupt()], checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001"]


def test_keras_behaviour_on_request_trains_through_nan() -> None:
    x, y = regression(n=24)
    y[5] = np.nan
    history = fit(TinyNet(), x, y, loss="mse", optimizer="sgd", epochs=2, batch_size=8,
                  verbose=0, shuffle=False, terminate_on_nan=False)
    assert np.isnan(history.history["loss"]).all()
    with pytest.raises(NonFiniteLossError, match="epoch 1/2, step 1/3"):
        fit(TinyNet(), x, y, loss="mse", optimizer="sgd", epochs=2, batch_size=8, verbose=0,
            shuffle=False)
