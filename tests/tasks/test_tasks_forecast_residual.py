"""The forecaster's default recipe for seasonal data: two-season windows, seasonal
differences in, the change from the seasonal-naive forecast out, the seasonal MASE scale;
with future covariates the mean of that network and a level network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rnnkit.data import Panel
from rnnkit.tasks import Forecaster, _forecaster_fit, load_task
from rnnkit.tasks._forecast_residual import (
    resolve_residual,
    resolve_window,
    seasonal_base,
    seasonal_differences,
    seasonal_future_differences,
    seasonal_scale,
)


def test_auto_window_and_residual() -> None:
    assert resolve_window("auto", 4) == 8 and resolve_window("auto", 1) == 33
    assert resolve_window(5, 12) == 5
    auto = {"direct": True, "counts": False, "window": 8, "period": 4}
    assert resolve_residual("auto", **auto) == "seasonal"
    assert resolve_residual("auto", **{**auto, "period": 1}) is False  # no season
    assert resolve_residual("auto", **{**auto, "window": 3}) is False  # window < season
    assert resolve_residual("auto", **{**auto, "direct": False}) is False
    assert resolve_residual("auto", **{**auto, "counts": True}) is False
    assert resolve_residual(True, **auto) is True
    assert resolve_residual("auto", **auto, future=True) == "combined"
    assert resolve_residual("auto", **auto, future=True, likelihood=True) == "seasonal"
    assert resolve_residual("auto", **{**auto, "period": 1}, future=True) is False


def test_seasonal_differences_base_and_scale() -> None:
    x = np.arange(12, dtype=np.float32).reshape(1, 6, 2) ** 2  # target is column 0
    d = seasonal_differences(x, 2, masked=False)
    t = x[0, :, 0]
    assert d[0, :, 0].tolist() == [0.0, 0.0, *(t[2:] - t[:-2]).tolist()]
    np.testing.assert_array_equal(d[0, :, 1], x[0, :, 1])  # other features unchanged
    padded = x.copy()
    padded[0, :2] = 0.0  # two padding rows: all zero, the indicator (last feature) 0
    padded[0, 2:, 1] = 1.0
    dm = seasonal_differences(padded, 2, masked=True)
    assert dm[0, :4, 0].tolist() == [0.0] * 4 and dm[0, 4, 0] == t[4] - t[2]
    # seasonal naive for 3 steps with m = 2: the values 2, 1 and 2 steps before the end + h
    assert seasonal_base(x, 2, 3)[0].tolist() == [t[4], t[5], t[4]]
    panel = Panel.from_arrays({"a": [1.0, 2.0, 4.0, 8.0, 9.0], "b": [5.0, 5.0, 5.0, 5.0, 5.0]})
    scale = seasonal_scale(panel, np.array([4, 5]), 2)
    assert scale.tolist() == pytest.approx([(3.0 + 6.0) / 2, 1.0])  # constant: 1


def test_future_covariates_are_read_as_changes_from_the_seasonal_naive_rows() -> None:
    """Step h of the horizon minus the window row m * ceil(h / m) before it: the row whose
    target the seasonal-naive forecast of step h repeats."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 4))  # (n, w, target + 1 past + 2 future)
    future = rng.normal(size=(3, 6, 2))  # (n, horizon, F)
    got = seasonal_future_differences(x, future, period=4, first=2)
    for h in range(1, 7):
        row = 8 - 1 + h - 4 * int(np.ceil(h / 4))  # the window row of step h's reference
        np.testing.assert_allclose(got[:, h - 1], future[:, h - 1] - x[:, row, 2:4])
    base = seasonal_base(x, 4, 6)  # the same rows give the seasonal-naive forecast
    np.testing.assert_allclose(base[:, 4], x[:, 4, 0])


FAST: dict[str, Any] = {"units": 4, "epochs": 2, "batch_size": 32, "verbose": 0,
                        "random_state": 3}


def _daily(n: int = 120) -> pd.DataFrame:
    """A daily series whose level follows a known-future covariate (``temp``)."""
    rng = np.random.default_rng(1)
    t = np.arange(n)
    temp = 20 + 8 * np.sin(2 * np.pi * t / 50) + rng.normal(size=n)
    load = 100 + 5 * np.sin(2 * np.pi * t / 7) + 0.3 * (temp - 20) ** 2 + rng.normal(size=n)
    return pd.DataFrame({"load": load, "temp": temp},
                        index=pd.date_range("2024-01-01", periods=n, freq="D"))


def test_known_future_covariates_default_to_the_mean_of_seasonal_and_level() -> None:
    """``residual="auto"`` with future covariates: the forecasts are the mean of the
    seasonal network's and the level network's, each as trained alone (same seed)."""
    data, kw = _daily(), {"target": "load", "future_covariates": ["temp"], "horizon": 2,
                          "quantiles": (0.1, 0.9), **FAST}
    both = Forecaster(**kw).fit(data.iloc[:-10])
    assert both.residual_ == "combined" and both.level_model_ is not both.model_
    seasonal = Forecaster(residual="seasonal", **kw).fit(data.iloc[:-10])
    level = Forecaster(residual=False, **kw).fit(data.iloc[:-10])
    future = data.iloc[-10:-8][["temp"]]
    got, got_q = both.predict(future_covariates=future, return_quantiles=True)
    parts = [f.predict(future_covariates=future, return_quantiles=True)
             for f in (seasonal, level)]
    np.testing.assert_allclose(got, (parts[0][0] + parts[1][0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(got_q, (parts[0][1] + parts[1][1]) / 2, rtol=1e-6)
    backtests = [f.backtest(data, test=10, statistical=False).forecast
                 for f in (both, seasonal, level)]
    np.testing.assert_allclose(backtests[0], (backtests[1] + backtests[2]) / 2, rtol=1e-6)
    # past covariates only: the seasonal network alone, nothing more trained
    past = Forecaster(target="load", past_covariates=["temp"], **FAST).fit(data)
    assert past.residual_ == "seasonal" and not hasattr(past, "level_model_")


def test_level_network_trains_with_three_times_the_patience(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, Any]] = []
    real = _forecaster_fit.train_model

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs.get("name", "model"), args[5].patience))
        return real(*args, **kwargs)

    monkeypatch.setattr(_forecaster_fit, "train_model", recording)
    f = Forecaster(target="load", future_covariates=["temp"], patience=4, **FAST).fit(_daily())
    assert f.residual_ == "combined" and seen[-1] == ("level", 12)
    f.set_params(patience=None).fit(_daily())
    assert seen[-1] == ("level", None)


def test_combined_forecaster_saves_and_loads(tmp_path: Path) -> None:
    data = _daily()
    f = Forecaster(target="load", future_covariates=["temp"], **FAST).fit(data.iloc[:-7])
    future = data.iloc[-7:-6][["temp"]]
    before = f.predict(future_covariates=future)
    f.save(tmp_path / "run")
    assert (tmp_path / "run" / "level.rnnkit").is_file()
    loaded = load_task(tmp_path / "run", Forecaster)
    assert loaded.residual_ == "combined"
    np.testing.assert_allclose(loaded.predict(future_covariates=future), before, rtol=1e-6)
    (tmp_path / "run" / "level.rnnkit").unlink()
    with pytest.raises(FileNotFoundError, match="expected level.rnnkit"):
        load_task(tmp_path / "run", Forecaster)


def test_combined_needs_the_direct_strategy_without_a_likelihood() -> None:
    data = _daily()
    with pytest.raises(ValueError, match="expected strategy='direct' with residual='combined'"):
        Forecaster(residual="combined", strategy="recursive", target="load", **FAST).fit(data)
    with pytest.raises(ValueError, match="expected likelihood=None with residual='combined'"):
        Forecaster(residual="combined", likelihood="normal", target="load", **FAST).fit(data)
    auto = Forecaster(likelihood="normal", target="load", future_covariates=["temp"],
                      **FAST).fit(data)
    assert auto.residual_ == "seasonal" and not hasattr(auto, "level_model_")
