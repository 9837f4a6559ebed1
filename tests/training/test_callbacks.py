"""Callbacks: Keras semantics on plain torch modules."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from rnnkit.training import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
    fit,
)

from ._helpers import Fixed, diverging_task


class Snapshots(Callback):
    """Weights after every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[dict[str, Tensor]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.weights.append({k: v.clone() for k, v in self.module.state_dict().items()})


def test_early_stopping_stops_and_restores_best_weights() -> None:
    module, kw = diverging_task()
    snaps = Snapshots()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    hist = fit(module, epochs=50, callbacks=[snaps, stopper], **kw)
    val = hist.history["val_loss"]
    best = int(np.argmin(val))
    assert best == 2 and len(val) == best + 3  # stopped after `patience` worse epochs
    assert stopper.stopped_epoch == best + 2 and stopper.best_epoch == best
    assert torch.equal(module.weight, snaps.weights[best]["weight"])
    assert not torch.equal(module.weight, snaps.weights[-1]["weight"])


def test_early_stopping_without_restore_keeps_last_weights_and_modes() -> None:
    module, kw = diverging_task()
    snaps = Snapshots()
    hist = fit(module, epochs=50, callbacks=[snaps, EarlyStopping(patience=1)], **kw)
    assert len(hist.epoch) == 4
    assert torch.equal(module.weight, snaps.weights[-1]["weight"])
    # monitoring accuracy in auto mode maximizes it; unknown names need an explicit mode
    assert EarlyStopping(monitor="val_accuracy")._resolve_sign() == 1
    with pytest.raises(ValueError, match="expected mode='min' or mode='max'"):
        EarlyStopping(monitor="val_weird")._resolve_sign()
    with pytest.raises(ValueError, match="expected mode in"):
        EarlyStopping(mode="up")


def test_early_stopping_warns_when_monitor_missing() -> None:
    x = np.ones((4, 1), np.float32)
    with pytest.warns(UserWarning, match="'val_loss' which is not available"):
        hist = fit(
            nn.Linear(1, 1),
            x,
            x,
            loss="mse",
            optimizer="sgd",
            epochs=2,
            callbacks=[EarlyStopping()],
            verbose=0,
        )
    assert hist.epoch == [0, 1]


def test_model_checkpoint_writes_safetensors_per_epoch(tmp_path: Path) -> None:
    module, kw = diverging_task()
    snaps = Snapshots()
    pattern = str(tmp_path / "ckpt" / "w-{epoch:02d}-{val_loss:.3f}.safetensors")
    hist = fit(module, epochs=3, callbacks=[snaps, ModelCheckpoint(pattern)], **kw)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == [
        f"w-{e + 1:02d}-{v:.3f}.safetensors" for e, v in enumerate(hist.history["val_loss"])
    ]
    for e, name in enumerate(files):
        saved = load_file(str(tmp_path / "ckpt" / name))
        assert torch.equal(saved["weight"], snaps.weights[e]["weight"])


def test_model_checkpoint_save_best_only(tmp_path: Path) -> None:
    module, kw = diverging_task()
    snaps = Snapshots()
    path = tmp_path / "best.safetensors"
    per_epoch = str(tmp_path / "e{epoch}.safetensors")
    hist = fit(
        module,
        epochs=6,
        callbacks=[
            snaps,
            ModelCheckpoint(path, save_best_only=True, save_weights_only=True),
            ModelCheckpoint(per_epoch, save_best_only=True),
        ],
        **kw,
    )
    best = int(np.argmin(hist.history["val_loss"]))
    assert torch.equal(load_file(str(path))["weight"], snaps.weights[best]["weight"])
    assert sorted(p.name for p in tmp_path.glob("e*")) == [f"e{i}.safetensors" for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="expected a filepath ending in '.safetensors'"):
        ModelCheckpoint(tmp_path / "w.pt", save_weights_only=True)


def test_model_checkpoint_calls_save_when_available(tmp_path: Path) -> None:
    class Savable(nn.Linear):
        def __init__(self) -> None:
            super().__init__(1, 1)
            self.saved: list[str] = []

        def save(self, path: str) -> None:
            self.saved.append(path)

    module = Savable()
    x = np.ones((4, 1), np.float32)
    fit(
        module,
        x,
        x,
        loss="mse",
        optimizer="sgd",
        epochs=2,
        verbose=0,
        callbacks=[ModelCheckpoint(tmp_path / "m{epoch}.rnnkit", monitor="loss")],
    )
    assert module.saved == [str(tmp_path / "m1.rnnkit"), str(tmp_path / "m2.rnnkit")]
    with pytest.raises(ValueError, match="has no save"):
        fit(
            nn.Linear(1, 1),
            x,
            x,
            loss="mse",
            optimizer="sgd",
            verbose=0,
            callbacks=[ModelCheckpoint(tmp_path / "m.rnnkit")],
        )


def test_reduce_lr_on_plateau_lowers_lr() -> None:
    x = np.arange(4, dtype=np.float32)[:, None]
    module = Fixed(np.zeros((4, 1), np.float32))  # constant loss: never improves
    opt = torch.optim.SGD(module.parameters(), lr=0.01)
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.002)
    hist = fit(module, x, x, loss="mse", optimizer=opt, epochs=5, callbacks=[cb], verbose=0)
    # logged before the epoch's reduction (Keras); floor at min_lr
    assert hist.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.002])
    assert opt.param_groups[0]["lr"] == 0.002
    with pytest.raises(ValueError, match=r"expected factor in \(0, 1\)"):
        ReduceLROnPlateau(factor=1.0)


def test_terminate_on_nan_stops_after_the_bad_batch() -> None:
    x = np.ones((12, 1), np.float32)
    y = np.ones((12, 1), np.float32)
    y[5] = np.nan  # second batch of 4

    class Count(Callback):
        batches = 0

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.batches += 1

    count = Count()
    out = io.StringIO()
    hist = fit(
        nn.Linear(1, 1),
        x,
        y,
        loss="mse",
        optimizer="sgd",
        batch_size=4,
        epochs=3,
        shuffle=False,
        callbacks=[count, TerminateOnNaN()],
        verbose=2,
        stream=out,
        terminate_on_nan=False,  # Keras's behaviour: the callback stops, fit raises nothing
    )
    assert count.batches == 2 and hist.epoch == [0]
    assert np.isnan(hist.history["loss"][0])
    assert "Batch 1: Invalid loss, terminating training" in out.getvalue()


def test_csv_logger_and_history(tmp_path: Path) -> None:
    module, kw = diverging_task()
    path = tmp_path / "log.csv"
    history = History()
    hist = fit(module, epochs=3, callbacks=[CSVLogger(path), history], **kw)
    assert hist is history
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [float(r[2]) for r in rows[1:]] == pytest.approx(hist.history["val_loss"])
    fit(module, epochs=1, callbacks=[CSVLogger(path, append=True)], **kw)
    with open(path, newline="") as f:
        assert len(list(csv.reader(f))) == 5  # header written once


def test_callback_sees_module_optimizer_params_and_hooks() -> None:
    calls: list[str] = []

    class Spy(Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            calls.append("train_begin")
            assert self.model is module and self.module is module
            assert self.optimizer is opt
            assert self.params == {
                "epochs": 2,
                "steps": 2,
                "verbose": 0,
                "batch_size": 2,
                "samples": 3,
            }

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            calls.append(f"epoch_begin {epoch}")

        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            assert logs is not None and set(logs) == {"loss"}
            calls.append(f"batch_end {batch}")

        def on_test_begin(self, logs: dict | None = None) -> None:
            calls.append("test_begin")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            assert logs is not None and set(logs) == {"loss", "val_loss"}
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, logs: dict | None = None) -> None:
            calls.append("train_end")

    module = nn.Linear(1, 1)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x = np.ones((3, 1), np.float32)
    fit(
        module,
        x,
        x,
        loss="mse",
        optimizer=opt,
        batch_size=2,
        epochs=2,
        verbose=0,
        validation_data=(x, x),
        callbacks=[Spy()],
    )
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0",
        "batch_end 1",
        "epoch_end 0",
        "epoch_begin 1",
        "batch_end 0",
        "batch_end 1",
        "epoch_end 1",
        "train_end",
    ]
    with pytest.raises(TypeError, match="expected Callback instances"):
        fit(module, x, x, loss="mse", optimizer=opt, callbacks=[print], verbose=0)  # type: ignore[list-item]
