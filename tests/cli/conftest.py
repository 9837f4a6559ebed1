"""Run folders made once per session by the CLI itself (tiny, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from rnnkit.cli import app

TEXT = "ROMEO: but soft, what light through yonder window breaks?\nJULIET: ay me.\n" * 20


def invoke(*args: str | Path) -> Result:
    """Run ``rnnkit ARGS`` in-process and return the result (exit code, output)."""
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="session")
def series_csv(workdir: Path) -> Path:
    t = np.arange(300)
    df = pd.DataFrame({
        "time": pd.date_range("2024-01-01", periods=300, freq="h").strftime("%Y-%m-%d %H:%M"),
        "load": 10 + np.sin(2 * np.pi * t / 24) + 0.1 * np.cos(t / 7),
        "temp": np.cos(2 * np.pi * t / 24),
    })
    path = workdir / "series.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def labelled_npz(workdir: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.array(["walk", "run", "sit"])[np.arange(60) % 3]
    X = rng.normal(size=(60, 8, 3)).astype(np.float32)
    X[y == "run"] += 1.0
    path = workdir / "data.npz"
    np.savez(path, X=X, y=y)  # string labels, saved without pickling
    return path


@pytest.fixture(scope="session")
def forecast_run(workdir: Path, series_csv: Path) -> Path:
    out = workdir / "forecast-run"
    result = invoke("forecast", series_csv, "--target", "load", "--past-covariates", "temp",
                    "--window", "12",
                    "--horizon", "2", "--units", "4", "--epochs", "1", "--quantiles",
                    "0.1,0.9", "--out", out, "-v", "0")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def classify_run(workdir: Path, labelled_npz: Path) -> Path:
    out = workdir / "classify-run"
    result = invoke("classify", labelled_npz, "--units", "4", "--epochs", "1", "--out", out,
                    "-v", "0")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def text_run(workdir: Path) -> Path:
    (workdir / "text.txt").write_text(TEXT, encoding="utf-8")
    config = workdir / "text.toml"
    config.write_text(
        'task = "generator"\n\n[data]\npath = "text.txt"\ntest = 0.1\n\n'
        '[model]\nlayers = [{ class = "GRU", units = 8, return_sequences = true }]\n'
        'embedding_dim = 4\nseq_length = 20\n\n[training]\nepochs = 1\nbatch_size = 16\n\n'
        '[sample]\nseed = "ROMEO:"\nlength = 40\n',
        encoding="utf-8",
    )
    out = workdir / "text-run"
    result = invoke("train", config, "--out", out, "-v", "0")
    assert result.exit_code == 0, result.output
    return out
