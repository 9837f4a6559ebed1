"""What the tasks share: scikit-learn conventions, training, and JSON state beside the model.

scikit-learn conventions: ``__init__`` only stores its arguments (no validation, no work);
``fit`` validates them, learns, and returns ``self``; everything learned ends in ``_``;
``get_params`` / ``set_params`` read and write the constructor arguments, so
:func:`clone` (``type(t)(**t.get_params())``) gives an unfitted copy.

Training: every task builds an rnnkit ``Sequential`` and trains it with ``model.fit`` (Adam,
gradient-norm clipping ``clipnorm=1.0`` by default, early stopping on a validation part
with the best weights restored, an optional wall-clock budget ``max_time``), passing
``verbose`` through to the progress output.

Saving: :meth:`Task.save` writes ``model.rnnkit`` (the network: JSON config + safetensors)
and ``task.json`` (the task's class, parameters and learned state: scalers, vocabularies,
classes, window settings, training history) into a folder. :func:`load_task` reads them
back. Nothing is pickled.
"""

from __future__ import annotations

import abc
import inspect
import json
import math
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from ..layers import Layer, layer_class
from ..model import Sequential, load_model
from ..training import Callback, EarlyStopping, History, optimizers

__all__ = ["NotFittedError", "Task", "TimeLimit", "clone", "load_task"]

T = TypeVar("T", bound="Task")
TASK_FILE = "task.json"
MODEL_FILE = "model.rnnkit"
_FORMAT_VERSION = 1


class NotFittedError(ValueError, AttributeError):
    """Raised when a task is used before ``fit`` (as scikit-learn's ``NotFittedError``)."""


class TimeLimit(Callback):
    """Stop training once ``seconds`` of wall-clock time have passed (checked per batch).

    The batch that is running when the budget runs out finishes; the epoch's validation
    pass still runs, so early stopping can restore the best weights seen so far.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = float(seconds)
        self.start = 0.0
        self.stopped = False

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.start = time.perf_counter()
        self.stopped = False

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if time.perf_counter() - self.start > self.seconds:
            self.stopped = True
            self.stop()


def rnnkit_version() -> str:
    """The installed rnnkit version (from the package metadata, else the package)."""
    from importlib import metadata

    try:
        return metadata.version("rnnkit")
    except metadata.PackageNotFoundError:  # running from a source tree
        return str(getattr(sys.modules.get("rnnkit"), "__version__", "unknown"))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (as ``rnnkit.set_seed``)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float, *, closed_high: bool = False,
                 allow_none: bool = False) -> float | None:
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


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"expected {name} in {list(choices)}, got {value!r}")
    return value.lower()


def _check_units(value: Any) -> tuple[int, ...]:
    units = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        else value
    if not isinstance(units, (list, tuple)) or not units:
        raise ValueError(f"expected units as a positive int or a non-empty list of them, "
                         f"got {value!r}")
    return tuple(_check_int("units item", u, 1) for u in units)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if callable(obj):  # a function argument (e.g. augment=...) is recorded by name
        name = getattr(obj, "__qualname__", type(obj).__qualname__)
        return f"<callable {getattr(obj, '__module__', '?')}.{name}>"
    raise TypeError(f"expected JSON-compatible values, got {type(obj).__name__}")


def to_json(data: Any) -> str:
    """``json.dumps`` with numpy scalars/arrays converted and NaN written as ``null``."""
    return json.dumps(_nan_to_none(data), default=_json_default, indent=2, allow_nan=False)


def _nan_to_none(data: Any) -> Any:
    if isinstance(data, float | np.floating) and not math.isfinite(float(data)):
        return None
    if isinstance(data, dict):
        return {str(k): _nan_to_none(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_nan_to_none(v) for v in data]
    return data


def build_layer(spec: Mapping[str, Any]) -> Layer:
    """A layer from a JSON/TOML spec ``{"class": "LSTM", "units": 32, ...}``.

    The other keys are the layer's constructor arguments (Keras names).

    >>> build_layer({"class": "Dense", "units": 3}).units
    3
    """
    if not isinstance(spec, Mapping) or "class" not in spec:
        raise ValueError(f"expected a layer spec with a 'class' key, e.g. "
                         f"{{'class': 'LSTM', 'units': 32}}, got {spec!r}")
    args = {k: v for k, v in spec.items() if k != "class"}
    cls = layer_class(str(spec["class"]))
    try:
        return cls(**args)
    except TypeError as err:
        raise ValueError(f"expected valid arguments for layer {spec['class']}, got {args}: "
                         f"{err}") from None


class Task(abc.ABC):
    """Base class of the tasks (scikit-learn style). Subclasses define ``__init__``,
    ``fit``, ``_get_state`` and ``_set_state``."""

    _task_name: ClassVar[str] = "task"
    # constructor arguments every task has (set by the subclasses' __init__)
    epochs: int
    batch_size: int
    learning_rate: float
    clipnorm: float | None
    validation: float
    patience: int | None
    max_time: float | None
    random_state: int | None
    verbose: int | str
    # learned state
    model_: Sequential
    history_: dict[str, list[float]]
    train_seconds_: float
    stopped_by_time_: bool
    #: parameters that are tuples (JSON stores lists; they come back as tuples)
    _tuple_params: ClassVar[tuple[str, ...]] = ()

    # -- scikit-learn conventions -----------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: T, **params: Any) -> T:
        """Set constructor arguments by name; returns ``self``. Unknown names raise."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"expected a parameter of {type(self).__name__} in {valid}, got {key!r}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in self._param_names():
            default = sig.parameters[name].default
            value = getattr(self, name)
            if default is inspect.Parameter.empty or not _same(value, default):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` (or :func:`load_task`) has set the learned state."""
        return hasattr(self, "model_")

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(...) first "
                "(or load a run with rnnkit.tasks.load_task)"
            )

    # -- training ---------------------------------------------------------------------------
    def _seed(self) -> None:
        seed = getattr(self, "random_state", None)
        if seed is not None:
            seed_everything(_check_int("random_state", seed, 0))

    def _check_training_params(self) -> None:
        _check_int("epochs", self.epochs, 0)
        _check_int("batch_size", self.batch_size, 1)
        _check_float("learning_rate", self.learning_rate, 0.0, math.inf)
        if self.learning_rate <= 0:
            raise ValueError(f"expected learning_rate > 0, got {self.learning_rate}")
        if self.clipnorm is not None:
            _check_float("clipnorm", self.clipnorm, 0.0, math.inf)
            if self.clipnorm <= 0:
                raise ValueError(f"expected clipnorm > 0 or None, got {self.clipnorm}")
        _check_float("validation", self.validation, 0.0, 1.0)
        if self.patience is not None:
            _check_int("patience", self.patience, 0)
        if self.max_time is not None:
            _check_float("max_time", self.max_time, 0.0, math.inf)
        if self.verbose not in (0, 1, 2, "auto") or isinstance(self.verbose, bool):
            raise ValueError(f"expected verbose in (0, 1, 2, 'auto'), got {self.verbose!r}")

    def _train(
        self,
        model: Sequential,
        loss: Any,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None,
        metrics: Sequence[Any] = (),
        name: str = "model",
        callbacks: Sequence[Callback] = (),
    ) -> dict[str, list[float]]:
        """Compile (Adam, ``clipnorm``) and fit with early stopping / time budget (and the
        task's own ``callbacks`` first).

        With ``checkpoint_dir`` set, every epoch is checkpointed under ``checkpoint_dir/name`` and
        a rerun resumes from the last complete checkpoint (bit-identical on CPU)."""
        model.compile(optimizers.Adam(self.learning_rate), loss, list(metrics),
                      clipnorm=self.clipnorm)
        callbacks = list(callbacks)
        if validation_data is not None and self.patience is not None:
            callbacks.append(EarlyStopping(patience=self.patience, restore_best_weights=True))
        limit = TimeLimit(self.max_time) if self.max_time is not None else None
        if limit is not None:
            callbacks.append(limit)
        resume: dict[str, Any] = {}
        root = getattr(self, "checkpoint_dir", None)
        if root is not None:
            resume = {"checkpoint_dir": Path(root) / name, "resume": "auto"}
        start = time.perf_counter()
        history: History = model.fit(
            x, y, batch_size=self.batch_size, epochs=self.epochs, verbose=self.verbose,
            validation_data=validation_data, callbacks=callbacks, distributed="auto",
            **resume,
        )
        self.train_seconds_ = time.perf_counter() - start
        self.stopped_by_time_ = bool(limit is not None and limit.stopped)
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}

    # -- saving -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """Implemented by each subclass."""

    @abc.abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Implemented by each subclass."""

    def _extra_models(self) -> dict[str, Sequential]:
        """Further networks saved beside ``model.rnnkit`` (file stem -> model)."""
        return {}

    def _load_extra_models(self, root: Path) -> None:  # noqa: B027 - an optional hook
        """Load what :meth:`_extra_models` saved (subclasses that save extra models)."""

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``model.rnnkit`` and ``task.json`` (parameters and learned state) to
        ``folder`` (created if needed); returns the folder. A callable parameter (such as
        ``augment``) cannot be stored and is written as ``null``."""
        self._require_fitted()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.model_.save(out / MODEL_FILE)
        for stem, model in self._extra_models().items():
            model.save(out / f"{stem}.rnnkit")
        doc = {
            "format_version": _FORMAT_VERSION,
            "task": self._task_name,
            "rnnkit_version": rnnkit_version(),
            "params": {k: None if callable(v) else v for k, v in self.get_params().items()},
            "state": self._get_state(),
        }
        (out / TASK_FILE).write_text(to_json(doc) + "\n", encoding="utf-8")
        return out


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: treat as different
        return False


def clone(task: T) -> T:
    """An unfitted copy with the same parameters (scikit-learn's ``clone`` for tasks).

    >>> from rnnkit.tasks import Forecaster
    >>> clone(Forecaster(window=5)).get_params()["window"]
    5
    """
    if not isinstance(task, Task):
        raise TypeError(f"expected an rnnkit task, got {type(task).__name__}")
    import copy

    return type(task)(**copy.deepcopy(task.get_params()))


def _task_classes() -> dict[str, type[Task]]:
    from ._classifier import SequenceClassifier
    from ._forecaster import Forecaster
    from ._generator import TextGenerator

    return {c._task_name: c for c in (Forecaster, SequenceClassifier, TextGenerator)}


def load_task(folder: str | os.PathLike[str]) -> Task:
    """Load a task saved with :meth:`Task.save` (or a run folder): JSON + safetensors only."""
    root = Path(folder)
    path = root / TASK_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"expected a run folder with {TASK_FILE} and {MODEL_FILE}, got {os.fspath(root)!r} "
            "(no task.json there)"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    classes = _task_classes()
    if not isinstance(doc, dict) or doc.get("task") not in classes:
        raise ValueError(f"expected 'task' in {sorted(classes)} in {path}, "
                         f"got {doc.get('task') if isinstance(doc, dict) else doc!r}")
    if doc.get("format_version") != _FORMAT_VERSION:
        raise ValueError(f"expected format_version {_FORMAT_VERSION} in {path}, "
                         f"got {doc.get('format_version')!r}")
    cls = classes[doc["task"]]
    params = dict(doc.get("params", {}))
    for name in cls._tuple_params:
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    task = cls(**params)
    task._set_state(doc.get("state", {}))
    model = load_model(root / MODEL_FILE)
    if not isinstance(model, Sequential):
        raise ValueError(f"expected a Sequential model in {root / MODEL_FILE}, got "
                         f"{type(model).__name__}")
    task.model_ = model
    task._load_extra_models(root)
    task.model_.eval()
    return task


def _load_extra(root: Path, stem: str) -> Sequential | None:
    path = root / f"{stem}.rnnkit"
    if not path.is_file():
        return None
    model = load_model(path)
    if not isinstance(model, Sequential):  # pragma: no cover - tasks save Sequential models
        raise ValueError(f"expected a Sequential model in {path}")
    return model


def _predict(model: Sequential, x: Any, batch_size: int = 256) -> np.ndarray:
    """``model.predict`` in eval mode, float64 numpy."""
    model.eval()
    with torch.no_grad():
        out = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float64)


def _history_dict(history: Any) -> dict[str, list[float]]:
    if not isinstance(history, dict):
        return {}
    return {str(k): [float(v) for v in vals] for k, vals in history.items()}
