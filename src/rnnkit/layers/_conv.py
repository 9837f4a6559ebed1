"""1-D convolution and pooling over the time axis, channels last (Keras's default layout)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ._activations import get_activation
from ._base import Layer, register


def _conv_length(
    length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    span = dilation * (kernel - 1) + 1
    return max(0, (length - span) // stride + 1)


def _check_padding(padding: str, allowed: tuple[str, ...]) -> str:
    if padding not in allowed:
        raise ValueError(f"expected padding in {allowed}, got {padding!r}")
    return padding


@register
class Conv1D(Layer):
    """(batch, time, in) -> (batch, time', filters); kernel (kernel_size, in, filters) as Keras.

    ``padding``: "valid", "same" or "causal" (left padding only, for forecasting).
    """

    kernel: Tensor
    bias: Tensor | None

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: str = "valid",
        dilation_rate: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for n, v in (
            ("filters", filters),
            ("kernel_size", kernel_size),
            ("strides", strides),
            ("dilation_rate", dilation_rate),
        ):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"expected {n} to be a positive int, got {v!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = _check_padding(padding, ("valid", "same", "causal"))
        if strides > 1 and dilation_rate > 1:  # as Keras
            raise ValueError(
                f"expected strides == 1 or dilation_rate == 1, got {strides} and {dilation_rate}"
            )
        self.dilation_rate = dilation_rate
        self.activation = activation or "linear"
        self.act = get_activation(self.activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.bias: Tensor | None = None

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"expected input (batch, time, channels), got {input_shape}")
        self.add_weight(
            "kernel", (self.kernel_size, input_shape[-1], self.filters), self.kernel_initializer
        )
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        x = inputs.transpose(1, 2)  # (batch, in, time)
        span = self.dilation_rate * (self.kernel_size - 1)
        if self.padding == "causal":
            x = F.pad(x, (span, 0))
        elif self.padding == "same":
            length = x.shape[-1]
            out_len = -(-length // self.strides)
            total = max(0, (out_len - 1) * self.strides + span + 1 - length)
            x = F.pad(x, (total // 2, total - total // 2))  # Keras/TF put the extra on the right
        w = self.kernel.permute(2, 1, 0)  # (filters, in, kernel_size)
        y = F.conv1d(x, w, self.bias, stride=self.strides, dilation=self.dilation_rate)
        return self.act(y.transpose(1, 2))  # (batch, time', filters)

    def compute_output_shape(self, input_shape: Any) -> Any:
        length, pad = input_shape[1], self.padding
        if pad == "causal":  # left-padded by the span, then a valid convolution
            span = self.dilation_rate * (self.kernel_size - 1)
            length, pad = (None if length is None else length + span), "valid"
        out = _conv_length(length, self.kernel_size, self.strides, pad, self.dilation_rate)
        return (input_shape[0], out, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


@register
class MaxPooling1D(Layer):
    """Max over windows of ``pool_size`` steps: (batch, time, ch) -> (batch, time', ch)."""

    def __init__(
        self, pool_size: int = 2, strides: int | None = None, padding: str = "valid", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(pool_size, int) or pool_size <= 0:
            raise ValueError(f"expected pool_size to be a positive int, got {pool_size!r}")
        self.pool_size = pool_size
        self.strides = strides or pool_size
        self.padding = _check_padding(padding, ("valid", "same"))

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        x = inputs.transpose(1, 2)  # (batch, ch, time)
        if self.padding == "same":
            length = x.shape[-1]
            out_len = -(-length // self.strides)
            total = max(0, (out_len - 1) * self.strides + self.pool_size - length)
            x = F.pad(x, (total // 2, total - total // 2), value=float("-inf"))
        y = F.max_pool1d(x, self.pool_size, self.strides)
        return y.transpose(1, 2)  # (batch, time', ch)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (
            input_shape[0],
            _conv_length(input_shape[1], self.pool_size, self.strides, self.padding),
            input_shape[2],
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }


@register
class AveragePooling1D(MaxPooling1D):
    """Mean over windows of ``pool_size`` steps: (batch, time, ch) -> (batch, time', ch).

    ``padding="same"`` follows Keras on PyTorch: when the padding is the same on both sides the
    padded positions are left out of the mean; otherwise (the extra step on the right) the
    edges are repeated into the padding."""

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        x = inputs.transpose(1, 2)  # (batch, ch, time)
        pad = 0
        if self.padding == "same":
            if self.strides == 1:
                total = self.pool_size - 1
            else:
                out_len = -(-x.shape[-1] // self.strides)
                total = max(0, (out_len - 1) * self.strides + self.pool_size - x.shape[-1])
            left, right = total // 2, total - total // 2
            if left == right:
                pad = left
            else:
                x = F.pad(x, (left, right), mode="replicate")
        y = F.avg_pool1d(x, self.pool_size, self.strides, padding=pad, count_include_pad=False)
        return y.transpose(1, 2)  # (batch, time', ch)


@register
class GlobalAveragePooling1D(Layer):
    """Mean over time: (batch, time, ch) -> (batch, ch); masked steps are left out (Keras)."""

    supports_masking = True

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return inputs.mean(dim=1)
        m = mask.unsqueeze(-1).to(inputs.dtype)  # (batch, time, 1)
        return (inputs * m).sum(dim=1) / m.sum(dim=1)

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], input_shape[2])


@register
class GlobalMaxPooling1D(Layer):
    """Max over time: (batch, time, ch) -> (batch, ch)."""

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return torch.amax(inputs, dim=1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], input_shape[2])


@register
class MaskedMaxPooling1D(Layer):
    """Max over windows of ``pool_size`` steps of the real steps only: (batch, time, ch) ->
    (batch, ceil(time / pool_size), ch); windows start at step 0. Steps the mask marks as
    padding never enter a max (a window of padding only gives 0), and the output mask marks
    a window real when any of its steps is, so the output on a sequence's real steps does
    not depend on how far it is padded. Without a mask: max pooling with the last window
    shorter."""

    supports_masking = True

    def __init__(self, pool_size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size <= 0:
            raise ValueError(f"expected pool_size to be a positive int, got {pool_size!r}")
        self.pool_size = pool_size

    def _extra(self, time: int) -> int:
        return -time % self.pool_size

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        x = inputs
        if mask is not None:
            x = x.masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        x = F.pad(x.transpose(1, 2), (0, self._extra(x.shape[1])), value=float("-inf"))
        y = F.max_pool1d(x, self.pool_size, self.pool_size).transpose(1, 2)  # (batch, t', ch)
        return torch.where(torch.isneginf(y), torch.zeros((), dtype=y.dtype), y)

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Tensor | None:
        if mask is None:
            return None
        m = F.pad(mask.to(torch.float32), (0, self._extra(mask.shape[1])))
        return m.reshape(m.shape[0], -1, self.pool_size).amax(dim=-1) > 0  # (batch, t')

    def compute_output_shape(self, input_shape: Any) -> Any:
        time = input_shape[1]
        return (input_shape[0], None if time is None else -(-time // self.pool_size),
                input_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size}
