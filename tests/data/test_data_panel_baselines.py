"""Baselines and metrics over panels: naive, seasonal naive and statsforecast's Theta/ETS for
every backtest origin of every series; MAE, RMSE, sMAPE and MASE aggregated, per horizon
step and per series."""

from __future__ import annotations

import numpy as np
import pytest
from statsforecast.models import AutoETS

from rnnkit.data import Panel, rolling_origins
from rnnkit.tasks import (
    forecast_metrics,
    mase_scale,
    panel_baselines,
    panel_metrics,
    smape,
    statistical_forecast,
)


def seasonal_panel(seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    series = {}
    for i, n in enumerate((72, 60, 84)):
        t = np.arange(n)
        series[f"s{i}"] = (50 + 5 * i + 0.2 * t + 8 * np.sin(2 * np.pi * t / 12 + i)
                           + rng.normal(0, 0.5, n))
    return Panel.from_arrays(series)


def test_panel_metrics_match_per_series_metrics() -> None:
    rng = np.random.default_rng(1)
    actual = rng.normal(10, 2, (7, 3))
    pred = actual + rng.normal(0, 1, (7, 3))
    series = np.array([0, 0, 1, 1, 1, 2, 2])
    scales = np.array([1.5, 0.5, 2.0])
    m = panel_metrics(actual, pred, series, scales, ids=["a", "b", "c"])
    for i, name in enumerate("abc"):
        rows = series == i
        ref = forecast_metrics(actual[rows], pred[rows], scales[i])
        got = m["per_series"][name]
        assert got["mae"] == pytest.approx(ref["mae"]) and got["rmse"] == pytest.approx(ref["rmse"])
        assert got["smape"] == pytest.approx(ref["smape"]) and got["mase"] == pytest.approx(
            ref["mase"])
    err = np.abs(actual - pred)
    assert m["aggregate"]["mase"] == pytest.approx(np.mean(err / scales[series][:, None]))
    assert m["aggregate"]["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert [s["mae"] for s in m["per_step"]] == pytest.approx(err.mean(axis=0).tolist())
    assert smape([0.0, 2.0], [0.0, 1.0]) == pytest.approx(100 * (0 + 2 / 3) / 2)
    assert mase_scale([1.0, 2.0, 4.0, 3.0, 5.0], period=2) == pytest.approx((3 + 1 + 1) / 3)


def test_statistical_forecast_is_statsforecasts_model_at_every_origin() -> None:
    y = seasonal_panel().values_of("s0")
    got = statistical_forecast(y, [40, 59], 6, period=12, method="ets")
    for row, origin in zip(got, (40, 59), strict=True):
        ref = AutoETS(season_length=12).forecast(y=y[: origin + 1], h=6)["mean"]
        np.testing.assert_allclose(row, ref)
    const = statistical_forecast(np.full(30, 4.0), [29], 3, period=12)
    assert const.tolist() == [[4.0, 4.0, 4.0]]
    with pytest.raises(ValueError, match="expected at least 5 observed values before a 'theta' "
                       "forecast, got 3 at origin 2"):
        statistical_forecast(y, [2], 3)
    with pytest.raises(ValueError, match=r"expected method from \['ets', 'theta'\]"):
        statistical_forecast(y, [30], 3, method="arima")


def test_panel_baselines_over_every_origin_and_the_statistical_one_is_strong() -> None:
    p = seasonal_panel()
    o = rolling_origins(p, horizon=12, folds=2)
    f = panel_baselines(p, o, 12, period=12, method="theta")
    assert set(f) == {"naive", "seasonal_naive", "theta"} and f["theta"].shape == (6, 12)
    actual = np.stack([p.target[p.rows(i)][c: c + 12] for i, c in zip(o.series, o.cut,
                                                                    strict=True)])
    last = np.array([p.target[p.rows(i)][c - 1] for i, c in zip(o.series, o.cut, strict=True)])
    assert (f["naive"] == last[:, None]).all()
    scales = np.array([mase_scale(p.target[p.rows(i)][: p.lengths[i] - 24], 12)
                       for i in range(3)])
    m = {k: panel_metrics(actual, v, o.series, scales)["aggregate"]["mase"]
         for k, v in f.items()}
    assert m["theta"] < m["seasonal_naive"] < m["naive"]
    short = Panel.from_arrays({"ok": np.arange(40.0), "tiny": np.arange(8.0)})
    with pytest.raises(ValueError, match="series 'tiny': expected at least period=12 observed"):
        panel_baselines(short, rolling_origins(short, 3), 3, period=12)


def test_many_origins_fit_the_model_at_most_max_fits_times_and_never_look_ahead() -> None:
    """Origins between two fits take the last fit's parameters on their own history
    (statsforecast's forward); a fit uses the history up to its own origin only."""
    rng = np.random.default_rng(3)
    y = 10 + np.sin(np.arange(90) * np.pi / 6) + rng.normal(0, 0.2, 90)
    origins = np.array([71, 59, 65, 62, 68, 80])  # any order; fits at 59 and 68 (every 3)
    got = statistical_forecast(y, origins, 2, period=12, method="ets", max_fits=2)
    fits = {59: AutoETS(season_length=12).fit(y[:60]), 68: AutoETS(season_length=12).fit(y[:69])}
    for k, t in enumerate(origins.tolist()):
        model = fits[59] if t < 68 else fits[68]
        want = model.forward(y=y[: t + 1], h=2)["mean"]
        np.testing.assert_allclose(got[k], want, rtol=1e-12)
    every = statistical_forecast(y, origins, 2, period=12, method="ets", max_fits=None)
    for k, t in enumerate(origins.tolist()):
        want = AutoETS(season_length=12).forecast(y=y[: t + 1], h=2)["mean"]
        np.testing.assert_allclose(every[k], want, rtol=1e-6)
    changed = y.copy()
    changed[81:] += 100.0  # after the last origin: nothing changes
    again = statistical_forecast(changed, origins, 2, period=12, method="ets", max_fits=2)
    np.testing.assert_array_equal(again, got)
    with pytest.raises(ValueError, match="max_fits"):
        statistical_forecast(y, origins, 2, period=12, max_fits=0)
