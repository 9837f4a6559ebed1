"""Keras-semantics loss functions on torch tensors.

Argument order is **Keras order**: ``loss(y_true, y_pred)``. Every loss object returns a scalar
(``reduction="sum_over_batch_size"``: the mean of the per-sample loss over all of its elements),
exactly as ``keras.losses.*`` does.

Probabilities are expected by default (``from_logits=False``); they are clipped to
``[EPSILON, 1 - EPSILON]`` with ``EPSILON = 1e-7`` (Keras ``backend.epsilon()``) before the log.
For the categorical losses Keras first renormalises ``y_pred`` by its sum over the class axis.

Per-sample functions (shapes for ``y_pred`` of shape ``(batch, ..., d)``):

* ``mean_squared_error``:  ``mean((y_true - y_pred) ** 2, axis=-1)`` -> ``(batch, ...)``
* ``mean_absolute_error``: ``mean(|y_true - y_pred|, axis=-1)`` -> ``(batch, ...)``
* ``binary_crossentropy``: ``mean(-(y log p + (1 - y) log(1 - p)), axis=-1)`` -> ``(batch, ...)``
* ``categorical_crossentropy``: ``-sum(y_true * log p, axis=-1)`` with one-hot ``y_true`` of
  the same shape as ``y_pred`` -> ``(batch, ...)``
* ``sparse_categorical_crossentropy``: ``-log p[y_true]`` with integer ``y_true`` of shape
  ``(batch, ...)`` or ``(batch, ..., 1)`` -> ``(batch, ...)``
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .weighting import squeeze_or_expand_to_same_rank, weighted_values

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "EPSILON",
    "Loss",
    "LossFunctionWrapper",
    "LossLike",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "get_loss",
    "is_binary_crossentropy",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_crossentropy",
    "squeeze_or_expand_to_same_rank",
]

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", "none")


def _same_shape(y_true: Tensor, y_pred: Tensor, name: str) -> tuple[Tensor, Tensor]:
    y_true = y_true.to(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{name}: expected y_true with the shape of y_pred {tuple(y_pred.shape)}, "
            f"got {tuple(y_true.shape)}"
        )
    return y_true, y_pred


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-sample MSE, ``(batch, ..., d) -> (batch, ...)``."""
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_squared_error")
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per-sample MAE, ``(batch, ..., d) -> (batch, ...)``."""
    y_true, y_pred = _same_shape(y_true, y_pred, "mean_absolute_error")
    return (y_true - y_pred).abs().mean(dim=-1)


def binary_crossentropy(y_true: Tensor, y_pred: Tensor, from_logits: bool = False) -> Tensor:
    """Per-sample binary cross-entropy averaged over the last axis, ``(batch, ..., d) ->
    (batch, ...)``. Probabilities are clipped to ``[1e-7, 1 - 1e-7]``."""
    y_true, y_pred = _same_shape(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        bce = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        bce = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p))
    return bce.mean(dim=-1)


def categorical_crossentropy(y_true: Tensor, y_pred: Tensor, from_logits: bool = False) -> Tensor:
    """Per-sample categorical cross-entropy with one-hot (or soft) ``y_true`` of the shape of
    ``y_pred``, ``(batch, ..., classes) -> (batch, ...)``."""
    y_true, y_pred = _same_shape(y_true, y_pred, "categorical_crossentropy")
    if from_logits:
        log_p = F.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_p = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
    return -(y_true * log_p).sum(dim=-1)


def sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False
) -> Tensor:
    """Per-sample cross-entropy with integer labels: ``y_true (batch, ...)`` or
    ``(batch, ..., 1)``, ``y_pred (batch, ..., classes)`` -> ``(batch, ...)``."""
    if y_pred.dim() < 1:
        raise ValueError("sparse_categorical_crossentropy: expected y_pred of rank >= 1, got 0")
    if y_true.is_floating_point() and not torch.equal(y_true, y_true.round()):
        raise ValueError(
            "sparse_categorical_crossentropy: expected integer class labels, got fractional "
            "values (use categorical_crossentropy for one-hot / soft targets)"
        )
    labels = y_true.long()
    if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)  # (batch, ..., 1) -> (batch, ...)
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: expected labels of shape "
            f"{tuple(y_pred.shape[:-1])} (y_pred without its class axis), got "
            f"{tuple(y_true.shape)}"
        )
    n_classes = y_pred.shape[-1]
    if labels.numel():
        lo, hi = (int(v) for v in torch.stack(torch.aminmax(labels)).tolist())
        if lo < 0 or hi >= n_classes:
            raise ValueError(
                f"sparse_categorical_crossentropy: expected labels in [0, {n_classes}), got "
                f"values in [{lo}, {hi}]"
            )
    if from_logits:
        log_p = F.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(dim=-1, keepdim=True)
        log_p = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
    # (batch, ..., classes) -> (batch, ...)
    return -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    return values.mean() if values.numel() else values.sum()


class Loss(abc.ABC):
    """Base loss: ``loss(y_true, y_pred[, sample_weight, mask]) -> scalar`` (Keras order).

    Subclasses implement :meth:`call` returning the per-sample loss ``(batch, ...)``; ``__call__``
    reduces it with ``reduction`` (``"sum_over_batch_size"`` = mean over all elements, Keras's
    default; ``"sum"``; ``"none"``).
    """

    def __init__(self, name: str, reduction: str = "sum_over_batch_size") -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"expected reduction in {_REDUCTIONS}, got {reduction!r}")
        self.name = name
        self.reduction = reduction

    @abc.abstractmethod
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Implemented by each subclass."""

    def __call__(
        self,
        y_true: Tensor,
        y_pred: Tensor,
        sample_weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """The reduced loss; ``sample_weight`` (per sample or per entry) and ``mask`` (the
        output's valid entries) weigh the per-entry values as Keras 3 does (see
        :mod:`rnnkit.training.weighting`)."""
        values = self.call(y_true, y_pred)
        return _reduce(weighted_values(values, sample_weight, mask, self.reduction), self.reduction)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function ``fn(y_true, y_pred, **kwargs) -> Tensor``.

    A non-scalar return is reduced like Keras (mean over all elements by default).
    """

    def __init__(
        self,
        fn: Callable[..., Tensor],
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        **kwargs: Any,
    ) -> None:
        super().__init__(name or str(getattr(fn, "__name__", type(fn).__name__)), reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        out = self.fn(y_true, y_pred, **self.fn_kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"loss {self.name!r}: expected a torch.Tensor, got {type(out).__name__}"
            )
        return out


class _TorchLossAdapter(Loss):
    """Adapts a ``torch.nn`` loss module, which takes ``(input, target)`` = ``(y_pred, y_true)``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__(type(module).__name__)
        self.module = module

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        out = self.module(y_pred, y_true)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"loss {self.name!r}: expected a torch.Tensor, got {type(out).__name__}"
            )
        return out


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred) ** 2)`` over the last axis, then over the batch."""

    def __init__(
        self, reduction: str = "sum_over_batch_size", name: str = "mean_squared_error"
    ) -> None:
        super().__init__(name, reduction)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|)`` over the last axis, then over the batch."""

    def __init__(
        self, reduction: str = "sum_over_batch_size", name: str = "mean_absolute_error"
    ) -> None:
        super().__init__(name, reduction)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return mean_absolute_error(y_true, y_pred)


class BinaryCrossentropy(Loss):
    """Binary cross-entropy; ``y_pred`` are probabilities unless ``from_logits=True``."""

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ) -> None:
        super().__init__(name, reduction)
        self.from_logits = from_logits

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return binary_crossentropy(y_true, y_pred, from_logits=self.from_logits)


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot targets; probabilities unless ``from_logits=True``."""

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ) -> None:
        super().__init__(name, reduction)
        self.from_logits = from_logits

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer labels; probabilities unless ``from_logits=True``."""

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        super().__init__(name, reduction)
        self.from_logits = from_logits

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)


_BY_NAME: dict[str, Callable[[], Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get_loss(identifier: str | Loss | nn.Module | Callable[..., Tensor]) -> Loss:
    """Resolve a loss by name (``"mse"``, ``"mae"``, ``"binary_crossentropy"``,
    ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``), or wrap an object.

    * a :class:`Loss` is returned as is;
    * a ``torch.nn`` loss module (e.g. ``nn.CrossEntropyLoss()``) is called in **torch order**
      ``module(y_pred, y_true)``;
    * any other callable is called in **Keras order** ``fn(y_true, y_pred)`` and may return a
      scalar or per-sample values (reduced by the mean).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        factory = _BY_NAME.get(identifier.lower())
        if factory is None:
            raise ValueError(f"expected a loss name in {sorted(_BY_NAME)}, got {identifier!r}")
        loss = factory()
        loss.name = identifier
        return loss
    if isinstance(identifier, nn.Module):
        return _TorchLossAdapter(identifier)
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        f"expected a loss name, Loss object or callable, got {type(identifier).__name__}"
    )


def is_binary_crossentropy(loss: Loss) -> bool:
    """True when ``loss`` is Keras's binary cross-entropy (used to pick binary accuracy)."""
    return isinstance(loss, BinaryCrossentropy) or (
        isinstance(loss, LossFunctionWrapper) and loss.fn is binary_crossentropy
    )


#: Argument type of ``fit`` / ``evaluate``: a name, a :class:`Loss`, a torch loss module or a
#: callable.
LossLike = str | Loss | nn.Module | Callable[..., Tensor]

get = get_loss
mse = mean_squared_error
mae = mean_absolute_error
