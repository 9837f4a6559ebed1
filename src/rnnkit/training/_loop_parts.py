"""The building blocks of the loops in :mod:`._loop` and :mod:`._inference`.

Argument checks (module, clipping, ints, callbacks, validation data and split, checkpoint_dir
and the ``resume`` policy), optimizer resolution by name (kept per module), the metric list,
:class:`_Tracker` (sample-weighted running means), Keras's gradient clipping, one training step
(:func:`_train_step`, raising :class:`NonFiniteLossError`) and one evaluation pass
(:func:`_eval_pass`). Also the argument type aliases ``LossLike``, ``MetricLike`` and
``OptimizerLike``.
"""

from __future__ import annotations

import copy
import math
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._callback_base import Callback, _CallbackList
from ._checkpoint import Checkpoint, latest_checkpoint, read_checkpoint
from ._data import (
    Inputs,
    as_inputs,
    as_output,
    as_tensor,
    batch_slices,
    check_same_length,
    n_samples,
    n_steps,
    take,
)
from ._losses import Loss, is_binary_crossentropy
from ._metrics import AutoAccuracy, Metric, get_metric
from ._optimizers import OptimizerSpec, build_optimizer, get_optimizer
from ._progress import Progress

__all__ = ["LossLike", "MetricLike", "NonFiniteLossError", "OptimizerLike"]

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
