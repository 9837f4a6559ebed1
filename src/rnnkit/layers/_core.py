"""Dense, Activation, Dropout, Flatten, Embedding and Masking with Keras semantics."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ._activations import get_activation
from ._base import Layer, register


@register
class Dense(Layer):
    """``y = act(x W + b)`` on the last axis: (..., in) -> (..., units); kernel (in, units)."""

    supports_masking = True
    kernel: Tensor
    bias: Tensor | None

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"expected units to be a positive int, got {units!r}")
        self.units = units
        self.activation = activation or "linear"
        self.act = get_activation(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.bias: Tensor | None = None

    def build(self, input_shape: Any) -> None:
        if input_shape[-1] is None:
            raise ValueError(f"expected a known last axis for Dense, got {input_shape}")
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        y = inputs @ self.kernel  # (..., units)
        if self.bias is not None:
            y = y + self.bias
        return self.act(y)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


@register
class Activation(Layer):
    """Applies a named activation element-wise (softmax on the last axis)."""

    supports_masking = True

    def __init__(self, activation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activation
        self.act = get_activation(activation)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.act(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}


@register
class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs while training and scales the rest by 1/(1-rate)."""

    supports_masking = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"expected rate in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(
        self, inputs: Tensor, mask: Tensor | None = None, training: bool | None = None
    ) -> Tensor:
        training = self.training if training is None else training
        return F.dropout(inputs, self.rate, training=training) if self.rate > 0 else inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


@register
class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        rest = input_shape[1:]
        n = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], n)


@register
class Embedding(Layer):
    """Token ids (batch, time) -> vectors (batch, time, output_dim); ``embeddings`` (vocab, dim).

    With ``mask_zero`` id 0 is padding: the output mask is ``ids != 0`` (so ``input_dim`` must
    count the padding id).
    """

    embeddings: Tensor

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str = "uniform",
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for n, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"expected {n} to be a positive int, got {v!r}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = mask_zero

    def build(self, input_shape: Any) -> None:
        self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer
        )

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        if inputs.is_floating_point():
            if not torch.equal(inputs, inputs.round()):
                raise TypeError(f"expected integer token ids, got non-integral {inputs.dtype}")
            inputs = inputs.long()
        if inputs.numel() and (inputs.min() < 0 or inputs.max() >= self.input_dim):
            raise ValueError(
                f"expected token ids in [0, {self.input_dim}), "
                f"got values in [{int(inputs.min())}, {int(inputs.max())}]"
            )
        return F.embedding(inputs, self.embeddings)  # (batch, time, output_dim)

    def input_features(self, input_shape: Any) -> Any:
        return None  # token ids: any length, no feature axis

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Tensor | None:
        if not self.mask_zero:
            return None
        return inputs != 0

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": self.embeddings_initializer,
            "mask_zero": self.mask_zero,
        }


@register
class Masking(Layer):
    """Masks the time steps whose features all equal ``mask_value`` (and zeroes them)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Tensor:
        return (inputs != self.mask_value).any(dim=-1)  # (batch, time)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        keep = self.compute_mask(inputs, mask).unsqueeze(-1)
        return inputs * keep.to(inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


@register
class SpatialDropout1D(Dropout):
    """Dropout of whole channels: one draw per (sample, channel), shared by every time step.

    (batch, time, channels) -> same shape; the identity in inference."""

    def forward(
        self, inputs: Tensor, mask: Tensor | None = None, training: bool | None = None
    ) -> Tensor:
        training = self.training if training is None else training
        if not training or self.rate == 0:
            return inputs
        if inputs.dim() != 3:
            raise ValueError(
                f"expected input (batch, time, channels) for {self.name!r}, "
                f"got shape {tuple(inputs.shape)}"
            )
        keep = 1.0 - self.rate
        noise = torch.empty(
            (inputs.shape[0], 1, inputs.shape[2]), dtype=inputs.dtype, device=inputs.device
        ).bernoulli_(keep)  # (batch, 1, channels)
        return inputs * noise / keep
