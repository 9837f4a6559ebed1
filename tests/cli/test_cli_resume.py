"""`rnnkit train CONFIG --out DIR`, killed mid-run (SIGKILL) and run again, resumes to the same
model as an uninterrupted run, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import rnnkit as rk

CONFIG = """
task = "classifier"
[data]
dataset = "activity"
[model]
cell = "gru"
units = [8]
dropout = 0.2
[training]
epochs = 8
batch_size = 32
patience = 3
random_state = 0
"""


def _cmd(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "rnnkit", "train", str(config), "--out", str(out),
            "--verbose", "2"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"}


def test_killed_train_rerun_resumes_bit_identically(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    whole = subprocess.run(_cmd(config, tmp_path / "whole"), env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]

    out = tmp_path / "killed"
    with subprocess.Popen(_cmd(config, out), env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # one line per finished epoch: kill during the 4th
            if line.startswith("Epoch 3/"):
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.rnnkit").exists()
    assert any((out / "checkpoints" / "model").glob("epoch-*"))

    again = subprocess.run(_cmd(config, out), env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    epochs = [line.split("/")[0] for line in again.stdout.splitlines() if line.startswith("Epoch")]
    assert epochs and epochs[0] != "Epoch 1", again.stdout  # the network resumed, not restarted
    assert "Resuming from" in again.stdout
    a = rk.load_model(tmp_path / "whole" / "model.rnnkit").get_weights()
    b = rk.load_model(out / "model.rnnkit").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
