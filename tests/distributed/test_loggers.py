"""JSONLogger, TensorBoardLogger and ``fit(..., log_dir=...)``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit import training


def _linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 1).double()


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]])


def test_log_dir_attaches_csv_and_json_loggers(tmp_path: Path) -> None:
    x, y = _xy()
    log_dir = tmp_path / "logs" / "run"
    h = training.fit(
        _linear(),
        x,
        y,
        loss="mse",
        optimizer="sgd",
        metrics=["mae"],
        batch_size=4,
        epochs=2,
        verbose=0,
        log_dir=log_dir,
    )
    lines = [json.loads(s) for s in (log_dir / "history.jsonl").read_text().splitlines()]
    assert [d["epoch"] for d in lines] == [0, 1]
    assert [d["loss"] for d in lines] == h.history["loss"]
    assert [d["mae"] for d in lines] == h.history["mae"]
    rows = (log_dir / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,mae" and len(rows) == 3
    # resuming at initial_epoch > 0 appends to both files
    training.fit(
        _linear(),
        x,
        y,
        loss="mse",
        optimizer="sgd",
        batch_size=4,
        epochs=3,
        initial_epoch=2,
        verbose=0,
        log_dir=log_dir,
    )
    assert len((log_dir / "history.jsonl").read_text().splitlines()) == 3
    assert len((log_dir / "history.csv").read_text().splitlines()) == 4


# ----------------------------------------------------------------------- loggers
def test_json_logger_lines_are_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "log.jsonl"
    logger = training.JSONLogger(path)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": float("nan"), "acc": 0.5, "lr": float("inf")})
    logger.on_epoch_end(1, {"loss": np.float32(0.25), "note": "x"})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"epoch": 0, "loss": "NaN", "acc": 0.5, "lr": "Infinity"}
    assert json.loads(lines[1]) == {"epoch": 1, "loss": 0.25, "note": "x"}
    training.JSONLogger(path).on_train_begin()  # not appending: truncates
    assert path.read_text() == ""
    with pytest.raises(TypeError, match="expected path"):
        training.JSONLogger(3)  # type: ignore[arg-type]


def test_a_resumed_fit_restores_both_log_files(tmp_path: Path) -> None:
    """Killed after epoch 2's lines were written but before its checkpoint was saved (deleting
    that checkpoint stands for it): the resumed fit's log files equal an uninterrupted run's."""
    x, y = _xy()

    def run(name: str, epochs: int) -> None:
        training.fit(_linear(), x, y, loss="mse", optimizer="adam", metrics=["mae"],
                     batch_size=4, epochs=epochs, verbose=0, log_dir=tmp_path / name,
                     checkpoint_dir=tmp_path / f"{name}-ckpt", resume="auto")

    run("ref", 5)
    run("run", 3)
    shutil.rmtree(tmp_path / "run-ckpt" / "epoch-0003")
    log = tmp_path / "run" / "history.jsonl"
    assert [json.loads(s)["epoch"] for s in log.read_text().splitlines()] == [0, 1, 2]
    run("run", 5)  # resumes after epoch 1: epoch 2's lines are replaced, not repeated
    ref = (tmp_path / "ref" / "history.jsonl").read_text()
    assert [json.loads(s)["epoch"] for s in ref.splitlines()] == [0, 1, 2, 3, 4]
    assert log.read_text() == ref
    csv = (tmp_path / "run" / "history.csv").read_text()
    assert csv == (tmp_path / "ref" / "history.csv").read_text()
    logger = training.JSONLogger(log)
    for bad in ({"start": -1, "text": ""}, {"start": 0}, {"start": True, "text": ""}):
        with pytest.raises(ValueError, match="JSONLogger: expected"):
            logger.load_state_dict(bad)
    assert log.read_text() == ref


def test_tensorboard_logger_names_the_missing_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ImportError, match="pip install tensorboard"):
        training.TensorBoardLogger(tmp_path)


class _FakeWriter:
    made: list[_FakeWriter] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        _FakeWriter.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None: ...

    def close(self) -> None:
        self.closed = True


def test_tensorboard_logger_writes_keras_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import types

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _FakeWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    _FakeWriter.made = []
    x, y = _xy()
    tb = training.TensorBoardLogger(tmp_path)
    training.fit(
        _linear(),
        x,
        y,
        loss="mse",
        optimizer="sgd",
        metrics=["mae"],
        batch_size=5,
        epochs=2,
        verbose=0,
        validation_data=(x[:4], y[:4]),
        callbacks=[tb],
    )
    by_dir = {Path(w.log_dir).name: w for w in _FakeWriter.made}
    assert set(by_dir) == {"train", "validation"} and all(w.closed for w in _FakeWriter.made)
    train_tags = {(t, s) for t, _, s in by_dir["train"].scalars}
    assert train_tags == {
        (t, s) for t in ("epoch_loss", "epoch_mae", "epoch_learning_rate") for s in (0, 1)
    }
    assert {(t, s) for t, _, s in by_dir["validation"].scalars} == {
        (t, s) for t in ("epoch_loss", "epoch_mae") for s in (0, 1)
    }
    lr = [v for t, v, _ in by_dir["train"].scalars if t == "epoch_learning_rate"]
    assert lr == pytest.approx([0.01, 0.01])
