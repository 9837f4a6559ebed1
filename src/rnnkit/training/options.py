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

from .batches import Inputs, as_inputs, as_tensor, check_batch_size, check_same_length, n_samples
from .callbacks.base import Callback
from .checkpoint import Checkpoint, latest_checkpoint, read_checkpoint
from .losses import LossLike
from .metrics import MetricLike
from .optimizers import OptimizerLike
from .progress import normalize_verbose

__all__ = [
    "CheckedOptions",
    "FitData",
    "FitOptions",
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


class CheckedOptions(NamedTuple):
    """The checked numbers of a :class:`FitOptions`."""

    batch_size: int
    epochs: int
    initial_epoch: int
    validation_batch_size: int
    verbose: int
    checkpoint_root: Path | None


class FitData(NamedTuple):
    """Training inputs and targets, and the validation pair (None without validation)."""

    inputs: Inputs
    targets: Tensor
    validation: tuple[Inputs, Tensor] | None


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
def _as_validation(validation_data: Any, float_dtype: torch.dtype) -> tuple[Inputs, Tensor]:
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) != 2:
        raise ValueError(
            "expected validation_data=(x_val, y_val), got "
            f"{type(validation_data).__name__}"
            + (
                f" of length {len(validation_data)}"
                if isinstance(validation_data, (list, tuple))
                else ""
            )
        )
    xv = as_inputs(validation_data[0], float_dtype, "validation_data x")
    yv = as_tensor(validation_data[1], float_dtype, "validation_data y")
    check_same_length(xv, yv, "validation_data x and y")
    return xv, yv


def _split(inputs: Inputs, y: Tensor, validation_split: float) -> FitData:
    """Keras: the last ``validation_split`` fraction (before shuffling) is validation data."""
    n = n_samples(inputs)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split}: expected enough samples to split into a "
            f"training and a validation set, got {n} samples"
        )
    return FitData(
        tuple(t[:split_at] for t in inputs),
        y[:split_at],
        (tuple(t[split_at:] for t in inputs), y[split_at:]),
    )


def fit_data(x: Any, y: Any, o: FitOptions, float_dtype: torch.dtype) -> FitData:
    """``x`` and ``y`` as tensors, and the validation data (``validation_data`` wins over
    ``validation_split``, as in Keras)."""
    inputs = as_inputs(x, float_dtype)
    targets = as_tensor(y, float_dtype, "y")
    check_same_length(inputs, targets)
    if o.validation_data is not None:
        return FitData(inputs, targets, _as_validation(o.validation_data, float_dtype))
    if o.validation_split > 0:
        return _split(inputs, targets, o.validation_split)
    return FitData(inputs, targets, None)


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
