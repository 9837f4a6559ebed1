"""Evaluation and prediction: :func:`evaluate` (loss and metrics in eval mode) and
:func:`predict` (the module's outputs as numpy arrays), for any ``torch.nn.Module``.

Both run under ``torch.no_grad()`` in eval mode and restore the module's training flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

import numpy as np
import torch
from torch import Tensor, nn

from .batches import (
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
from .callbacks.base import Callback, CallbackList, TrainState, check_callbacks
from .losses import LossLike, get_loss
from .metrics import MetricLike, build_metrics
from .options import check_module
from .progress import Progress, normalize_verbose
from .step import Tracker, eval_pass

__all__ = ["evaluate", "predict"]


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
    module = check_module(module)
    batch_size = check_batch_size(batch_size)
    verbose = normalize_verbose(verbose)
    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    targets = as_tensor(y, float_dtype, "y")
    check_same_length(inputs, targets)
    loss_fn = get_loss(loss)
    tracker = Tracker(build_metrics(metrics, loss_fn))
    cb_list = check_callbacks(callbacks)
    cbs = CallbackList(cb_list)
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
        logs = eval_pass(
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
    module = check_module(module)
    batch_size = check_batch_size(batch_size)
    verbose = normalize_verbose(verbose)
    device, float_dtype = module_device_dtype(module)
    inputs = as_inputs(x, float_dtype)
    n = n_samples(inputs)
    steps = n_steps(n, batch_size)
    cb_list = check_callbacks(callbacks)
    cbs = CallbackList(cb_list)
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
