"""Dot-product (Luong) and additive (Bahdanau) attention with Keras 3's semantics.

Called on ``[query, value]`` or ``[query, value, key]`` (batch, Tq, dim), (batch, Tv, dim): the
scores (batch, Tq, Tv) are softmaxed over Tv and weight the values. Masks: the value's mask
(batch, Tv) leaves masked steps out of the softmax (their scores lose 1e9), the query's mask
(batch, Tq) zeroes the outputs of masked queries and is the output's mask.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ._base import Layer, register

_BIG = 1.0e9  # Keras subtracts this from masked scores (65504 in float16)
SCORE_MODES = ("dot", "concat")


def _causal(tq: int, tv: int, device: torch.device) -> Tensor:
    rows = torch.arange(tq, device=device)[:, None]
    cols = torch.arange(tv, device=device)[None, :]
    return (rows >= cols).unsqueeze(0)  # (1, Tq, Tv)


def _check_inputs(inputs: Any, name: str) -> list[Tensor]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
        raise ValueError(
            f"expected [query, value] or [query, value, key] for {name!r}, got {inputs!r:.100}"
        )
    return list(inputs)


class _BaseAttention(Layer):
    """The shared call: masks, softmax, dropout and the weighted sum of the values."""

    supports_masking = True

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"expected dropout in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed

    def input_features(self, input_shape: Any) -> Any:
        return [s[-1] for s in input_shape]

    def scores(self, query: Tensor, key: Tensor) -> Tensor:
        raise NotImplementedError  # pragma: no cover

    def forward(
        self,
        inputs: list[Tensor],
        mask: list[Tensor | None] | None = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        q, v, *rest = _check_inputs(inputs, self.name)
        k = rest[0] if rest else v
        q_mask, v_mask = (list(mask) + [None, None])[:2] if mask else (None, None)
        scores = self.scores(q, k)  # (batch, Tq, Tv)
        keep: Tensor | None = None if v_mask is None else v_mask.bool().unsqueeze(-2)
        if use_causal_mask:
            causal = _causal(scores.shape[-2], scores.shape[-1], scores.device)
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = torch.where(keep, scores, scores - _BIG)
        weights = torch.softmax(scores, dim=-1)
        training = self.training if training is None else training
        if training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout, training=True)
        out = weights @ v  # (batch, Tq, dim)
        if q_mask is not None:
            out = torch.where(q_mask.bool().unsqueeze(-1), out, 0.0)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any) -> Tensor | None:
        return None if not mask or mask[0] is None else mask[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[0][:-1], input_shape[1][-1])

    def call_output_shape(self, input_shape: Any, kwargs: dict[str, Any]) -> Any:
        out = self.compute_output_shape(input_shape)
        if kwargs.get("return_attention_scores"):
            return [out, (*input_shape[0][:-1], input_shape[1][-2])]
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@register
class Attention(_BaseAttention):
    """Dot-product attention: ``scores = q k^T`` (times a learned ``scale`` with ``use_scale``);
    ``score_mode="concat"``: ``scores = w * sum(tanh(scale * (q + k)))``."""

    scale: Tensor | None
    concat_score_weight: Tensor | None

    def __init__(
        self, use_scale: bool = False, score_mode: str = "dot", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if score_mode not in SCORE_MODES:
            raise ValueError(f"expected score_mode in {SCORE_MODES}, got {score_mode!r}")
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.scale = self.concat_score_weight = None

    def build(self, input_shape: Any) -> None:
        _check_inputs(input_shape, self.name)
        if self.use_scale:
            self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.add_weight("concat_score_weight", (), "ones")

    def scores(self, query: Tensor, key: Tensor) -> Tensor:
        if self.score_mode == "dot":
            s = query @ key.transpose(-2, -1)  # (batch, Tq, Tv)
            return s * self.scale if self.scale is not None else s
        summed = query.unsqueeze(-2) + key.unsqueeze(-3)  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            summed = self.scale * summed
        w = self.concat_score_weight
        return torch.tanh(summed).sum(dim=-1) * (w if w is not None else 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@register
class AdditiveAttention(_BaseAttention):
    """Bahdanau attention: ``scores = sum(scale * tanh(q + k))`` with a learned ``scale``
    (dim,) when ``use_scale`` (the default)."""

    scale: Tensor | None

    def __init__(self, use_scale: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.scale = None

    def build(self, input_shape: Any) -> None:
        _check_inputs(input_shape, self.name)
        dim = input_shape[0][-1]
        if self.use_scale:
            self.add_weight("scale", (dim,), "glorot_uniform")

    def scores(self, query: Tensor, key: Tensor) -> Tensor:
        t = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))  # (batch, Tq, Tv, dim)
        return (t * self.scale if self.scale is not None else t).sum(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale}
