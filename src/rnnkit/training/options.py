"""``fit``'s arguments: :class:`FitOptions` (everything but the module and the data, as the
caller gave it) and the checks that turn them into what the loop runs with
(:func:`check_fit_options`, :func:`fit_data`, the ``checkpoint_dir`` / ``resume`` policy).

Every check raises ``TypeError`` / ``ValueError`` with an "expected X, got Y" message before
anything is trained or written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, TextIO

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, IterableDataset

from .batches import (
    ArrayData,
    as_inputs,
    as_tensor,
    as_weights,
    check_batch_size,
    check_same_length,
    n_samples,
)
from .callbacks.base import Callback
from .checkpoint import Checkpoint, latest_checkpoint, read_checkpoint
from .loaders import DatasetData, LoaderData, is_batch_source
from .losses import LossLike
from .metrics import MetricLike
from .optimizers import OptimizerLike
from .progress import normalize_verbose
from .weighting import check_class_weight, class_sample_weights

__all__ = [
    "CheckedOptions",
    "FitData",
    "FitOptions",
    "Source",
    "batch_source",
    "array_data",
    "check_clip",
    "check_fit_options",
    "check_int",
    "check_module",
    "find_resume",
    "fit_data",
]


@dataclass
class FitOptions:
    """The keyword arguments of :func:`rnnkit.training.fit`, as given.

    A strategy may replace some of them before the loop runs (``dataclasses.replace``): the
    data-parallel one turns the optimizer name into the torch optimizer, fixes the shuffling
    generator on every rank and adds its synchronising callback.

    Attributes:
        loss: name, :class:`Loss`, ``torch.nn`` loss module or callable (see ``get_loss``).
        optimizer: name (state kept per module and name across calls), spec
            (``optimizers.Adam(...)``, bound to the module on first use) or a torch optimizer.
        metrics: names / :class:`Metric` objects / callables, logged under their names.
        batch_size, epochs, initial_epoch: as Keras (epochs ``initial_epoch .. epochs - 1``).
        verbose: "auto" (= 1), 0, 1 or 2, see :class:`Progress`.
        callbacks: :class:`Callback` instances; a :class:`History` among them is used and
            returned, else a new one.
        validation_split: fraction in [0, 1) of the data, taken from the end before shuffling.
        validation_data: ``(x_val, y_val)``; overrides ``validation_split`` (Keras).
        shuffle: reshuffle the training samples every epoch with ``generator``.
        clipnorm, clipvalue, global_clipnorm: Keras 3's gradient clipping, at most one of them:
            ``clipnorm`` clips each parameter's gradient to L2 norm ``clipnorm`` separately,
            ``global_clipnorm`` clips all gradients together to total norm
            ``global_clipnorm`` (as ``clip_grad_norm_``), ``clipvalue`` clips each element to
            ``[-clipvalue, clipvalue]``.
        generator: torch.Generator for shuffling; default: a new CPU generator seeded from torch's
            global RNG (so ``torch.manual_seed`` makes runs reproducible).
        validation_batch_size: default ``batch_size``.
        terminate_on_nan: raise :class:`NonFiniteLossError` naming the epoch and step (before
            the update, so the weights and any checkpoint stay finite) on a NaN/Inf loss.
            On by default (one host sync per step); ``False`` gives Keras's behaviour of
            training on (use the ``TerminateOnNaN`` callback to stop without an error).
        extra_loss: ``() -> scalar tensor`` added to every step's loss (e.g. regularization);
            included in the logged loss, as Keras includes regularization losses.
        callback_model: the object callbacks see as ``.model`` (default ``module``), e.g. a
            wrapper with a ``save`` method and a ``stop_training`` attribute.
        stream: where progress goes (default ``sys.stdout``).
        checkpoint_dir: write a checkpoint after every epoch into
            ``checkpoint_dir/epoch-NNNN`` (atomic; weights, optimizer state, learning rates,
            RNG states, the shuffling generator, History and callback states), keeping the
            newest ``keep_last``. A checkpoint with NaN/Inf weights is never written
            (:class:`NonFiniteWeightsError`).
        resume: with ``checkpoint_dir``: ``"auto"`` continues from the newest checkpoint if
            there is one (else starts at ``initial_epoch``), ``True`` requires one, ``False``
            requires the folder to hold none. Resuming reproduces the uninterrupted run bit
            for bit when called with the same arguments on the same device; a run that a
            callback stopped early stays stopped. A damaged newest checkpoint raises
            :class:`CheckpointCorruptError`, one that does not fit the module, optimizer or
            callbacks :class:`CheckpointMismatchError`, before anything changes.
        keep_last: how many checkpoints to keep (``>= 1``).
        sample_weight: per-sample weights ``(samples,)`` (or per entry, e.g. ``(samples,
            time)``) of the loss and metrics, as Keras weighs them.
        class_weight: ``{class index: weight}``: each training sample weighs its class's
            weight (1 for classes not listed); not with ``sample_weight``.
        steps_per_epoch, validation_steps: batches per epoch / validation pass taken from a
            DataLoader or iterable (``x`` / ``validation_data``); see
            :mod:`rnnkit.training.loaders`.
    """

    loss: LossLike
    optimizer: OptimizerLike
    metrics: Iterable[MetricLike]
    batch_size: int
    epochs: int
    verbose: int | str
    callbacks: list[Callback]
    validation_split: float
    validation_data: Any
    shuffle: bool
    clipnorm: float | None
    clipvalue: float | None
    initial_epoch: int
    generator: torch.Generator | None
    validation_batch_size: int | None
    terminate_on_nan: bool
    extra_loss: Callable[[], Tensor] | None
    callback_model: Any
    stream: TextIO | None
    global_clipnorm: float | None
    checkpoint_dir: str | os.PathLike[str] | None
    resume: bool | Literal["auto"]
    keep_last: int
    sample_weight: Any = None
    class_weight: Any = None
    steps_per_epoch: int | None = None
    validation_steps: int | None = None


class CheckedOptions(NamedTuple):
    """The checked numbers of a :class:`FitOptions`."""

    batch_size: int
    epochs: int
    initial_epoch: int
    validation_batch_size: int
    verbose: int
    checkpoint_root: Path | None


#: Where batches come from: whole arrays, a Dataset, or a DataLoader / iterable of batches.
Source = ArrayData | DatasetData | LoaderData


class FitData(NamedTuple):
    """Training data and the validation data (None without validation)."""

    train: Source
    validation: Source | None


def check_module(module: Any) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    return module


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"expected {name} to be a bool, got {type(value).__name__}")


def check_clip(
    clipnorm: float | None, clipvalue: float | None, global_clipnorm: float | None = None
) -> None:
    given = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
    for name, value in given.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected {name} to be a number or None, got {type(value).__name__}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"expected {name} > 0, got {value}")
    set_ = {k: v for k, v in given.items() if v is not None}
    if len(set_) > 1:
        raise ValueError(
            "expected only one of clipnorm, clipvalue and global_clipnorm (Keras), got "
            + ", ".join(f"{k}={v}" for k, v in set_.items())
        )


def _check_validation_split(validation_split: Any) -> None:
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
        raise TypeError(
            f"expected validation_split to be a float, got {type(validation_split).__name__}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"expected validation_split in [0, 1), got {validation_split}")


def check_fit_options(o: FitOptions) -> CheckedOptions:
    """Check every option that does not need the data; returns the checked numbers."""
    batch_size = check_batch_size(o.batch_size)
    epochs = check_int("epochs", o.epochs, 0)
    initial_epoch = check_int("initial_epoch", o.initial_epoch, 0)
    val_batch_size = (
        batch_size
        if o.validation_batch_size is None
        else check_batch_size(o.validation_batch_size, "validation_batch_size")
    )
    _check_bool("shuffle", o.shuffle)
    _check_validation_split(o.validation_split)
    if o.generator is not None and not isinstance(o.generator, torch.Generator):
        raise TypeError(
            f"expected generator to be a torch.Generator, got {type(o.generator).__name__}"
        )
    check_clip(o.clipnorm, o.clipvalue, o.global_clipnorm)
    verbose = normalize_verbose(o.verbose)
    _check_bool("terminate_on_nan", o.terminate_on_nan)
    root = check_checkpoint_args(o.checkpoint_dir, o.resume, o.keep_last)
    return CheckedOptions(batch_size, epochs, initial_epoch, val_batch_size, verbose, root)


# --------------------------------------------------------------------------- data
def array_data(
    x: Any, y: Any, sample_weight: Any, float_dtype: torch.dtype, name: str = ""
) -> ArrayData:
    """``x``, ``y`` and ``sample_weight`` as tensors of the same number of samples."""
    inputs = as_inputs(x, float_dtype, f"{name}x" if name else "x")
    targets = as_tensor(y, float_dtype, f"{name}y" if name else "y")
    check_same_length(inputs, targets, f"{name}x and y" if name else "x and y")
    weights = as_weights(sample_weight, n_samples(inputs), f"{name}sample_weight")
    return ArrayData(inputs, targets, weights)


def _as_validation(validation_data: Any, float_dtype: torch.dtype) -> ArrayData:
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "expected validation_data=(x_val, y_val) or (x_val, y_val, sample_weight), got "
            f"{type(validation_data).__name__}"
            + (
                f" of length {len(validation_data)}"
                if isinstance(validation_data, (list, tuple))
                else ""
            )
        )
    sw = validation_data[2] if len(validation_data) == 3 else None
    return array_data(validation_data[0], validation_data[1], sw, float_dtype, "validation_data ")


def _split(data: ArrayData, validation_split: float) -> tuple[ArrayData, ArrayData]:
    """Keras: the last ``validation_split`` fraction (before shuffling) is validation data."""
    n = data.samples
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split}: expected enough samples to split into a "
            f"training and a validation set, got {n} samples"
        )
    return data.rows(0, split_at), data.rows(split_at, n)


def batch_source(
    x: Any, steps: Any, float_dtype: torch.dtype, name: str = "x"
) -> DatasetData | LoaderData:
    """A Dataset, DataLoader or iterable of batches as a source (``steps`` per epoch)."""
    steps = None if steps is None else check_int(f"steps for {name}", steps, 1)
    if isinstance(x, Dataset) and not isinstance(x, IterableDataset):
        return DatasetData(x, float_dtype, name)
    return LoaderData(x, steps, float_dtype, name)


def _source_data(x: Any, y: Any, o: FitOptions, float_dtype: torch.dtype) -> FitData:
    for given, what in (
        (y, "y"),
        (o.sample_weight, "sample_weight"),
        (o.class_weight, "class_weight"),
    ):
        if given is not None:
            raise ValueError(
                f"expected no {what} with a Dataset, DataLoader or iterable x (its batches "
                f"carry (x, y[, sample_weight])), got {type(given).__name__}"
            )
    if o.validation_split:
        raise ValueError(
            "expected validation_data with a Dataset, DataLoader or iterable x, got "
            f"validation_split={o.validation_split} (it needs arrays)"
        )
    return FitData(batch_source(x, o.steps_per_epoch, float_dtype), _validation(o, float_dtype))


def _validation(o: FitOptions, float_dtype: torch.dtype) -> Source | None:
    if o.validation_data is None:
        return None
    if is_batch_source(o.validation_data):
        return batch_source(o.validation_data, o.validation_steps, float_dtype, "validation_data")
    return _as_validation(o.validation_data, float_dtype)


def fit_data(x: Any, y: Any, o: FitOptions, float_dtype: torch.dtype) -> FitData:
    """``x``, ``y`` and the sample weights as tensors, and the validation data
    (``validation_data`` wins over ``validation_split``, as in Keras). ``class_weight`` weighs
    the training samples only (the validation part of a split is unweighted, as in Keras).
    A Dataset, DataLoader or iterable ``x`` carries its own targets and weights."""
    if is_batch_source(x):
        return _source_data(x, y, o, float_dtype)
    class_weight = check_class_weight(o.class_weight)
    if class_weight is not None and o.sample_weight is not None:
        raise ValueError("expected class_weight or sample_weight, got both (as Keras refuses)")
    train = array_data(x, y, o.sample_weight, float_dtype)
    validation = _validation(o, float_dtype)
    if validation is None and o.validation_split > 0:
        train, validation = _split(train, o.validation_split)
    if class_weight is not None:
        train = train._replace(sample_weight=class_sample_weights(train.targets, class_weight))
    return FitData(train, validation)


# --------------------------------------------------------------------------- checkpoints
def check_checkpoint_args(checkpoint_dir: Any, resume: Any, keep_last: Any) -> Path | None:
    if not (isinstance(resume, bool) or resume == "auto"):
        raise ValueError(f"expected resume to be 'auto', True or False, got {resume!r}")
    check_int("keep_last", keep_last, 1)
    if checkpoint_dir is None:
        if resume is True:
            raise ValueError("expected a checkpoint_dir with resume=True, got None")
        return None
    if not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise TypeError(
            f"expected checkpoint_dir to be a path, got {type(checkpoint_dir).__name__}"
        )
    root = Path(checkpoint_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"expected checkpoint_dir to be a directory, got the file {str(root)!r}")
    return root


def find_resume(root: Path | None, resume: bool | str) -> Checkpoint | None:
    """The verified newest checkpoint to resume from, per the ``resume`` policy."""
    if root is None:
        return None
    latest = latest_checkpoint(root)
    if latest is None:
        if resume is True:
            raise ValueError(
                f"expected a checkpoint in {str(root)!r} (resume=True), got none; use "
                "resume='auto' to start a new run there"
            )
        return None
    if resume is False:
        raise ValueError(
            f"expected no checkpoint in {str(root)!r} (resume=False), got {latest.name}; use "
            "resume='auto' to continue that run, or an empty checkpoint_dir for a new one"
        )
    return read_checkpoint(latest)
