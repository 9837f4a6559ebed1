"""MultiHeadAttention with Keras 3's arguments, weight layout and masks (rank-3 inputs).

Weights in Keras's order: query kernel (dim_q, heads, key_dim) and bias (heads, key_dim), key
kernel (dim_k, heads, key_dim) and bias, value kernel (dim_v, heads, value_dim) and bias, output
kernel (heads, value_dim, out) and bias (out,). Masks: the query's mask (batch, Tq), the
value's (batch, Tv), the key's and ``attention_mask`` (batch, Tq, Tv) are and-ed into one
attention mask; the output's mask is the query's. As in Keras, a query step whose every key is
masked attends uniformly in the plain call, and to nothing (zeros) when the attention weights
are returned or dropped out.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ._base import Layer, register, shape_of

_NEG = -3.38953e38 * 0.7  # Keras's large negative for float32 masks in dot_product_attention


def _and(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    return a if b is None else a & b


@register
class MultiHeadAttention(Layer):
    """``mha(query, value, key=None)`` -> (batch, Tq, out); ``out`` is the query's feature size
    unless ``output_shape`` is given."""

    supports_masking = True
    query_bias: Tensor | None
    key_bias: Tensor | None
    value_bias: Tensor | None
    output_bias: Tensor | None

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple[int, ...] | None = None,
        attention_axes: int | tuple[int, ...] | None = None,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for n, v in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ValueError(f"expected {n} to be a positive int, got {v!r}")
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {dropout!r}")
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes not in (None, (1,), [1], (-2,), [-2]):
            raise ValueError(
                f"expected attention_axes None or (1,) (rank-3 inputs attend over time), "
                f"got {attention_axes!r}"
            )
        out = (output_shape,) if isinstance(output_shape, int) else output_shape
        if out is not None and (len(out) != 1 or not isinstance(out[0], int) or out[0] <= 0):
            raise ValueError(f"expected output_shape as one positive int, got {output_shape!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = float(dropout)
        self.use_bias = use_bias
        self.output_shape = None if out is None else int(out[0])
        self.attention_axes = None if axes is None else [1]
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.seed = seed
        self.query_bias = self.key_bias = self.value_bias = self.output_bias = None

    def positional_names(self) -> tuple[str, ...]:
        return ("value", "key")

    def call_shape(self, inputs: Any, kwargs: dict[str, Any]) -> Any:
        if kwargs.get("value") is None:
            raise TypeError(f"expected a value input for {self.name!r}: mha(query, value)")
        q, v = shape_of(inputs), shape_of(kwargs["value"])
        k = v if kwargs.get("key") is None else shape_of(kwargs["key"])
        return [q, v, k]

    def input_features(self, input_shape: Any) -> Any:
        return [s[-1] for s in input_shape] if isinstance(input_shape, list) else input_shape[-1]

    def build(self, input_shape: Any) -> None:
        q, v, k = input_shape
        for shape in (q, v, k):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"expected inputs (batch, time, features) for {self.name!r}, got {shape}"
                )
        h, out = self.num_heads, self.output_shape or q[-1]
        for part, dim, size in (("query", q[-1], self.key_dim), ("key", k[-1], self.key_dim),
                                ("value", v[-1], self.value_dim)):
            self.add_weight(f"{part}_kernel", (dim, h, size), self.kernel_initializer)
            if self.use_bias:
                self.add_weight(f"{part}_bias", (h, size), self.bias_initializer)
        self.add_weight("output_kernel", (h, self.value_dim, out), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("output_bias", (out,), self.bias_initializer)

    def _project(self, x: Tensor, part: str) -> Tensor:
        y = torch.einsum("btd,dnh->btnh", x, getattr(self, f"{part}_kernel"))  # (b, t, heads, h)
        bias = getattr(self, f"{part}_bias")
        return y if bias is None else y + bias

    def forward(
        self,
        query: Tensor,
        value: Tensor | None = None,
        key: Tensor | None = None,
        mask: Tensor | None = None,
        query_mask: Tensor | None = None,
        value_mask: Tensor | None = None,
        key_mask: Tensor | None = None,
        attention_mask: Tensor | None = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        if value is None:
            raise TypeError(f"expected a value input for {self.name!r}: mha(query, value)")
        key = value if key is None else key
        q_mask = query_mask if query_mask is not None else mask
        keep = _and(
            _and(None if q_mask is None else q_mask.bool().unsqueeze(-1),
                 None if value_mask is None else value_mask.bool().unsqueeze(-2)),
            None if key_mask is None else key_mask.bool().unsqueeze(-2),
        )
        if use_causal_mask:
            tq, tv = query.shape[1], value.shape[1]
            rows = torch.arange(tq, device=query.device)[:, None]
            keep = _and(keep, (rows >= torch.arange(tv, device=query.device)[None, :])[None])
        if attention_mask is not None:
            keep = _and(attention_mask.bool(), keep)
        q = self._project(query, "query") / math.sqrt(self.key_dim)  # (b, Tq, heads, key_dim)
        k, v = self._project(key, "key"), self._project(value, "value")
        scores = torch.einsum("bsnh,btnh->bnts", k, q)  # (batch, heads, Tq, Tv)
        training = self.training if training is None else training
        dropping = training and self.dropout > 0
        m = None if keep is None else keep.unsqueeze(1)  # (batch, 1, Tq, Tv)
        if dropping or return_attention_scores:  # Keras's Softmax layer: masked -> exactly 0
            weights = torch.softmax(scores if m is None else torch.where(m, scores, -1e9), -1)
            weights = weights if m is None else torch.where(m, weights, 0.0)
        else:  # Keras's dot_product_attention: an additive large negative
            weights = torch.softmax(scores if m is None else scores + torch.where(m, 0.0, _NEG), -1)
        dropped = F.dropout(weights, self.dropout, training=True) if dropping else weights
        out = torch.einsum("bnts,bsnh->btnh", dropped, v)  # (batch, Tq, heads, value_dim)
        y = torch.einsum("btnh,nho->bto", out, self.output_kernel)  # (batch, Tq, out)
        if self.output_bias is not None:
            y = y + self.output_bias
        return (y, weights) if return_attention_scores else y

    def compute_output_shape(self, input_shape: Any) -> Any:
        q = input_shape[0] if isinstance(input_shape, list) else input_shape
        return (*q[:-1], self.output_shape or q[-1])

    def call_output_shape(self, input_shape: Any, kwargs: dict[str, Any]) -> Any:
        out = self.compute_output_shape(input_shape)
        if kwargs.get("return_attention_scores"):  # (batch, heads, Tq, Tv)
            return [out, (out[0], self.num_heads, out[1], None)]
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_shape,
            "attention_axes": self.attention_axes,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "seed": self.seed,
        }
