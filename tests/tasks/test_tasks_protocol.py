"""The Task protocol: the run machinery and the CLI never ask which task they hold, the
training arguments are declared once, and a classifier's baseline leaves its task alone."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnnkit.tasks import (
    Forecaster,
    SequenceClassifier,
    Task,
    TextGenerator,
    TrainingConfig,
    load_task,
    task_class,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "rnnkit"
TASKS = [Forecaster, SequenceClassifier, TextGenerator]
TASK_NAMES = {"Task", "Forecaster", "SequenceClassifier", "TextGenerator"}


def _switches(path: Path) -> list[str]:
    """isinstance tests against task classes, comparisons with task names and reads of
    private attributes (``x._name``) in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            if names & TASK_NAMES:
                found.append(f"{path.name}:{node.lineno} isinstance({sorted(names)})")
        if isinstance(node, ast.Compare):
            for const in ast.walk(node):
                if isinstance(const, ast.Constant) and const.value in (
                        "forecaster", "classifier", "generator"):
                    found.append(f"{path.name}:{node.lineno} compares with {const.value!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append(f"{path.name}:{node.lineno} reads .{node.attr}")
    return found


@pytest.mark.parametrize("module", ["tasks/_runs.py", *sorted(
    str(p.relative_to(SRC)) for p in (SRC / "cli").glob("*.py"))])
def test_runs_and_cli_hold_no_task_switches(module: str) -> None:
    assert _switches(SRC / module) == []


def test_the_checker_finds_switches(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("if isinstance(t, Forecaster) or m['task'] == 'generator':\n"
                   "    t._prepare(1)\n", encoding="utf-8")
    assert len(_switches(bad)) == 3


@pytest.mark.parametrize("cls", TASKS)
def test_training_arguments_are_declared_once(cls: type[Task]) -> None:
    own = set(inspect.signature(cls.__init__).parameters)
    assert not own & set(TrainingConfig.names())  # not repeated in the constructor
    assert set(TrainingConfig.names()) <= set(cls().get_params())
    assert task_class(cls.task_name) is cls
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['epoch'\\]"):
        cls(epoch=3)  # type: ignore[call-arg]


def test_each_task_states_its_own_training_defaults() -> None:
    assert Forecaster().epochs == 100 and SequenceClassifier().epochs == "auto"
    assert TextGenerator().batch_size == 32 and TextGenerator().learning_rate == 3e-3
    assert repr(TextGenerator(max_time=300.0)) == "TextGenerator()"  # a default is not shown


class _Watched(SequenceClassifier):
    """Records every training argument set while ``fit`` runs."""

    def fit(self, X: Any, y: Any) -> _Watched:
        self.__dict__["in_fit"] = []
        super().fit(X, y)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name in TrainingConfig.names() and "in_fit" in self.__dict__:
            self.__dict__["in_fit"].append(name)
        super().__setattr__(name, value)


def test_the_baseline_trains_without_changing_the_classifier() -> None:
    X = np.random.default_rng(0).normal(size=(24, 4, 2))
    y = np.array(["a", "b"] * 12)
    task = _Watched(units=(4,), epochs=1, learning_rate=1e-3)
    task.fit(X, y)
    assert task.__dict__["in_fit"] == []
    assert task.learning_rate == 1e-3
    base_lr = task.baseline_model_.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
    model_lr = task.model_.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
    assert model_lr == pytest.approx(1e-3) and base_lr == pytest.approx(1e-2)


def test_load_task_with_an_expected_kind(tmp_path: Path) -> None:
    f = Forecaster(window=4, units=2, epochs=1).fit(np.sin(np.arange(40.0)))
    f.save(tmp_path / "f")
    assert isinstance(load_task(tmp_path / "f", Forecaster), Forecaster)
    with pytest.raises(ValueError, match="expected a generator run, got a forecaster run"):
        load_task(tmp_path / "f", TextGenerator)


def test_save_replaces_symlinks_and_never_writes_through_them(tmp_path: Path) -> None:
    f = Forecaster(window=4, units=2, epochs=1).fit(np.sin(np.arange(40.0)))
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    folder = tmp_path / "f"
    folder.mkdir()
    for name in ("task.json", "model.rnnkit"):
        (folder / name).symlink_to(target)
    f.save(folder)
    assert target.read_text() == "keep me"
    assert not any((folder / name).is_symlink() for name in ("task.json", "model.rnnkit"))
    assert isinstance(load_task(folder, Forecaster), Forecaster)
