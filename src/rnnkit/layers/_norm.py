"""LayerNormalization and BatchNormalization with Keras 3's arguments, weights and math."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._base import Layer, register

_EPSILON = 1e-7  # Keras's backend.epsilon(), in BatchNormalization's masked moments


def _check_epsilon(epsilon: float) -> float:
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or epsilon <= 0:
        raise ValueError(f"expected epsilon > 0, got {epsilon!r}")
    return float(epsilon)


def _axis_of(axis: int, rank: int, name: str) -> int:
    if not -rank <= axis < rank or axis == 0 or axis == -rank:
        raise ValueError(f"expected an axis of the features for {name!r} (rank {rank}), got {axis}")
    return axis % rank


@register
class LayerNormalization(Layer):
    """Normalises each sample over ``axis`` (default: the last):
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta``; weights gamma (ones), beta (zeros)."""

    supports_masking = True
    gamma: Tensor | None
    beta: Tensor | None

    def __init__(
        self,
        axis: int | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str = "zeros",
        gamma_initializer: str = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, (int, list, tuple)) or isinstance(axis, bool):
            raise TypeError(f"expected axis as an int or a list of ints, got {axis!r}")
        self.axis: int | list[int] = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = _check_epsilon(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.gamma = self.beta = None
        self._axes: list[int] = []

    def build(self, input_shape: Any) -> None:
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self._axes = sorted(_axis_of(a, rank, self.name) for a in axes)
        shape = tuple(input_shape[a] for a in self._axes)
        if any(d is None for d in shape):
            raise ValueError(f"expected known sizes on the normalised axes, got {input_shape}")
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        x = inputs if inputs.dtype in (torch.float32, torch.float64) else inputs.float()
        mean = x.mean(dim=self._axes, keepdim=True)
        var = x.var(dim=self._axes, keepdim=True, unbiased=False)
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        shape = [inputs.shape[d] if d in self._axes else 1 for d in range(inputs.dim())]
        if self.gamma is not None:
            y = y * self.gamma.reshape(shape)
        if self.beta is not None:
            y = y + self.beta.reshape(shape)
        return y.to(inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": self.beta_initializer,
            "gamma_initializer": self.gamma_initializer,
        }


@register
class BatchNormalization(Layer):
    """Normalises each feature (``axis``) with batch statistics while training and the moving
    ones in inference (Keras semantics: biased variance, ``moving = moving * momentum +
    batch * (1 - momentum)``, masked steps left out of the batch statistics).

    Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance (not
    trainable: buffers). A layer with ``trainable=False`` always uses the moving statistics.
    """

    supports_masking = True
    gamma: Tensor | None
    beta: Tensor | None
    moving_mean: Tensor
    moving_variance: Tensor

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str = "zeros",
        gamma_initializer: str = "ones",
        moving_mean_initializer: str = "zeros",
        moving_variance_initializer: str = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise TypeError(f"expected axis as an int, got {axis!r}")
        if not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"expected momentum in [0, 1], got {momentum!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = _check_epsilon(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.gamma = self.beta = None
        self._axis = -1

    def build(self, input_shape: Any) -> None:
        self._axis = _axis_of(self.axis, len(input_shape), self.name)
        n = input_shape[self._axis]
        if n is None:
            raise ValueError(f"expected a known size on axis {self.axis}, got {input_shape}")
        if self.scale:
            self.add_weight("gamma", (n,), self.gamma_initializer)
        if self.center:
            self.add_weight("beta", (n,), self.beta_initializer)
        self.add_weight("moving_mean", (n,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (n,), self.moving_variance_initializer, trainable=False)

    def _moments(self, x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        dims = [d for d in range(x.dim()) if d != self._axis]
        if mask is None:
            return x.mean(dim=dims), x.var(dim=dims, unbiased=False)
        if mask.dim() != x.dim() - 1:
            raise ValueError(
                f"expected a mask of rank {x.dim() - 1} for {self.name!r}, "
                f"got shape {tuple(mask.shape)}"
            )
        keep = mask.bool().unsqueeze(-1).expand(x.shape)
        weight = keep.to(x.dtype).sum(dim=dims)
        mean = torch.where(keep, x, 0.0).sum(dim=dims) / (weight + _EPSILON)
        shape = [x.shape[d] if d == self._axis else 1 for d in range(x.dim())]
        diff = torch.where(keep, x - mean.reshape(shape), 0.0)
        return mean, diff.square().sum(dim=dims) / (weight + _EPSILON)

    def forward(
        self, inputs: Tensor, mask: Tensor | None = None, training: bool | None = None
    ) -> Tensor:
        training = self.training if training is None else training
        if training and self.trainable:
            mean, var = self._moments(inputs, mask)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.copy_(self.moving_mean * m + mean.detach() * (1.0 - m))
                self.moving_variance.copy_(self.moving_variance * m + var.detach() * (1.0 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        shape = [inputs.shape[d] if d == self._axis else 1 for d in range(inputs.dim())]
        inv = torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        y = inputs * inv.reshape(shape) - (mean * inv).reshape(shape)
        return y + self.beta.reshape(shape) if self.beta is not None else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": self.beta_initializer,
            "gamma_initializer": self.gamma_initializer,
            "moving_mean_initializer": self.moving_mean_initializer,
            "moving_variance_initializer": self.moving_variance_initializer,
        }
