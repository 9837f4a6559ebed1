"""The fused kernels' float32 activations against float64 libm, on a dense grid and at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from rnnkit.kernels import _nb_act, _nb_setup


@njit(error_model="numpy", fastmath=_nb_setup.FASTMATH)  # the kernels' flags (contraction included)
def _apply(x: np.ndarray, code: int, out: np.ndarray) -> None:
    for i in range(x.size):
        out[i] = _nb_act._act(x[i], code)


def _run(x: np.ndarray, code: int) -> np.ndarray:
    out = np.empty_like(x)
    _apply(x, code, out)
    return out


_GRID = np.concatenate([np.linspace(-20, 20, 400_001), np.geomspace(1e-30, 1e-2, 1000)])
_GRID = np.concatenate([_GRID, -_GRID]).astype(np.float32)


@pytest.mark.parametrize(
    ("code", "exact"),
    [
        (_nb_act.TANH, np.tanh),
        (_nb_act.SIGMOID, lambda x: 1.0 / (1.0 + np.exp(-x))),
    ],
    ids=["tanh", "sigmoid"],
)
def test_float32_activation_within_a_few_ulp_of_float64(code: int, exact) -> None:
    got = _run(_GRID, code)
    want = exact(_GRID.astype(np.float64))
    assert np.abs(got - want).max() < 5e-7  # float32 spacing at 1 is 1.2e-7
    lo = -1.0 if code == _nb_act.TANH else 0.0
    assert got.min() >= lo and got.max() <= 1.0
    # saturation is exact, and the small arguments of tanh keep their relative accuracy
    edges = _run(np.array([-np.inf, -100.0, 100.0, np.inf], np.float32), code)
    np.testing.assert_array_equal(edges, [lo, lo, 1.0, 1.0])
    if code == _nb_act.TANH:
        small = _GRID[(np.abs(_GRID) < 1e-2) & (_GRID != 0)]
        rel = np.abs(_run(small, code) / np.tanh(small.astype(np.float64)) - 1.0)
        assert rel.max() < 5e-7


@pytest.mark.parametrize("code", [_nb_act.TANH, _nb_act.SIGMOID])
def test_float32_activation_keeps_nan(code: int) -> None:
    """A diverging run must show NaN, not a clamped finite value."""
    out = _run(np.array([np.nan, 0.5, np.nan, -0.5] * 8, np.float32), code)
    assert np.isnan(out[::2]).all() and np.isfinite(out[1::2]).all()
