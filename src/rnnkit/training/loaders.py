"""Data that is not whole arrays: a ``torch.utils.data.Dataset`` (batched here, shuffled by
``fit``'s generator like arrays), a ``DataLoader`` or any iterable / generator of batches
``(x, y[, sample_weight])`` (``x`` a tensor / array or a tuple of them), as Keras takes them.

An epoch of an iterable follows Keras's ``EpochIterator``: without ``steps_per_epoch`` every
epoch iterates it once (a sized one, such as a ``DataLoader``, anew each epoch); with
``steps_per_epoch`` one iterator carries over from epoch to epoch, each epoch taking that many
batches, and a sized iterable starts over once it has given all of its batches. A generator
that runs out ends the epoch early.

Resuming a checkpointed ``fit`` is exact for a ``Dataset`` and for a ``DataLoader`` iterated
whole each epoch whose shuffling draws from its own seeded ``generator`` (its state is saved
with the checkpoint) or from torch's global generator (saved too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from .batches import Batch, as_inputs, as_tensor, batch_slices, n_steps

__all__ = ["DatasetData", "LoaderData", "is_batch_source", "to_batch"]


def is_batch_source(x: Any) -> bool:
    """Whether ``x`` is a Dataset, DataLoader or iterable of batches rather than arrays."""
    if isinstance(x, (np.ndarray, Tensor, list, tuple, str, bytes, dict)):
        return False
    return isinstance(x, Dataset) or isinstance(x, Iterable)


def to_batch(raw: Any, float_dtype: torch.dtype, device: torch.device, name: str) -> Batch:
    """A batch ``(x, y[, sample_weight])`` from a loader as tensors on ``device``."""
    if not isinstance(raw, (list, tuple)) or len(raw) not in (2, 3):
        raise ValueError(
            f"{name}: expected batches (x, y) or (x, y, sample_weight), got "
            f"{type(raw).__name__}"
            + (f" of length {len(raw)}" if isinstance(raw, (list, tuple)) else "")
        )
    inputs = as_inputs(raw[0], float_dtype, f"{name} x")
    targets = as_tensor(raw[1], float_dtype, f"{name} y")
    if int(targets.shape[0]) != int(inputs[0].shape[0]):
        raise ValueError(
            f"{name}: expected x and y of the same batch size, got {int(inputs[0].shape[0])} "
            f"and {int(targets.shape[0])}"
        )
    weights = None if len(raw) == 2 else as_tensor(raw[2], torch.float32, f"{name} sample_weight")
    return Batch(
        tuple(t.to(device) for t in inputs),
        targets.to(device),
        None if weights is None else weights.to(device, torch.float32),
    )


class LoaderData:
    """Batches from a ``DataLoader`` or any iterable of ``(x, y[, sample_weight])``."""

    def __init__(
        self,
        source: Iterable[Any],
        steps_per_epoch: int | None,
        float_dtype: torch.dtype,
        name: str,
    ) -> None:
        if isinstance(source, IterableDataset) and not isinstance(source, DataLoader):
            raise TypeError(
                f"{name}: expected a map-style Dataset, a DataLoader or an iterable of batches, "
                "got an IterableDataset (wrap it in a DataLoader with a batch_size)"
            )
        self.source = source
        self.steps_per_epoch = steps_per_epoch
        self.float_dtype = float_dtype
        self.name = name
        self._iterator: Iterator[Any] | None = None
        self._seen = 0

    @property
    def samples(self) -> int | None:
        dataset = getattr(self.source, "dataset", None)
        return len(dataset) if isinstance(dataset, Sized) else None

    @property
    def _length(self) -> int | None:
        try:
            return len(self.source) if isinstance(self.source, Sized) else None
        except TypeError:
            return None

    def steps(self, batch_size: int) -> int | None:
        return self.steps_per_epoch or self._length

    @property
    def generator(self) -> torch.Generator | None:
        """The generator a DataLoader shuffles with (its state goes into checkpoints)."""
        gen = getattr(self.source, "generator", None)
        return gen if isinstance(gen, torch.Generator) else None

    def shuffled(self, generator: torch.Generator | None) -> Tensor | None:
        return None  # a loader shuffles itself

    def batches(
        self, batch_size: int, order: Tensor | None, device: torch.device
    ) -> Iterator[Batch]:
        """One epoch's batches (see the module docstring for Keras's rules)."""
        length = self._length
        if self.steps_per_epoch is None:
            for raw in self.source:
                yield to_batch(raw, self.float_dtype, device, self.name)
            return
        if self._iterator is None:
            self._iterator, self._seen = iter(self.source), 0
        for _ in range(self.steps_per_epoch):
            if length is not None and self._seen >= length:
                break
            try:
                raw = next(self._iterator)
            except StopIteration:
                self._iterator = None
                return
            self._seen += 1
            yield to_batch(raw, self.float_dtype, device, self.name)
        if length is not None and self._seen >= length:
            self._iterator, self._seen = iter(self.source), 0


class DatasetData:
    """A map-style ``Dataset`` of samples ``(x, y[, sample_weight])``, batched with
    ``default_collate`` in order or along ``fit``'s shuffling permutation."""

    def __init__(self, dataset: Dataset[Any], float_dtype: torch.dtype, name: str) -> None:
        if not isinstance(dataset, Sized):
            raise TypeError(
                f"{name}: expected a Dataset with a length, got {type(dataset).__name__}"
            )
        if len(dataset) == 0:
            raise ValueError(f"{name}: expected at least one sample, got an empty Dataset")
        self.dataset = dataset
        self.float_dtype = float_dtype
        self.name = name

    @property
    def samples(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def steps(self, batch_size: int) -> int:
        return n_steps(self.samples, batch_size)

    generator = None  # shuffled by fit's own generator

    def shuffled(self, generator: torch.Generator | None) -> Tensor:
        return torch.randperm(self.samples, generator=generator)

    def batches(
        self, batch_size: int, order: Tensor | None, device: torch.device
    ) -> Iterator[Batch]:
        for idx in batch_slices(self.samples, batch_size, order):
            rows = range(self.samples)[idx] if isinstance(idx, slice) else idx.tolist()
            raw = default_collate([self.dataset[int(i)] for i in rows])
            yield to_batch(raw, self.float_dtype, device, self.name)
