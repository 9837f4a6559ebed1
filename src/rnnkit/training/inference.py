"""Evaluation and prediction: :func:`evaluate` (loss and metrics in eval mode) and
:func:`predict` (the module's outputs as numpy arrays), for any ``torch.nn.Module``.

Both run under ``torch.no_grad()`` in eval mode and restore the module's training flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, TextIO

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .batches import (
    as_inputs,
    as_output,
    batch_slices,
    check_batch_size,
    module_device_dtype,
    n_samples,
    take,
)
from .callbacks.base import Callback, CallbackList, TrainState, check_callbacks
from .loaders import is_batch_source
from .losses import LossLike, get_loss
from .metrics import MetricLike, build_metrics
from .options import array_data, batch_source, check_module
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
    sample_weight: Any = None,
    steps: int | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``module`` on ``(x, y)`` in eval mode under ``torch.no_grad()``,
    weighted by ``sample_weight`` (and the output mask) as in ``fit``; ``x`` may be a
    Dataset, DataLoader or iterable of ``(x, y[, sample_weight])`` batches (``y=None``, at
    most ``steps`` batches).

    Returns ``{"loss": ..., <metric name>: ...}``, sample-weighted means over all batches.
    """
    module = check_module(module)
    batch_size = check_batch_size(batch_size)
    verbose = normalize_verbose(verbose)
    device, float_dtype = module_device_dtype(module)
    data = (
        batch_source(x, steps, float_dtype)
        if is_batch_source(x)
        else array_data(x, y, sample_weight, float_dtype)
    )
    loss_fn = get_loss(loss)
    tracker = Tracker(build_metrics(metrics, loss_fn))
    cb_list = check_callbacks(callbacks)
    cbs = CallbackList(cb_list)
    progress = Progress(verbose, stream)
    params = {
        "steps": data.steps(batch_size),
        "verbose": verbose,
        "batch_size": batch_size,
        "samples": data.samples,
    }
    state = TrainState(module=module, model=callback_model, params=params, progress=progress)
    cbs.attach(state, params)
    was_training = module.training
    try:
        cbs.call("on_test_begin", {})
        batches = data.batches(batch_size, None, device)
        n = data.steps(batch_size) or 0
        logs = eval_pass(module, batches, n, loss_fn, tracker, cbs, progress, extra_loss)
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


def _input_batches(
    x: Any, batch_size: int, float_dtype: torch.dtype, device: torch.device
) -> tuple[Iterator[tuple[Tensor, ...]], int, int | None]:
    """``(batches of inputs on device, steps, samples)``: array rows, or the ``x`` of each
    batch of a DataLoader / iterable (a tuple ``(x, ...)`` gives its first item, as Keras)."""
    if not is_batch_source(x):
        inputs = as_inputs(x, float_dtype)
        n = n_samples(inputs)
        slices = batch_slices(n, batch_size, None)
        return (take(inputs, idx, device) for idx in slices), len(slices), n

    if isinstance(x, Dataset) and not isinstance(x, IterableDataset):
        x = DataLoader(x, batch_size=batch_size)  # samples -> batches

    def loader_inputs() -> Iterator[tuple[Tensor, ...]]:
        for raw in x:
            xb = raw[0] if isinstance(raw, (list, tuple)) and 1 <= len(raw) <= 3 else raw
            yield tuple(t.to(device) for t in as_inputs(xb, float_dtype))

    length = len(x) if isinstance(x, Sized) else 0
    return loader_inputs(), length, None


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
    batches, steps, n = _input_batches(x, batch_size, float_dtype, device)
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
            for step, inputs in enumerate(batches):
                cbs.call("on_predict_batch_begin", step, {})
                out = module(*inputs)
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
