"""What the tasks share: scikit-learn conventions, training, and JSON state beside the model.

scikit-learn conventions: ``__init__`` only stores its arguments (no validation, no work);
``fit`` validates them, learns, and returns ``self``; everything learned ends in ``_``;
``get_params`` / ``set_params`` read and write the constructor arguments, so
:func:`clone` (``type(t)(**t.get_params())``) gives an unfitted copy.

Training: every task builds an rnnkit ``Sequential`` and trains it with
:func:`rnnkit.tasks.train_model` from its training arguments, declared once in
:class:`rnnkit.tasks.TrainingConfig` (Adam, gradient-norm clipping ``clipnorm=1.0`` by
default, early stopping on a validation part with the best weights restored, an optional
wall-clock budget ``max_time``, ``verbose`` passed through to the progress output).

The protocol: the run machinery (``_runs.py``) and the CLI only call :class:`Task`'s
methods (held-out metrics, arrays and plots, a batch for ``inspect``, ``predict_file``,
``headline``); they never test which task they hold.

Saving: :meth:`Task.save` writes ``model.rnnkit`` (the network: JSON config + safetensors)
and ``task.json`` (the task's class, parameters and learned state: scalers, vocabularies,
classes, window settings, training history) into a folder. :func:`load_task` reads them
back. Nothing is pickled.
"""

from __future__ import annotations

import abc
import copy
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
import torch
from torch import Tensor

from .. import _bounded
from .._archive import atomic_write_bytes
from ..errors import ModelFileError, RunFolderError
from ..layers import Layer, layer_class
from ..model import Model, Sequential, load_model
from ._training import TrainingConfig, TrainingResult, train_model

__all__ = ["InspectBatch", "NotFittedError", "PredictRequest", "Task", "clone", "load_task",
           "task_class"]

T = TypeVar("T", bound="Task")
TASK_FILE = "task.json"
MAX_TASK_JSON_BYTES = 16 << 20  # vocabularies and histories included
MODEL_FILE = "model.rnnkit"
_FORMAT_VERSION = 1
_TASKS: dict[str, type[Task]] = {}
#: a task's network: a Sequential, or a functional Model (the classifier's default network)
Network = Sequential | Model


class NotFittedError(ValueError, AttributeError):
    """Raised when a task is used before ``fit`` (as scikit-learn's ``NotFittedError``)."""


def rnnkit_version() -> str:
    """The installed rnnkit version (from the package metadata, else the package)."""
    try:
        return metadata.version("rnnkit")
    except metadata.PackageNotFoundError:  # running from a source tree
        return str(getattr(sys.modules.get("rnnkit"), "__version__", "unknown"))


@dataclass(frozen=True)
class PredictRequest:
    """What ``rnnkit predict RUN FILE`` asks of a run: the file to predict from and the
    options (each task reads those that concern it)."""

    file: Path
    length: int = 200
    future_covariates: Path | None = None


@dataclass(frozen=True)
class InspectBatch:
    """A batch of held-out data as network inputs ``x``, targets ``y`` and a per-sample
    loss ``loss(y_true, y_pred) -> (batch,)``, for :func:`rnnkit.tasks.gradient_norms`."""

    x: Any
    y: Any
    loss: Callable[[Tensor, Tensor], Tensor]


def fmt(value: Any) -> str:
    """A figure for a headline: floats with 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
    """Base class of the tasks (scikit-learn style) and the protocol the run machinery and
    the CLI use: they call these methods and never ask which task they hold.

    A subclass sets ``task_name`` (registered for :func:`load_task`) and
    ``training_defaults``, stores its own arguments in ``__init__`` and hands the training
    arguments (:class:`TrainingConfig`'s fields) to :meth:`_store_training`; it implements
    ``fit``, the held-out protocol (:meth:`heldout_metrics`, :meth:`heldout_arrays`,
    :meth:`heldout_from_arrays`, :meth:`write_plots`, :meth:`inspect_batch`),
    :meth:`predict_file`, :meth:`headline`, and ``_get_state``/``_set_state``."""

    task_name: ClassVar[str] = "task"
    training_defaults: ClassVar[TrainingConfig] = TrainingConfig()
    #: parameters that are tuples (JSON stores lists; they come back as tuples)
    tuple_params: ClassVar[tuple[str, ...]] = ()
    # learned state
    model_: Network
    history_: dict[str, list[float]]
    train_seconds_: float
    stopped_by_time_: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "task_name" in cls.__dict__:  # a task of its own (subclasses of it keep its name)
            _TASKS[cls.task_name] = cls

    # -- scikit-learn conventions -----------------------------------------------------------
    def _store_training(self, training: Mapping[str, Any]) -> None:
        """Store the training arguments given to ``__init__`` (the others keep the task's
        defaults); an unknown name is a ``TypeError``, as for any keyword argument."""
        names = TrainingConfig.names()
        unknown = sorted(set(training) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments "
                            f"{unknown}; expected its own arguments or {list(names)}")
        for name in names:
            setattr(self, name, training.get(name, getattr(self.training_defaults, name)))

    def training_config(self) -> TrainingConfig:
        """The training arguments as a :class:`TrainingConfig` (not validated)."""
        return TrainingConfig(**{n: getattr(self, n) for n in TrainingConfig.names()})

    @classmethod
    def _own_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor arguments: the task's own, then the training arguments."""
        return [*cls._own_param_names(), *TrainingConfig.names()]

    @classmethod
    def _default(cls, name: str) -> Any:
        if name in TrainingConfig.names():
            return getattr(cls.training_defaults, name)
        return inspect.signature(cls.__init__).parameters[name].default

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self: T, **params: Any) -> T:
        """Set constructor arguments by name; returns ``self``. Unknown names raise."""
        valid = self.param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"expected a parameter of {type(self).__name__} in {valid}, got {key!r}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        parts = []
        for name in self.param_names():
            default = self._default(name)
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
    def _train(self, model: Network, loss: Any, x: Any, y: Any,
               validation_data: tuple[Any, Any] | None, config: TrainingConfig | None = None,
               **kwargs: Any) -> None:
        """Train the task's network with its training arguments (:func:`train_model`; or
        ``config``, the task's arguments as resolved for the data) and keep ``history_``,
        ``train_seconds_`` and ``stopped_by_time_``."""
        result: TrainingResult = train_model(model, loss, x, y, validation_data,
                                             config or self.training_config(), **kwargs)
        self.history_ = result.history
        self.train_seconds_ = result.seconds
        self.stopped_by_time_ = result.stopped_by_time

    # -- the protocol of runs and the CLI ---------------------------------------------------
    @abc.abstractmethod
    def heldout_metrics(self, heldout: Any) -> dict[str, Any]:
        """The figures of ``metrics.json`` on held-out data (in the form
        :meth:`heldout_from_arrays` returns), beside the baselines under ``baselines``."""

    @abc.abstractmethod
    def heldout_arrays(self, heldout: Any) -> dict[str, np.ndarray]:
        """The held-out data as plain arrays for ``heldout.npz`` (no object arrays)."""

    @abc.abstractmethod
    def heldout_from_arrays(self, arrays: Mapping[str, np.ndarray]) -> Any:
        """The held-out data back from :meth:`heldout_arrays`' arrays."""

    @abc.abstractmethod
    def write_plots(self, folder: Path, heldout: Any, metrics: Mapping[str, Any]
                    ) -> list[Path]:
        """Write the task's report files on held-out data into ``folder``; returns them."""

    @abc.abstractmethod
    def inspect_batch(self, heldout: Any, samples: int) -> InspectBatch:
        """Up to ``samples`` held-out examples as network inputs, targets and loss."""

    @abc.abstractmethod
    def predict_file(self, request: PredictRequest) -> str:
        """What ``rnnkit predict`` writes for ``request`` (CSV, or text)."""

    @classmethod
    @abc.abstractmethod
    def headline(cls, metrics: Mapping[str, Any]) -> list[str]:
        """The key figures of this task's ``metrics.json`` (and its baselines), as lines."""

    # -- saving -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """The learned state, JSON-ready (without the training history: the base saves it)."""

    @abc.abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned."""

    def _extra_models(self) -> dict[str, Network]:
        """Further networks saved beside ``model.rnnkit`` (file stem -> model)."""
        return {}

    def _load_extra_models(self, root: Path) -> None:  # noqa: B027 - an optional hook
        """Load what :meth:`_extra_models` saved (subclasses that save extra models)."""

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``model.rnnkit`` and ``task.json`` (parameters and learned state) to
        ``folder`` (created if needed); returns the folder. A callable parameter (such as
        ``augment``) cannot be stored and is written as ``null``. Each file is replaced
        atomically (a symlink in its place is replaced, never written through)."""
        self._require_fitted()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.model_.save(out / MODEL_FILE)
        for stem, model in self._extra_models().items():
            model.save(out / f"{stem}.rnnkit")
        state = {
            **self._get_state(),
            "history": getattr(self, "history_", {}),
            "train_seconds": getattr(self, "train_seconds_", None),
            "stopped_by_time": getattr(self, "stopped_by_time_", False),
        }
        doc = {
            "format_version": _FORMAT_VERSION,
            "task": self.task_name,
            "rnnkit_version": rnnkit_version(),
            "params": {k: None if callable(v) else v for k, v in self.get_params().items()},
            "state": state,
        }
        atomic_write_bytes(out / TASK_FILE, (to_json(doc) + "\n").encode("utf-8"))
        return out

    def _restore(self, state: dict[str, Any]) -> None:
        self._set_state(state)
        self.history_ = _history_dict(state.get("history"))
        if state.get("train_seconds") is not None:
            self.train_seconds_ = float(state["train_seconds"])
        self.stopped_by_time_ = bool(state.get("stopped_by_time", False))


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
    return type(task)(**copy.deepcopy(task.get_params()))


def task_class(name: Any) -> type[Task]:
    """The task class saved under ``name`` (``"forecaster"``, ``"classifier"``,
    ``"generator"``)."""
    if name not in _TASKS:
        raise ValueError(f"expected a task in {sorted(_TASKS)}, got {name!r}")
    return _TASKS[name]


@overload
def load_task(folder: str | os.PathLike[str]) -> Task: ...
@overload
def load_task(folder: str | os.PathLike[str], expect: type[T]) -> T: ...
def load_task(folder: str | os.PathLike[str], expect: type[Task] = Task) -> Task:
    """Load a task saved with :meth:`Task.save` (or a run folder): JSON + safetensors only.
    With ``expect``, a run of another task is a ``ValueError`` naming both."""
    root = Path(folder)
    path = root / TASK_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"expected a run folder with {TASK_FILE} and {MODEL_FILE}, got {os.fspath(root)!r} "
            "(no task.json there)"
        )
    task = _task_from_json(path, expect)
    model = load_model(root / MODEL_FILE)
    if not isinstance(model, (Sequential, Model)):
        raise ModelFileError(f"expected a Sequential or functional model, got "
                             f"{type(model).__name__}", path=root / MODEL_FILE)
    task.model_ = model
    task._load_extra_models(root)
    task.model_.eval()
    return task


def _task_from_json(path: Path, expect: type[Task]) -> Task:
    """The task ``task.json`` describes, with its learned state (bounded read; any problem is
    a :class:`RunFolderError` naming the file)."""

    def fail(reason: str) -> RunFolderError:
        return RunFolderError(reason, path=path)

    doc = _bounded.parse_json(_bounded.read_file(path, MAX_TASK_JSON_BYTES, fail), fail,
                              TASK_FILE)
    if not isinstance(doc, dict) or doc.get("task") not in _TASKS:
        raise fail(f"expected 'task' in {sorted(_TASKS)}, "
                   f"got {doc.get('task') if isinstance(doc, dict) else doc!r:.100}")
    if doc.get("format_version") != _FORMAT_VERSION:
        raise fail(f"expected format_version {_FORMAT_VERSION}, got {doc.get('format_version')!r}")
    cls = _TASKS[doc["task"]]
    if not issubclass(cls, expect):
        raise fail(f"expected a {expect.task_name} run, got a {cls.task_name} run")
    params, state = doc.get("params", {}), doc.get("state", {})
    if not isinstance(params, dict) or not isinstance(state, dict):
        raise fail("expected 'params' and 'state' to be JSON objects")
    params = dict(params)
    for name in cls.tuple_params:
        if isinstance(params.get(name), list):
            params[name] = tuple(params[name])
    try:
        task = cls(**params)
        task._restore(state)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError,
            RuntimeError, RecursionError) as e:
        raise fail(f"expected the parameters and state of a {cls.task_name}, got "
                   f"{type(e).__name__}: {e}") from None
    return task


def _load_extra(root: Path, stem: str) -> Network | None:
    path = root / f"{stem}.rnnkit"
    if not path.is_file():
        return None
    model = load_model(path)
    if not isinstance(model, (Sequential, Model)):  # pragma: no cover - load_model's types
        raise ValueError(f"expected an rnnkit model in {path}")
    return model


def _predict(model: Network, x: Any, batch_size: int = 256) -> np.ndarray:
    """``model.predict`` in eval mode, float64 numpy."""
    model.eval()
    with torch.no_grad():
        out = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float64)


def _history_dict(history: Any) -> dict[str, list[float]]:
    if not isinstance(history, dict):
        return {}
    return {str(k): [float(v) for v in vals] for k, vals in history.items()}
