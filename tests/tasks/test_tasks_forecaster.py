"""Forecaster: strategies, covariates, intervals, leak-free scaling, backtests, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import PanelScaler
from rnnkit.tasks import (
    Forecaster,
    infer_seasonal_period,
    load_task,
    mase_scale,
    naive_forecast,
    seasonal_naive_forecast,
)
from rnnkit.tasks._metrics import forecast_metrics


def _series(n: int = 240) -> pd.DataFrame:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"load": 10 + np.sin(2 * np.pi * t / 24) + 0.05 * rng.normal(size=n),
         "temp": np.cos(2 * np.pi * t / 24)},
        index=pd.date_range("2024-01-01", periods=n, freq="h"),
    )


FAST: dict[str, Any] = {"units": 4, "epochs": 2, "batch_size": 64, "verbose": 0}


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_strategies_forecast_horizon_steps(strategy: str) -> None:
    df = _series()
    f = Forecaster("gru", window=12, horizon=3, target="load", strategy=strategy,
                   past_covariates=["temp"], **FAST)
    f.fit(df)
    assert f.inputs_ == ["load", "temp"] and f.seasonal_period_ == 24
    assert f.predict().shape == (3,)
    np.testing.assert_allclose(f.predict(), f.predict(df))
    point, quants = f.predict_at(df, [30, 100])
    assert point.shape == (2, 3) and quants is None


def test_quantiles_and_cnn_lstm() -> None:
    df = _series()
    f = Forecaster("cnn-lstm", window=12, horizon=2, target="load", ignore=["temp"],
                   quantiles=(0.1, 0.9), filters=4, kernel_size=3, **FAST).fit(df)
    assert f.inputs_ == ["load"]
    point, q = f.predict(return_quantiles=True)
    assert point.shape == (2,) and q.shape == (2, 2)
    bt = f.backtest(df, test=48)
    assert 0.0 <= bt.metrics["interval"]["coverage"] <= 1.0
    with pytest.raises(ValueError, match="direct"):
        Forecaster(strategy="recursive", quantiles=(0.5,)).fit(df["load"])


def test_bad_inputs_name_the_problem() -> None:
    df = _series()
    with pytest.raises(ValueError, match="target="):
        Forecaster(**FAST).fit(df)
    with pytest.raises(ValueError, match="one of the columns"):
        Forecaster(target="nope", **FAST).fit(df)
    with pytest.raises(ValueError, match="cell"):
        Forecaster("transformer", **FAST).fit(df["load"])
    with pytest.raises(ValueError, match="list of column names"):
        Forecaster(target="load", past_covariates="temp", **FAST).fit(df)
    with pytest.raises(ValueError, match=r"undeclared column\(s\) \['temp'\]"):
        Forecaster(target="load", **FAST).fit(df)


def test_scaler_is_fitted_on_training_rows_only() -> None:
    y = np.concatenate([np.zeros(80), np.full(20, 100.0)])  # the jump is in the validation part
    f = Forecaster(window=4, validation=0.2, **FAST).fit(y)
    assert isinstance(f.scaler_, PanelScaler) and f.scaler_.mean.tolist() == [[0.0]]
    assert f.mase_scales_ == [mase_scale(y[:80])]


def test_backtest_baselines_and_metrics_by_hand() -> None:
    df = _series(200)
    f = Forecaster(window=10, horizon=2, target="load", past_covariates=["temp"],
                   **FAST).fit(df.iloc[:150])
    bt = f.backtest(df, test=50)
    y = df["load"].to_numpy()
    assert bt.origins[0] == 149 and bt.origins[-1] == 197
    np.testing.assert_allclose(bt.actual, np.stack([y[bt.origins + 1], y[bt.origins + 2]], 1))
    np.testing.assert_allclose(bt.naive, naive_forecast(y, bt.origins, 2))
    np.testing.assert_allclose(bt.seasonal_naive, seasonal_naive_forecast(y, bt.origins, 2, 24))
    np.testing.assert_allclose(bt.seasonal_naive[:, 0], y[bt.origins + 1 - 24])
    scale = mase_scale(y[:150])
    naive = bt.metrics["baselines"]["naive"]
    by_hand = forecast_metrics(bt.actual, bt.naive, scale)
    assert {k: naive[k] for k in by_hand} == pytest.approx(by_hand)
    assert len(naive["per_step"]) == 2 and set(naive["per_series"]) == {"0"}
    assert bt.metrics["baselines"]["theta"]["mae"] > 0
    assert bt.metrics["mae"] == pytest.approx(np.abs(bt.actual - bt.forecast).mean())
    point, _ = f.predict_at(df, bt.origins)
    np.testing.assert_allclose(point, bt.forecast)
    refit = f.backtest(df, test=50, refit=True, folds=2)
    assert refit.forecast.shape == bt.forecast.shape


def test_residual_save_and_load_round_trip(tmp_path: Path) -> None:
    y = np.cumsum(np.random.default_rng(1).normal(size=300)) + 50
    f = Forecaster("lstm", window=8, horizon=2, residual=True, scaler=None, **FAST).fit(y)
    f.save(tmp_path / "run")
    g = load_task(tmp_path / "run")
    assert isinstance(g, Forecaster) and g.get_params() == f.get_params()
    np.testing.assert_allclose(g.predict(), f.predict(), rtol=1e-6)
    np.testing.assert_allclose(g.predict(y[:100]), f.predict(y[:100]), rtol=1e-6)
    assert "pickle" not in (tmp_path / "run" / "task.json").read_text()


def test_infer_seasonal_period() -> None:
    assert infer_seasonal_period(pd.date_range("2000", periods=3, freq="D")) == 7
    assert infer_seasonal_period(pd.date_range("2000", periods=3, freq="15min")) == 96
    assert infer_seasonal_period(pd.date_range("2000", periods=3, freq="B")) == 5
    assert infer_seasonal_period(pd.date_range("2000", periods=3, freq="MS")) == 12
    assert infer_seasonal_period(pd.RangeIndex(4)) == 1
