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
"""

from __future__ import annotations

import copy
import math
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
import torch
from torch import Tensor, nn

from ._callbacks import Callback, History, TrainState, _CallbackList
from ._checkpoint import (
    Checkpoint,
    CheckpointMismatchError,
    apply_resume,
    check_resume,
    latest_checkpoint,
    read_checkpoint,
    save_training_checkpoint,
)
from ._data import (
    Inputs,
    as_inputs,
    as_output,
    as_tensor,
    batch_slices,
    check_batch_size,
    check_same_length,
    module_device_dtype,
    n_samples,
    n_steps,
    take,
)
from ._losses import Loss, get_loss, is_binary_crossentropy
from ._metrics import AutoAccuracy, Metric, get_metric
from ._optimizers import OptimizerSpec, build_optimizer, get_optimizer
from ._progress import Progress, normalize_verbose

__all__ = ["NonFiniteLossError", "evaluate", "fit", "predict", "train_on_batch"]

LossLike = str | Loss | nn.Module | Callable[..., Tensor]
MetricLike = str | Metric | Callable[..., Tensor]
OptimizerLike = str | OptimizerSpec | torch.optim.Optimizer


class NonFiniteLossError(FloatingPointError):
    """Raised by ``fit(..., terminate_on_nan=True)`` before the update of a step whose loss is
    NaN or infinite (the weights are left as they were before that step).

    Attributes: ``epoch`` and ``step`` (0-based), ``value`` (the loss).
    """

    def __init__(self, epoch: int, epochs: int, step: int, steps: int, value: float) -> None:
        self.epoch = epoch
        self.step = step
        self.value = value
        super().__init__(
            f"non-finite loss {value} at epoch {epoch + 1}/{epochs}, step {step + 1}/{steps}; "
            "expected a finite loss (try a lower learning rate, clipnorm, or check the data "
            "for NaN/Inf)"
        )


# --------------------------------------------------------------------------- helpers
_NAMED_OPTIMIZERS: weakref.WeakKeyDictionary[nn.Module, dict[str, OptimizerSpec]] = (
    weakref.WeakKeyDictionary()
)


def _resolve_optimizer(optimizer: OptimizerLike, module: nn.Module) -> torch.optim.Optimizer:
    """Names are resolved once per (module, name), so the optimizer state persists across
    ``fit`` / ``train_on_batch`` calls like a compiled Keras optimizer's."""
    if isinstance(optimizer, str):
        per_module = _NAMED_OPTIMIZERS.setdefault(module, {})
        key = optimizer.lower()
        spec = per_module.get(key)
        if spec is None:
            resolved = get_optimizer(optimizer)
            if not isinstance(resolved, OptimizerSpec):  # pragma: no cover - names give specs
                raise TypeError(f"expected an optimizer spec for {optimizer!r}")
            spec = per_module[key] = resolved
        return spec.bind(module)
    return build_optimizer(optimizer, module)


def _check_module(module: Any) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    return module


def _check_clip(
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


def _clip_gradients(
    grads: list[Tensor],
    clipnorm: float | None,
    clipvalue: float | None,
    global_clipnorm: float | None,
) -> None:
    """Keras 3's optimizer clipping, in place.

    * ``clipvalue``: every element to ``[-clipvalue, clipvalue]``;
    * ``clipnorm``: every gradient ``g`` separately, ``g <- g * c / max(||g||_2, c)``;
    * ``global_clipnorm``: all together, ``g <- g * c / max(sqrt(sum_i ||g_i||^2), c)``.

    A gradient already within the bound is multiplied by exactly 1.
    """
    if not grads:
        return
    if clipvalue is not None:
        for g in grads:
            g.clamp_(-clipvalue, clipvalue)
    elif clipnorm is not None:
        for g in grads:
            norm = torch.linalg.vector_norm(g)
            g.mul_(clipnorm / torch.clamp(norm, min=clipnorm))
    elif global_clipnorm is not None:
        dtype = grads[0].dtype
        for g in grads[1:]:
            dtype = torch.promote_types(dtype, g.dtype)
        norms = torch.stack([torch.linalg.vector_norm(g).to(dtype) for g in grads])
        total = torch.linalg.vector_norm(norms)
        scale = global_clipnorm / torch.clamp(total, min=global_clipnorm)
        for g in grads:
            g.mul_(scale.to(g.dtype))


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"expected {name} to be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def _build_metrics(metrics: Iterable[MetricLike] | MetricLike, loss_fn: Loss) -> list[Metric]:
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]  # type: ignore[list-item]
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(f"expected metrics as a list or tuple, got {type(metrics).__name__}")
    binary = is_binary_crossentropy(loss_fn)
    out = []
    for m in metrics:
        metric = get_metric(m, binary_loss=binary)
        if isinstance(metric, AutoAccuracy) and metric.binary is None:
            metric = copy.copy(metric)  # resolved for this loss; the caller's object is unchanged
            metric.binary = binary
        out.append(metric)
    names = [m.name for m in out]
    for name in names:
        if name == "loss" or name.startswith("val_"):
            raise ValueError(f"expected metric names other than 'loss' and 'val_*', got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"expected distinct metric names, got {names}")
    return out


def _check_callbacks(callbacks: Iterable[Callback]) -> list[Callback]:
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    out = list(callbacks)
    for cb in out:
        if not isinstance(cb, Callback):
            raise TypeError(f"expected Callback instances in callbacks, got {type(cb).__name__}")
    return out


def _overrides(callbacks: Sequence[Callback], *hooks: str) -> bool:
    """True when some callback overrides one of ``hooks`` (so it wants per-batch logs)."""
    return any(getattr(type(cb), h) is not getattr(Callback, h) for cb in callbacks for h in hooks)


class _Tracker:
    """Sample-weighted running mean of the loss plus the metrics; one host sync per read."""

    def __init__(self, metrics: list[Metric], prefix: str = "") -> None:
        self.metrics = metrics
        self.prefix = prefix
        self.total: Tensor | None = None
        self.count = 0

    def reset(self) -> None:
        self.total = None
        self.count = 0
        for m in self.metrics:
            m.reset_state()

    @torch.no_grad()
    def update(self, loss: Tensor, y_true: Tensor, y_pred: Tensor, batch: int) -> None:
        dtype = torch.float32 if loss.device.type == "mps" else torch.float64
        weighted = loss.detach().to(dtype) * batch
        self.total = weighted if self.total is None else self.total + weighted
        self.count += batch
        for m in self.metrics:
            m.update_state(y_true, y_pred)

    def logs(self) -> dict[str, float]:
        if self.total is None or self.count == 0:
            return {}
        loss = self.total / self.count
        parts = [loss] + [m.result_tensor().to(loss.device, loss.dtype) for m in self.metrics]
        values = torch.stack(parts).tolist()
        names = ["loss"] + [m.name for m in self.metrics]
        return {self.prefix + n: float(v) for n, v in zip(names, values, strict=True)}


def _check_scalar_loss(value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"expected the loss to return a torch.Tensor, got {type(value).__name__}")
    if value.numel() != 1:
        raise ValueError(f"expected the loss to return a scalar, got shape {tuple(value.shape)}")
    return value.reshape(())


def _train_step(
    module: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Loss,
    xb: Sequence[Tensor],
    yb: Tensor,
    tracker: _Tracker,
    *,
    clipnorm: float | None,
    clipvalue: float | None,
    extra_loss: Callable[[], Tensor] | None,
    check_finite_at: tuple[int, int, int, int] | None = None,
    global_clipnorm: float | None = None,
) -> None:
    """``zero_grad -> forward -> loss -> backward -> clip -> step``, then track the loss and
    metrics (on the outputs before the update). With ``check_finite_at=(epoch, epochs, step,
    steps)`` a NaN/Inf loss raises :class:`NonFiniteLossError` before ``backward``."""
    opt.zero_grad(set_to_none=True)
    y_pred = as_output(module(*xb))
    loss_value = _check_scalar_loss(loss_fn(yb, y_pred))
    if extra_loss is not None:
        loss_value = loss_value + extra_loss()
    if check_finite_at is not None and not bool(torch.isfinite(loss_value)):
        raise NonFiniteLossError(*check_finite_at, value=float(loss_value.detach()))
    loss_value.backward()
    if clipnorm is not None or clipvalue is not None or global_clipnorm is not None:
        grads = [
            p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None
        ]
        _clip_gradients(grads, clipnorm, clipvalue, global_clipnorm)
    opt.step()
    tracker.update(loss_value, yb, y_pred.detach(), int(yb.shape[0]))


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


def _split(
    inputs: Inputs, y: Tensor, validation_split: float
) -> tuple[Inputs, Tensor, Inputs, Tensor]:
    """Keras: the last ``validation_split`` fraction (before shuffling) is validation data."""
    n = n_samples(inputs)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split}: expected enough samples to split into a "
            f"training and a validation set, got {n} samples"
        )
    return (
        tuple(t[:split_at] for t in inputs),
        y[:split_at],
        tuple(t[split_at:] for t in inputs),
        y[split_at:],
    )


def _eval_pass(
    module: nn.Module,
    inputs: Inputs,
    y: Tensor,
    loss_fn: Loss,
    tracker: _Tracker,
    batch_size: int,
    device: torch.device,
    cbs: _CallbackList | None,
    progress: Progress | None,
    extra_loss: Callable[[], Tensor] | None,
) -> dict[str, float]:
    """One pass over ``(inputs, y)`` in eval mode without gradients; returns the logs."""
    n = n_samples(inputs)
    steps = n_steps(n, batch_size)
    want_batch_logs = cbs is not None and _overrides(cbs.callbacks, "on_test_batch_end")
    tracker.reset()
    module.eval()
    if progress is not None:
        progress.begin(steps)
    with torch.no_grad():
        for step, idx in enumerate(batch_slices(n, batch_size, None)):
            if cbs is not None:
                cbs.call("on_test_batch_begin", step, {})
            *xb, yb = take([*inputs, y], idx, device)
            y_pred = as_output(module(*xb))
            loss_value = _check_scalar_loss(loss_fn(yb, y_pred))
            if extra_loss is not None:
                loss_value = loss_value + extra_loss()
            tracker.update(loss_value, yb, y_pred, int(yb.shape[0]))
            show = progress is not None and progress.wants_update(step + 1)
            logs = tracker.logs() if (want_batch_logs or show) else {}
            if cbs is not None:
                cbs.call("on_test_batch_end", step, logs)
            if show and progress is not None:
                progress.update(step + 1, logs)
    logs = tracker.logs()
    if progress is not None:
        progress.end(logs)
    return logs


def _check_checkpoint_args(checkpoint_dir: Any, resume: Any, keep_last: Any) -> Path | None:
    if not (isinstance(resume, bool) or resume == "auto"):
        raise ValueError(f"expected resume to be 'auto', True or False, got {resume!r}")
    _check_int("keep_last", keep_last, 1)
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


def _find_resume(root: Path | None, resume: bool | str) -> Checkpoint | None:
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


# --------------------------------------------------------------------------- evaluate
def evaluate(
    module: nn.Module,
    x: Any,
    y: Any,
    *,
    loss: LossLike,
    metrics: Iterable[MetricLike] = (),
    batch_size: int = 32,
    verbose: int | str = "auto",
    callbacks: Iterable[Callback] = (),
    extra_loss: Callable[[], Tensor] | None = None,
    callback_model: Any = None,
    stream: TextIO | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``module`` on ``(x, y)`` in eval mode under ``torch.no_grad()``.

    Returns ``{"loss": ..., <metric name>: ...}``, sample-weighted means over all batches.
    """
    module = _check_module(module)
    batch_size = check_batch_size(batch_size)
    verbose = normalize_verbose(verbose)
    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    targets = as_tensor(y, float_dtype, "y")
    check_same_length(inputs, targets)
    loss_fn = get_loss(loss)
    tracker = _Tracker(_build_metrics(metrics, loss_fn))
    cb_list = _check_callbacks(callbacks)
    cbs = _CallbackList(cb_list)
    progress = Progress(verbose, stream)
    params = {
        "steps": n_steps(n_samples(inputs), batch_size),
        "verbose": verbose,
        "batch_size": batch_size,
        "samples": n_samples(inputs),
    }
    state = TrainState(module=module, model=callback_model, params=params, progress=progress)
    cbs.attach(state, params)
    was_training = module.training
    try:
        cbs.call("on_test_begin", {})
        logs = _eval_pass(
            module, inputs, targets, loss_fn, tracker, batch_size, device, cbs, progress, extra_loss
        )
        cbs.call("on_test_end", dict(logs))
    finally:
        module.train(was_training)
    return logs


# --------------------------------------------------------------------------- predict
def _to_numpy(t: Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.numpy()


def predict(
    module: nn.Module,
    x: Any,
    *,
    batch_size: int = 32,
    verbose: int | str = 0,
    callbacks: Iterable[Callback] = (),
    callback_model: Any = None,
    stream: TextIO | None = None,
) -> Any:
    """Outputs of ``module`` on ``x`` in eval mode under ``torch.no_grad()``, batch outputs
    concatenated along axis 0: ``np.ndarray (samples, ...)``; a module returning a tuple/list
    of tensors gives a list of arrays."""
    module = _check_module(module)
    batch_size = check_batch_size(batch_size)
    verbose = normalize_verbose(verbose)
    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    n = n_samples(inputs)
    steps = n_steps(n, batch_size)
    cb_list = _check_callbacks(callbacks)
    cbs = _CallbackList(cb_list)
    progress = Progress(verbose, stream)
    params = {"steps": steps, "verbose": verbose, "batch_size": batch_size, "samples": n}
    state = TrainState(module=module, model=callback_model, params=params, progress=progress)
    cbs.attach(state, params)
    outs: list[Tensor | tuple[Tensor, ...]] = []
    multi: bool | None = None
    was_training = module.training
    try:
        module.eval()
        cbs.call("on_predict_begin", {})
        progress.begin(steps)
        with torch.no_grad():
            for step, idx in enumerate(batch_slices(n, batch_size, None)):
                cbs.call("on_predict_batch_begin", step, {})
                out = module(*take(inputs, idx, device))
                is_multi = isinstance(out, (tuple, list))
                if multi is None:
                    multi = is_multi
                if is_multi:
                    parts = tuple(as_output(o, "module output item") for o in out)
                    outs.append(parts)
                else:
                    outs.append(as_output(out))
                cbs.call("on_predict_batch_end", step, {"outputs": outs[-1]})
                if progress.wants_update(step + 1):
                    progress.update(step + 1, {})
        progress.end({})
        cbs.call("on_predict_end", {})
    finally:
        module.train(was_training)
    if multi:
        groups = list(zip(*outs, strict=True))
        return [_to_numpy(torch.cat(list(g), dim=0)) for g in groups]
    return _to_numpy(torch.cat([o for o in outs if isinstance(o, Tensor)], dim=0))


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
