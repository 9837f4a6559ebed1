"""Step-correlated sample paths: a Gaussian copula over the forecast steps.

The direct strategy's distribution head gives each step's marginal distribution; the
errors of consecutive steps of one forecast are correlated (a level shift moves them all).
The copula joins the marginals: on validation windows (training windows when there are
none) the observed targets become normal scores ``z[k] = Phi^-1(F_k(y_k))`` through each
step's fitted cdf ``F_k``, and their correlation matrix ``R`` ``(horizon, horizon)`` is the
dependence the model implies. A path is drawn as ``x_k = F_k^-1(Phi(g_k))`` with
``g ~ N(0, R)``: each step keeps its marginal, and for Normal marginals the paths' step
correlation is ``R`` itself.

``R`` is the sample correlation made positive definite (eigenvalues floored at 1e-6, the
diagonal put back to 1); with fewer than ``horizon + 2`` windows it is the identity
(independent steps).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["step_correlation", "correlated_uniforms"]

_EDGE = 1e-6


def step_correlation(pit: NDArray[np.float64]) -> NDArray[np.float64]:
    """The copula's correlation ``(horizon, horizon)`` from the probability integral
    transforms ``pit`` ``(n, horizon)`` of observed targets."""
    n, h = pit.shape
    if n < h + 2 or h == 1:
        return np.eye(h)
    z = stats.norm.ppf(np.clip(pit, _EDGE, 1.0 - _EDGE))  # (n, horizon) normal scores
    if (z.std(axis=0) == 0).any():
        return np.eye(h)
    r = np.corrcoef(z, rowvar=False)
    values, vectors = np.linalg.eigh(r)
    r = (vectors * np.maximum(values, _EDGE)) @ vectors.T
    d = np.sqrt(np.diag(r))
    return np.asarray(r / d[:, None] / d[None, :], dtype=np.float64)


def correlated_uniforms(corr: NDArray[np.float64], samples: int, n: int,
                        seed: int = 0) -> NDArray[np.float64]:
    """Uniforms ``(samples, n, horizon)`` whose normal scores have correlation ``corr``
    across the steps (a seeded generator)."""
    h = len(corr)
    chol = np.linalg.cholesky(corr + _EDGE * np.eye(h))
    g = np.random.default_rng(seed).standard_normal((samples, n, h)) @ chol.T
    return np.clip(stats.norm.cdf(g), _EDGE, 1.0 - _EDGE)  # (samples, n, horizon)
