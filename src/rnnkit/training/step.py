"""One training step and one evaluation pass, shared by ``fit``, ``train_on_batch`` and
``evaluate``: :func:`train_step` (``zero_grad -> forward -> loss -> backward -> clip -> step``,
raising :class:`NonFiniteLossError`), Keras's gradient clipping (:func:`clip_gradients`),
:func:`eval_pass` and :class:`Tracker` (sample-weighted running means of the loss and metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .batches import Batch, as_output
from .callbacks.base import CallbackList, overrides
from .losses import Loss
from .metrics import Metric
from .progress import Progress
from .weighting import output_mask

__all__ = [
    "NonFiniteLossError",
    "Tracker",
    "batch_loss",
    "clip_gradients",
    "eval_pass",
    "train_step",
]


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


def clip_gradients(
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


class Tracker:
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
    def update(self, loss: Tensor, batch: Batch, y_pred: Tensor, mask: Tensor | None) -> None:
        """Add a batch's loss (weighted by its size, as Keras's loss tracker) and update the
        metrics on the valid entries of the output mask (Keras's ``metrics`` are not weighted
        by the sample weights; those weigh the loss only)."""
        dtype = torch.float32 if loss.device.type == "mps" else torch.float64
        weighted = loss.detach().to(dtype) * batch.size
        self.total = weighted if self.total is None else self.total + weighted
        self.count += batch.size
        for m in self.metrics:
            m.update_state(batch.targets, y_pred, None, mask)

    def logs(self) -> dict[str, float]:
        if self.total is None or self.count == 0:
            return {}
        loss = self.total / self.count
        parts = [loss] + [m.result_tensor().to(loss.device, loss.dtype) for m in self.metrics]
        values = torch.stack(parts).tolist()
        names = ["loss"] + [m.name for m in self.metrics]
        return {self.prefix + n: float(v) for n, v in zip(names, values, strict=True)}


def check_scalar_loss(value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"expected the loss to return a torch.Tensor, got {type(value).__name__}")
    if value.numel() != 1:
        raise ValueError(f"expected the loss to return a scalar, got shape {tuple(value.shape)}")
    return value.reshape(())


def batch_loss(
    module: nn.Module, loss_fn: Loss, batch: Batch, extra_loss: Callable[[], Tensor] | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(loss, y_pred, output mask)`` of one batch: the module's outputs, the output mask it
    attached (masked entries are left out of the loss) and the sample weights."""
    y_pred = as_output(module(*batch.inputs))
    mask = output_mask(y_pred)
    loss_value = check_scalar_loss(loss_fn(batch.targets, y_pred, batch.sample_weight, mask))
    if extra_loss is not None:
        loss_value = loss_value + extra_loss()
    return loss_value, y_pred, mask


def train_step(
    module: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Loss,
    batch: Batch,
    tracker: Tracker,
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
    loss_value, y_pred, mask = batch_loss(module, loss_fn, batch, extra_loss)
    if check_finite_at is not None and not bool(torch.isfinite(loss_value)):
        raise NonFiniteLossError(*check_finite_at, value=float(loss_value.detach()))
    loss_value.backward()
    if clipnorm is not None or clipvalue is not None or global_clipnorm is not None:
        grads = [
            p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None
        ]
        clip_gradients(grads, clipnorm, clipvalue, global_clipnorm)
    opt.step()
    tracker.update(loss_value, batch, y_pred.detach(), mask)


def eval_pass(
    module: nn.Module,
    batches: Iterable[Batch],
    steps: int,
    loss_fn: Loss,
    tracker: Tracker,
    cbs: CallbackList | None,
    progress: Progress | None,
    extra_loss: Callable[[], Tensor] | None,
) -> dict[str, float]:
    """One pass over ``batches`` (``steps`` of them) in eval mode without gradients; returns
    the logs."""
    want_batch_logs = cbs is not None and overrides(cbs.callbacks, "on_test_batch_end")
    tracker.reset()
    module.eval()
    if progress is not None:
        progress.begin(steps)
    with torch.no_grad():
        for step, batch in enumerate(batches):
            if cbs is not None:
                cbs.call("on_test_batch_begin", step, {})
            loss_value, y_pred, mask = batch_loss(module, loss_fn, batch, extra_loss)
            tracker.update(loss_value, batch, y_pred, mask)
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
