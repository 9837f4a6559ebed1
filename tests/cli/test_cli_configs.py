"""The example configs in configs/ parse and describe valid tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

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
