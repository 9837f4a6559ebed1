"""Training: :func:`fit` (Keras ``Model.fit`` for any ``torch.nn.Module``), :func:`fit_distributed`
and :func:`train_on_batch`.

The loop knows nothing of the model: it calls ``module(*inputs)`` on a batch of inputs
``(batch, ...)`` and compares the output with the targets through a Keras-order loss
``loss(y_true, y_pred) -> scalar``. One training step (:func:`~.step.train_step`)::

    zero_grad -> y_pred = module(*x_b) -> L = loss(y_b, y_pred) [+ extra_loss()]
      -> [terminate_on_nan: L finite?] -> L.backward()
      -> clip (clipvalue | clipnorm per variable | global_clipnorm on the total norm)
      -> optimizer.step()

How ``fit`` reads: it gathers its keyword arguments into a
:class:`~.options.FitOptions`, adds the loggers of ``log_dir`` and hands everything to a
:class:`~.strategy.Strategy` (:class:`~.strategy.OneProcess`, or
:class:`~.distributed.DataParallel` for ``distributed=True``), which calls
:func:`~.epochs.run_fit`, the one-process loop, once.

With ``checkpoint_dir`` the loop writes an atomic checkpoint after every epoch (see
:mod:`rnnkit.training.checkpoint`) and ``resume="auto"`` continues from the newest one, bit for
bit as if the run had not been interrupted (same device, same versions).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TextIO

import torch
from torch import Tensor, nn

from .batches import module_device_dtype
from .callbacks import Callback, History, default_loggers
from .callbacks.base import check_callbacks
from .distributed import DataParallel, wants_distributed
from .epochs import run_fit
from .losses import LossLike, get_loss
from .metrics import MetricLike, build_metrics
from .optimizers import OptimizerLike, resolve_optimizer
from .options import (
    FitOptions,
    array_data,
    check_clip,
    check_module,
)
from .step import NonFiniteLossError, Tracker, train_step
from .strategy import OneProcess, Strategy
from .weighting import check_class_weight, class_sample_weights

__all__ = ["NonFiniteLossError", "fit", "fit_distributed", "train_on_batch"]


# --------------------------------------------------------------------------- fit
def fit(
    module: nn.Module,
    x: Any,
    y: Any,
    *,
    loss: LossLike,
    optimizer: OptimizerLike,
    metrics: Iterable[MetricLike] = (),
    batch_size: int = 32,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: Iterable[Callback] = (),
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool = True,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    initial_epoch: int = 0,
    generator: torch.Generator | None = None,
    validation_batch_size: int | None = None,
    terminate_on_nan: bool = True,
    extra_loss: Callable[[], Tensor] | None = None,
    callback_model: Any = None,
    stream: TextIO | None = None,
    global_clipnorm: float | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool | Literal["auto"] = "auto",
    keep_last: int = 2,
    distributed: bool | Literal["auto"] | Strategy = False,
    log_dir: str | os.PathLike[str] | None = None,
    sample_weight: Any = None,
    class_weight: Mapping[int, float] | None = None,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
) -> History:
    """Train ``module`` on ``(x, y)`` for ``epochs`` epochs (Keras ``Model.fit`` semantics).

    ``module``: any ``nn.Module``, called as ``module(*inputs)`` on ``(batch, ...)`` tensors.
    ``x``: an array / tensor ``(samples, ...)`` or a list of them, with targets ``y``; or a
    ``Dataset``, ``DataLoader`` or iterable of ``(x, y[, sample_weight])`` batches, ``y=None``
    (:mod:`rnnkit.training.loaders`). Keywords: see :class:`~.options.FitOptions`, and
    ``distributed``: ``True`` / ``"auto"`` (only when the world size is > 1): data-parallel
    under torchrun with the one-process weights (:mod:`rnnkit.training.distributed`), or a
    :class:`~.strategy.Strategy`; ``log_dir``: also log epochs to ``history.csv`` and
    ``history.jsonl`` there. Returns the :class:`History`.
    """
    options = FitOptions(
        loss=loss,
        optimizer=optimizer,
        metrics=metrics,
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
        callbacks=_with_loggers(callbacks, log_dir, initial_epoch),
        validation_split=validation_split,
        validation_data=validation_data,
        shuffle=shuffle,
        clipnorm=clipnorm,
        clipvalue=clipvalue,
        initial_epoch=initial_epoch,
        generator=generator,
        validation_batch_size=validation_batch_size,
        terminate_on_nan=terminate_on_nan,
        extra_loss=extra_loss,
        callback_model=callback_model,
        stream=stream,
        global_clipnorm=global_clipnorm,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        keep_last=keep_last,
        sample_weight=sample_weight,
        class_weight=class_weight,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
    )
    return _strategy_for(distributed).fit(module, x, y, options, run_fit)


def fit_distributed(
    module: nn.Module,
    x: Any,
    y: Any,
    *,
    find_unused_parameters: bool = False,
    **fit_kwargs: Any,
) -> History:
    """``fit(module, x, y, **fit_kwargs)`` data-parallel over the current process group (or
    the one torchrun's environment describes, created here): the same weights as one process
    on the same global ``batch_size``. Every rank must call it with the same data and
    arguments. ``find_unused_parameters`` goes to ``DistributedDataParallel`` (needed when
    some parameters get no gradient in a step)."""
    strategy = DataParallel(find_unused_parameters)
    for name in ("distributed", "module", "x", "y"):
        if name in fit_kwargs:
            raise TypeError(f"fit_distributed: unexpected keyword argument {name!r}")
    return fit(module, x, y, distributed=strategy, **fit_kwargs)


def _strategy_for(distributed: bool | str | Strategy) -> Strategy:
    if isinstance(distributed, Strategy):
        return distributed
    return DataParallel() if wants_distributed(distributed) else OneProcess()


def _with_loggers(
    callbacks: Iterable[Callback], log_dir: str | os.PathLike[str] | None, initial_epoch: Any
) -> list[Callback]:
    """``callbacks`` checked, plus the default loggers writing to ``log_dir`` (appending to
    their files when the run starts after epoch 0)."""
    checked = check_callbacks(callbacks)
    if log_dir is None:
        return checked
    append = isinstance(initial_epoch, int) and initial_epoch > 0
    return checked + default_loggers(log_dir, append=append)


# --------------------------------------------------------------------------- train_on_batch
def train_on_batch(
    module: nn.Module,
    x: Any,
    y: Any,
    *,
    loss: LossLike,
    optimizer: OptimizerLike,
    metrics: Iterable[MetricLike] = (),
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    extra_loss: Callable[[], Tensor] | None = None,
    global_clipnorm: float | None = None,
    sample_weight: Any = None,
    class_weight: Mapping[int, float] | None = None,
) -> dict[str, float]:
    """One optimizer step on the whole ``(x, y)`` as a single batch (train mode), weighted by
    ``sample_weight`` or ``class_weight`` as in ``fit``.

    Returns ``{"loss": ..., <metric>: ...}`` for this batch (metrics computed on the outputs
    before the update, as in ``fit``). Named optimizers keep their state across calls.
    """
    module = check_module(module)
    check_clip(clipnorm, clipvalue, global_clipnorm)
    device, float_dtype = module_device_dtype(module)
    weights = check_class_weight(class_weight)
    if weights is not None and sample_weight is not None:
        raise ValueError("expected class_weight or sample_weight, got both (as Keras refuses)")
    data = array_data(x, y, sample_weight, float_dtype)
    if weights is not None:
        data = data._replace(sample_weight=class_sample_weights(data.targets, weights))
    loss_fn = get_loss(loss)
    tracker = Tracker(build_metrics(metrics, loss_fn))
    tracker.reset()
    opt = resolve_optimizer(optimizer, module)
    was_training = module.training
    try:
        module.train()
        train_step(
            module,
            opt,
            loss_fn,
            next(data.batches(data.samples, None, device)),
            tracker,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            extra_loss=extra_loss,
        )
    finally:
        module.train(was_training)
    return tracker.logs()
