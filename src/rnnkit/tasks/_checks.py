"""Checks of task arguments: each returns the value in its plain type or raises a one-line
``expected X, got Y`` error naming the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_choice", "check_float", "check_int", "check_positive", "check_units"]


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value: Any, low: float, high: float, *, closed_high: bool = False,
                allow_none: bool = False) -> float | None:
    """``value`` as a finite float in ``[low, high)`` (``[low, high]`` with
    ``closed_high``); ``None`` passes with ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"expected {name} to be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    ok = low <= v <= high if closed_high else low <= v < high
    if not ok or not math.isfinite(v):
        bracket = "]" if closed_high else ")"
        raise ValueError(f"expected {name} in [{low}, {high}{bracket}, got {value!r}")
    return v


def check_positive(name: str, value: Any) -> float:
    """``value`` as a finite float ``> 0``."""
    v = check_float(name, value, 0.0, math.inf)
    if v is None or v <= 0:
        raise ValueError(f"expected {name} > 0, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` lower-cased, one of ``choices``."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"expected {name} in {list(choices)}, got {value!r}")
    return value.lower()


def check_units(value: Any) -> tuple[int, ...]:
    """Units of stacked layers: one positive int or a non-empty list of them."""
    units = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        else value
    if not isinstance(units, (list, tuple)) or not units:
        raise ValueError(f"expected units as a positive int or a non-empty list of them, "
                         f"got {value!r}")
    return tuple(check_int("units item", u, 1) for u in units)
