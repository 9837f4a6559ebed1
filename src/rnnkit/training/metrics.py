"""Keras-semantics streaming metrics.

A metric accumulates the per-element values of a function ``fn(y_true, y_pred)`` and reports
their mean (Keras ``MeanMetricWrapper``): over an epoch the result is the mean over every sample
seen, so a short last batch counts by its size. Accumulators stay on the tensors' device in
float64 (float32 on MPS) so that reading several metrics costs one host sync
(:meth:`Metric.result_tensor`).

``"accuracy"`` / ``"acc"`` resolves like Keras at the first batch (:class:`AutoAccuracy`):

* binary accuracy (threshold 0.5) when ``y_pred`` has a last axis of size 1 (or rank 1), or the
  loss is binary cross-entropy;
* sparse categorical accuracy when ``y_true`` has a lower rank than ``y_pred`` or ends in a size-1
  axis while ``y_pred``'s class axis is larger than 1 (integer labels);
* categorical accuracy otherwise (one-hot ``y_true``).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .losses import Loss, is_binary_crossentropy, mean_absolute_error, mean_squared_error
from .weighting import mask_weights, squeeze_or_expand_to_same_rank

__all__ = [
    "AutoAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "MetricLike",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "build_metrics",
    "categorical_accuracy",
    "get",
    "get_metric",
    "sparse_categorical_accuracy",
]


def binary_accuracy(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    """``float(y_pred > threshold) == y_true`` element-wise, shape of ``y_pred``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"binary_accuracy: expected y_true with the shape of y_pred {tuple(y_pred.shape)}, "
            f"got {tuple(y_true.shape)}"
        )
    pred = (y_pred > threshold).to(y_pred.dtype)
    return (pred == y_true.to(y_pred.dtype)).to(y_pred.dtype)


def categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``argmax(y_true) == argmax(y_pred)`` over the class axis, ``(batch, ..., C) ->
    (batch, ...)``."""
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "categorical_accuracy: expected one-hot y_true with the shape of y_pred "
            f"{tuple(y_pred.shape)}, got {tuple(y_true.shape)}"
        )
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).to(torch.float32)


def sparse_categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true == argmax(y_pred)`` with integer labels ``(batch, ...)`` or ``(batch, ..., 1)``
    and ``y_pred (batch, ..., C)`` -> ``(batch, ...)``."""
    labels = y_true
    if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)  # (batch, ..., 1) -> (batch, ...)
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_accuracy: expected labels of shape "
            f"{tuple(y_pred.shape[:-1])}, got {tuple(y_true.shape)}"
        )
    pred = y_pred.argmax(dim=-1)  # (batch, ...)
    if labels.is_floating_point():
        return (pred.to(labels.dtype) == labels).to(torch.float32)
    return (pred == labels.long()).to(torch.float32)


def _weighted_sums(values: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Keras's ``reduce_to_samplewise_values`` with a mean: per-sample weighted values and
    weights, summed (``(sum of value * w, sum of w)`` over samples)."""
    values, weights = squeeze_or_expand_to_same_rank(values, weights)
    if values.dim() > weights.dim():  # (batch, ...) -> the weights' rank
        values = values.mean(dim=tuple(range(weights.dim(), values.dim())))
    if weights.dim() < values.dim():
        weights = weights.reshape(*weights.shape, *([1] * (values.dim() - weights.dim())))
    weights = torch.broadcast_to(weights, values.shape)
    values = values * weights
    if weights.dim() > 1:
        weights = weights.mean(dim=tuple(range(1, weights.dim())))  # (batch,)
    if values.dim() > 1:
        values = values.mean(dim=tuple(range(1, values.dim())))  # (batch,)
    return values.sum(), weights.sum()


class Metric(abc.ABC):
    """Streaming mean of ``fn(y_true, y_pred)`` values.

    ``update_state(y_true, y_pred)`` adds a batch, ``result()`` returns the mean so far as a
    float, ``reset_state()`` clears it. Subclasses implement :meth:`values`.
    """

    #: "up" when larger is better (accuracy), "down" otherwise; used by callbacks' mode="auto".
    direction = "down"

    def __init__(self, name: str) -> None:
        self.name = name
        self._total: Tensor | None = None
        self._count: Tensor | int = 0

    @abc.abstractmethod
    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Implemented by each subclass."""

    @torch.no_grad()
    def update_state(
        self,
        y_true: Tensor,
        y_pred: Tensor,
        sample_weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> None:
        """Add a batch. With ``sample_weight`` and / or ``mask`` (the output's valid entries,
        a 0/1 weight) the result is ``sum(value * w) / sum(w)``, as Keras's weighted mean."""
        vals = self.values(y_true, y_pred).detach()
        acc_dtype = torch.float32 if vals.device.type == "mps" else torch.float64
        weights = mask_weights(sample_weight, mask, acc_dtype, "sum")
        if weights is None:
            batch_total = vals.to(acc_dtype).sum()
            count: Tensor | int = vals.numel()
        else:
            batch_total, count = _weighted_sums(vals.to(acc_dtype), weights)
        self._total = batch_total if self._total is None else self._total + batch_total
        self._count = self._count + count

    def result_tensor(self) -> Tensor:
        """The mean so far as a 0-d tensor on the accumulator's device (NaN when empty)."""
        if self._total is None:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return self._total / self._count

    def result(self) -> float:
        return float(self.result_tensor())

    def reset_state(self) -> None:
        self._total = None
        self._count = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class MeanMetricWrapper(Metric):
    """Mean of a per-element function ``fn(y_true, y_pred, **kwargs) -> Tensor``."""

    def __init__(self, fn: Callable[..., Tensor], name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name or str(getattr(fn, "__name__", type(fn).__name__)))
        self.fn = fn
        self.fn_kwargs = kwargs

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        out = self.fn(y_true, y_pred, **self.fn_kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"metric {self.name!r}: expected a torch.Tensor, got {type(out).__name__}"
            )
        return out


class BinaryAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name)


class AutoAccuracy(Metric):
    """Keras's ``"accuracy"``: picks binary / sparse categorical / categorical accuracy from the
    shapes of the first batch (see module docstring). ``binary=True`` forces binary accuracy
    (the loss is binary cross-entropy); ``None`` (not known yet) lets ``fit`` / ``evaluate`` set
    it from their loss."""

    direction = "up"

    def __init__(self, name: str = "accuracy", binary: bool | None = None) -> None:
        super().__init__(name)
        self.binary = binary
        self.kind: str | None = None

    def _pick(self, y_true: Tensor, y_pred: Tensor) -> str:
        if self.binary or y_pred.dim() <= 1 or y_pred.shape[-1] == 1:
            return "binary"
        if y_true.dim() < y_pred.dim() or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            return "sparse_categorical"
        return "categorical"

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if self.kind is None:
            self.kind = self._pick(y_true, y_pred)
        if self.kind == "binary":
            return binary_accuracy(y_true, y_pred)
        if self.kind == "sparse_categorical":
            return sparse_categorical_accuracy(y_true, y_pred)
        return categorical_accuracy(y_true, y_pred)


_BY_NAME: dict[str, Callable[[str], Metric]] = {
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}


def get_metric(
    identifier: str | Metric | Callable[..., Tensor], *, binary_loss: bool | None = None
) -> Metric:
    """Resolve a metric. Names: ``"accuracy"``/``"acc"`` (auto, see module docstring), ``"mae"``,
    ``"mse"``, ``"mean_absolute_error"``, ``"mean_squared_error"``, ``"binary_accuracy"``,
    ``"categorical_accuracy"``, ``"sparse_categorical_accuracy"``. The logs key is the name as
    given (Keras). A :class:`Metric` is returned as is; a callable ``fn(y_true, y_pred) ->
    Tensor`` (Keras order) is averaged over its elements and logged under ``fn.__name__``.
    ``binary_loss=True`` (loss is binary cross-entropy) makes ``"accuracy"`` binary; ``None``
    (loss unknown, e.g. at compile time) defers that choice to ``fit`` / ``evaluate``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return AutoAccuracy(identifier, binary=binary_loss)
        factory = _BY_NAME.get(key)
        if factory is None:
            raise ValueError(
                f"expected a metric name in {sorted([*_BY_NAME, 'accuracy', 'acc'])}, "
                f"got {identifier!r}"
            )
        return factory(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"expected a metric name, Metric object or callable, got {type(identifier).__name__}"
    )


#: Argument type of ``fit`` / ``evaluate``: a name, a :class:`Metric` or a callable.
MetricLike = str | Metric | Callable[..., Tensor]


def build_metrics(metrics: Iterable[MetricLike] | MetricLike, loss_fn: Loss) -> list[Metric]:
    """The metrics of one run, resolved for its loss (``"accuracy"`` is binary under binary
    cross-entropy); names must be distinct and neither ``loss`` nor ``val_*``."""
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


get = get_metric
