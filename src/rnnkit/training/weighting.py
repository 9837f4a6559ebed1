"""Keras 3's sample weights and output masks, for losses and metrics.

A module marks the valid steps of its output as Keras does: ``y_pred._keras_mask`` holds a
boolean tensor of the output's shape without its last axis (``(batch, time)`` for a
``(batch, time, units)`` sequence output); :func:`output_mask` reads it. Masked steps are left
out of the loss and the metrics:

* loss (``sum_over_batch_size``): every valid entry is weighted ``total / valid`` and the
  weighted values are summed and divided by their count, so the loss is
  ``sum(loss * sample_weight over valid entries) / valid`` (:func:`mask_weights`,
  :func:`weighted_values`); with ``"sum"`` the mask is a 0/1 weight;
* metrics: the mask is a 0/1 weight, and a weighted metric is ``sum(value * w) / sum(w)``
  (see :meth:`rnnkit.training.metrics.Metric.update_state`); as with Keras's ``metrics``,
  the sample weights weigh the loss only.

``class_weight`` becomes per-sample weights from the labels (:func:`class_sample_weights`):
integer labels ``(batch,)`` / ``(batch, 1)`` or one-hot ``(batch, classes)`` (argmax), rounded
to the nearest integer, weight 1 for a class not in the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "check_class_weight",
    "class_sample_weights",
    "mask_weights",
    "output_mask",
    "squeeze_or_expand_to_same_rank",
    "weighted_values",
]


def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """Keras's rank fix-up: when the ranks differ by one and the longer tensor ends in a
    size-1 axis, expand a rank-1 partner to ``(n, 1)`` or squeeze that axis away."""
    r1, r2 = x1.dim(), x2.dim()
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1:
            x2 = x2.unsqueeze(-1)  # (n,) -> (n, 1)
        else:
            x1 = x1.squeeze(-1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1:
            x1 = x1.unsqueeze(-1)  # (n,) -> (n, 1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def output_mask(y_pred: Any) -> Tensor | None:
    """The mask a module attached to its output (``y_pred._keras_mask``), or None."""
    mask = getattr(y_pred, "_keras_mask", None)
    return mask if isinstance(mask, Tensor) else None


def _per_sample(weights: Tensor, like: Tensor) -> Tensor:
    """Per-sample weights ``(batch,)`` broadcast over the trailing axes of ``like``."""
    extra = like.dim() - weights.dim()
    return weights.reshape(*weights.shape, *([1] * extra)) if extra > 0 else weights


def mask_weights(
    sample_weight: Tensor | None, mask: Tensor | None, dtype: torch.dtype, reduction: str
) -> Tensor | None:
    """Keras's ``apply_mask``: the mask merged into the sample weights. For a mean reduction
    the valid entries weigh ``total / valid`` (0 when nothing is valid), else 1."""
    if mask is None:
        return sample_weight
    valid_entries = mask.to(torch.bool)
    if reduction == "sum_over_batch_size":
        total = torch.tensor(float(mask.numel()), dtype=dtype, device=mask.device)
        valid = valid_entries.to(dtype).sum()
        weight = torch.where(valid > 0, total / valid, torch.zeros_like(total))
        float_mask = torch.where(valid_entries, weight, torch.zeros_like(weight))
    else:
        float_mask = valid_entries.to(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sw = squeeze_or_expand_to_same_rank(float_mask, sample_weight.to(dtype))
    return _per_sample(sw, float_mask) * float_mask


def weighted_values(
    values: Tensor, sample_weight: Tensor | None, mask: Tensor | None, reduction: str
) -> Tensor:
    """Per-entry loss values times the merged weights (Keras's ``reduce_weighted_values``
    before the reduction); ``values`` unchanged without weights and mask."""
    weights = mask_weights(sample_weight, mask, values.dtype, reduction)
    if weights is None:
        return values
    if values.dim() == 0:
        raise ValueError(
            "expected a loss that returns per-sample values to apply sample weights or an "
            "output mask, got a scalar (use a Keras-style loss such as 'mse')"
        )
    values, weights = squeeze_or_expand_to_same_rank(values, weights)
    return values * _per_sample(weights, values)


def class_sample_weights(y: Tensor, class_weight: Mapping[int, float]) -> Tensor:
    """Keras's ``class_weight_to_sample_weights``: one weight per sample from its label."""
    labels = y.detach().cpu().numpy()
    if labels.ndim > 2:
        raise ValueError(
            "class_weight: expected one label per sample, (samples,), (samples, 1) or one-hot "
            f"(samples, classes), got targets of shape {tuple(labels.shape)}"
        )
    if labels.ndim == 2:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[:, 0]
    classes = np.round(labels).astype(np.int64)
    weights = np.array([float(class_weight.get(int(c), 1.0)) for c in classes], np.float32)
    return torch.from_numpy(weights)


def check_class_weight(class_weight: Any) -> dict[int, float] | None:
    """``class_weight`` as ``{class index: weight}`` (or None)."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping):
        raise TypeError(
            f"expected class_weight as a dict {{class: weight}}, got {type(class_weight).__name__}"
        )
    out: dict[int, float] = {}
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight: expected integer class indices, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise TypeError(f"class_weight: expected a number for class {key}, got {value!r}")
        out[int(key)] = float(value)
    return out
