"""The example configs in configs/ parse and describe valid tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rnnkit.errors import ConfigFileError
from rnnkit.tasks import load_config
from rnnkit.tasks._config import build_task

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))


def test_there_are_example_configs() -> None:
    assert len(CONFIGS) >= 4


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_task(path: Path) -> None:
    config = load_config(path)
    params = {**config.get("model", {}), **config.get("training", {})}
    task = build_task(config["task"], params)
    assert task.get_params()["clipnorm"] in (1.0, None)


def test_bad_configs_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "regressor"\n[data]\ndataset = "digits"\n')
    with pytest.raises(ValueError, match="task = one of"):
        load_config(bad)
    bad.write_text('task = "classifier"\n[data]\n')
    with pytest.raises(ValueError, match="dataset"):
        load_config(bad)
    bad.write_text('task = "classifier"\n[data\n')
    with pytest.raises(ValueError, match="valid TOML"):
        load_config(bad)


def test_hostile_config_files_are_refused_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    cases = [("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "valid TOML|nested at most"),
             ("a = " + "[" * 70 + "1" + "]" * 70 + "\n", "tables and arrays .* 64 deep, got 72"),
             ('task = "classifier"\n#' + "x" * (1 << 20) + "\n", "at most 1048576 bytes"),
             ("\xff\xfe", "valid TOML")]
    for text, match in cases:
        bad.write_bytes(text.encode("latin-1"))
        with pytest.raises(ConfigFileError, match=f"config file '.*bad.toml': expected ({match})"):
            load_config(bad)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigFileError, match="got a FIFO"):
        load_config(fifo)  # refused at once, never blocks
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")
