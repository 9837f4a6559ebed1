"""Distribution heads of the forecaster, trained by likelihood.

With ``likelihood=`` the network outputs, for each of the ``horizon`` steps, the raw
parameters of a distribution of the target, in blocks of ``horizon`` columns
``(batch, horizon * n_params)``:

* ``"normal"`` (scaled target ``z``): ``loc``, ``scale = softplus(s) + 1e-4``;
* ``"studentt"`` (scaled target): ``loc``, ``scale = softplus(s) + 1e-4``,
  ``df = 2 + softplus(d)`` (``df > 2``: a finite variance);
* ``"negbin"`` (counts ``y = z c``, ``c`` the series' scale: the mean of its training
  counts, as DeepAR scales counts): mean ``mu = softplus(m) c + 1e-4`` and dispersion
  ``alpha = (softplus(a) + 1e-4) / sqrt(c)``, so ``Var y = mu + alpha mu^2``;
  ``log p(y) = lgamma(y + 1/alpha) - lgamma(y + 1) - lgamma(1/alpha)
  - (1/alpha) log(1 + alpha mu) + y log(alpha mu / (1 + alpha mu))``.

Training minimises the mean negative log-likelihood; the targets the loss reads are
``(batch, horizon + 1)``: the scaled target of each step, then the series' scale ``c``
(read by ``"negbin"`` only). The per-series scaling is affine, so a distribution of the
scaled target maps exactly to one in the target's units.

Each head also gives its mean, its cumulative distribution function (the probability
integral transform of an observation: the mid-point ``(F(y - 1) + F(y)) / 2`` for counts)
and its quantile function; sample paths (:mod:`rnnkit.tasks._copula`) map correlated
uniforms through the quantile function of each step.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import stats
from torch import Tensor

from ..data import Panel

__all__ = ["LIKELIHOODS", "Head", "check_counts", "crps", "likelihood_loss", "wql"]

_FLOOR = 1e-4
Array = NDArray[np.float64]


def _softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


def _block(out: Any, horizon: int, k: int) -> Any:
    """Parameter block ``k`` ``(n, horizon)`` of the outputs (NumPy or torch)."""
    return out[:, k * horizon : (k + 1) * horizon]


class Head(abc.ABC):
    """A distribution per forecast step, from the network's raw outputs."""

    n_params: int = 2
    counts: bool = False  # whether the target must be non-negative integers

    @abc.abstractmethod
    def nll(self, y: Tensor, out: Tensor, horizon: int, scale: Tensor) -> Tensor:
        """Negative log-likelihood ``(batch, horizon)`` of scaled targets ``y``;
        ``scale`` ``(batch, 1)``: the series' scale."""

    @abc.abstractmethod
    def mean(self, out: Array, horizon: int) -> Array:
        """The mean ``(n, horizon)`` in scaled units."""

    @abc.abstractmethod
    def cdf(self, y: Array, out: Array, horizon: int, scale: Array) -> Array:
        """``P(Y <= y)`` ``(n, horizon)`` of scaled targets ``y`` (mid-point for counts)."""

    @abc.abstractmethod
    def ppf(self, u: Array, out: Array, horizon: int, scale: Array) -> Array:
        """Quantiles ``(S, n, horizon)`` at levels ``u`` ``(S, n, horizon)``, scaled units;
        ``scale`` ``(n,)``."""


class NormalHead(Head):
    """Normal distribution of the scaled target."""

    n_params = 2

    def _params(self, out: Array, horizon: int) -> tuple[Array, Array]:
        return _block(out, horizon, 0), _softplus(_block(out, horizon, 1)) + _FLOOR

    def nll(self, y: Tensor, out: Tensor, horizon: int, scale: Tensor) -> Tensor:
        loc = _block(out, horizon, 0)
        sd = torch.nn.functional.softplus(_block(out, horizon, 1)) + _FLOOR
        z = (y - loc) / sd
        return 0.5 * z**2 + torch.log(sd) + 0.5 * math.log(2 * math.pi)

    def mean(self, out: Array, horizon: int) -> Array:
        return np.asarray(_block(out, horizon, 0), dtype=np.float64)

    def cdf(self, y: Array, out: Array, horizon: int, scale: Array) -> Array:
        loc, sd = self._params(out, horizon)
        return np.asarray(stats.norm.cdf((y - loc) / sd), dtype=np.float64)

    def ppf(self, u: Array, out: Array, horizon: int, scale: Array) -> Array:
        loc, sd = self._params(out, horizon)
        return np.asarray(loc[None] + sd[None] * stats.norm.ppf(u), dtype=np.float64)


class StudentTHead(Head):
    """Student's t distribution of the scaled target (``df > 2``)."""

    n_params = 3

    def _params(self, out: Array, horizon: int) -> tuple[Array, Array, Array]:
        return (_block(out, horizon, 0), _softplus(_block(out, horizon, 1)) + _FLOOR,
                2.0 + _softplus(_block(out, horizon, 2)))

    def nll(self, y: Tensor, out: Tensor, horizon: int, scale: Tensor) -> Tensor:
        sd = torch.nn.functional.softplus(_block(out, horizon, 1)) + _FLOOR
        df = 2.0 + torch.nn.functional.softplus(_block(out, horizon, 2))
        dist = torch.distributions.StudentT(df, _block(out, horizon, 0), sd,
                                            validate_args=False)
        return -dist.log_prob(y)

    def mean(self, out: Array, horizon: int) -> Array:
        return np.asarray(_block(out, horizon, 0), dtype=np.float64)

    def cdf(self, y: Array, out: Array, horizon: int, scale: Array) -> Array:
        loc, sd, df = self._params(out, horizon)
        return np.asarray(stats.t.cdf((y - loc) / sd, df), dtype=np.float64)

    def ppf(self, u: Array, out: Array, horizon: int, scale: Array) -> Array:
        loc, sd, df = self._params(out, horizon)
        return np.asarray(loc[None] + sd[None] * stats.t.ppf(u, df[None]), dtype=np.float64)


class NegativeBinomialHead(Head):
    """Negative binomial distribution of counts (see the module docs)."""

    n_params = 2
    counts = True

    def _params(self, out: Array, horizon: int, scale: Array) -> tuple[Array, Array]:
        """Mean and ``1 / alpha`` (the number of successes) ``(n, horizon)``, counts."""
        c = scale.reshape(-1, 1)
        mu = _softplus(_block(out, horizon, 0)) * c + _FLOOR
        alpha = (_softplus(_block(out, horizon, 1)) + _FLOOR) / np.sqrt(c)
        return mu, 1.0 / alpha

    def nll(self, y: Tensor, out: Tensor, horizon: int, scale: Tensor) -> Tensor:
        f = torch.nn.functional.softplus
        mu = f(_block(out, horizon, 0)) * scale + _FLOOR
        alpha = (f(_block(out, horizon, 1)) + _FLOOR) / torch.sqrt(scale)
        counts, r = y * scale, 1.0 / alpha  # (batch, horizon)
        log_p = (torch.lgamma(counts + r) - torch.lgamma(counts + 1.0) - torch.lgamma(r)
                 - r * torch.log1p(alpha * mu)
                 + counts * (torch.log(alpha * mu) - torch.log1p(alpha * mu)))
        return -log_p

    def mean(self, out: Array, horizon: int) -> Array:
        return _softplus(np.asarray(_block(out, horizon, 0), dtype=np.float64))

    def cdf(self, y: Array, out: Array, horizon: int, scale: Array) -> Array:
        mu, r = self._params(out, horizon, scale)
        counts, p = np.rint(y * scale.reshape(-1, 1)), r / (r + mu)
        below = stats.nbinom.cdf(counts - 1, r, p)
        return np.asarray(0.5 * (below + stats.nbinom.cdf(counts, r, p)), dtype=np.float64)

    def ppf(self, u: Array, out: Array, horizon: int, scale: Array) -> Array:
        mu, r = self._params(out, horizon, scale)
        q = stats.nbinom.ppf(u, r[None], (r / (r + mu))[None])  # (S, n, horizon) counts
        return np.asarray(q / scale.reshape(1, -1, 1), dtype=np.float64)


#: likelihood name -> its head
LIKELIHOODS: dict[str, Head] = {"normal": NormalHead(), "studentt": StudentTHead(),
                                "negbin": NegativeBinomialHead()}


def likelihood_loss(head: Head, horizon: int) -> Any:
    """Mean negative log-likelihood of targets ``(batch, horizon + 1)`` (scaled targets,
    then the series' scale) under the outputs ``(batch, horizon * n_params)``."""

    def nll(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y = y_true.reshape(y_true.shape[0], horizon + 1).to(y_pred.dtype)
        return head.nll(y[:, :horizon], y_pred, horizon, y[:, horizon:]).mean()

    return nll


def check_counts(panel: Panel) -> None:
    """Refuse a target that is not non-negative integers (the negative binomial's support),
    naming the first bad value's series and timestamp."""
    y = panel.target
    bad = np.flatnonzero((y < 0) | (y != np.rint(y)))
    if bad.size:
        row = int(bad[0])
        i = int(np.searchsorted(panel.offsets, row, side="right") - 1)
        ids: Sequence[Hashable] = panel.ids
        raise ValueError(f"expected counts (non-negative integers) with likelihood='negbin', "
                         f"got {float(y[row]):g} in series {ids[i]!r} at {panel.time[row]!s} "
                         f"({bad.size} such values)")


def crps(samples: Array, actual: Array) -> float:
    """Mean CRPS of sample forecasts ``(S, n, horizon)`` against ``actual`` ``(n, horizon)``:
    ``mean_s |x_s - y| - 1/2 mean_{s,s'} |x_s - x_s'|`` (sorted samples make the second
    term ``2 / S^2 sum_k (2k - S - 1) x_(k)``)."""
    s = np.sort(samples, axis=0)
    k = np.arange(1, len(s) + 1, dtype=np.float64)[:, None, None]
    spread = (2.0 / len(s) ** 2) * ((2 * k - len(s) - 1) * s).sum(axis=0)  # E|X - X'|
    return float((np.abs(s - actual[None]).mean(axis=0) - 0.5 * spread).mean())


def wql(quantiles: Array, levels: Sequence[float], actual: Array) -> float:
    """Weighted quantile loss ``2 sum_q sum |pinball_q| / (Q sum |y|)`` of quantile
    forecasts ``(n, horizon, Q)``."""
    q = np.asarray(levels, dtype=np.float64)[None, None, :]
    e = actual[..., None] - quantiles  # (n, horizon, Q)
    loss = np.maximum(q * e, (q - 1.0) * e).sum()
    denom = np.abs(actual).sum()
    return float(2.0 * loss / (len(levels) * denom)) if denom > 0 else math.nan
