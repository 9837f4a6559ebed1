"""`rnnkit train CONFIG --nproc 2`: two processes (gloo) give the one-process model."""

from __future__ import annotations

import os
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
dropout = 0.0  # each rank draws dropout masks for its own rows: no one-process equivalent
[training]
epochs = 2
batch_size = 64
random_state = 0
"""


def _train(config: Path, out: Path, *extra: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "rnnkit", "train", str(config), "--out", str(out),
           "--verbose", "0", *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_processes_train_the_one_process_model(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    _train(config, tmp_path / "one")
    _train(config, tmp_path / "two", "--nproc", "2")
    one = rk.load_model(tmp_path / "one" / "model.rnnkit").get_weights()
    two = rk.load_model(tmp_path / "two" / "model.rnnkit").get_weights()
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-4)


def test_export_onnx_from_a_run(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.replace("epochs = 2", "epochs = 1"), encoding="utf-8")
    _train(config, tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "rnnkit", "export", str(tmp_path / "run"),
                           "--onnx"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "model.onnx").stat().st_size > 0
    usage = subprocess.run([sys.executable, "-m", "rnnkit", "export", str(tmp_path / "run")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert usage.returncode == 2
