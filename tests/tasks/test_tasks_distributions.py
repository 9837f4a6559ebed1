"""Distribution heads of the Forecaster: the negative binomial for counts (its likelihood
against torch's, its refusals) and step-correlated sample paths (the Gaussian copula)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.tasks import Forecaster, load_task
from rnnkit.tasks._copula import correlated_uniforms, step_correlation
from rnnkit.tasks._likelihood import LIKELIHOODS, likelihood_loss

FAST: dict[str, Any] = {"units": 4, "epochs": 2, "batch_size": 64, "verbose": 0,
                        "baseline": None}


def _counts(n_series: int = 3, length: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for k in range(n_series):
        t = np.arange(length)
        rate = (k + 1) * (3.0 + 2.0 * np.sin(2 * np.pi * t / 7))
        parts.append(pd.DataFrame({"shop": f"s{k}", "day": pd.date_range(
            "2024-01-01", periods=length, freq="D"), "sold": rng.poisson(rate).astype(float)}))
    return pd.concat(parts, ignore_index=True)


def test_negbin_log_likelihood_is_torchs() -> None:
    head, h = LIKELIHOODS["negbin"], 3
    rng = np.random.default_rng(1)
    out = torch.tensor(rng.normal(size=(5, 2 * h)))
    scale = torch.tensor([[0.5], [1.0], [2.0], [7.0], [30.0]], dtype=torch.float64)
    counts = torch.tensor(rng.integers(0, 40, size=(5, h)), dtype=torch.float64)
    ours = head.nll(counts / scale, out, h, scale)
    f = torch.nn.functional.softplus
    mu = f(out[:, :h]) * scale + 1e-4
    alpha = (f(out[:, h:]) + 1e-4) / torch.sqrt(scale)
    ref = torch.distributions.NegativeBinomial(total_count=1 / alpha,
                                               probs=mu / (1 / alpha + mu))
    torch.testing.assert_close(ours, -ref.log_prob(counts), rtol=1e-9, atol=1e-9)
    y_true = torch.cat([counts / scale, scale], dim=1)
    loss = likelihood_loss(head, h)(y_true, out)
    torch.testing.assert_close(loss, -ref.log_prob(counts).mean(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("value", "what"), [(-1.0, "-1"), (2.5, "2.5")])
def test_negbin_refuses_targets_that_are_not_counts(value: float, what: str) -> None:
    data = _counts()
    data.loc[100, "sold"] = value  # series s1, its 21st day
    f = Forecaster(window=7, horizon=2, target="sold", id_column="shop", time_column="day",
                   likelihood="negbin", **FAST)
    with pytest.raises(ValueError, match=rf"expected counts .* got {what} in series 's1' "
                                         r"at 2024-01-21"):
        f.fit(data)
    with pytest.raises(ValueError, match="residual=False"):
        Forecaster(likelihood="negbin", residual=True).fit(_counts(1)["sold"].to_numpy())


def test_negbin_head_forecasts_counts() -> None:
    data = _counts()
    f = Forecaster(window=7, horizon=2, target="sold", id_column="shop", time_column="day",
                   likelihood="negbin", quantiles=(0.1, 0.5, 0.9), **FAST).fit(data)
    assert f.scaler_.mean[:, 0].tolist() == [0.0, 0.0, 0.0]  # counts are divided, not shifted
    paths = f.sample_paths(data, samples=200)
    assert paths.shape == (200, 3, 2) and (paths >= 0).all()
    np.testing.assert_allclose(paths, np.rint(paths), atol=1e-6)  # whole counts
    point, q = f.predict(data, return_quantiles=True)
    assert (point > 0).all() and (np.diff(q, axis=2) >= 0).all()
    m = f.evaluate(data, test=10)
    assert m["crps"] > 0 and 0 <= m["interval"]["coverage"] <= 1


def test_copula_recovers_the_step_correlation() -> None:
    corr = np.array([[1.0, 0.8, 0.6], [0.8, 1.0, 0.8], [0.6, 0.8, 1.0]])
    u = correlated_uniforms(corr, 20000, 1, seed=3)[:, 0]  # (S, 3)
    np.testing.assert_allclose(step_correlation(u), corr, atol=0.02)
    assert step_correlation(u[:3]).tolist() == np.eye(3).tolist()  # too few: independent


def test_sample_paths_have_the_step_correlation_the_model_implies(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    walks = {f"w{k}": pd.Series(np.cumsum(rng.normal(size=300))) for k in range(3)}
    f = Forecaster(window=10, horizon=4, likelihood="normal", validation=0.4, units=4,
                   epochs=2, verbose=0, baseline=None).fit(walks)
    implied = np.asarray(f.step_correlation_)
    assert implied.shape == (4, 4) and implied[0, 3] > 0.3  # a random walk's errors add up
    paths = f.sample_paths(samples=4000)  # (S, 3, 4)
    for i in range(3):
        np.testing.assert_allclose(np.corrcoef(paths[:, i], rowvar=False), implied, atol=0.05)
    again = load_task(f.save(tmp_path / "run"), Forecaster)
    np.testing.assert_array_equal(again.sample_paths(samples=50), f.sample_paths(samples=50))
