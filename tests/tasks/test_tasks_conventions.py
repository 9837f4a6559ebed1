"""scikit-learn conventions of the three tasks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnnkit.tasks import (
    Forecaster,
    NotFittedError,
    SequenceClassifier,
    TextGenerator,
    clone,
)

TASKS = [Forecaster, SequenceClassifier, TextGenerator]


@pytest.mark.parametrize("cls", TASKS)
def test_params_round_trip_and_clone(cls: Any) -> None:
    task: Any = cls(epochs=3, random_state=7)
    params = task.get_params()
    assert params["epochs"] == 3 and params["random_state"] == 7
    assert params["clipnorm"] == 1.0  # clipping on by default in the tasks
    assert task.set_params(epochs=5, batch_size=8) is task
    assert task.get_params()["epochs"] == 5
    twin = clone(task)
    assert type(twin) is cls and twin is not task
    assert twin.get_params() == task.get_params()
    assert not twin.fitted
    with pytest.raises(ValueError, match="expected a parameter"):
        task.set_params(no_such_param=1)
    assert cls.__name__ in repr(task) and "epochs=5" in repr(task)


@pytest.mark.parametrize("cls", TASKS)
def test_init_only_stores_and_fit_validates(cls: Any) -> None:
    task: Any = cls(epochs=-1)  # no validation in __init__ (scikit-learn)
    assert task.epochs == -1
    data = {
        Forecaster: (np.arange(50.0),),
        SequenceClassifier: (np.zeros((4, 3, 2)), np.array([0, 1, 0, 1])),
        TextGenerator: ("abcabcabc" * 10,),
    }[cls]
    with pytest.raises(ValueError, match="epochs"):
        task.fit(*data)


def test_unfitted_use_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Forecaster().predict()
    with pytest.raises(NotFittedError):
        SequenceClassifier().predict(np.zeros((1, 2, 2)))
    with pytest.raises(NotFittedError):
        TextGenerator().generate("a", 1)


def test_fit_returns_self_and_learned_attributes() -> None:
    f = Forecaster(window=5, units=4, epochs=1, validation=0.0)
    assert f.fit(np.sin(np.arange(60) / 3)) is f
    assert f.fitted and f.model_ is not None and f.history_["loss"]
    X = np.random.default_rng(0).normal(size=(20, 4, 2))
    c = SequenceClassifier(units=(4,), epochs=1, baseline=False)
    assert c.fit(X, np.array(["x", "y"] * 10)) is c
    assert c.classes_.tolist() == ["x", "y"]
    g = TextGenerator(units=4, seq_length=8, epochs=1)
    assert g.fit("hello world " * 10) is g
    assert g.vocab_.chars[0] == " "


def test_random_state_makes_training_reproducible() -> None:
    y = np.sin(np.arange(120) / 4)
    a = Forecaster(window=6, units=4, epochs=2, random_state=3).fit(y).predict()
    b = Forecaster(window=6, units=4, epochs=2, random_state=3).fit(y).predict()
    c = Forecaster(window=6, units=4, epochs=2, random_state=4).fit(y).predict()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
