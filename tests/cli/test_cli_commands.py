"""The rnnkit command line: help, exit codes, training commands and run folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.tasks import DEMOS

from .conftest import invoke

COMMANDS = ["demo", "train", "forecast", "classify", "generate", "evaluate", "predict",
            "summary", "inspect"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "--help" in result.output


def test_top_level_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert all(c in result.output for c in COMMANDS)


@pytest.mark.parametrize("args", [
    ["forecast"],                                  # missing FILE and --target
    ["demo", "--no-such-option"],
    ["generate"],                                  # missing RUN
    ["classify", "x.npz", "--epochs", "many"],     # not an int
    ["no-such-command"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert invoke(*args).exit_code == 2


def test_failed_run_exits_1_with_one_line(workdir: Path) -> None:
    result = invoke("classify", workdir / "missing.npz")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit: error: FileNotFoundError")
    assert "Traceback" not in result.output
    debug = invoke("classify", workdir / "missing.npz", "--debug")
    assert debug.exit_code == 1 and "Traceback" in debug.output
    assert invoke("demo", "no-such-demo").exit_code == 2  # a name outside the demos: usage
    assert invoke("evaluate", workdir).exit_code == 1  # not a run folder


_DEMO_RUNS: dict[str, Path] = {}


def demo_run(name: str, workdir: Path) -> Path:
    """The folder of a quick run of demo ``name`` (run once per session)."""
    if name not in _DEMO_RUNS:
        out = workdir / f"demo-{name}"
        result = invoke("demo", name, "--quick", "--out", out, "-v", "0")
        assert result.exit_code == 0, result.output
        assert "held-out" in result.output and str(out) in result.output
        assert "target" not in result.output  # the result beside its baselines, no verdict
        _DEMO_RUNS[name] = out
    return _DEMO_RUNS[name]


@pytest.mark.parametrize("name", list(DEMOS))
def test_quick_demo(name: str, workdir: Path) -> None:
    out = demo_run(name, workdir)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["demo"] == name and metrics["target"]["quick"] is True
    for file in ("model.rnnkit", "task.json", "config.json", "heldout.npz",
                 "learning_curves.png"):
        assert (out / file).is_file(), file
    plot = {"classifier": "confusion_matrix.png", "forecaster": "forecast.png",
            "generator": "sample.png"}[metrics["task"]]
    assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    if metrics["task"] == "forecaster":
        assert set(metrics["baselines"]) == {"naive", "seasonal_naive", "theta"}
        assert {"mae", "rmse", "mape", "mase"} <= set(metrics)


def test_demo_list() -> None:
    result = invoke("demo", "--list")
    assert result.exit_code == 0 and all(name in result.output for name in DEMOS)


def test_forecast_run_folder(forecast_run: Path, series_csv: Path) -> None:
    metrics = json.loads((forecast_run / "metrics.json").read_text())
    assert metrics["horizon"] == 2 and metrics["seasonal_period"] == 24
    assert "coverage" in metrics["interval"]
    evaluated = invoke("evaluate", forecast_run, "--json")
    assert evaluated.exit_code == 0
    again = json.loads(evaluated.output)
    assert again["mae"] == pytest.approx(metrics["mae"], rel=1e-5)
    for name in ("naive", "seasonal_naive", "theta"):
        for key in ("mae", "rmse", "smape", "mase"):
            assert again["baselines"][name][key] == pytest.approx(metrics["baselines"][name][key])
    pred = invoke("predict", forecast_run, series_csv)
    assert pred.exit_code == 0, pred.output
    lines = pred.output.strip().splitlines()
    assert lines[0] == "step,forecast_load,q0.1,q0.9" and len(lines) == 3
    assert lines[1].startswith("2024-01-13 12:00:00")
    summary = invoke("summary", forecast_run)
    assert summary.exit_code == 0 and "Forecaster" in summary.output and "lstm" in summary.output


def test_classify_run_with_string_labels(classify_run: Path, labelled_npz: Path,
                                         workdir: Path) -> None:
    metrics = json.loads((classify_run / "metrics.json").read_text())
    assert metrics["labels"] == ["run", "sit", "walk"]
    assert {"majority", "non_recurrent"} <= set(metrics["baselines"])
    result = invoke("evaluate", classify_run)
    assert result.exit_code == 0 and "accuracy=" in result.output
    out = workdir / "pred.csv"
    pred = invoke("predict", classify_run, labelled_npz, "--output", out)
    assert pred.exit_code == 0
    rows = out.read_text().strip().splitlines()
    assert rows[0] == "index,label,p_run,p_sit,p_walk" and len(rows) == 61
    assert rows[1].split(",")[1] in {"run", "sit", "walk"}
    test_file = workdir / "test.npz"
    with np.load(labelled_npz) as z:
        np.savez(test_file, X=z["X"][:9], y=z["y"][:9])
    with_test = invoke("classify", labelled_npz, "--test", test_file, "--units", "4",
                       "--epochs", "1", "--out", workdir / "c2", "-v", "0")
    assert with_test.exit_code == 0, with_test.output
    assert json.loads((workdir / "c2" / "metrics.json").read_text())["n_samples"] == 9


def test_generate_from_a_text_run(text_run: Path) -> None:
    assert (text_run / "config.toml").is_file() and (text_run / "sample.txt").is_file()
    a = invoke("generate", text_run, "--seed", "ROMEO:", "--length", "30",
               "--temperature", "0.8", "--random-state", "1")
    b = invoke("generate", text_run, "--seed", "ROMEO:", "--length", "30",
               "--temperature", "0.8", "--random-state", "1")
    assert a.exit_code == 0 and a.output == b.output
    assert a.output.startswith("ROMEO:") and len(a.output.rstrip("\n")) == 36
    result = invoke("evaluate", text_run)
    assert result.exit_code == 0 and "bits_per_char=" in result.output
    bad = invoke("generate", text_run, "--seed", "~~~")
    assert bad.exit_code == 1 and "characters" in bad.output


@pytest.mark.parametrize("run", ["forecast_run", "classify_run", "text_run"])
def test_inspect_writes_its_plots(run: str, request: pytest.FixtureRequest,
                                  workdir: Path) -> None:
    folder = request.getfixturevalue(run)
    out = workdir / f"inspect-{run}"
    result = invoke("inspect", folder, "--samples", "8", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "gradients.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "gates.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "inspect.json").read_text())
    assert len(data["gradient_norms"]["per_step"]) > 1
    assert data["gates"]


def test_train_from_a_toml_config(workdir: Path, labelled_npz: Path) -> None:
    config = workdir / "classify.toml"
    config.write_text(
        f'task = "classifier"\n\n[data]\npath = "{labelled_npz.name}"\ntest = 0.25\n\n'
        '[model]\nlayers = [\n  { class = "LSTM", units = 4, return_sequences = true },\n'
        '  { class = "LSTM", units = 4 },\n]\n\n[training]\nepochs = 1\nclipnorm = false\n',
        encoding="utf-8",
    )
    out = workdir / "toml-run"
    result = invoke("train", config, "--out", out, "-v", "0")
    assert result.exit_code == 0, result.output
    params = json.loads((out / "task.json").read_text())["params"]
    assert params["clipnorm"] is None and params["layers"][0]["class"] == "LSTM"
    bad = workdir / "bad.toml"
    bad.write_text('task = "classifier"\n[data]\npath = "data.npz"\n[training]\nepoch = 1\n')
    result = invoke("train", bad, "--out", workdir / "bad-run")
    assert result.exit_code == 1 and "expected a parameter" in result.output


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "rnnkit", "demo", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "--quick" in result.stdout


def test_predict_on_text_runs(workdir: Path) -> None:
    reviews = workdir / "reviews.txt"
    reviews.write_text("a moving, beautiful film\n\ndull and far too long\n", encoding="utf-8")
    result = invoke("predict", demo_run("sentiment", workdir), reviews)
    assert result.exit_code == 0, result.output
    rows = result.output.strip().splitlines()
    assert rows[0] == "index,label,p_negative,p_positive" and len(rows) == 3
    seed = workdir / "seed.txt"
    seed.write_text("ROMEO:", encoding="utf-8")
    result = invoke("predict", demo_run("shakespeare", workdir), seed, "--length", "20")
    assert result.exit_code == 0 and result.output.startswith("ROMEO:")
    assert len(result.output.rstrip("\n")) == 26
