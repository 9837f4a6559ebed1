"""Resuming a run folder with an edited config is refused, naming the changed keys; with
``allow_config_change`` only the changes a resume can honour are applied, and recorded. The
text generator's sample settings are checked before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.errors import ConfigMismatchError
from rnnkit.tasks import TextGenerator, train_from_config
from rnnkit.tasks._resume import CHANGES_FILE
from rnnkit.tasks._runs import run_text

CONFIG = """task = "forecaster"
[data]
path = "series.csv"
target = "y"
test = 0.2
[model]
cell = "gru"
units = [3]
window = 4
[training]
epochs = {epochs}
learning_rate = {lr}
verbose = 0
"""


def _write(folder: Path, epochs: int = 2, lr: float = 0.01) -> Path:
    (folder / "config.toml").write_text(CONFIG.format(epochs=epochs, lr=lr))
    return folder / "config.toml"


@pytest.fixture
def trained(tmp_path: Path) -> tuple[Path, Path]:
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    y = np.sin(np.arange(60) / 3.0)
    (cfg_dir / "series.csv").write_text("y\n" + "\n".join(f"{v:.6f}" for v in y) + "\n")
    out = tmp_path / "run"
    train_from_config(_write(cfg_dir), out=out, verbose=0, checkpoint_dir=out / "checkpoints")
    return cfg_dir, out


def test_an_edited_learning_rate_is_refused_naming_the_key(trained: tuple[Path, Path]) -> None:
    cfg_dir, out = trained
    config = _write(cfg_dir, lr=0.05)
    with pytest.raises(ConfigMismatchError, match=r"training\.learning_rate \(0\.01 -> 0\.05\)"):
        train_from_config(config, out=out, verbose=0, checkpoint_dir=out / "checkpoints")
    with pytest.raises(ConfigMismatchError, match="which its checkpoints fix"):
        train_from_config(config, out=out, verbose=0, checkpoint_dir=out / "checkpoints",
                          allow_config_change=True)
    assert not (out / CHANGES_FILE).exists()
    # the unchanged config resumes (nothing is refused)
    train_from_config(_write(cfg_dir), out=out, verbose=0, checkpoint_dir=out / "checkpoints")


def test_more_epochs_apply_with_the_flag_and_are_recorded(trained: tuple[Path, Path]) -> None:
    cfg_dir, out = trained
    config = _write(cfg_dir, epochs=3)
    with pytest.raises(ConfigMismatchError, match=r"training\.epochs \(2 -> 3\)"):
        train_from_config(config, out=out, verbose=0, checkpoint_dir=out / "checkpoints")
    run = train_from_config(config, out=out, verbose=0, checkpoint_dir=out / "checkpoints",
                            allow_config_change=True)
    assert run.metrics["epochs_run"] == 3
    history = json.loads((out / CHANGES_FILE).read_text())
    assert history[-1]["changes"] == {"training.epochs": [2, 3]}


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"seed_text": "XYZ"}, "characters"), ({"seed_text": ""}, "non-empty"),
     ({"sample_length": -1}, "sample length"), ({"temperature": "hot"}, "temperature"),
     ({"top_k": 0}, "top_k")],
)
def test_sample_settings_are_checked_before_training(tmp_path: Path, settings: dict,
                                                     match: str) -> None:
    task = TextGenerator(epochs=1, verbose=0)
    with pytest.raises((ValueError, TypeError), match=match):
        run_text(task, "abcabcabd " * 20, out=tmp_path, **{"seed_text": "ab", **settings})
    assert not hasattr(task, "model_")  # refused before any training
