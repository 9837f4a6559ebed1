"""The Forecaster on panels: one global model over many series, no window across two
series, per-series scaling, short series, covariates of three kinds, one-line errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.layers import Embedding
from rnnkit.tasks import Forecaster

FAST: dict[str, Any] = {"units": 4, "epochs": 1, "batch_size": 64, "verbose": 0}


def _long(lengths: tuple[int, ...] = (60, 45, 80), starts: tuple[str, ...] = (
        "2024-01-01", "2024-01-20", "2023-12-10")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for k, (n, start) in enumerate(zip(lengths, starts, strict=True)):
        t = np.arange(n)
        parts.append(pd.DataFrame({
            "store": f"s{k}", "day": pd.date_range(start, periods=n, freq="D"),
            "sales": 10.0 * (k + 1) + np.sin(2 * np.pi * t / 7) + 0.1 * rng.normal(size=n),
            "promo": (t % 5 == 0).astype(float), "region": ["north", "south", "north"][k],
        }))
    return pd.concat(parts, ignore_index=True)


class _Recording(Forecaster):
    """Keeps the training inputs and targets the network saw."""

    def _train(self, model: Any, loss: Any, x: Any, y: Any, validation_data: Any,
               **kwargs: Any) -> None:
        self.__dict__["seen"] = (x, y, validation_data)
        super()._train(model, loss, x, y, validation_data, **kwargs)


def test_no_window_crosses_two_series() -> None:
    # value = 1000 * series + position: a window mixing two series would show it
    data = {k: pd.Series(1000.0 * k + np.arange(n), name="y")
            for k, n in enumerate((30, 21, 40))}
    f = _Recording(window=5, horizon=3, scaler=None, validation=0.2, **FAST).fit(data)
    x, y, (x_val, y_val) = f.__dict__["seen"]
    for inputs, targets in ((x, y), (x_val, y_val)):
        values = np.concatenate([inputs[:, :, 0], targets], axis=1)  # (n, window + horizon)
        assert (values // 1000 == values[:, :1] // 1000).all()  # one series per window
        np.testing.assert_array_equal(np.diff(values, axis=1), 1.0)  # consecutive rows
    assert len(x) == sum(n - int(0.2 * n) - 5 - 3 + 1 for n in (30, 21, 40))
    assert f.n_train_windows_ == len(x)


def test_each_series_is_scaled_on_its_own_training_rows() -> None:
    data = _long()
    f = Forecaster(window=7, target="sales", id_column="store", time_column="day",
                   ignore=["promo", "region"], validation=0.2, **FAST).fit(data)
    plain = Forecaster(window=7, target="sales", id_column="store", time_column="day",
                       ignore=["promo", "region"], validation=0.2, residual=False,
                       **FAST).fit(data)
    for i, (key, rows) in enumerate(data.groupby("store", sort=False)):
        train = rows["sales"].to_numpy()[: len(rows) - int(0.2 * len(rows))]
        assert f.ids_[i] == key
        assert f.scaler_.mean[i, 0] == pytest.approx(train.mean())
        assert plain.scaler_.std[i, 0] == pytest.approx(train.std())
        # the default recipe (residual "seasonal"): the mean absolute seasonal difference
        assert f.scaler_.std[i, 0] == pytest.approx(np.abs(train[7:] - train[:-7]).mean())
    assert f.seasonal_period_ == 7 and f.freq_ == "D" and f.residual_ == "seasonal"
    assert f.predict().shape == (3, 1)


def test_long_multiindex_and_dict_inputs_agree() -> None:
    data = _long().drop(columns=["promo", "region"])
    kw = {"window": 7, "horizon": 2, "target": "sales", **FAST}
    a = Forecaster(id_column="store", time_column="day", **kw).fit(data).predict()
    multi = data.set_index(["store", "day"])
    b = Forecaster(**kw).fit(multi).predict()
    frames = {k: g.set_index("day")[["sales"]] for k, g in data.groupby("store", sort=False)}
    c = Forecaster(**kw).fit(frames).predict()
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a, c, rtol=1e-6)


def test_short_series_are_named_or_padded_with_a_mask() -> None:
    data = _long(lengths=(60, 6, 80)).drop(columns=["promo", "region"])
    kw = {"window": 7, "horizon": 2, "target": "sales", "id_column": "store",
          "time_column": "day", "validation": 0.0, **FAST}
    with pytest.raises(ValueError, match=r"'s1' \(6 rows\).*pad_short=True"):
        Forecaster(**kw).fit(data)
    f = _Recording(pad_short=True, **kw).fit(data)
    x = f.__dict__["seen"][0]
    padded = x[:, :, -1] == 0  # the indicator channel: 0 on padding
    assert padded.any() and (x[padded] == 0).all()  # padded rows are all zeros: masked
    assert f.predict().shape == (3, 2) and np.isfinite(f.predict()).all()
    with pytest.raises(ValueError, match="pad_short"):
        Forecaster(**kw).fit(data.query("store != 's1'")).predict(data)


def test_undeclared_columns_are_named_and_ignore_drops_them() -> None:
    data = _long()
    kw = {"window": 7, "target": "sales", "id_column": "store", "time_column": "day", **FAST}
    with pytest.raises(ValueError, match=r"undeclared column\(s\) \['promo', 'region'\]"):
        Forecaster(**kw).fit(data)
    assert Forecaster(ignore=["promo", "region"], **kw).fit(data).inputs_ == ["sales"]


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_future_and_static_covariates(strategy: str) -> None:
    data = _long()
    f = Forecaster(window=7, horizon=3, target="sales", id_column="store", time_column="day",
                   future_covariates=["promo"], static_covariates=["region"], calendar=True,
                   strategy=strategy, **FAST).fit(data)
    # two months of data: no month features (their test values would never have been seen)
    assert f.inputs_ == ["sales", "promo", "dayofweek_sin", "dayofweek_cos"]
    assert any(isinstance(m, Embedding) for m in f.model_.modules())
    with pytest.raises(ValueError, match=r"future covariates \['promo'\] over the horizon"):
        f.predict(data)
    last = data.groupby("store", sort=False)["day"].max()
    future = pd.DataFrame([
        {"store": key, "day": day + pd.Timedelta(days=h), "promo": float(h == 1)}
        for key, day in last.items() for h in (1, 2, 3)])
    table = f.forecast_table(data, future_covariates=future)
    assert table.columns.tolist() == ["store", "step", "forecast_sales"] and len(table) == 9
    with pytest.raises(ValueError, match=r"'promo' for series 's1' at 2024-03-07"):
        f.predict(data, future_covariates=future.drop(index=5))
    assert f.predict(data, future_covariates=future).shape == (3, 3)
    if strategy == "recursive":  # the network forecasts the target only, never a covariate
        assert f.model_.outputs[0].shape[-1] == 1


def test_bad_panels_get_one_line_naming_series_and_time() -> None:
    data = _long().drop(columns=["promo", "region"])
    kw = {"window": 7, "target": "sales", "id_column": "store", "time_column": "day", **FAST}
    twice = pd.concat([data, data.iloc[[70]]])
    with pytest.raises(ValueError, match=r"series 's1' at 2024-01-30 00:00:00 twice") as err:
        Forecaster(**kw).fit(twice)
    assert "\n" not in str(err.value)
    nan = data.assign(temp=1.0)
    nan.loc[65, "temp"] = np.nan
    with pytest.raises(ValueError, match=r"'temp'.*series 's1' at 2024-01-25"):
        Forecaster(past_covariates=["temp"], **kw).fit(nan)
    mixed = data.assign(store=data["store"].astype(object))
    mixed.loc[0, "store"] = 7
    with pytest.raises(ValueError, match="series ids of one type"):
        Forecaster(**kw).fit(mixed)
    with pytest.raises(ValueError, match="one row"):
        Forecaster(**kw).fit(pd.concat([data, pd.DataFrame(
            {"store": ["lone"], "day": [pd.Timestamp("2024-01-01")], "sales": [1.0]})]))


def test_panel_backtest_covers_every_series() -> None:
    data = _long().drop(columns=["promo", "region"])
    f = Forecaster(window=7, horizon=2, target="sales", id_column="store", time_column="day",
                   **FAST).fit(data)
    bt = f.backtest(data, test=10)
    assert bt.metrics["n_series"] == 3 and bt.metrics["n_origins"] == 3 * 9
    assert sorted(set(bt.series.tolist())) == [0, 1, 2]
    assert bt.metrics["seasonal_period"] == 7


@pytest.mark.parametrize("likelihood", ["normal", "studentt"])
def test_likelihood_heads_give_paths_crps_and_coverage(likelihood: str) -> None:
    data = _long().drop(columns=["promo", "region"])
    f = Forecaster(window=7, horizon=2, target="sales", id_column="store", time_column="day",
                   likelihood=likelihood, baseline=None, **FAST).fit(data)
    paths = f.sample_paths(data, samples=50)
    assert paths.shape == (50, 3, 2) and np.isfinite(paths).all()
    np.testing.assert_array_equal(paths, f.sample_paths(data, samples=50))  # seeded
    point, q = f.predict(data, return_quantiles=True)
    assert point.shape == (3, 2) and q.shape == (3, 2, 2) and (q[..., 0] <= q[..., 1]).all()
    m = f.evaluate(data, test=6)
    assert m["crps"] > 0 and 0 <= m["interval"]["coverage"] <= 1 and m["wql"] > 0
    with pytest.raises(ValueError, match="direct"):
        Forecaster(likelihood=likelihood, strategy="recursive").fit(data["sales"])


def test_crps_of_samples_matches_the_normal_closed_form() -> None:
    from rnnkit.tasks._likelihood import crps

    rng = np.random.default_rng(0)
    samples = rng.normal(size=(20000, 1, 1))
    y = 0.5  # CRPS(N(0, 1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi)
    phi, cdf = np.exp(-y * y / 2) / np.sqrt(2 * np.pi), 0.6914624612740131
    exact = y * (2 * cdf - 1) + 2 * phi - 1 / np.sqrt(np.pi)
    assert crps(samples, np.array([[y]])) == pytest.approx(exact, rel=0.02)


def test_seasonal_residual_with_a_zero_head_is_the_seasonal_naive_forecast() -> None:
    data = _long().drop(columns=["promo", "region"])
    f = Forecaster(window=8, horizon=3, target="sales", id_column="store", time_column="day",
                   residual="seasonal", baseline=None, **FAST).fit(data)
    head = f.model_.layers[-1]
    with torch.no_grad():
        for weight in head.parameters():
            weight.zero_()
    bt = f.backtest(data, test=9)
    np.testing.assert_allclose(bt.forecast, bt.seasonal_naive, rtol=1e-6)
    with pytest.raises(ValueError, match="window >= the seasonal period 7"):
        Forecaster(window=5, target="sales", id_column="store", time_column="day",
                   residual="seasonal", **FAST).fit(data)


def test_panel_plots_show_a_sample_of_series_and_every_step(tmp_path: Any) -> None:
    t = np.arange(40)
    data = pd.concat([pd.DataFrame({"store": f"s{k}", "sales": k + np.sin(t), "day":
                                    pd.date_range("2024-01-01", periods=40, freq="D")})
                      for k in range(6)], ignore_index=True)
    f = Forecaster(window=7, horizon=3, target="sales", id_column="store", time_column="day",
                   quantiles=(0.1, 0.9), baseline=None, **FAST).fit(data)
    files = f.write_plots(tmp_path, (f.read_panel(data), 9), {"data": "test"})
    assert [p.name for p in files] == ["forecast.png", "forecast-1.png", "forecast-2.png",
                                       "forecast-3.png"]
    from matplotlib.image import imread

    assert imread(files[0]).shape[0] == 750  # two panels: step 1, then MAE by step
