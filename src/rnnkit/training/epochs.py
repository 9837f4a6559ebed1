"""The one-process training loop, :func:`run_fit`, which every
:class:`~rnnkit.training.strategy.Strategy` runs: :func:`_prepare` checks the arguments and
builds a :class:`_Run` (data, loss, metrics, optimizer, callbacks, the checkpoint to resume
from), then each epoch is :func:`_train_epoch` (the batches) and :func:`_end_epoch`
(validation, ``on_epoch_end``, the checkpoint).

Logged values are sample-weighted means over the epoch (the last short batch counts by its size).
Per step, ``terminate_on_nan`` (on by default) reads the loss on the host; further host syncs
happen only when something reads the per-batch logs (a callback overriding a batch-end hook or
the in-place progress bar).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .batches import module_device_dtype
from .callbacks import Callback, History
from .callbacks.base import CallbackList, TrainState, check_callbacks, overrides
from .checkpoint import (
    Checkpoint,
    CheckpointMismatchError,
    apply_resume,
    check_resume,
    save_training_checkpoint,
)
from .losses import Loss, get_loss
from .metrics import Metric, build_metrics
from .optimizers import resolve_optimizer
from .options import (
    CheckedOptions,
    FitData,
    FitOptions,
    check_fit_options,
    check_module,
    find_resume,
    fit_data,
)
from .progress import Progress
from .step import Tracker, eval_pass, train_step

__all__ = ["run_fit"]


@dataclass
class _Run:
    """Everything one ``fit`` trains with, checked and built by :func:`_prepare`."""

    module: nn.Module
    device: torch.device
    options: FitOptions
    checked: CheckedOptions
    data: FitData
    loss_fn: Loss
    tracker: Tracker
    val_tracker: Tracker
    optimizer: torch.optim.Optimizer
    callbacks: list[Callback]
    cbs: CallbackList
    history: History
    state: TrainState
    progress: Progress
    generator: torch.Generator | None
    resume_from: Checkpoint | None
    want_batch_logs: bool

    @property
    def steps(self) -> int | None:
        """Batches per epoch (None: an iterable of unknown length)."""
        return self.data.train.steps(self.checked.batch_size)

    @property
    def shuffles(self) -> bool:
        """Whether a generator's state belongs in the checkpoints: fit shuffles the samples,
        or a DataLoader shuffles with its own generator."""
        return self.options.shuffle or self.data.train.generator is not None

    def epochs(self) -> range:
        """The epochs left to run (none when the resumed run had stopped early)."""
        ckpt = self.resume_from
        if ckpt is None:
            return range(self.checked.initial_epoch, self.checked.epochs)
        return range(ckpt.epoch, ckpt.epoch if ckpt.stopped else self.checked.epochs)


def run_fit(module: nn.Module, x: Any, y: Any, options: FitOptions) -> History:
    """The one-process training loop (what every :class:`Strategy` runs)."""
    run = _prepare(module, x, y, options)
    was_training = run.module.training
    epoch_logs: dict[str, float] = {}
    try:
        run.cbs.call("on_train_begin", {})
        if run.resume_from is not None:
            _apply_resume(run, run.resume_from)
        for epoch in run.epochs():
            epoch_logs = _train_epoch(run, epoch)
            if _end_epoch(run, epoch, epoch_logs):
                break
        run.cbs.call("on_train_end", dict(epoch_logs))
    finally:
        run.module.train(was_training)
    return run.history


def _prepare(module: Any, x: Any, y: Any, o: FitOptions) -> _Run:
    """Check the arguments, convert the data, resolve loss, metrics and optimizer, attach the
    callbacks and check the checkpoint to resume from (nothing changes before it fits)."""
    module = check_module(module)
    checked = check_fit_options(o)
    resume_from = find_resume(checked.checkpoint_root, o.resume)
    device, float_dtype = module_device_dtype(module)
    data = fit_data(x, y, o, float_dtype)
    loss_fn = get_loss(o.loss)
    train_metrics = build_metrics(o.metrics, loss_fn)
    opt = resolve_optimizer(o.optimizer, module)
    callbacks = check_callbacks(o.callbacks)
    history = next((cb for cb in callbacks if isinstance(cb, History)), None)
    if history is None:
        history = History()
        callbacks.append(history)
    progress = Progress(checked.verbose, o.stream)
    state = _attach(module, o, checked, data, opt, train_metrics, progress)
    cbs = CallbackList(callbacks)
    cbs.attach(state, state.params)
    generator = data.train.generator or _shuffling_generator(o)
    shuffles = o.shuffle or data.train.generator is not None
    if resume_from is not None:
        _check_resume(resume_from, module, opt, callbacks, generator, shuffles)
    return _Run(
        module=module,
        device=device,
        options=o,
        checked=checked,
        data=data,
        loss_fn=loss_fn,
        tracker=Tracker(train_metrics),
        val_tracker=Tracker(copy.deepcopy(train_metrics), prefix="val_"),
        optimizer=opt,
        callbacks=callbacks,
        cbs=cbs,
        history=history,
        state=state,
        progress=progress,
        generator=generator,
        resume_from=resume_from,
        want_batch_logs=overrides(callbacks, "on_train_batch_end", "on_batch_end"),
    )


def _attach(
    module: nn.Module,
    o: FitOptions,
    checked: CheckedOptions,
    data: FitData,
    opt: torch.optim.Optimizer,
    train_metrics: list[Metric],
    progress: Progress,
) -> TrainState:
    """The :class:`TrainState` the callbacks share (``params`` as Keras's)."""
    params = {
        "epochs": checked.epochs,
        "steps": data.train.steps(checked.batch_size),
        "verbose": checked.verbose,
        "batch_size": checked.batch_size,
        "samples": data.train.samples,
    }
    state = TrainState(
        module=module,
        model=module if o.callback_model is None else o.callback_model,
        optimizer=opt,
        params=params,
        directions={"loss": "down", **{m.name: m.direction for m in train_metrics}},
        progress=progress,
    )
    if hasattr(state.model, "stop_training"):
        state.model.stop_training = False
    return state


def _shuffling_generator(o: FitOptions) -> torch.Generator | None:
    """The given generator, or a new CPU one seeded from torch's global RNG when shuffling."""
    if o.shuffle and o.generator is None:
        seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())
        return torch.Generator().manual_seed(seed)
    return o.generator


def _check_resume(
    ckpt: Checkpoint,
    module: nn.Module,
    opt: torch.optim.Optimizer,
    callbacks: list[Callback],
    generator: torch.Generator | None,
    shuffle: bool,
) -> None:
    saved_shuffle = (ckpt.rng or {}).get("shuffle")
    if saved_shuffle is None and shuffle:
        raise CheckpointMismatchError(
            ckpt.path, "expected shuffle=False, as in the checkpointed run"
        )
    if saved_shuffle is not None and not shuffle:
        raise CheckpointMismatchError(
            ckpt.path, "expected shuffle=True, as in the checkpointed run"
        )
    check_resume(ckpt, module, opt, callbacks, generator)


def _apply_resume(run: _Run, ckpt: Checkpoint) -> None:
    apply_resume(ckpt, run.module, run.optimizer, run.callbacks, run.generator)
    run.progress.message(
        f"Resuming from {ckpt.path} ({ckpt.epoch} epoch(s) done"
        + (", stopped early)" if ckpt.stopped else ")")
    )


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """The batches of one epoch; returns the epoch's training logs."""
    o, data = run.options, run.data
    epochs, steps = run.checked.epochs, run.steps or 0
    run.state.epoch = epoch
    run.tracker.reset()
    run.cbs.call("on_epoch_begin", epoch, {})
    run.module.train()
    run.progress.begin(steps, epoch, epochs)
    order = data.train.shuffled(run.generator) if o.shuffle else None
    for step, batch in enumerate(data.train.batches(run.checked.batch_size, order, run.device)):
        run.cbs.call("on_train_batch_begin", step, {})
        train_step(
            run.module,
            run.optimizer,
            run.loss_fn,
            batch,
            run.tracker,
            clipnorm=o.clipnorm,
            clipvalue=o.clipvalue,
            global_clipnorm=o.global_clipnorm,
            extra_loss=o.extra_loss,
            check_finite_at=(epoch, epochs, step, steps) if o.terminate_on_nan else None,
        )
        show = run.progress.wants_update(step + 1)
        logs = run.tracker.logs() if (run.want_batch_logs or show) else {}
        run.cbs.call("on_train_batch_end", step, logs)
        if show:
            run.progress.update(step + 1, logs)
        if run.state.should_stop():
            break
    return run.tracker.logs()


def _end_epoch(run: _Run, epoch: int, epoch_logs: dict[str, float]) -> bool:
    """Validation, ``on_epoch_end``, the checkpoint; returns whether training stops."""
    o, val = run.options, run.data.validation
    if val is not None:
        size = run.checked.validation_batch_size
        val_logs = eval_pass(
            run.module,
            val.batches(size, None, run.device),
            val.steps(size) or 0,
            run.loss_fn,
            run.val_tracker,
            run.cbs,
            None,
            o.extra_loss,
        )
        epoch_logs.update(val_logs)
    run.cbs.call("on_epoch_end", epoch, epoch_logs)
    run.progress.end(epoch_logs)
    stop = run.state.should_stop()
    root = run.checked.checkpoint_root
    # a distributed run's wrapper says False on ranks other than 0 (rank-0 checkpoints)
    if root is not None and getattr(run.module, "writes_checkpoints", True):
        save_training_checkpoint(
            root,
            epoch=epoch + 1,
            epochs=run.checked.epochs,
            module=run.module,
            optimizer=run.optimizer,
            callbacks=run.callbacks,
            generator=run.generator if run.shuffles else None,
            params={**run.state.params, "shuffle": o.shuffle},
            stopped=stop,
            keep_last=o.keep_last,
        )
    return stop
