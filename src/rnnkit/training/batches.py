"""Input validation, conversion to torch and batching.

``x`` is an array / tensor ``(samples, ...)`` or a list/tuple of them (multi-input modules are
called ``module(*inputs)``); ``y`` is an array / tensor ``(samples, ...)``. Floating and boolean
data take the module's parameter dtype (float32 unless the module is float64); integer data
become int64 (class labels, token ids). Data stay where they are and each batch moves to the
module's device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "ArrayData",
    "Batch",
    "Inputs",
    "as_inputs",
    "as_output",
    "as_tensor",
    "as_weights",
    "batch_slices",
    "check_batch_size",
    "check_same_length",
    "module_device_dtype",
    "n_samples",
    "n_steps",
    "take",
]

#: Converted ``x``: one tensor per module input.
Inputs = tuple[Tensor, ...]


def module_device_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device of the first parameter (or buffer) and dtype of the first floating parameter
    (float32 when the module has none)."""
    device = torch.device("cpu")
    for t in [*module.parameters(), *module.buffers()]:
        device = t.device
        break
    dtype = torch.float32
    for p in module.parameters():
        if p.is_floating_point():
            dtype = p.dtype
            break
    return device, dtype


def as_tensor(data: Any, float_dtype: torch.dtype, name: str) -> Tensor:
    """numpy array or torch tensor -> tensor (floats/bools to ``float_dtype``, ints to int64)."""
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected a numeric array, got dtype {data.dtype}")
        arr = np.ascontiguousarray(data)
        if not arr.flags.writeable:
            arr = arr.copy()
        tensor = torch.from_numpy(arr)
    elif isinstance(data, Tensor):
        tensor = data.detach()
        if tensor.is_complex():
            raise TypeError(f"{name}: expected a real tensor, got dtype {tensor.dtype}")
    else:
        raise TypeError(
            f"{name}: expected a numpy array or torch tensor, got {type(data).__name__}"
        )
    if tensor.dim() == 0:
        raise ValueError(f"{name}: expected an array with a samples axis, got a scalar")
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        return tensor.to(float_dtype)
    return tensor.to(torch.int64)


def as_inputs(x: Any, float_dtype: torch.dtype, name: str = "x") -> Inputs:
    """``x`` (array, tensor, or list/tuple of them) -> tuple of tensors of equal length."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(
                f"{name}: expected at least one input array, got an empty {type(x).__name__}"
            )
        inputs = tuple(as_tensor(v, float_dtype, f"{name}[{i}]") for i, v in enumerate(x))
    else:
        inputs = (as_tensor(x, float_dtype, name),)
    lengths = {int(t.shape[0]) for t in inputs}
    if len(lengths) > 1:
        raise ValueError(
            f"{name}: expected inputs with the same number of samples, got {sorted(lengths)}"
        )
    if inputs[0].shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got 0")
    return inputs


def n_samples(inputs: Inputs) -> int:
    return int(inputs[0].shape[0])


def check_same_length(inputs: Inputs, y: Tensor, what: str = "x and y") -> None:
    if int(y.shape[0]) != n_samples(inputs):
        raise ValueError(
            f"{what}: expected the same number of samples, got {n_samples(inputs)} and "
            f"{int(y.shape[0])}"
        )


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"expected {name} to be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"expected {name} >= 1, got {batch_size}")
    return int(batch_size)


def n_steps(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def batch_slices(n: int, batch_size: int, order: Tensor | None) -> list[Tensor | slice]:
    """Batch index objects: contiguous slices, or chunks of the permutation ``order``."""
    if order is None:
        return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    return list(torch.split(order, batch_size))


def take(
    tensors: Sequence[Tensor], idx: Tensor | slice, device: torch.device
) -> tuple[Tensor, ...]:
    """Rows ``idx`` of every tensor, moved to ``device``."""
    out = []
    for t in tensors:
        part = t[idx] if isinstance(idx, slice) else t[idx.to(t.device)]
        out.append(part.to(device))
    return tuple(out)


def as_output(out: Any, what: str = "module output") -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{what}: expected the module to return a torch.Tensor, got {type(out).__name__}"
        )
    return out


class Batch(NamedTuple):
    """One batch on the module's device: inputs, targets and per-sample (or per-entry)
    weights (None: every sample weighs 1)."""

    inputs: Inputs
    targets: Tensor
    sample_weight: Tensor | None

    @property
    def size(self) -> int:
        return int(self.targets.shape[0])


class ArrayData(NamedTuple):
    """Whole arrays as tensors: inputs, targets and optional sample weights, all of the same
    number of samples."""

    inputs: Inputs
    targets: Tensor
    sample_weight: Tensor | None

    @property
    def samples(self) -> int:
        return n_samples(self.inputs)

    def steps(self, batch_size: int) -> int:
        return n_steps(self.samples, batch_size)

    @property
    def generator(self) -> torch.Generator | None:
        """Arrays are shuffled by ``fit``'s generator, not one of their own."""
        return None

    def shuffled(self, generator: torch.Generator | None) -> Tensor:
        """This epoch's permutation of the samples."""
        return torch.randperm(self.samples, generator=generator)

    def rows(self, lo: int, hi: int) -> ArrayData:
        sw = self.sample_weight
        return ArrayData(
            tuple(t[lo:hi] for t in self.inputs),
            self.targets[lo:hi],
            None if sw is None else sw[lo:hi],
        )

    def batches(
        self, batch_size: int, order: Tensor | None, device: torch.device
    ) -> Iterator[Batch]:
        """Batches of ``batch_size`` rows in order, or along the permutation ``order``."""
        sw = self.sample_weight
        for idx in batch_slices(self.samples, batch_size, order):
            *xb, yb = take([*self.inputs, self.targets], idx, device)
            wb = None if sw is None else take([sw], idx, device)[0]
            yield Batch(tuple(xb), yb, wb)


def as_weights(data: Any, samples: int, name: str = "sample_weight") -> Tensor | None:
    """Sample weights ``(samples,)`` (or per entry ``(samples, ...)``) as float32, checked to be
    finite and non-negative; None stays None."""
    if data is None:
        return None
    weights = as_tensor(data, torch.float32, name).to(torch.float32)
    if int(weights.shape[0]) != samples:
        raise ValueError(
            f"{name}: expected one weight per sample ({samples}), got {int(weights.shape[0])}"
        )
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError(f"{name}: expected finite weights >= 0, got NaN, Inf or a negative one")
    return weights
