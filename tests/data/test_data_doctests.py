"""Every example in the docstrings of rnnkit.data and rnnkit.datasets runs and is right."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rnnkit.data

MODULES = ["rnnkit.data", "rnnkit.datasets"] + [
    f"rnnkit.data.{m.name}" for m in pkgutil.iter_modules(rnnkit.data.__path__)
    if m.name != "_registry"
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"no examples in {name}"


def test_every_public_function_has_an_example() -> None:
    missing = []
    for name in rnnkit.data.__all__:
        obj = getattr(rnnkit.data, name)
        if callable(obj) and ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
        for attr, member in vars(obj).items() if isinstance(obj, type) else ():
            if attr.startswith("_") or not callable(member) and not isinstance(
                    member, (classmethod, staticmethod)):
                continue
            func = getattr(member, "__func__", member)
            if ">>>" not in (func.__doc__ or ""):
                missing.append(f"{name}.{attr}")
    assert not missing, missing
