"""bench/run.py's combination of rounds (the benchmark itself is not run in the tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run_module() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_median_of_rounds_skips_failed_rounds() -> None:
    run = _run_module()
    rounds = [
        {"a": {"train_ms": 3.0, "infer_ms": 1.0, "engine": "e"}, "b": {"error": "boom"}},
        {"a": {"train_ms": 9.0, "infer_ms": 2.0, "engine": "e"}, "b": {"error": "boom"}},
        {"a": {"error": "timed out"}, "b": {"error": "boom"}},
        {"a": {"train_ms": 4.0, "infer_ms": 5.0, "engine": "e"}, "b": {"error": "boom"}},
    ]
    got = run._median_of_rounds(rounds, ["a", "b"])
    assert got["a"] == {"train_ms": 4.0, "infer_ms": 2.0, "engine": "e", "rounds": 3}
    assert got["b"] == {"error": "boom"}
