"""`rnnkit forecast` on a long CSV of many series and `rnnkit predict` with future
covariates; --test as a count, a fraction or 0; option values outside their set exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import invoke


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("panel")
    rng = np.random.default_rng(1)
    parts, future = [], []
    for k, (n, start) in enumerate([(50, "2024-01-01"), (40, "2024-01-15")]):
        t = np.arange(n)
        day = pd.date_range(start, periods=n, freq="D")
        parts.append(pd.DataFrame({"shop": f"s{k}", "day": day.strftime("%Y-%m-%d"),
                                   "sales": 5.0 + k + np.sin(t) + 0.1 * rng.normal(size=n),
                                   "promo": (t % 3 == 0).astype(float), "note": "x"}))
        nxt = pd.date_range(day[-1] + pd.Timedelta(days=1), periods=2, freq="D")
        future.append(pd.DataFrame({"shop": f"s{k}", "day": nxt.strftime("%Y-%m-%d"),
                                    "promo": [1.0, 0.0]}))
    pd.concat(parts).to_csv(root / "panel.csv", index=False)
    pd.concat(future).to_csv(root / "future.csv", index=False)
    return root / "panel.csv", root / "future.csv"


BASE = ["--id-column", "shop", "--time-column", "day", "--target", "sales", "--window", "7",
        "--horizon", "2", "--units", "4", "--epochs", "1", "-v", "0"]


def test_forecast_and_predict_a_panel(panel_csv: tuple[Path, Path], tmp_path: Path) -> None:
    data, future = panel_csv
    refused = invoke("forecast", data, *BASE, "--out", tmp_path / "bad")
    assert refused.exit_code == 1 and "['promo', 'note']" in refused.output
    run = tmp_path / "run"
    result = invoke("forecast", data, *BASE, "--future-covariates", "promo", "--ignore",
                    "note", "--calendar", "--quantiles", "0.1,0.9", "--test", "6",
                    "--validation", "0.2", "--out", run)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_series"] == 2 and metrics["seasonal_period"] == 7
    assert metrics["n_origins"] == 2 * 5 and "seasonal_naive" in metrics["baselines"]
    assert (run / "level.rnnkit").is_file()  # future covariates: the seasonal and level mean
    missing = invoke("predict", run, data)
    assert missing.exit_code == 1 and "promo" in missing.output
    pred = invoke("predict", run, data, "--future-covariates", future)
    assert pred.exit_code == 0, pred.output
    lines = pred.output.strip().splitlines()
    assert lines[0] == "shop,step,forecast_sales,q0.1,q0.9" and len(lines) == 5
    assert lines[1].startswith("s0,2024-02-20") and lines[3].startswith("s1,2024-02-24")


def test_test_zero_trains_on_every_row(panel_csv: tuple[Path, Path], tmp_path: Path) -> None:
    result = invoke("forecast", panel_csv[0], *BASE, "--ignore", "promo,note", "--test", "0",
                    "--out", tmp_path / "all")
    assert result.exit_code == 0, result.output
    assert "nothing was held out" in result.output


@pytest.mark.parametrize("args", [["--strategy", "sideways"], ["--cell", "transformer"],
                                  ["--test", "1.5"], ["--test", "some"]])
def test_option_values_outside_their_set_exit_2(panel_csv: tuple[Path, Path],
                                                args: list[str]) -> None:
    assert invoke("forecast", panel_csv[0], "--target", "sales", *args).exit_code == 2


def test_train_a_panel_from_toml(panel_csv: tuple[Path, Path], tmp_path: Path) -> None:
    config = tmp_path / "panel.toml"
    config.write_text(
        f'task = "forecaster"\n[data]\npath = "{panel_csv[0].as_posix()}"\n'
        'id_column = "shop"\ntime_column = "day"\ntarget = "sales"\n'
        'future_covariates = ["promo"]\nignore = ["note"]\ntest = 6\n'
        '[model]\nunits = [4]\nwindow = 7\nhorizon = 2\n[training]\nepochs = 1\n',
        encoding="utf-8")
    result = invoke("train", config, "--out", tmp_path / "run", "-v", "0")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_series"] == 2 and set(metrics["per_series"]) == {"s0", "s1"}


def test_ids_that_look_like_numbers_stay_text(tmp_path: Path) -> None:
    t = np.arange(40)
    table = pd.concat([pd.DataFrame({"shop": shop, "day": pd.date_range(
        "2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d"), "sales": k + np.sin(t)})
        for k, shop in enumerate(["0017", "017"])])
    data = tmp_path / "ids.csv"
    table.to_csv(data, index=False)
    run = tmp_path / "run"
    result = invoke("forecast", data, *BASE, "--test", "6", "--out", run)
    assert result.exit_code == 0, result.output  # pandas would read both ids as 17
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_series"]) == {"0017", "017"}
    pred = invoke("predict", run, data)
    assert pred.exit_code == 0, pred.output
    assert [line.split(",")[0] for line in pred.output.strip().splitlines()[1::2]] == \
        ["0017", "017"]
    bad = tmp_path / "bad.csv"
    bad.write_text(data.read_text().replace("0017,2024-01-03,", "0017,2024-01-03,n/a"))
    refused = invoke("forecast", bad, *BASE, "--out", tmp_path / "bad-run")
    assert refused.exit_code == 1 and "series '0017' at 2024-01-03" in refused.output
