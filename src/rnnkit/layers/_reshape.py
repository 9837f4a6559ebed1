"""Shape-only layers (no weights): Reshape, Permute, RepeatVector with Keras semantics, and
ResampleSteps (sequences of any length to a fixed number of steps)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._base import Layer, register


def _positive_ints(value: Any, what: str, allow_minus_one: bool = False) -> tuple[int, ...]:
    ok = isinstance(value, (tuple, list)) and all(
        isinstance(d, int) and not isinstance(d, bool) and (d > 0 or (allow_minus_one and d == -1))
        for d in value
    )
    if not ok:
        raise ValueError(f"expected {what} as a tuple of positive ints, got {value!r}")
    return tuple(value)


@register
class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one axis of ``target_shape`` may be -1."""

    def __init__(self, target_shape: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = _positive_ints(target_shape, "target_shape", allow_minus_one=True)
        if self.target_shape.count(-1) > 1:
            raise ValueError(f"expected at most one -1 in target_shape, got {target_shape!r}")

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        size = math.prod(inputs.shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (
            -1 not in self.target_shape and size != known
        ):
            raise ValueError(
                f"expected an input of {known} values per sample (or a multiple, with -1) for "
                f"{self.name!r} (target_shape {self.target_shape}), got shape "
                f"{tuple(inputs.shape[1:])}"
            )
        return inputs.reshape(inputs.shape[0], *self.target_shape)  # (batch, *target_shape)

    def input_features(self, input_shape: Any) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        if -1 not in self.target_shape:
            return (input_shape[0], *self.target_shape)
        rest = input_shape[1:]
        known = math.prod(d for d in self.target_shape if d != -1)
        free = None if any(d is None for d in rest) else math.prod(rest) // known
        return (input_shape[0], *(free if d == -1 else d for d in self.target_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register
class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of 1..rank-1 (Keras indexing)."""

    def __init__(self, dims: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = _positive_ints(dims, "dims")
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"expected dims to be a permutation of 1..{len(self.dims)}, got {dims!r}"
            )

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"expected input of rank {len(self.dims) + 1} for {self.name!r} (dims "
                f"{self.dims}), got shape {input_shape}"
            )

    def input_features(self, input_shape: Any) -> Any:
        return tuple(input_shape[1:])

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return inputs.permute(0, *self.dims)  # (batch, permuted axes)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


@register
class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated ``n`` times."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"expected n to be a positive int, got {n!r}")
        self.n = n

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"expected input (batch, features), got shape {input_shape}")

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return inputs.unsqueeze(1).repeat(1, self.n, 1)  # (batch, n, features)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


@register
class ResampleSteps(Layer):
    """(batch, time, ch) -> (batch, steps, ch): each sequence linearly interpolated over its
    real steps (the leading steps its mask marks; all of them without a mask) to ``steps``
    evenly spaced points, first and last step kept. A sequence of ``steps`` real steps comes
    out unchanged, so a fixed-size layer after this one reads sequences of any length."""

    supports_masking = True

    def __init__(self, steps: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
            raise ValueError(f"expected steps to be a positive int, got {steps!r}")
        self.steps = steps

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        batch, time = inputs.shape[0], inputs.shape[1]
        lengths = torch.full((batch,), time, dtype=torch.float64, device=inputs.device) \
            if mask is None else mask.to(torch.float64).sum(dim=1).clamp_min(1.0)  # (batch,)
        grid = torch.arange(self.steps, dtype=torch.float64, device=inputs.device)
        # integer products first: a sequence of `steps` real steps lands exactly on them
        pos = grid[None, :] * (lengths[:, None] - 1.0) / max(self.steps - 1, 1)  # (batch, steps)
        low = pos.floor().long().clamp(0, time - 1)
        high = (low + 1).clamp(max=(lengths.long() - 1)[:, None])
        frac = (pos - low.to(torch.float64)).to(inputs.dtype).unsqueeze(-1)  # (batch, steps, 1)
        index = low.unsqueeze(-1).expand(-1, -1, inputs.shape[2])
        a = inputs.gather(1, index)
        b = inputs.gather(1, high.unsqueeze(-1).expand_as(index))
        return a + frac * (b - a)  # (batch, steps, ch)

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.steps, input_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "steps": self.steps}
