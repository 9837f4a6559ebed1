"""The training / evaluation / prediction loops, for any ``torch.nn.Module``.

The loop knows nothing of the model: it calls ``module(*inputs)`` on a batch of inputs
``(batch, ...)`` and compares the output with the targets through a Keras-order loss
``loss(y_true, y_pred) -> scalar``. One training step::

    zero_grad -> y_pred = module(*x_b) -> L = loss(y_b, y_pred) [+ extra_loss()]
      -> [terminate_on_nan: L finite?] -> L.backward()
      -> clip (clipvalue | clipnorm per variable | global_clipnorm on the total norm)
      -> optimizer.step()

Logged values are sample-weighted means over the epoch (the last short batch counts by its size).
Per step, ``terminate_on_nan`` (on by default) reads the loss on the host; further host syncs
happen only when something reads the per-batch logs (a callback overriding a batch-end hook or
the in-place progress bar).

With ``checkpoint_dir`` the loop writes an atomic checkpoint after every epoch (see
:mod:`rnnkit.training._checkpoint`) and ``resume="auto"`` continues from the newest one, bit for
bit as if the run had not been interrupted (same device, same versions).

Here: :func:`fit` and :func:`train_on_batch`. :func:`evaluate` and :func:`predict` live in
:mod:`._inference`, the argument checks, the metric tracker and the single training step /
evaluation pass in :mod:`._loop_parts`; all public names are importable from this module.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal, TextIO

import torch
from torch import Tensor, nn

from ._callback_base import Callback, TrainState, _CallbackList
from ._callbacks import History
from ._checkpoint import (
    CheckpointMismatchError,
    apply_resume,
    check_resume,
    save_training_checkpoint,
)
from ._data import (
    Inputs,
    as_inputs,
    as_tensor,
    batch_slices,
    check_batch_size,
    check_same_length,
    module_device_dtype,
    n_samples,
    n_steps,
    take,
)
from ._inference import evaluate, predict
from ._loop_parts import (
    LossLike,
    MetricLike,
    NonFiniteLossError,
    OptimizerLike,
    _as_validation,
    _build_metrics,
    _check_callbacks,
    _check_checkpoint_args,
    _check_clip,
    _check_int,
    _check_module,
    _eval_pass,
    _find_resume,
    _overrides,
    _resolve_optimizer,
    _split,
    _Tracker,
    _train_step,
)
from ._losses import get_loss
from ._progress import Progress, normalize_verbose

__all__ = ["NonFiniteLossError", "evaluate", "fit", "predict", "train_on_batch"]


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
    distributed: bool | Literal["auto"] = False,
    log_dir: str | os.PathLike[str] | None = None,
) -> History:
    """Train ``module`` on ``(x, y)`` for ``epochs`` epochs (Keras ``Model.fit`` semantics).

    Args:
        module: any ``nn.Module``; called as ``module(*inputs)`` on ``(batch, ...)`` tensors.
        x: array / tensor ``(samples, ...)`` or a list/tuple of them (multi-input).
        y: targets ``(samples, ...)``; integer labels stay int64 (sparse losses).
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
        distributed: ``True`` / ``"auto"``: data-parallel over ``torch.distributed``
            (torchrun), same weights as one process on the same global ``batch_size``
            (:mod:`rnnkit.training._distributed`); ``"auto"`` only when the world size is > 1.
        log_dir: also log every epoch to ``log_dir/history.csv`` and ``log_dir/history.jsonl``.

    Returns:
        The :class:`History` (``history.history[key]`` per epoch, ``history.epoch``).
    """
    if distributed is not False or log_dir is not None:  # must stay first: passes locals()
        from ._distributed import dispatch_fit

        return dispatch_fit(dict(locals()))
    module = _check_module(module)
    batch_size = check_batch_size(batch_size)
    epochs = _check_int("epochs", epochs, 0)
    initial_epoch = _check_int("initial_epoch", initial_epoch, 0)
    val_batch_size = (
        batch_size
        if validation_batch_size is None
        else check_batch_size(validation_batch_size, "validation_batch_size")
    )
    if not isinstance(shuffle, bool):
        raise TypeError(f"expected shuffle to be a bool, got {type(shuffle).__name__}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
        raise TypeError(
            f"expected validation_split to be a float, got {type(validation_split).__name__}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"expected validation_split in [0, 1), got {validation_split}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"expected generator to be a torch.Generator, got {type(generator).__name__}"
        )
    _check_clip(clipnorm, clipvalue, global_clipnorm)
    verbose = normalize_verbose(verbose)
    if not isinstance(terminate_on_nan, bool):
        raise TypeError(
            f"expected terminate_on_nan to be a bool, got {type(terminate_on_nan).__name__}"
        )
    ckpt_root = _check_checkpoint_args(checkpoint_dir, resume, keep_last)
    resume_from = _find_resume(ckpt_root, resume)

    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    targets = as_tensor(y, float_dtype, "y")
    check_same_length(inputs, targets)
    val: tuple[Inputs, Tensor] | None = None
    if validation_data is not None:
        val = _as_validation(validation_data, float_dtype)
    elif validation_split > 0:
        inputs, targets, xv, yv = _split(inputs, targets, validation_split)
        val = (xv, yv)

    loss_fn = get_loss(loss)
    train_metrics = _build_metrics(metrics, loss_fn)
    tracker = _Tracker(train_metrics)
    val_tracker = _Tracker(copy.deepcopy(train_metrics), prefix="val_")
    opt = _resolve_optimizer(optimizer, module)

    cb_list = _check_callbacks(callbacks)
    history = next((cb for cb in cb_list if isinstance(cb, History)), None)
    if history is None:
        history = History()
        cb_list.append(history)
    cbs = _CallbackList(cb_list)

    n = n_samples(inputs)
    steps = n_steps(n, batch_size)
    progress = Progress(verbose, stream)
    params = {
        "epochs": epochs,
        "steps": steps,
        "verbose": verbose,
        "batch_size": batch_size,
        "samples": n,
    }
    state = TrainState(
        module=module,
        model=module if callback_model is None else callback_model,
        optimizer=opt,
        params=params,
        directions={"loss": "down", **{m.name: m.direction for m in train_metrics}},
        progress=progress,
    )
    if hasattr(state.model, "stop_training"):
        state.model.stop_training = False
    cbs.attach(state, params)
    want_batch_logs = _overrides(cb_list, "on_train_batch_end", "on_batch_end")

    if shuffle and generator is None:
        seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())
        generator = torch.Generator().manual_seed(seed)
    start_epoch = initial_epoch
    if resume_from is not None:
        if (resume_from.rng or {}).get("shuffle") is None and shuffle:
            raise CheckpointMismatchError(
                resume_from.path, "expected shuffle=False, as in the checkpointed run"
            )
        if (resume_from.rng or {}).get("shuffle") is not None and not shuffle:
            raise CheckpointMismatchError(
                resume_from.path, "expected shuffle=True, as in the checkpointed run"
            )
        check_resume(resume_from, module, opt, cb_list, generator)
        start_epoch = resume_from.epoch
    was_training = module.training
    epoch_logs: dict[str, float] = {}
    try:
        cbs.call("on_train_begin", {})
        if resume_from is not None:
            apply_resume(resume_from, module, opt, cb_list, generator)
            progress.message(
                f"Resuming from {resume_from.path} ({resume_from.epoch} epoch(s) done"
                + (", stopped early)" if resume_from.stopped else ")")
            )
        stopped = resume_from is not None and resume_from.stopped
        for epoch in range(start_epoch, start_epoch if stopped else epochs):
            state.epoch = epoch
            tracker.reset()
            cbs.call("on_epoch_begin", epoch, {})
            module.train()
            progress.begin(steps, epoch, epochs)
            order = torch.randperm(n, generator=generator) if shuffle else None
            for step, idx in enumerate(batch_slices(n, batch_size, order)):
                cbs.call("on_train_batch_begin", step, {})
                *xb, yb = take([*inputs, targets], idx, device)
                _train_step(
                    module,
                    opt,
                    loss_fn,
                    xb,
                    yb,
                    tracker,
                    clipnorm=clipnorm,
                    clipvalue=clipvalue,
                    global_clipnorm=global_clipnorm,
                    extra_loss=extra_loss,
                    check_finite_at=(epoch, epochs, step, steps) if terminate_on_nan else None,
                )
                show = progress.wants_update(step + 1)
                logs = tracker.logs() if (want_batch_logs or show) else {}
                cbs.call("on_train_batch_end", step, logs)
                if show:
                    progress.update(step + 1, logs)
                if state.should_stop():
                    break
            epoch_logs = tracker.logs()
            if val is not None:
                val_logs = _eval_pass(
                    module,
                    val[0],
                    val[1],
                    loss_fn,
                    val_tracker,
                    val_batch_size,
                    device,
                    cbs,
                    None,
                    extra_loss,
                )
                epoch_logs.update(val_logs)
            cbs.call("on_epoch_end", epoch, epoch_logs)
            progress.end(epoch_logs)
            stop = state.should_stop()
            # a distributed run's wrapper says False on ranks other than 0 (rank-0 checkpoints)
            if ckpt_root is not None and getattr(module, "writes_checkpoints", True):
                save_training_checkpoint(
                    ckpt_root,
                    epoch=epoch + 1,
                    epochs=epochs,
                    module=module,
                    optimizer=opt,
                    callbacks=cb_list,
                    generator=generator if shuffle else None,
                    params={**params, "shuffle": shuffle},
                    stopped=stop,
                    keep_last=keep_last,
                )
            if stop:
                break
        cbs.call("on_train_end", dict(epoch_logs))
    finally:
        module.train(was_training)
    return history


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
) -> dict[str, float]:
    """One optimizer step on the whole ``(x, y)`` as a single batch (train mode).

    Returns ``{"loss": ..., <metric>: ...}`` for this batch (metrics computed on the outputs
    before the update, as in ``fit``). Named optimizers keep their state across calls.
    """
    module = _check_module(module)
    _check_clip(clipnorm, clipvalue, global_clipnorm)
    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    targets = as_tensor(y, float_dtype, "y")
    check_same_length(inputs, targets)
    loss_fn = get_loss(loss)
    tracker = _Tracker(_build_metrics(metrics, loss_fn))
    tracker.reset()
    opt = _resolve_optimizer(optimizer, module)
    *xb, yb = take([*inputs, targets], slice(None), device)
    was_training = module.training
    try:
        module.train()
        _train_step(
            module,
            opt,
            loss_fn,
            xb,
            yb,
            tracker,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            extra_loss=extra_loss,
        )
    finally:
        module.train(was_training)
    return tracker.logs()
