# mypy: ignore-errors
# (numba-compiled code: numba types it, and its decorators are untyped for mypy)
"""Scalar activations of the numba kernels: the float32 rational tanh / sigmoid overloads, the
activation codes and ``_act`` / ``_dact`` (derivatives in terms of the output ``y``).

Activation codes: 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid (Keras 3:
``clip(x / 6 + 1 / 2, 0, 1)``). They reach the kernels as literals (``numba.literally``): each
(act, ract) pair is its own specialisation, the branches of ``_act``/``_dact`` fold away and the
whole gate loop of a step vectorises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._nb_setup import _JIT, _OL

LINEAR, TANH, SIGMOID, RELU, HARD_SIGMOID = 0, 1, 2, 3, 4
ACTIVATION_CODES = {
    "linear": LINEAR,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "relu": RELU,
    "hard_sigmoid": HARD_SIGMOID,
}


# --------------------------------------------------------------------------------------------
# Scalar activations. float32: one rational function (Eigen's 13/6-degree minimax tanh, at most
# 4.2e-7 from tanh, exactly +-1 beyond the clamp; sigmoid(x) = (1 + tanh(x / 2)) / 2): a few
# fused multiply-adds and one division, vectorisable. float64: libm.

_F = np.float32
_HALF = _F(0.5)
#: The smallest argument at which the rational function is exactly 1 when evaluated with fused
#: multiply-adds (the kernels allow contraction): clamping there keeps |tanh| <= 1.
_TANH_CLAMP = _F(7.99881172180175781)
# Numerator x (a1 + a3 x^2 + ... + a13 x^12), denominator b0 + b2 x^2 + b4 x^4 + b6 x^6.
_A1 = _F(4.89352455891786e-03)
_A3 = _F(6.37261928875436e-04)
_A5 = _F(1.48572235717979e-05)
_A7 = _F(5.12229709037114e-08)
_A9 = _F(-8.60467152213735e-11)
_A11 = _F(2.00018790482477e-13)
_A13 = _F(-2.76076847742355e-16)
_B0 = _F(4.89352518554385e-03)
_B2 = _F(2.26843463243900e-03)
_B4 = _F(1.18534705686654e-04)
_B6 = _F(1.19825839466702e-06)


def _sigmoid(x):  # pragma: no cover - replaced by the overload inside numba
    return 1.0 / (1.0 + math.exp(-x))


def _tanh(x):  # pragma: no cover
    return math.tanh(x)


def _is_f32(x) -> bool:
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(_tanh, jit_options=_OL)
def _tanh_ol(x):
    if _is_f32(x):

        def impl(x):
            x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)  # NaN passes through
            z = x * x
            p = (((((_A13 * z + _A11) * z + _A9) * z + _A7) * z + _A5) * z + _A3) * z + _A1
            q = ((_B6 * z + _B4) * z + _B2) * z + _B0
            return x * p / q

        return impl
    return lambda x: math.tanh(x)


@overload(_sigmoid, jit_options=_OL)
def _sigmoid_ol(x):
    if _is_f32(x):
        return lambda x: _HALF * _tanh(_HALF * x) + _HALF

    def impl64(x):
        e = math.exp(-abs(x))
        s = 1.0 / (1.0 + e)
        return s if x >= 0.0 else e * s

    return impl64


def _like(x, v):  # pragma: no cover - replaced by the overload inside numba
    """The constant ``v`` in the float type of ``x``."""
    return v


@overload(_like, jit_options=_OL)
def _like_ol(x, v):
    if _is_f32(x):
        return lambda x, v: np.float32(v)
    return lambda x, v: np.float64(v)


@njit(**_JIT)
def _act(x, code):
    """act(x) for an activation code (a literal: the other branches fold away)."""
    zero = _like(x, 0.0)
    if code == TANH:
        return _tanh(x)
    if code == SIGMOID:
        return _sigmoid(x)
    if code == RELU:
        return x if x > zero else zero
    if code == HARD_SIGMOID:
        six = _like(x, 6.0)
        v = x + _like(x, 3.0)
        v = v if v > zero else zero
        v = v if v < six else six
        return v / six
    return x


@njit(**_JIT)
def _dact(y, code):
    """act'(x) written with y = act(x) (torch's conventions at the kinks: 0)."""
    zero = _like(y, 0.0)
    one = _like(y, 1.0)
    if code == TANH:
        return one - y * y
    if code == SIGMOID:
        return y * (one - y)
    if code == RELU:
        return one if y > zero else zero
    if code == HARD_SIGMOID:
        return one / _like(y, 6.0) if (y > zero and y < one) else zero
    return one
