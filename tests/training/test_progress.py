"""Progress output for verbose 0 / 1 / 2 on terminal and non-terminal streams."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from torch import nn

from rnnkit.training import EarlyStopping, Progress, evaluate, fit, predict

from ._helpers import TtyStream

X = np.ones((10, 1), np.float32)
NUM = r"-?\d+\.\d{4}(e[+-]\d+)?"
DUR = r"\d+(s|ms|us)"


def _fit(verbose: int | str, stream: io.StringIO, epochs: int = 3) -> None:
    fit(
        nn.Linear(1, 1),
        X,
        X,
        loss="mse",
        optimizer="sgd",
        metrics=["mae"],
        batch_size=4,
        epochs=epochs,
        validation_split=0.2,
        verbose=verbose,
        stream=stream,
    )


@pytest.mark.parametrize("stream_type", [io.StringIO, TtyStream])
def test_verbose_0_writes_nothing(stream_type: type[io.StringIO]) -> None:
    out = stream_type()
    _fit(0, out)
    evaluate(nn.Linear(1, 1), X, X, loss="mse", verbose=0, stream=out)
    predict(nn.Linear(1, 1), X, verbose=0, stream=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("verbose", "stream_type"),
    [(2, TtyStream), (2, io.StringIO), (1, io.StringIO), ("auto", io.StringIO)],
)
def test_one_line_per_epoch(verbose: int | str, stream_type: type[io.StringIO]) -> None:
    out = stream_type()
    _fit(verbose, out)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 3
    for i, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"Epoch {i}/3 - {DUR} - loss: {NUM} - mae: {NUM} - val_loss: {NUM} - val_mae: {NUM}",
            line,
        ), line


def test_tty_verbose_1_draws_a_bar_in_place() -> None:
    out = TtyStream()
    _fit(1, out, epochs=2)
    text = out.getvalue()
    assert text.startswith("Epoch 1/2\n")
    finals = re.findall(
        rf"\r2/2 \[={{30}}\] - {DUR} {DUR}/step - loss: {NUM} .*val_mae: {NUM}\n", text
    )
    assert len(finals) == 2 and "Epoch 2/2\n" in text


def test_progress_bar_format_and_eta() -> None:
    out = TtyStream()
    p = Progress(1, out, interval=0.0)
    p.begin(10, epoch=0, epochs=3)
    assert p.wants_update(3)
    p.update(3, {"loss": 0.1234, "accuracy": 0.5})
    p.update(4, {"loss": 0.00001})
    assert not p.wants_update(10)  # the last step is drawn by end()
    p.end({"loss": 0.1})
    lines = out.getvalue().split("\r")
    assert lines[0] == "Epoch 1/3\n"
    assert re.fullmatch(
        r" 3/10 \[========>\.{21}\] - ETA: \d+s - loss: 0\.1234 - accuracy: 0\.5000", lines[1]
    )
    assert lines[2].startswith(" 4/10 [===========>") and "loss: 1.0000e-05" in lines[2]
    assert re.fullmatch(rf"10/10 \[={{30}}\] - {DUR} {DUR}/step - loss: 0\.1000 *\n", lines[3])


def test_throttled_updates_and_messages() -> None:
    out = TtyStream()
    p = Progress("auto", out, interval=3600.0)
    p.begin(5, epoch=0, epochs=1)
    p.update(1, {"loss": 1.0})  # drawn (first)
    assert not p.wants_update(2)  # throttled
    p.message("note")  # breaks the open in-place line
    assert out.getvalue().endswith("loss: 1.0000\nnote\n")
    with pytest.raises(ValueError, match="expected verbose in"):
        Progress(True)  # type: ignore[arg-type]


def test_callback_messages_follow_verbose() -> None:
    x = np.linspace(0, 1, 8, dtype=np.float32)[:, None]
    for verbose, expect in ((2, True), (0, False)):
        out = io.StringIO()
        fit(
            nn.Linear(1, 1),
            x,
            x * 0,
            loss="mse",
            optimizer="sgd",
            epochs=5,
            verbose=verbose,
            stream=out,
            callbacks=[EarlyStopping(monitor="loss", min_delta=10.0, verbose=1)],
        )
        assert ("Epoch 2: early stopping" in out.getvalue()) is expect


def test_evaluate_and_predict_verbose() -> None:
    out = io.StringIO()
    evaluate(nn.Linear(1, 1), X, X, loss="mse", batch_size=4, verbose=1, stream=out)
    assert re.fullmatch(rf"3/3 - {DUR} - loss: {NUM}\n", out.getvalue())
    out = TtyStream()
    predict(nn.Linear(1, 1), X, batch_size=4, verbose=1, stream=out)
    final = out.getvalue().split("\r")[-1]  # earlier in-place updates are overwritten
    assert re.fullmatch(rf"3/3 \[={{30}}\] - {DUR} {DUR}/step\n", final)
