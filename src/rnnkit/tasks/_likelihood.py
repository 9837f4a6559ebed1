"""Distribution heads of the forecaster, trained by likelihood, and scores of samples.

With ``likelihood=`` the network outputs, for each of the ``horizon`` steps, the
parameters of a distribution of the (scaled) target, in blocks of ``horizon`` columns:

* ``"normal"``: ``loc``, ``scale = softplus(s) + 1e-4``;
* ``"studentt"``: ``loc``, ``scale = softplus(s) + 1e-4``, ``df = 2 + softplus(d)``
  (``df > 2``: a finite variance).

Training minimises the mean negative log-likelihood. The per-series scaling is affine
(``y = z std + mean``), so a distribution of ``z`` maps exactly to one of ``y`` (location
and scale times ``std``, ``df`` unchanged). Forecasts: the point is the mean (``loc``);
quantiles and sample paths come from draws of a seeded generator; the steps of a path are
drawn from each step's distribution (the direct strategy models the marginals).

Scores of samples ``x_1..x_S`` against ``y``: ``crps = mean_s |x_s - y| - 1/2 mean_{s,s'}
|x_s - x_s'|`` (the energy form; sorted samples make the second term
``2 / S^2 sum_k (2k - S - 1) x_(k)``), and the weighted quantile loss of quantile
forecasts ``wql = 2 sum_q sum |pinball_q| / (Q sum |y|)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

__all__ = ["LIKELIHOODS", "crps", "draw", "likelihood_loss", "n_params", "wql"]

#: likelihood name -> number of parameters per step
LIKELIHOODS: dict[str, int] = {"normal": 2, "studentt": 3}
_FLOOR = 1e-4


def n_params(name: str) -> int:
    """Parameters per forecast step of the distribution ``name``."""
    return LIKELIHOODS[name]


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.logaddexp(0.0, x)


def likelihood_loss(name: str, horizon: int) -> Any:
    """Mean negative log-likelihood of targets ``(batch, horizon)`` under the outputs
    ``(batch, horizon * n_params)``."""

    def nll(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y = y_true.reshape(y_true.shape[0], horizon)  # (batch, horizon)
        loc = y_pred[:, :horizon]
        scale = torch.nn.functional.softplus(y_pred[:, horizon : 2 * horizon]) + _FLOOR
        if name == "normal":
            z = (y - loc) / scale
            return (0.5 * z**2 + torch.log(scale) + 0.5 * math.log(2 * math.pi)).mean()
        df = 2.0 + torch.nn.functional.softplus(y_pred[:, 2 * horizon : 3 * horizon])
        dist = torch.distributions.StudentT(df, loc, scale, validate_args=False)
        return -dist.log_prob(y).mean()

    return nll


def draw(name: str, out: NDArray[np.float64], horizon: int, samples: int,
         seed: int = 0) -> NDArray[np.float64]:
    """``samples`` draws ``(samples, n, horizon)`` from the outputs ``out`` (scaled)."""
    rng = np.random.default_rng(seed)
    loc = out[:, :horizon]
    scale = _softplus(out[:, horizon : 2 * horizon]) + _FLOOR
    shape = (samples, *loc.shape)
    if name == "normal":
        noise = rng.standard_normal(shape)
    else:
        df = 2.0 + _softplus(out[:, 2 * horizon : 3 * horizon])
        noise = rng.standard_t(np.broadcast_to(df, shape))
    return loc[None] + scale[None] * noise  # (samples, n, horizon)


def crps(samples: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Mean CRPS of sample forecasts ``(S, n, horizon)`` against ``actual`` ``(n, horizon)``."""
    s = np.sort(samples, axis=0)
    k = np.arange(1, len(s) + 1, dtype=np.float64)[:, None, None]
    spread = (2.0 / len(s) ** 2) * ((2 * k - len(s) - 1) * s).sum(axis=0)  # E|X - X'|
    return float((np.abs(s - actual[None]).mean(axis=0) - 0.5 * spread).mean())


def wql(quantiles: NDArray[np.float64], levels: Sequence[float],
        actual: NDArray[np.float64]) -> float:
    """Weighted quantile loss of quantile forecasts ``(n, horizon, Q)``."""
    q = np.asarray(levels, dtype=np.float64)[None, None, :]
    e = actual[..., None] - quantiles  # (n, horizon, Q)
    loss = np.maximum(q * e, (q - 1.0) * e).sum()
    denom = np.abs(actual).sum()
    return float(2.0 * loss / (len(levels) * denom)) if denom > 0 else math.nan
