"""The training arguments every task takes, and the one way a task trains a network.

The ten arguments (``epochs`` ... ``verbose``) are plain constructor arguments of every task
(scikit-learn style: ``get_params``, ``set_params``, TOML ``[training]`` tables), declared
once here in :class:`TrainingConfig`; each task only states its own defaults
(``Task.training_defaults``). :func:`train_model` compiles a network with Adam and
gradient-norm clipping and fits it with early stopping, a wall-clock budget and optional
checkpoints, from a :class:`TrainingConfig`: a second network (the classifier's baseline)
trains from a modified copy of the config (``dataclasses.replace``), never by changing the
task's own parameters.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from ..model import Model, Sequential
from ..training import Callback, EarlyStopping, History, optimizers
from ._checks import check_float, check_int, check_positive

__all__ = ["AUTO", "TimeLimit", "TrainingConfig", "TrainingResult", "seed_everything",
           "train_model"]

#: a training argument a task chooses from the data (the classifier's defaults)
AUTO: Final = "auto"
Auto = Literal["auto"]


@dataclass(frozen=True)
class TrainingConfig:
    """How a task trains its network.

    Attributes:
        epochs: maximum training epochs.
        batch_size: samples per gradient step.
        learning_rate: Adam's learning rate.
        clipnorm: gradient-norm clipping (``None`` turns it off).
        validation: fraction held out of the training data for early stopping (0: none);
            which part is the task's choice (the last rows of a series, a seeded random
            sample of sequences, the end of a text).
        patience: early-stopping patience in epochs, best weights restored (``None``: off).
        max_time: wall-clock training budget in seconds (``None``: none).
        checkpoint_dir: checkpoint every epoch under this folder and resume from it.
        random_state: seed of weights and shuffling (``None``: not seeded).
        verbose: progress output of ``fit`` (0, 1, 2 or ``"auto"``), as Keras.

    A task that scales its settings with the data (the classifier) accepts ``"auto"`` for
    ``epochs``, ``batch_size``, ``validation`` and ``patience`` and resolves it before
    training; :meth:`check` refuses a value still ``"auto"``.
    """

    epochs: int | Auto = 100
    batch_size: int | Auto = 32
    learning_rate: float = 1e-3
    clipnorm: float | None = 1.0
    validation: float | Auto = 0.15
    patience: int | Auto | None = 10
    max_time: float | None = None
    checkpoint_dir: str | None = None
    random_state: int | None = 0
    verbose: int | str = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The argument names, in order."""
        return tuple(f.name for f in fields(cls))

    def check(self) -> None:
        """Raise a one-line error naming the first invalid argument."""
        check_int("epochs", self.epochs, 0)
        check_int("batch_size", self.batch_size, 1)
        check_positive("learning_rate", self.learning_rate)
        if self.clipnorm is not None:
            check_positive("clipnorm", self.clipnorm)
        check_float("validation", self.validation, 0.0, 1.0)
        if self.patience is not None:
            check_int("patience", self.patience, 0)
        if self.max_time is not None:
            check_float("max_time", self.max_time, 0.0, float("inf"))
        if self.random_state is not None:
            check_int("random_state", self.random_state, 0)
        if self.verbose not in (0, 1, 2, "auto") or isinstance(self.verbose, bool):
            raise ValueError(f"expected verbose in (0, 1, 2, 'auto'), got {self.verbose!r}")

    def seed(self) -> None:
        """Seed every generator with ``random_state`` (nothing when it is ``None``)."""
        if self.random_state is not None:
            seed_everything(int(self.random_state))


@dataclass(frozen=True)
class TrainingResult:
    """What one training gave: the history per epoch, the seconds it took, and whether the
    ``max_time`` budget stopped it."""

    history: dict[str, list[float]]
    seconds: float
    stopped_by_time: bool


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


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (as ``rnnkit.set_seed``)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_model(
    model: Sequential | Model,
    loss: Any,
    x: Any,
    y: Any,
    validation_data: tuple[Any, Any] | None,
    config: TrainingConfig,
    *,
    metrics: Sequence[Any] = (),
    name: str = "model",
    callbacks: Sequence[Callback] = (),
    shuffle: bool = True,
    min_delta: float = 0.0,
) -> TrainingResult:
    """Compile ``model`` (Adam, ``clipnorm``) and fit it with early stopping and the time
    budget of ``config`` (after the caller's ``callbacks``).

    With ``config.checkpoint_dir`` set, every epoch is checkpointed under
    ``checkpoint_dir/name`` and a rerun resumes from the last complete checkpoint
    (bit-identical on CPU). ``shuffle=False`` keeps the order of ``x`` (a callback that
    orders the batches itself, such as the classifier's length buckets). ``min_delta``: the
    least fall of the validation loss that counts as an improvement for early stopping."""
    model.compile(optimizers.Adam(config.learning_rate), loss, list(metrics),
                  clipnorm=config.clipnorm)
    hooks = list(callbacks)
    if validation_data is not None and config.patience is not None:
        hooks.append(EarlyStopping(patience=int(config.patience), min_delta=min_delta,
                                   restore_best_weights=True))
    limit = TimeLimit(config.max_time) if config.max_time is not None else None
    if limit is not None:
        hooks.append(limit)
    resume: dict[str, Any] = {}
    if config.checkpoint_dir is not None:
        resume = {"checkpoint_dir": Path(config.checkpoint_dir) / name, "resume": "auto"}
    start = time.perf_counter()
    history: History = model.fit(
        x, y, batch_size=int(config.batch_size), epochs=int(config.epochs),
        verbose=config.verbose, validation_data=validation_data, callbacks=hooks,
        distributed="auto", shuffle=shuffle, **resume,
    )
    seconds = time.perf_counter() - start
    model.eval()
    return TrainingResult(
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        seconds=seconds,
        stopped_by_time=bool(limit is not None and limit.stopped),
    )
