"""`rnnkit classify` on .ts files and ragged .npz files; wrong files and option values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import invoke

TINY = ["--units", "4", "--filters", "4", "--epochs", "2", "--batch-size", "8", "--verbose",
        "0"]


def _ts(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["# toy", "@problemName toy", "@dimensions 2", "@equalLength false",
             "@classLabel true still moving", "@data"]
    for i in range(n):
        label = ["still", "moving"][i % 2]
        steps = int(rng.integers(4, 12))
        chans = [rng.normal(float(i % 2), 0.3, size=steps) for _ in range(2)]
        lines.append(":".join(",".join(f"{v:.4f}" for v in c) for c in chans) + f":{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_classify_reads_ts_files_of_different_lengths(tmp_path: Path) -> None:
    train, test = _ts(tmp_path / "a_TRAIN.ts", 24, 0), _ts(tmp_path / "a_TEST.ts", 10, 1)
    out = tmp_path / "run"
    result = invoke("classify", train, "--test", test, *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 10 and metrics["n_train"] == 24
    assert "non_recurrent" in result.output and str(out) in result.output
    pred = invoke("predict", out, test)  # a .ts to predict: its labels are not used
    assert pred.exit_code == 0, pred.output
    assert len(pred.output.strip().splitlines()) == 11
    assert invoke("evaluate", out).exit_code == 0  # the ragged held-out part round-trips


def test_classify_reads_npz_with_lengths_or_nan_padding(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lengths = rng.integers(3, 9, size=30)
    X = rng.normal(size=(30, 8, 2))
    y = np.array(["a", "b", "c"])[np.arange(30) % 3]
    np.savez(tmp_path / "lengths.npz", X=X, y=y, lengths=lengths)
    nan = X.copy()
    for i, n in enumerate(lengths):
        nan[i, n:] = np.nan
    np.savez(tmp_path / "nan.npz", X=nan, y=y)
    for name in ("lengths.npz", "nan.npz"):
        result = invoke("classify", tmp_path / name, *TINY, "--out", tmp_path / name[:-4])
        assert result.exit_code == 0, result.output
    bad = nan.copy()
    bad[[4, 9], 0, 1] = np.nan  # NaN on a real step: refused, counted and named
    np.savez(tmp_path / "bad.npz", X=bad, y=y)
    result = invoke("classify", tmp_path / "bad.npz", *TINY)
    assert result.exit_code == 1
    assert "2 sequence(s), index 4, 9" in result.output


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.csv", "a,b\n1,2\n", "expected a .npz (X, y and optionally lengths) or a .ts "
                                   "(UEA/UCR) file, got '.csv'"),
        ("fake.npz", "a,b\n1,2\n", "fake.npz': expected a zip archive"),
        ("bad.ts", "@classLabel true a\n@data\n1,2:a\n1,x:a\n", "at line 4"),
    ],
)
def test_classify_names_what_it_expected(tmp_path: Path, name: str, content: str,
                                         message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = invoke("classify", path, *TINY)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("option", [["--cell", "transformer"], ["--class-weight", "inverse"]])
def test_option_values_outside_their_set_exit_2(tmp_path: Path, option: list[str]) -> None:
    result = invoke("classify", tmp_path / "x.npz", *option)
    assert result.exit_code == 2


@pytest.mark.parametrize("suffix", [".npz", ".bin"])
def test_forecaster_predict_on_a_binary_file_says_what_it_expected(
        forecast_run: Path, labelled_npz: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    path.write_bytes(labelled_npz.read_bytes())
    result = invoke("predict", forecast_run, path)
    assert result.exit_code == 1
    assert "expected a CSV" in result.output and "UnicodeDecodeError" not in result.output


def test_unknown_demo_name_is_a_usage_error() -> None:
    assert invoke("demo", "weather", "--quick").exit_code == 2
